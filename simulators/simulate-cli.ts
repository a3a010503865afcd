import { parseArgs } from 'node:util'
import { pino } from 'pino'
import { BUNDLED_REGISTRY } from '../config.js'
import type { Registry } from '../domain.js'
import { AppError } from '../errors.js'
import { loadRegistry } from '../registry/load-registry.js'
import { runSimulator, SIMULATOR_DEFAULTS } from './run-simulator.js'
import type { SimulatorOptions, SimulatorProgress, SimulatorSummary } from './run-simulator.js'
import { SCENARIOS } from './scenario.js'
import { LOAD_DEFAULTS, MAX_LOAD_BATCH, type LoadOptions } from './scenario-load.js'
import { isScenarioPath, loadScenarioFile } from './scenario-file.js'

const DEFAULT_BROKER = 'mqtt://127.0.0.1:1883'

const USAGE = `Usage: citywater simulate [options]

Publishes realistic readings for every sensor of a registry to an MQTT broker, paced
in event time: a reading stamped ts goes out (ts - start) / speed after the start.
Deterministic for a seed and a start: the same messages in the same order.

Options:
  --broker URL       broker to publish to: mqtt://, mqtts://, ws://, wss:// (default ${DEFAULT_BROKER})
  --scenario NAME|FILE
                     a bundled scenario: ${Object.keys(SCENARIOS).join(', ')}
                     (default ${SIMULATOR_DEFAULTS.scenario}), or a scenario file (a path containing '/'
                     or ending in .json: a JSON timeline of rain, pollution, parking
                     demand and fault phases, times in seconds after --start; see the
                     README, "Scenario files")
  --seed N           integer seed of every random draw (default ${SIMULATOR_DEFAULTS.seed})
  --start ISO-TIME   event time of every sensor's first reading, RFC 3339 such as
                     2026-11-27T00:00:00+08:00, or epoch milliseconds (default now)
  --speed X          event-time seconds per wall-clock second, > 0 (default ${SIMULATOR_DEFAULTS.speed})
  --rate R           cap in messages per wall-clock second, > 0 (default no cap)
  --qos Q            MQTT QoS of every message: 0, 1 or 2 (default ${SIMULATOR_DEFAULTS.qos})
  --duration S       wall-clock seconds, > 0: publishes exactly the readings with
                     start <= ts < start + S x speed, then exits (default until Ctrl-C)
  --registry FILE    sensor registry JSON (default the bundled Xihu sample)
  --interval S       load scenario: event-time seconds between two readings of every
                     sensor, >= 0.001, or 'registry': each sensor at its registry
                     interval (default ${LOAD_DEFAULTS.intervalS})
  --batch N          load scenario: readings per message, 1 to ${MAX_LOAD_BATCH}; above 1 they go
                     out as JSON arrays on {prefix}/{district}/gateway/LOAD-{district}
                     (default ${LOAD_DEFAULTS.batch})
  --max-inflight N   most messages awaiting their acknowledgement, or at QoS 0 their
                     socket write (default ${SIMULATOR_DEFAULTS.maxInflight})
  --json             print the summary as one JSON object (messages and readings
                     published, acknowledged, failed; wall-clock times) instead of text
  --wait-go          once connected, print a ready line ({"ready":true} with --json)
                     and publish only after a line (or the end) on standard input:
                     several simulators start together
  --prefix P         first level of every topic (default ${SIMULATOR_DEFAULTS.topicPrefix})
  --username U       MQTT username (default none)
  --password P       MQTT password (default none)
  --help             this text

Topics are {prefix}/{district}/{kind}/{sensorId}. With --speed above 1, pick a --start
in the past: the engine rejects readings more than 5 minutes ahead of its clock.
Ctrl-C stops cleanly and prints the summary; a second Ctrl-C exits at once.
Exit status: 0 all published (and acknowledged at QoS 1 and 2), 1 some failed or the
broker was unreachable, 2 invalid options or registry.
`

/** Where the CLI writes, and an optional extra stop signal (tests); defaults to the process's own. */
export interface SimulateCliIo {
  stdout: { write(chunk: string): unknown }
  stderr: { write(chunk: string): unknown; isTTY?: boolean }
  /** Stops the run like SIGINT does. */
  signal?: AbortSignal
  /** Where `--wait-go` reads its go line; default the process's standard input. */
  stdin?: NodeJS.ReadableStream
}

class UsageError extends Error {}

