import { spawn, type ChildProcess } from 'node:child_process'
import { accessSync, constants, rmSync } from 'node:fs'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { connect, createServer } from 'node:net'
import { tmpdir, userInfo } from 'node:os'
import { delimiter, join } from 'node:path'

/** Options of a private Mosquitto. */
export interface MosquittoOptions {
  /** Deadline for the listener to accept a TCP connection after spawning, in milliseconds; default 10000. */
  startTimeoutMs?: number
  /** Deadline between SIGTERM and SIGKILL on stop, in milliseconds; default 5000. */
  stopTimeoutMs?: number
}

const DEFAULTS: Required<MosquittoOptions> = { startTimeoutMs: 10_000, stopTimeoutMs: 5_000 }
const PORT_ATTEMPTS = 5
const NOT_FOUND = "mosquitto not found: install Debian's `mosquitto` package (apt-get install -y mosquitto mosquitto-clients)"

/** Absolute path of the `mosquitto` binary: PATH first, then /usr/sbin and /usr/bin; throws a clear error when absent. */
export function findMosquitto(): string {
  const dirs = [...(process.env.PATH ?? '').split(delimiter).filter(Boolean), '/usr/sbin', '/usr/bin', '/usr/local/sbin']
  for (const dir of dirs) {
    const candidate = join(dir, 'mosquitto')
    try {
      accessSync(candidate, constants.X_OK)
      return candidate
    } catch {
      // not in this directory
    }
  }
  throw new Error(NOT_FOUND)
}

async function freePort(): Promise<number> {
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

function tcpConnects(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ port, host: '127.0.0.1' })
    socket.setTimeout(1000)
    const finish = (ok: boolean): void => {
      socket.destroy()
      resolve(ok)
    }
    socket.once('connect', () => finish(true))
    socket.once('error', () => finish(false))
    socket.once('timeout', () => finish(false))
  })
}

function configText(dir: string, port: number): string {
  // Mosquitto 2.x: a listener binds only where told, anonymous access must be explicit; started as root it
  // would switch to user `mosquitto`, which cannot write our temporary directory.
  return `user ${userInfo().username}
listener ${port} 127.0.0.1
allow_anonymous true
persistence true
persistence_location ${dir}/
persistence_file mosquitto.db
autosave_interval 0
log_dest stderr
log_type error
log_type warning
max_queued_messages 10000
`
}

/**
 * A private Mosquitto on a free loopback port, its persistence in a temporary directory. `stop()` keeps the
 * directory, so `start()` again restarts on the same port with the persistent sessions saved at shutdown; the
 * directory goes with `stop({ removeData: true })` or when the process exits.
 */
export class Mosquitto {
  readonly dir: string
  private readonly options: Required<MosquittoOptions>
  private readonly binary: string
  private currentPort: number
  private child: ChildProcess | undefined
  private everStarted = false
  private output = ''

  private constructor(binary: string, dir: string, port: number, options: Required<MosquittoOptions>) {
    this.binary = binary
    this.dir = dir
    this.currentPort = port
    this.options = options
    process.once('exit', () => {
      this.child?.kill('SIGKILL')
      rmSync(dir, { recursive: true, force: true })
    })
  }

  /** Picks a port and a temporary directory; does not start the process. */
  static async create(options: MosquittoOptions = {}): Promise<Mosquitto> {
    const binary = findMosquitto()
    const dir = await mkdtemp(join(tmpdir(), 'citywater-mosquitto-'))
    return new Mosquitto(binary, dir, await freePort(), { ...DEFAULTS, ...options })
  }

  /** The listener's port (stable across `stop()`/`start()`). */
  get port(): number {
    return this.currentPort
  }

  /** Broker URL, e.g. mqtt://127.0.0.1:40124. */
  get url(): string {
    return `mqtt://127.0.0.1:${this.currentPort}`
  }

  /** Whether the process is running. */
  get running(): boolean {
    return this.child !== undefined
  }

  /**
   * Starts Mosquitto (again) and resolves once its listener accepts a TCP connection. `wipeSessions` deletes the
   * persistence file first, so clients find no session (CONNACK sessionPresent 0). Before the first successful
   * start a taken port is replaced by a new free one; afterwards the port is kept, as URLs were handed out.
   */
  async start(options: { wipeSessions?: boolean } = {}): Promise<void> {
    if (this.child !== undefined) return
    if (options.wipeSessions === true) await rm(join(this.dir, 'mosquitto.db'), { force: true })
    for (let attempt = 1; ; attempt++) {
      try {
        await this.spawnOnce()
        this.everStarted = true
        return
      } catch (err) {
        const portTaken = /address already in use/i.test((err as Error).message)
        if (!portTaken || this.everStarted || attempt >= PORT_ATTEMPTS) throw err
        this.currentPort = await freePort()
      }
    }
  }

  /** Stops the process (SIGTERM, which saves the sessions; SIGKILL after the deadline). */
  async stop(options: { removeData?: boolean } = {}): Promise<void> {
    const child = this.child
    this.child = undefined
    if (child !== undefined && child.exitCode === null && child.signalCode === null) {
      const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()))
      child.kill('SIGTERM')
      const timer = setTimeout(() => child.kill('SIGKILL'), this.options.stopTimeoutMs)
      await exited
      clearTimeout(timer)
    }
    if (options.removeData === true) await rm(this.dir, { recursive: true, force: true })
  }

  private async spawnOnce(): Promise<void> {
    const configFile = join(this.dir, 'mosquitto.conf')
    await writeFile(configFile, configText(this.dir, this.currentPort))
    this.output = ''
    const child = spawn(this.binary, ['-c', configFile], { stdio: ['ignore', 'ignore', 'pipe'] })
    child.stderr?.on('data', (chunk: Buffer) => {
      this.output = (this.output + chunk.toString('utf8')).slice(-8192)
    })
    let exited: string | undefined
    child.once('exit', (code, signal) => {
      exited = `mosquitto exited (code ${code ?? 'null'}, signal ${signal ?? 'null'})`
      if (this.child === child) this.child = undefined
    })
    child.once('error', (err) => {
      exited = `mosquitto failed to spawn: ${err.message}`
    })
    this.child = child
    const deadline = Date.now() + this.options.startTimeoutMs
    while (Date.now() < deadline && exited === undefined) {
      if (await tcpConnects(this.currentPort)) {
        // the port may belong to someone else if our process died meanwhile
        if (exited === undefined) return
        break
      }
      await new Promise((resolve) => setTimeout(resolve, 20))
    }
    const why = exited ?? `mosquitto did not accept connections within ${this.options.startTimeoutMs} ms`
    if (this.child === child) await this.stop()
    throw new Error(`${why} on ${this.url}: ${this.output.trim().split('\n').slice(-5).join(' | ')}`)
  }
}

/** Creates and starts a private Mosquitto; see `Mosquitto` for `stop()`/`start()`. */
export async function startMosquitto(options: MosquittoOptions = {}): Promise<Mosquitto> {
  const mosquitto = await Mosquitto.create(options)
  try {
    await mosquitto.start()
  } catch (err) {
    await mosquitto.stop({ removeData: true })
    throw err
  }
  return mosquitto
}
