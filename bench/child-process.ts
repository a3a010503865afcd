import { spawn, type ChildProcess } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { readJsonLines } from './json-lines.js'

/** The project root: children run there. */
export const ROOT = fileURLToPath(new URL('..', import.meta.url))

/** A child process whose stdout is JSON lines (pino logs or a script's reports), parsed as they arrive. */
export interface JsonChild {
  readonly child: ChildProcess
  readonly pid: number
  /** Every stdout line, parsed (a line that is not JSON becomes `{ msg: line }`). */
  readonly lines: Record<string, unknown>[]
  /** The last 4 KiB of stderr, for error messages. */
  stderr(): string
  /** Resolves with the exit code (null when killed by a signal). */
  readonly exited: Promise<number | null>
  /** Resolves with the first line (already seen or to come) `match` accepts; rejects on exit or after `timeoutMs`. */
  line(match: (line: Record<string, unknown>) => boolean, timeoutMs: number, what: string): Promise<Record<string, unknown>>
  /** Sends `signal` (default SIGTERM), SIGKILL after `timeoutMs`; resolves with the exit code. */
  stop(signal?: NodeJS.Signals, timeoutMs?: number): Promise<number | null>
}

/**
 * Spawns `node [nodeArgs] file args` in the project root with `env` added; TypeScript files run through tsx. Its
 * stdin is a pipe (`child.stdin`) with `stdin: true`, else closed.
 */
export function spawnJson(file: string, args: readonly string[], options: { env?: Record<string, string>; nodeArgs?: readonly string[]; stdin?: boolean } = {}): JsonChild {
  const nodeArgs = [...(file.endsWith('.ts') ? ['--import', 'tsx'] : []), ...(options.nodeArgs ?? [])]
  const child = spawn(process.execPath, [...nodeArgs, file, ...args], { cwd: ROOT, env: { ...process.env, ...options.env }, stdio: [options.stdin === true ? 'pipe' : 'ignore', 'pipe', 'pipe'] })
  const lines: Record<string, unknown>[] = []
  const waiters = new Set<() => void>()
  let err = ''
  readJsonLines(child.stdout, (line) => {
    lines.push(line)
    for (const w of waiters) w()
  })
  child.stderr?.on('data', (chunk: Buffer) => {
    err = (err + chunk.toString()).slice(-4096)
  })
  let code: number | null | undefined
  const exited = new Promise<number | null>((resolve) =>
    child.on('exit', (c) => {
      code = c
      for (const w of waiters) w()
      resolve(c)
    }),
  )
  return {
    child,
    pid: child.pid ?? -1,
    lines,
    stderr: () => err,
    exited,
    line(match, timeoutMs, what) {
      return new Promise((resolve, reject) => {
        const check = (): void => {
          const found = lines.find(match)
          if (found !== undefined) done(() => resolve(found))
          else if (code !== undefined) done(() => reject(new Error(`${what}: ${file} exited with ${code}: ${err.trim().split('\n').slice(-5).join(' | ')}`)))
        }
        const timer = setTimeout(() => done(() => reject(new Error(`${what}: no answer from ${file} within ${timeoutMs} ms`))), timeoutMs)
        const done = (settle: () => void): void => {
          clearTimeout(timer)
          waiters.delete(check)
          settle()
        }
        waiters.add(check)
        check()
      })
    },
    async stop(signal = 'SIGTERM', timeoutMs = 15_000) {
      if (code !== undefined) return code
      child.kill(signal)
      const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs)
      const c = await exited
      clearTimeout(timer)
      return c
    },
  }
}
