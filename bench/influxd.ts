import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { findExecutable, freePort, ManagedProcess } from './managed-process.js'

export { freePort }

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
const NOT_FOUND = "influxd not found: install Debian's `influxdb` package (apt-get install -y influxdb)"

/** Absolute path of the `influxd` binary: PATH first, then /usr/bin and /usr/sbin; throws a clear error when absent. */
export function findInfluxd(): string {
  return findExecutable('influxd', ['/usr/bin', '/usr/sbin'], NOT_FOUND)
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
export class Influxd extends ManagedProcess {
  private readonly options: Required<InfluxdOptions>
  private httpPort: number
  private rpcPort: number

  private constructor(binary: string, dir: string, httpPort: number, rpcPort: number, options: Required<InfluxdOptions>) {
    super({ label: 'influxd', binary, startTimeoutMs: options.startTimeoutMs, stopTimeoutMs: options.stopTimeoutMs, pollMs: 50, captureStdout: true, notReady: 'did not answer /ping' }, dir)
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

  /** Starts influxd (again) and resolves once `GET /ping` answers 204; retries on new ports if the picked ones were taken. */
  async start(): Promise<void> {
    await this.launch()
  }

  /** Stops the process (SIGTERM, SIGKILL after the deadline); removes the directory unless `keepData`. */
  async stop(options: { keepData?: boolean } = {}): Promise<void> {
    await this.halt()
    if (options.keepData !== true) await rm(this.dir, { recursive: true, force: true })
  }

  protected async prepare(): Promise<string[]> {
    await mkdir(this.dir, { recursive: true })
    const configFile = join(this.dir, 'influxdb.conf')
    await writeFile(configFile, configText(this.dir, this.httpPort, this.rpcPort, this.options.cqRunInterval))
    return ['-config', configFile]
  }

  protected async probe(): Promise<boolean> {
    try {
      const res = await fetch(`${this.url}/ping`, { signal: AbortSignal.timeout(1000) })
      await res.arrayBuffer()
      return res.status === 204
    } catch {
      return false
    }
  }

  protected async repickPorts(): Promise<boolean> {
    if (this.options.pinPorts) return false
    this.httpPort = await freePort()
    this.rpcPort = await freePort()
    return true
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
