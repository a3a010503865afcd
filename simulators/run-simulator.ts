import { setImmediate as yieldToIo } from 'node:timers/promises'
import { connectAsync } from 'mqtt'
import type { MqttClient } from 'mqtt'
import { pino } from 'pino'
import type { Logger } from 'pino'
import { AppError } from '../errors.js'
import { GENERATE_DEFAULTS, generateMessages } from './generate-messages.js'
import type { GenerateOptions } from './generate-messages.js'

export { generateMessages } from './generate-messages.js'
export type { GenerateOptions, SimulatedMessage } from './generate-messages.js'

/** Counters of a run in progress. */
export interface SimulatorProgress {
  published: number
  acknowledged: number
  failed: number
  /** Published but not yet acknowledged or failed. */
  inFlight: number
  /** Wall-clock milliseconds since publishing began. */
  elapsedMs: number
  /** Messages per wall-clock second over about the last second. */
  ratePerS: number
  /** Event time of the latest published message, epoch ms; null before the first. */
  lastTs: number | null
}

/** The outcome of a run. */
export interface SimulatorSummary {
  /** Messages handed to the MQTT client. */
  published: number
  /** Readings in the published messages (a gateway batch counts all of its readings). */
  readings: number
  /** Messages the broker acknowledged (PUBACK/PUBCOMP); always 0 at QoS 0, which has no acknowledgement. */
  acknowledged: number
  /** Readings in the acknowledged messages; always 0 at QoS 0. */
  readingsAcknowledged: number
  /** Messages whose publish failed or was still unacknowledged when the run closed. */
  failed: number
  /** Readings in the failed messages. */
  readingsFailed: number
  /** Wall-clock milliseconds from the first publish slot to the end of the run. */
  durationMs: number
  /** Wall-clock time of the first publish, epoch ms; null when none was. */
  firstPublishAt: number | null
  /** Wall-clock time the last message settled (acknowledged, written to the socket at QoS 0, or failed), epoch ms; null when none was. */
  lastSettledAt: number | null
  /** Event time of the first published message, epoch ms; null when none was. */
  firstTs: number | null
  /** Event time of the last published message, epoch ms; null when none was. */
  lastTs: number | null
}

/** Options of `runSimulator`; the generator's options plus the broker and pacing. */
export interface SimulatorOptions extends Omit<GenerateOptions, 'start'> {
  /** Broker URL (`mqtt://`, `mqtts://`, `ws://`, `wss://`). */
  broker: string
  /** Event time of every sensor's first reading, epoch ms; default now. */
  start?: number
  /** Cap in messages per wall-clock second (with a burst of 50 ms worth); default none. */
  rate?: number
  /** MQTT QoS of every message; default 1. */
  qos?: 0 | 1 | 2
  username?: string
  password?: string
  /** Ends the run cleanly (in-flight messages are drained) when aborted. */
  signal?: AbortSignal
  /** Called about every `progressIntervalMs` and once at the end. */
  onProgress?: (progress: SimulatorProgress) => void
  /** Wall-clock milliseconds between progress reports; default 250. */
  progressIntervalMs?: number
  /** Most messages awaiting their acknowledgement (or, at QoS 0, their socket write); default 1000. */
  maxInflight?: number
  /** Wall-clock milliseconds to wait for in-flight messages at the end before closing anyway; default 10000. */
  drainTimeoutMs?: number
  /** MQTT client id; default a random `citywater-sim-…`. */
  clientId?: string
  /** Logs connection trouble; default silent. */
  logger?: Logger
  /**
   * Publishing starts when this resolves (or `signal` aborts), once connected: several simulators that connect at
   * different times can start together. Pacing counts from then. Default: at once.
   */
  begin?: Promise<void>
  /** Called once connected, before waiting for `begin`. */
  onReady?: () => void
}

/** Every default of `runSimulator` in one place. */
export const SIMULATOR_DEFAULTS = {
  ...GENERATE_DEFAULTS,
  qos: 1,
  progressIntervalMs: 250,
  maxInflight: 1000,
  drainTimeoutMs: 10_000,
} as const

/** The engine rejects readings more than 5 minutes ahead of its clock (SPEC §4). */
const FUTURE_LIMIT_MS = 5 * 60_000
/** Publishes between forced yields, so acknowledgements, timers and the abort signal get their turn. */
const YIELD_EVERY = 256

function invalid(why: string): AppError {
  return new AppError('CW_ERR_CONFIG_INVALID', [why])
}

/** Resolves when `begin` does or `signal` aborts, whichever comes first. */
function untilBegin(begin: Promise<void>, signal: AbortSignal | undefined): Promise<void> {
  if (signal === undefined) return begin
  return new Promise((resolve) => {
    const done = (): void => {
      signal.removeEventListener('abort', done)
      resolve()
    }
    signal.addEventListener('abort', done, { once: true })
    begin.then(done, done)
  })
}

/** Resolves after `ms`, or at once when `signal` aborts. */
function sleep(ms: number, signal: AbortSignal | undefined): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted === true) return resolve()
    const done = (): void => {
      clearTimeout(timer)
      signal?.removeEventListener('abort', done)
      resolve()
    }
    const timer = setTimeout(done, Math.max(0, ms))
    signal?.addEventListener('abort', done, { once: true })
  })
}

