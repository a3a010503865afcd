import { spawn, type ChildProcess } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { readJsonLines } from '../../bench/json-lines.js'
import { waitFor } from './wait-for.js'

const ROOT = fileURLToPath(new URL('../..', import.meta.url))

/** An engine running in its own process, with its parsed pino log lines. */
export interface EngineProcess {
  child: ChildProcess
  logs: Record<string, unknown>[]
  /** Resolves with the exit code (null when killed by a signal). */
  exited: Promise<number | null>
  /** Waits for the 'citywater started' line: the engine's pid, HTTP base URL and MQTT URL. */
  started(timeoutMs?: number): Promise<{ pid: number; http: string; mqtt: string }>
}

/** Spawns `command` (default: node bin/citywater.js start) in the project root with `env` added. */
export function spawnEngine(env: Record<string, string>, command: [string, ...string[]] = [process.execPath, 'bin/citywater.js', 'start']): EngineProcess {
  const [file, ...args] = command
  const child = spawn(file, args, { cwd: ROOT, env: { ...process.env, CITYWATER_LOG_LEVEL: 'info', ...env }, stdio: ['ignore', 'pipe', 'pipe'], detached: true })
  const logs: Record<string, unknown>[] = []
  readJsonLines(child.stdout, (line) => logs.push(line))
  child.stderr?.on('data', (chunk: Buffer) => logs.push({ stderr: chunk.toString() }))
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)))
  return {
    child,
    logs,
    exited,
    async started(timeoutMs = 30_000) {
      const line = await waitFor(() => logs.find((l) => l.msg === 'citywater started') ?? (child.exitCode !== null ? Promise.reject(new Error(`engine exited: ${JSON.stringify(logs.slice(-5))}`)) : undefined), { timeoutMs, message: 'the engine to start' })
      return { pid: line.pid as number, http: line.http as string, mqtt: line.mqtt as string }
    },
  }
}