const DECIMAL = /^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/
const ISO_TIME = /^\d{4}-\d{2}-\d{2}([T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?([Zz]|[+-]\d{2}:?\d{2})?)?$/

function positive(option: string, raw: string): number {
  const n = Number(raw)
  if (!DECIMAL.test(raw.trim()) || !Number.isFinite(n) || n <= 0) throw new UsageError(`--${option} must be a number > 0, got '${raw}'`)
  return n
}

function parseStart(raw: string): number {
  const s = raw.trim()
  const ms = /^\d+$/.test(s) ? Number(s) : ISO_TIME.test(s) ? Date.parse(s) : Number.NaN
  if (!Number.isSafeInteger(ms)) throw new UsageError(`--start must be an RFC 3339 time such as 2026-11-27T00:00:00+08:00 or epoch milliseconds, got '${raw}'`)
  return ms
}

function parseScenario(raw: string): string {
  if (Object.hasOwn(SCENARIOS, raw)) return raw
  const available = Object.keys(SCENARIOS).join(', ')
  if (isScenarioPath(raw)) {
    try {
      loadScenarioFile(raw)
    } catch (err) {
      const detail = err instanceof AppError ? String(err.message).replace(/^Invalid configuration: /, '') : (err as Error).message
      throw new UsageError(`--scenario: ${detail}`)
    }
    return raw
  }
  throw new UsageError(`--scenario: unknown scenario '${raw}' (available: ${available})`)
}

function parseBroker(raw: string): string {
  let url: URL
  try {
    url = new URL(raw)
  } catch {
    throw new UsageError(`--broker must be a URL such as ${DEFAULT_BROKER}, got '${raw}'`)
  }
  if (!['mqtt:', 'mqtts:', 'ws:', 'wss:'].includes(url.protocol)) throw new UsageError(`--broker must use mqtt://, mqtts://, ws:// or wss://, got '${raw}'`)
  return raw
}

type Parsed = (Omit<SimulatorOptions, 'registry'> & { registryFile: string; json: boolean; waitGo: boolean }) | 'help'

function parseOptions(argv: string[]): Parsed {
  let values
  try {
    ;({ values } = parseArgs({
      args: argv,
      strict: true,
      allowPositionals: false,
      options: {
        broker: { type: 'string' },
        scenario: { type: 'string' },
        seed: { type: 'string' },
        start: { type: 'string' },
        speed: { type: 'string' },
        rate: { type: 'string' },
        qos: { type: 'string' },
        duration: { type: 'string' },
        registry: { type: 'string' },
        prefix: { type: 'string' },
        username: { type: 'string' },
        password: { type: 'string' },
        interval: { type: 'string' },
        batch: { type: 'string' },
        'max-inflight': { type: 'string' },
        json: { type: 'boolean' },
        'wait-go': { type: 'boolean' },
        help: { type: 'boolean', short: 'h' },
      },
    }))
  } catch (err) {
    // parseArgs names the option in its message; keep only its first line.
    throw new UsageError((err as Error).message.split('\n')[0] ?? 'invalid options')
  }
  if (values.help === true) return 'help'
  const options: Parsed = { broker: parseBroker(values.broker ?? DEFAULT_BROKER), registryFile: values.registry ?? BUNDLED_REGISTRY, json: values.json === true, waitGo: values['wait-go'] === true }
  if (values.scenario !== undefined) options.scenario = parseScenario(values.scenario)
  if (values.seed !== undefined) {
    if (!/^-?\d+$/.test(values.seed.trim()) || !Number.isSafeInteger(Number(values.seed))) throw new UsageError(`--seed must be an integer, got '${values.seed}'`)
    options.seed = Number(values.seed)
  }
  if (values.start !== undefined) options.start = parseStart(values.start)
  if (values.speed !== undefined) options.speed = positive('speed', values.speed)
  if (values.rate !== undefined) options.rate = positive('rate', values.rate)
  if (values.duration !== undefined) options.durationS = positive('duration', values.duration)
  if (values.qos !== undefined) {
    const q = values.qos.trim()
    if (q !== '0' && q !== '1' && q !== '2') throw new UsageError(`--qos must be 0, 1 or 2, got '${values.qos}'`)
    options.qos = Number(q) as 0 | 1 | 2
  }
  if (values.prefix !== undefined) {
    if (!/^[A-Za-z0-9_-]+$/.test(values.prefix)) throw new UsageError(`--prefix must be letters, digits, '_' or '-', got '${values.prefix}'`)
    options.topicPrefix = values.prefix
  }
  const load: LoadOptions = {}
  if (values.interval?.trim() === 'registry') {
    load.intervalS = 'registry'
  } else if (values.interval !== undefined) {
    const interval = positive('interval', values.interval)
    if (interval < 0.001) throw new UsageError(`--interval must be at least 0.001, got '${values.interval}'`)
    load.intervalS = interval
  }
  if (values.batch !== undefined) {
    const batch = Number(values.batch)
    if (!/^\d+$/.test(values.batch.trim()) || batch < 1 || batch > MAX_LOAD_BATCH) throw new UsageError(`--batch must be an integer from 1 to ${MAX_LOAD_BATCH}, got '${values.batch}'`)
    load.batch = batch
  }
  if (Object.keys(load).length > 0) {
    if ((options.scenario ?? SIMULATOR_DEFAULTS.scenario) !== 'load') throw new UsageError('--interval and --batch apply to --scenario load only')
    options.load = load
  }
  if (values['max-inflight'] !== undefined) {
    const n = Number(values['max-inflight'])
    if (!/^\d+$/.test(values['max-inflight'].trim()) || n < 1) throw new UsageError(`--max-inflight must be an integer >= 1, got '${values['max-inflight']}'`)
    options.maxInflight = n
  }
  if (values.username !== undefined) options.username = values.username
  if (values.password !== undefined) options.password = values.password
  return options
}

const count = (n: number): string => n.toLocaleString('en-US')
const iso = (ts: number | null): string => (ts === null ? '-' : new Date(ts).toISOString())

function progressLine(p: SimulatorProgress): string {
  return `simulate: ${count(p.published)} published, ${count(Math.round(p.ratePerS))} msg/s, ${count(p.acknowledged)} acknowledged, ${count(p.failed)} failed, event time ${iso(p.lastTs)}`
}

function summaryLine(s: SimulatorSummary): string {
  const span = s.firstTs === null ? '' : `, event time ${iso(s.firstTs)} .. ${iso(s.lastTs)}`
  // Readings are named only when batches make them differ from messages.
  const readings = s.readings === s.published ? '' : ` (${s.readings} readings)`
  const acknowledged = s.readingsAcknowledged === s.acknowledged ? '' : ` (${s.readingsAcknowledged} readings)`
  return `published ${s.published}${readings}, acknowledged ${s.acknowledged}${acknowledged}, failed ${s.failed} in ${(s.durationMs / 1000).toFixed(1)} s${span}\n`
}

/**
 * `go` resolves at the first line (or the end) of `stdin`; then, or at `stop()`, `stdin` is no longer read, so it
 * keeps the process alive no longer.
 */
function goLine(stdin: NodeJS.ReadableStream): { go: Promise<void>; stop: () => void } {
  let resolve!: () => void
  const go = new Promise<void>((r) => (resolve = r))
  const stop = (): void => {
    stdin.off('data', stop)
    stdin.off('end', stop)
    stdin.off('error', stop)
    stdin.pause()
    resolve()
  }
  stdin.on('data', stop)
  stdin.on('end', stop)
  stdin.on('error', stop)
  return { go, stop }
}

/** `citywater simulate`: parses `argv`, runs the simulator, prints the summary; resolves with the exit status. */
export async function simulateCli(argv: string[], io: SimulateCliIo = { stdout: process.stdout, stderr: process.stderr }): Promise<number> {
  let parsed: Parsed
  let registry: Registry
  try {
    parsed = parseOptions(argv)
    if (parsed === 'help') {
      io.stdout.write(USAGE)
      return 0
    }
    registry = loadRegistry(parsed.registryFile)
  } catch (err) {
    if (err instanceof UsageError || (err instanceof AppError && (err.code === 'CW_ERR_REGISTRY_INVALID' || err.code === 'CW_ERR_CONFIG_INVALID'))) {
      io.stderr.write(`citywater simulate: ${err.message}\n`)
      return 2
    }
    throw err
  }
  const { registryFile: _registryFile, json, waitGo, ...options } = parsed

  const stop = new AbortController()
  const onSignal = (): void => {
    // A second Ctrl-C means "now": skip the drain.
    if (stop.signal.aborted) process.exit(130)
    stop.abort()
  }
  const onExternalAbort = (): void => stop.abort()
  process.on('SIGINT', onSignal)
  process.on('SIGTERM', onSignal)
  io.signal?.addEventListener('abort', onExternalAbort, { once: true })
  if (io.signal?.aborted === true) stop.abort()

  const tty = io.stderr.isTTY === true
  let progressShown = false
  const onProgress = tty
    ? (p: SimulatorProgress): void => {
        io.stderr.write(`\r${progressLine(p)}\x1b[K`)
        progressShown = true
      }
    : undefined
  const logger = pino({ level: 'warn', base: { component: 'simulator' } }, { write: (line: string) => io.stderr.write(`${progressShown ? '\r\x1b[K' : ''}${line}`) })

  const go = waitGo ? goLine(io.stdin ?? process.stdin) : undefined
  try {
    const onReady = (): void => void (json ? io.stdout.write(`${JSON.stringify({ ready: true })}\n`) : io.stderr.write('simulate: connected, waiting for a line on standard input\n'))
    const summary = await runSimulator({ ...options, registry, signal: stop.signal, onProgress, logger, ...(go !== undefined ? { begin: go.go, onReady } : {}) })
    if (progressShown) io.stderr.write('\r\x1b[K')
    io.stdout.write(json ? `${JSON.stringify(summary)}\n` : summaryLine(summary))
    return summary.failed > 0 ? 1 : 0
  } catch (err) {
    if (progressShown) io.stderr.write('\r\x1b[K')
    io.stderr.write(`citywater simulate: ${(err as Error).message}\n`)
    return err instanceof AppError && err.code === 'CW_ERR_CONFIG_INVALID' ? 2 : 1
  } finally {
    process.off('SIGINT', onSignal)
    process.off('SIGTERM', onSignal)
    io.signal?.removeEventListener('abort', onExternalAbort)
    go?.stop()
  }
}