function validate(o: SimulatorOptions): void {
  let url: URL
  try {
    url = new URL(o.broker)
  } catch {
    throw invalid(`broker must be a URL, got '${o.broker}'`)
  }
  if (!['mqtt:', 'mqtts:', 'ws:', 'wss:', 'tcp:', 'ssl:'].includes(url.protocol)) throw invalid(`broker must be mqtt://, mqtts://, ws:// or wss://, got '${o.broker}'`)
  if (o.start !== undefined && !Number.isSafeInteger(o.start)) throw invalid(`start must be an integer epoch in milliseconds, got ${o.start}`)
  if (o.rate !== undefined && !(Number.isFinite(o.rate) && o.rate > 0)) throw invalid(`rate must be > 0, got ${o.rate}`)
  if (o.qos !== undefined && ![0, 1, 2].includes(o.qos)) throw invalid(`qos must be 0, 1 or 2, got ${String(o.qos)}`)
  if (o.maxInflight !== undefined && !(Number.isInteger(o.maxInflight) && o.maxInflight >= 1)) throw invalid(`maxInflight must be an integer ≥ 1, got ${o.maxInflight}`)
}

/**
 * Publishes the scenario's readings to a broker, paced in event time: a reading stamped `ts` goes out
 * at wall time `wallStart + (ts − start) / speed`, no faster than `rate`. With `durationS` it publishes
 * exactly the readings of the window (late if pacing falls behind, never skipped) and resolves; without
 * it runs until `signal` aborts. Resolves with the counts once in-flight messages are settled.
 */
