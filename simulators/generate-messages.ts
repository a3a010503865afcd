import type { Registry, Sensor } from '../domain.js'
import { AppError } from '../errors.js'
import { createScenario } from './scenario.js'
import { loadScenario, type LoadOptions } from './scenario-load.js'
import type { ReadingFields, Scenario } from './scenario.js'
import { schedule } from './schedule.js'
import { seededRandom } from './seeded-random.js'

/** What the pure message generator needs. */
export interface GenerateOptions {
  registry: Registry
  /** Scenario name; default `normal`. */
  scenario?: string
  /** Seed of every random draw; default 1. */
  seed?: number
  /** Event time of every sensor's first reading, epoch milliseconds (integer). */
  start: number
  /** Event-time seconds per wall-clock second; default 1. */
  speed?: number
  /** Wall-clock seconds of the run: the window is `start ≤ ts < start + durationS × speed × 1000`; undefined = endless. */
  durationS?: number
  /** First topic level; default `city`. */
  topicPrefix?: string
  /** Options of the `load` scenario (interval, gateway batching); ignored by other scenarios. */
  load?: LoadOptions
}

/** One MQTT message of the run. */
export interface SimulatedMessage {
  /** `{prefix}/{district}/{kind}/{sensorId}` (or a gateway topic, or whatever topic a fault injected). */
  topic: string
  /** The reading as JSON: `ts`, `seq`, then the kind's fields in KIND_FIELDS order (unless a scenario rewrote it). */
  payload: string
  /**
   * Event time of the slot the message is published in, epoch ms: the reading's ts for an ordinary message. Never
   * decreases along a run. A rewritten message may carry another ts in its payload (clock skew, a delayed reading).
   */
  ts: number
  /** Sensor id (a gateway id for a batch, the unregistered id of an injected unknown sensor). */
  sensor: string
  seq: number
  /** Readings in the payload when it is a batch (a JSON array); absent means one. */
  readings?: number
}

/** What a scenario's `rewrite` hook sees besides the message. */
export interface RewriteContext {
  /** The registry sensor whose reading the message carries. */
  sensor: Sensor
  /** The reading's fields, as put in the payload. */
  fields: ReadingFields
  /** First topic level of the run. */
  topicPrefix: string
}

/**
 * Optional hooks a scenario may add to `reading(sensor, ts)` (looked up on the scenario object):
 *
 * - `tickIntervalS(sensor)`: the sensor's event-time interval in this run instead of its registry `intervalS`
 *   (the load scenario's 1 s); the schedule stays `start ≤ ts < end` with the first reading at `start`.
 * - `rewrite(message, context)`: the messages to publish for one ordinary message, in order, all in its slot
 *   (their `ts` is the slot's, the message's own): `[message]` unchanged, `[]` held back (a bounded burst, a batch),
 *   several (duplicates, an injected extra message, held messages released), or changed ones (a broken payload,
 *   another topic, a skewed payload ts). It must be deterministic: a function of the messages so far.
 * - `flush(topicPrefix)`: at the end of a finite run, the messages still held back.
 *
 * The window rule binds ordinary readings: every reading a message carries unchanged has `start ≤ ts < end`. An
 * injected fault may carry a payload ts outside it (clock skew: 10 minutes ahead, weeks behind), but it is always
 * published in a slot inside the window, at most one held burst after the reading it replaced.
 */
export interface MessageHooks {
  tickIntervalS(sensor: Sensor): number
  rewrite(message: SimulatedMessage, context: RewriteContext): SimulatedMessage[]
  flush(topicPrefix: string): SimulatedMessage[]
}

/** A scenario with any of the message hooks. */
export type HookedScenario = Scenario & Partial<MessageHooks>

/** Defaults of the generator's options. */
export const GENERATE_DEFAULTS = { scenario: 'normal', seed: 1, speed: 1, topicPrefix: 'city' } as const

/** Exclusive end of the event-time window, epoch ms (Infinity without a duration). */
export function windowEnd(start: number, speed: number, durationS: number | undefined): number {
  return durationS === undefined ? Number.POSITIVE_INFINITY : start + durationS * speed * 1000
}

/**
 * The run's messages, lazily, in publishing order (ts, then sensor id). Pure: the same options give
 * byte-identical messages in the same order, and nothing here touches a clock or a socket.
 */
export function* generateMessages(options: GenerateOptions): Generator<SimulatedMessage> {
  const scenarioName = options.scenario ?? GENERATE_DEFAULTS.scenario
  const seed = options.seed ?? GENERATE_DEFAULTS.seed
  const speed = options.speed ?? GENERATE_DEFAULTS.speed
  const prefix = options.topicPrefix ?? GENERATE_DEFAULTS.topicPrefix
  const { start, durationS, registry } = options
  if (!Number.isFinite(seed)) throw new AppError('CW_ERR_CONFIG_INVALID', [`seed must be a finite number, got ${seed}`])
  if (!(Number.isFinite(speed) && speed > 0)) throw new AppError('CW_ERR_CONFIG_INVALID', [`speed must be > 0, got ${speed}`])
  if (durationS !== undefined && !(Number.isFinite(durationS) && durationS >= 0)) {
    throw new AppError('CW_ERR_CONFIG_INVALID', [`durationS must be ≥ 0, got ${durationS}`])
  }
  const end = windowEnd(start, speed, durationS)
  const context = { registry, rng: seededRandom(seed), start, end }
  const scenario: HookedScenario = scenarioName === 'load' && options.load !== undefined ? loadScenario(options.load)(context) : createScenario(scenarioName, context)
  const { rewrite, flush, tickIntervalS } = scenario
  const sensors = tickIntervalS === undefined ? registry.sensors : registry.sensors.map((s) => ({ ...s, intervalS: tickIntervalS.call(scenario, s) }))
  const topics = new Map<string, string>()
  // Each field's `,"name":` text, built once per field name rather than per reading.
  const keyTexts = new Map<string, string>()
  for (const tick of schedule(sensors, { start, end })) {
    const { sensor, ts, seq } = tick
    const fields = scenario.reading(sensor, ts)
    if (fields === null) continue
    let topic = topics.get(sensor.id)
    if (topic === undefined) {
      topic = `${prefix}/${sensor.district}/${sensor.kind}/${sensor.id}`
      topics.set(sensor.id, topic)
    }
    // Built by hand so the key order is fixed: ts, seq, then the scenario's fields.
    let payload = `{"ts":${ts},"seq":${seq}`
    const names = Object.keys(fields)
    for (let i = 0; i < names.length; i++) {
      const field = names[i] as string
      let key = keyTexts.get(field)
      if (key === undefined) keyTexts.set(field, (key = `,${JSON.stringify(field)}:`))
      payload += key + JSON.stringify(fields[field])
    }
    const message: SimulatedMessage = { topic, payload: `${payload}}`, ts, sensor: sensor.id, seq }
    if (rewrite === undefined) yield message
    else yield* rewrite.call(scenario, message, { sensor, fields, topicPrefix: prefix })
  }
  if (flush !== undefined && end !== Number.POSITIVE_INFINITY) yield* flush.call(scenario, prefix)
}
