import { spawn, type ChildProcess } from 'node:child_process'
import { accessSync, constants } from 'node:fs'
import { createServer } from 'node:net'
import { delimiter, join } from 'node:path'

/** How often `start()` picks new ports when the chosen ones were taken meanwhile. */
const PORT_ATTEMPTS = 5

/** Absolute path of executable `name`: PATH first, then `fallbackDirs`; throws `notFound` when absent. */
export function findExecutable(name: string, fallbackDirs: readonly string[], notFound: string): string {
  const dirs = [...(process.env.PATH ?? '').split(delimiter).filter(Boolean), ...fallbackDirs]
  for (const dir of dirs) {
    const candidate = join(dir, name)
    try {
      accessSync(candidate, constants.X_OK)
      return candidate
    } catch {
      // not in this directory
    }
  }
  throw new Error(notFound)
}

/** A free TCP port on 127.0.0.1 (listen on port 0, read it, close). */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer()
    server.unref()
    server.once('error', reject)
    server.listen(0, '127.0.0.1', () => {
      const address = server.address()
      const port = typeof address === 'object' && address !== null ? address.port : 0
      server.close(() => resolve(port))
    })
  })
}

/** Stops `child` if it still runs: SIGTERM, SIGKILL after `timeoutMs`; resolves once it has exited. */
export async function stopProcess(child: ChildProcess | undefined, timeoutMs: number): Promise<void> {
  if (child === undefined || child.exitCode !== null || child.signalCode !== null) return
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()))
  child.kill('SIGTERM')
  const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs)
  await exited
  clearTimeout(timer)
}

/**
 * Polls `ready` every `pollMs` until it answers true (resolves true) or the deadline passes (false). Stops early
 * with false once `gaveUp()` is true, also right after a successful probe: then the answer came from someone else.
 */
export async function waitUntilReady(ready: () => Promise<boolean>, options: { timeoutMs: number; pollMs: number; gaveUp: () => boolean }): Promise<boolean> {
  const deadline = Date.now() + options.timeoutMs
  while (Date.now() < deadline && !options.gaveUp()) {
    if (await ready()) return !options.gaveUp()
    await new Promise((resolve) => setTimeout(resolve, options.pollMs))
  }
  return false
}

/** What a daemon helper tells `ManagedProcess` about its process. */
export interface DaemonSpec {
  /** Name in error messages, e.g. `influxd`. */
  label: string
  /** Absolute path of the executable. */
  binary: string
  /** Deadline for the readiness probe to succeed after spawning, in milliseconds. */
  startTimeoutMs: number
  /** Deadline between SIGTERM and SIGKILL on stop, in milliseconds. */
  stopTimeoutMs: number
  /** Interval between readiness probes, in milliseconds. */
  pollMs: number
  /** Keep stdout as well as stderr for the error message (otherwise stdout is ignored). */
  captureStdout: boolean
  /** What the timeout message says the process did not do, e.g. `did not answer /ping`. */
  notReady: string
}

/**
 * A daemon on loopback ports with its files in `dir`: spawns it, waits for a readiness probe with a deadline,
 * replaces taken ports before the first successful start, and stops it with SIGTERM then SIGKILL. Subclasses write
 * the configuration, probe readiness and pick new ports; their `start()`/`stop()` call `launch()`/`halt()`.
 */
export abstract class ManagedProcess {
  readonly dir: string
  protected child: ChildProcess | undefined
  private readonly spec: DaemonSpec
  private everStarted = false
  private output = ''

  protected constructor(spec: DaemonSpec, dir: string) {
    this.spec = spec
    this.dir = dir
  }

  /** Where clients reach the process. */
  abstract get url(): string

  /** Whether the process is running. */
  get running(): boolean {
    return this.child !== undefined
  }

  /** The running process's pid (undefined when stopped): the benchmark reads its CPU time. */
  get pid(): number | undefined {
    return this.child?.pid
  }

  /** Writes the configuration for the current ports into `dir`; returns the command-line arguments. */
  protected abstract prepare(): Promise<string[]>

  /** One readiness probe of the spawned process. */
  protected abstract probe(): Promise<boolean>

  /** After "address already in use": picks new free ports and returns true, or returns false to fail. */
  protected abstract repickPorts(): Promise<boolean>

  /** Spawns the process unless it runs and resolves once it is ready; retries on new ports if they were taken. */
  protected async launch(): Promise<void> {
    if (this.child !== undefined) return
    for (let attempt = 1; ; attempt++) {
      try {
        await this.spawnOnce()
        this.everStarted = true
        return
      } catch (err) {
        const portTaken = /address already in use/i.test(String((err as Error).message))
        if (!portTaken || this.everStarted || attempt >= PORT_ATTEMPTS || !(await this.repickPorts())) throw err
      }
    }
  }

  /** Stops the process (SIGTERM, SIGKILL after the deadline); leaves `dir` alone. */
  protected async halt(): Promise<void> {
    const child = this.child
    this.child = undefined
    await stopProcess(child, this.spec.stopTimeoutMs)
  }

  private async spawnOnce(): Promise<void> {
    const { label, binary, startTimeoutMs, pollMs, captureStdout, notReady } = this.spec
    const args = await this.prepare()
    this.output = ''
    const child = spawn(binary, args, { stdio: ['ignore', captureStdout ? 'pipe' : 'ignore', 'pipe'] })
    const keep = (chunk: Buffer): void => {
      this.output = (this.output + chunk.toString('utf8')).slice(-8192)
    }
    child.stdout?.on('data', keep)
    child.stderr?.on('data', keep)
    let exited: string | undefined
    child.once('exit', (code, signal) => {
      exited = `${label} exited (code ${code ?? 'null'}, signal ${signal ?? 'null'})`
      if (this.child === child) this.child = undefined
    })
    child.once('error', (err) => {
      exited = `${label} failed to spawn: ${err.message}`
    })
    this.child = child
    if (await waitUntilReady(() => this.probe(), { timeoutMs: startTimeoutMs, pollMs, gaveUp: () => exited !== undefined })) return
    const why = exited ?? `${label} ${notReady} within ${startTimeoutMs} ms`
    if (this.child === child) await this.halt()
    throw new Error(`${why} on ${this.url}: ${this.output.trim().split('\n').slice(-5).join(' | ')}`)
  }
}