export async function runSimulator(options: SimulatorOptions): Promise<SimulatorSummary> {
  validate(options)
  const log = options.logger ?? pino({ enabled: false })
  const qos = options.qos ?? SIMULATOR_DEFAULTS.qos
  const speed = options.speed ?? SIMULATOR_DEFAULTS.speed
  const maxInflight = options.maxInflight ?? SIMULATOR_DEFAULTS.maxInflight
  const drainTimeoutMs = options.drainTimeoutMs ?? SIMULATOR_DEFAULTS.drainTimeoutMs
  const progressIntervalMs = options.progressIntervalMs ?? SIMULATOR_DEFAULTS.progressIntervalMs
  const { signal, rate, onProgress } = options
  const aborted = (): boolean => signal?.aborted === true
  const start = options.start ?? Date.now()
  // Built (and so validated) before connecting: a bad scenario or registry fails without touching the network.
  const messages = generateMessages({ ...options, start })
  const first = messages.next()

  const summary: SimulatorSummary = {
    published: 0,
    readings: 0,
    acknowledged: 0,
    readingsAcknowledged: 0,
    failed: 0,
    readingsFailed: 0,
    durationMs: 0,
    firstPublishAt: null,
    lastSettledAt: null,
    firstTs: null,
    lastTs: null,
  }
  if (aborted()) return summary

  const client = await connect(options, log)
  if (client === null) return summary
  client.on('error', (err) => log.warn({ err }, 'mqtt client error'))
  client.on('offline', () => log.warn({ broker: options.broker }, 'broker offline, reconnecting'))
  client.on('reconnect', () => log.debug({ broker: options.broker }, 'reconnecting'))

  let inFlight = 0
  /** Readings of the messages in flight. */
  let readingsInFlight = 0
  let closed = false
  let wake: (() => void) | null = null
  const settle = (readings: number, err: Error | undefined): void => {
    if (closed) return
    inFlight -= 1
    readingsInFlight -= readings
    summary.lastSettledAt = Date.now()
    if (err) {
      summary.failed += 1
      summary.readingsFailed += readings
      log.debug({ err }, 'publish failed')
    } else if (qos > 0) {
      summary.acknowledged += 1
      summary.readingsAcknowledged += readings
    }
    const w = wake
    wake = null
    w?.()
  }
  // One callback per batch size, so a publish allocates no closure.
  const settlers = new Map<number, (err?: Error) => void>()
  const settlerOf = (readings: number): ((err?: Error) => void) => {
    let s = settlers.get(readings)
    if (s === undefined) settlers.set(readings, (s = (err?: Error) => settle(readings, err)))
    return s
  }
  /** Resolves at the next settled publish, when `signal` aborts, or after `timeoutMs`. */
  const nextSettle = (timeoutMs: number, abortable: AbortSignal | undefined): Promise<void> =>
    new Promise((resolve) => {
      const done = (): void => {
        clearTimeout(timer)
        abortable?.removeEventListener('abort', done)
        wake = null
        resolve()
      }
      const timer = setTimeout(done, Math.max(0, timeoutMs))
      if (abortable?.aborted === true) return done()
      abortable?.addEventListener('abort', done, { once: true })
      wake = done
    })

  options.onReady?.()
  if (options.begin !== undefined && !aborted()) await untilBegin(options.begin, signal)

  const wallStart = performance.now()
  // Rate over the last second of reports: readings come in bursts of one timestamp, so one interval is too jumpy.
  const samples: { at: number; published: number }[] = [{ at: wallStart, published: 0 }]
  const report = (): void => {
    if (onProgress === undefined) return
    const now = performance.now()
    while (samples.length > 1 && now - (samples[1] as { at: number }).at >= 1000) samples.shift()
    const oldest = samples[0] as { at: number; published: number }
    const dt = (now - oldest.at) / 1000
    const ratePerS = dt > 0 ? (summary.published - oldest.published) / dt : 0
    samples.push({ at: now, published: summary.published })
    const { published, acknowledged, failed, lastTs } = summary
    onProgress({ published, acknowledged, failed, inFlight, elapsedMs: now - wallStart, ratePerS, lastTs })
  }
  const progressTimer = onProgress === undefined ? undefined : setInterval(report, progressIntervalMs)
  progressTimer?.unref()

  const publishOptions = { qos }
  // Token bucket for `rate`: refilled from elapsed time, 50 ms worth of burst so timers need not fire per message.
  const burst = rate === undefined ? 0 : Math.max(1, rate / 20)
  let tokens = burst
  let refilledAt = wallStart
  let warnedFuture = false
  let sinceYield = 0

  try {
    for (let next = first; next.done !== true; next = messages.next()) {
      const message = next.value
      const due = wallStart + (message.ts - start) / speed
      let now = performance.now()
      if (due > now) {
        await sleep(due - now, signal)
        now = performance.now()
      }
      if (rate !== undefined) {
        tokens = Math.min(burst, tokens + ((now - refilledAt) * rate) / 1000)
        refilledAt = now
        if (tokens < 1) {
          await sleep(((1 - tokens) * 1000) / rate, signal)
          now = performance.now()
          tokens = Math.min(burst, tokens + ((now - refilledAt) * rate) / 1000)
          refilledAt = now
        }
        tokens -= 1
      }
      while (inFlight >= maxInflight && !aborted()) await nextSettle(drainTimeoutMs, signal)
      if (aborted()) break

      if (!warnedFuture && message.ts > Date.now() + FUTURE_LIMIT_MS) {
        warnedFuture = true
        log.warn({ ts: new Date(message.ts).toISOString() }, 'publishing readings more than 5 min ahead of the clock; the engine rejects them as ts_future (use an earlier --start)')
      }
      const readings = message.readings ?? 1
      inFlight += 1
      readingsInFlight += readings
      summary.published += 1
      summary.readings += readings
      summary.firstTs ??= message.ts
      summary.firstPublishAt ??= Date.now()
      summary.lastTs = message.ts
      client.publish(message.topic, message.payload, publishOptions, settlerOf(readings))
      if (++sinceYield >= YIELD_EVERY) {
        sinceYield = 0
        await yieldToIo()
      }
    }
    // Drain: even after an abort, wait (bounded) for the acknowledgements of what was already sent.
    const deadline = performance.now() + drainTimeoutMs
    while (inFlight > 0 && performance.now() < deadline) await nextSettle(deadline - performance.now(), undefined)
  } finally {
    clearInterval(progressTimer)
    // Whatever is still unacknowledged now counts as failed; the forced close's error callbacks are ignored.
    closed = true
    const unsettled = inFlight
    summary.failed += unsettled
    summary.readingsFailed += readingsInFlight
    inFlight = 0
    readingsInFlight = 0
    await client.endAsync(unsettled > 0).catch((err: unknown) => log.warn({ err }, 'closing the mqtt client failed'))
    summary.durationMs = Math.round(performance.now() - wallStart)
    report()
  }
  return summary
}

/** Connects without retrying the first connection; null when aborted before the broker answered. */
async function connect(options: SimulatorOptions, log: Logger): Promise<MqttClient | null> {
  const { signal } = options
  const pending = connectAsync(
    options.broker,
    {
      clientId: options.clientId ?? `citywater-sim-${Math.random().toString(16).slice(2, 10)}`,
      username: options.username,
      password: options.password,
      clean: true,
      reconnectPeriod: 1000,
      // An engine whose write-ahead log is full answers CONNACK 3 until it has space: keep trying, as a device does.
      reconnectOnConnackError: true,
      connectTimeout: 10_000,
    },
    false,
  )
  if (signal === undefined) return pending.catch((err: unknown) => Promise.reject(connectError(options.broker, err)))
  const aborted = new Promise<null>((resolve) => {
    if (signal.aborted) resolve(null)
    else signal.addEventListener('abort', () => resolve(null), { once: true })
  })
  const winner = await Promise.race([pending, aborted]).catch((err: unknown) => Promise.reject(connectError(options.broker, err)))
  if (winner === null) {
    // Close the client whenever the connection settles, so no socket outlives the aborted run.
    pending.then((c) => c.endAsync(true)).catch((err: unknown) => log.debug({ err }, 'aborted connect failed'))
    return null
  }
  return winner
}

function connectError(broker: string, err: unknown): Error {
  const why = err instanceof Error ? err.message : String(err)
  return new Error(`cannot connect to ${broker}: ${why}`, { cause: err })
}
