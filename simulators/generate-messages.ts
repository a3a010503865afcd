import type { Registry } from '../domain.js'
import { AppError } from '../errors.js'
import { createScenario } from './scenario.js'
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
}

/** One MQTT message of the run. */
export interface SimulatedMessage {
  /** `{prefix}/{district}/{kind}/{sensorId}`. */
  topic: string
  /** The reading as JSON: `ts`, `seq`, then the kind's fields in KIND_FIELDS order. */
  payload: string
  /** Event time, epoch milliseconds. */
  ts: number
  sensor: string
  seq: number
}

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
  const scenario = createScenario(scenarioName, { registry, rng: seededRandom(seed), start, end })
  const topics = new Map<string, string>()
  for (const tick of schedule(registry.sensors, { start, end })) {
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
    for (const [field, value] of Object.entries(fields)) payload += `,${JSON.stringify(field)}:${JSON.stringify(value)}`
    yield { topic, payload: `${payload}}`, ts, sensor: sensor.id, seq }
  }
}
