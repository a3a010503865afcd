import { rmSync } from 'node:fs'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { connect } from 'node:net'
import { tmpdir, userInfo } from 'node:os'
import { join } from 'node:path'
import { findExecutable, freePort, ManagedProcess } from './managed-process.js'

/** Options of a private Mosquitto. */
export interface MosquittoOptions {
  /** Deadline for the listener to accept a TCP connection after spawning, in milliseconds; default 10000. */
  startTimeoutMs?: number
  /** Deadline between SIGTERM and SIGKILL on stop, in milliseconds; default 5000. */
  stopTimeoutMs?: number
}

const DEFAULTS: Required<MosquittoOptions> = { startTimeoutMs: 10_000, stopTimeoutMs: 5_000 }
const NOT_FOUND = "mosquitto not found: install Debian's `mosquitto` package (apt-get install -y mosquitto mosquitto-clients)"

/** Absolute path of the `mosquitto` binary: PATH first, then /usr/sbin and /usr/bin; throws a clear error when absent. */
export function findMosquitto(): string {
  return findExecutable('mosquitto', ['/usr/sbin', '/usr/bin', '/usr/local/sbin'], NOT_FOUND)
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
export class Mosquitto extends ManagedProcess {
  private currentPort: number

  private constructor(binary: string, dir: string, port: number, options: Required<MosquittoOptions>) {
    super({ label: 'mosquitto', binary, startTimeoutMs: options.startTimeoutMs, stopTimeoutMs: options.stopTimeoutMs, pollMs: 20, captureStdout: false, notReady: 'did not accept connections' }, dir)
    this.currentPort = port
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

  /**
   * Starts Mosquitto (again) and resolves once its listener accepts a TCP connection. `wipeSessions` deletes the
   * persistence file first, so clients find no session (CONNACK sessionPresent 0). Before the first successful
   * start a taken port is replaced by a new free one; afterwards the port is kept, as URLs were handed out.
   */
  async start(options: { wipeSessions?: boolean } = {}): Promise<void> {
    if (this.running) return
    if (options.wipeSessions === true) await rm(join(this.dir, 'mosquitto.db'), { force: true })
    await this.launch()
  }

  /** Stops the process (SIGTERM, which saves the sessions; SIGKILL after the deadline). */
  async stop(options: { removeData?: boolean } = {}): Promise<void> {
    await this.halt()
    if (options.removeData === true) await rm(this.dir, { recursive: true, force: true })
  }

  protected async prepare(): Promise<string[]> {
    const configFile = join(this.dir, 'mosquitto.conf')
    await writeFile(configFile, configText(this.dir, this.currentPort))
    return ['-c', configFile]
  }

  protected probe(): Promise<boolean> {
    return tcpConnects(this.currentPort)
  }

  protected async repickPorts(): Promise<boolean> {
    this.currentPort = await freePort()
    return true
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
