import { spawn, type ChildProcess } from 'node:child_process'
import { accessSync, constants } from 'node:fs'
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { delimiter, join } from 'node:path'

/** Options of a private influxd. */
export interface InfluxdOptions {
  /** Deadline for influxd to answer `GET /ping` after spawning, in milliseconds; default 20000. */
  startTimeoutMs?: number
  /** Deadline between SIGTERM and SIGKILL on stop, in milliseconds; default 5000. */
  stopTimeoutMs?: number
  /** Keep the picked ports on `start()` even when they were taken meanwhile (the URL was handed out); default false. */
  pinPorts?: boolean
  /** How often the continuous-query service checks for due queries; default 1s. */
  cqRunInterval?: string
}

const DEFAULTS = { startTimeoutMs: 20_000, stopTimeoutMs: 5_000, pinPorts: false, cqRunInterval: '1s' }
const PORT_ATTEMPTS = 5
const NOT_FOUND = "influxd not found: install Debian's `influxdb` package (apt-get install -y influxdb)"

/** Absolute path of the `influxd` binary: PATH first, then /usr/bin and /usr/sbin; throws a clear error when absent. */
export function findInfluxd(): string {
  const dirs = [...(process.env.PATH ?? '').split(delimiter).filter(Boolean), '/usr/bin', '/usr/sbin']
  for (const dir of dirs) {
    const candidate = join(dir, 'influxd')
    try {
      accessSync(candidate, constants.X_OK)
      return candidate
    } catch {
      // not in this directory
    }
  }
  throw new Error(NOT_FOUND)
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

function configText(dir: string, httpPort: number, rpcPort: number, cqRunInterval: string): string {
  return `reporting-disabled = true
reporting-enabled = false
bind-address = "127.0.0.1:${rpcPort}"

[meta]
  dir = "${join(dir, 'meta')}"
  logging-enabled = false

[data]
  dir = "${join(dir, 'data')}"
  wal-dir = "${join(dir, 'wal')}"
  index-version = "inmem"
  query-log-enabled = false
  wal-fsync-delay = "0s"

[monitor]
  store-enabled = false

[subscriber]
  enabled = false

[http]
  enabled = true
  bind-address = "127.0.0.1:${httpPort}"
  auth-enabled = false
  log-enabled = false
  suppress-write-log = true
  pprof-enabled = false

[logging]
  level = "error"
  suppress-logo = true

[continuous_queries]
  enabled = true
  log-enabled = false
  run-interval = "${cqRunInterval}"
`
}

/** A private influxd on free loopback ports with its data in a temporary directory. */
export class Influxd {
  readonly dir: string
  private readonly options: Required<InfluxdOptions>
  private readonly binary: string
  private httpPort: number
  private rpcPort: number
  private child: ChildProcess | undefined
  private everStarted = false
  private output = ''

  private constructor(binary: string, dir: string, httpPort: number, rpcPort: number, options: Required<InfluxdOptions>) {
    this.binary = binary
    this.dir = dir
    this.httpPort = httpPort
    this.rpcPort = rpcPort
    this.options = options
  }

  /** Picks ports and a temporary directory; does not start the process. */
  static async create(options: InfluxdOptions = {}): Promise<Influxd> {
    const binary = findInfluxd()
    const dir = await mkdtemp(join(tmpdir(), 'citywater-influxd-'))
    return new Influxd(binary, dir, await freePort(), await freePort(), { ...DEFAULTS, ...options })
  }

  /** Base URL of the HTTP API, e.g. http://127.0.0.1:40123. */
  get url(): string {
    return `http://127.0.0.1:${this.httpPort}`
  }

  /** Whether the process is running. */
  get running(): boolean {
    return this.child !== undefined
  }

  /** Starts influxd (again) and resolves once `GET /ping` answers 204; retries on new ports if the picked ones were taken. */
  async start(): Promise<void> {
    if (this.child !== undefined) return
    for (let attempt = 1; ; attempt++) {
      try {
        await this.spawnOnce()
        this.everStarted = true
        return
      } catch (err) {
        const portTaken = /address already in use/i.test(String((err as Error).message))
        if (!portTaken || this.options.pinPorts || this.everStarted || attempt >= PORT_ATTEMPTS) throw err
        this.httpPort = await freePort()
        this.rpcPort = await freePort()
      }
    }
  }

  /** Stops the process (SIGTERM, SIGKILL after the deadline); removes the directory unless `keepData`. */
  async stop(options: { keepData?: boolean } = {}): Promise<void> {
    const child = this.child
    this.child = undefined
    if (child !== undefined && child.exitCode === null && child.signalCode === null) {
      const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()))
      child.kill('SIGTERM')
      const timer = setTimeout(() => child.kill('SIGKILL'), this.options.stopTimeoutMs)
      await exited
      clearTimeout(timer)
    }
    if (options.keepData !== true) await rm(this.dir, { recursive: true, force: true })
  }

  private async spawnOnce(): Promise<void> {
    await mkdir(this.dir, { recursive: true })
    const configFile = join(this.dir, 'influxdb.conf')
    await writeFile(configFile, configText(this.dir, this.httpPort, this.rpcPort, this.options.cqRunInterval))
    this.output = ''
    const child = spawn(this.binary, ['-config', configFile], { stdio: ['ignore', 'pipe', 'pipe'] })
    const keep = (chunk: Buffer): void => {
      this.output = (this.output + chunk.toString('utf8')).slice(-8192)
    }
    child.stdout?.on('data', keep)
    child.stderr?.on('data', keep)
    let exited: string | undefined
    child.once('exit', (code, signal) => {
      exited = `influxd exited (code ${code ?? 'null'}, signal ${signal ?? 'null'})`
      if (this.child === child) this.child = undefined
    })
    child.once('error', (err) => {
      exited = `influxd failed to spawn: ${err.message}`
    })
    this.child = child
    const deadline = Date.now() + this.options.startTimeoutMs
    while (Date.now() < deadline) {
      if (exited !== undefined) break
      if (await this.pingOnce()) return
      await new Promise((resolve) => setTimeout(resolve, 50))
    }
    const why = exited ?? `influxd did not answer /ping within ${this.options.startTimeoutMs} ms`
    if (this.child === child) await this.stop({ keepData: true })
    throw new Error(`${why} on ${this.url}: ${this.output.trim().split('\n').slice(-5).join(' | ')}`)
  }

  private async pingOnce(): Promise<boolean> {
    try {
      const res = await fetch(`${this.url}/ping`, { signal: AbortSignal.timeout(1000) })
      await res.arrayBuffer()
      return res.status === 204
    } catch {
      return false
    }
  }
}

/** Creates an Influxd (see options) without starting it. */
export async function createInfluxd(options: InfluxdOptions = {}): Promise<Influxd> {
  return Influxd.create(options)
}

/** Creates and starts a private influxd; `stop()` kills it and removes its directory. */
export async function startInfluxd(options: InfluxdOptions = {}): Promise<Influxd> {
  const influxd = await Influxd.create(options)
  try {
    await influxd.start()
  } catch (err) {
    await influxd.stop()
    throw err
  }
  return influxd
}
