import { KIND_FIELDS, type DeadLetterReason, type Reading, type Sensor } from '../domain.js'
import type { BrokerMessage, Clock, DeadLetterSink } from '../ports.js'
import type { RegistryIndex } from '../registry/registry-index.js'
import { duplicateFilter } from './duplicate-filter.js'
import { checkGatewayEnvelope, checkReading } from './reading-schemas.js'
import { parseTopic } from './topic-grammar.js'

/** Options of the ingest pipeline. */
export interface IngestOptions {
  /** The current registry; a function so a SIGHUP reload takes effect at the next message. */
  registry: () => RegistryIndex
  /** First topic level; default `city`. */
  topicPrefix: string
  /** Raw-data retention in milliseconds: older readings are rejected `ts_expired`. */
  retentionMs: number
  /** How far in the future a `ts` may lie, in milliseconds. Default 5 minutes. */
  maxFutureMs?: number
  /** Largest payload accepted, in bytes. Default 256 KiB. */
  maxPayloadBytes?: number
  /** Largest array of readings in one message. Default 1,000. */
  maxReadings?: number
  /** Districts this instance owns; null for all. Readings of other districts are ignored. */
  districts: readonly string[] | null
  deadLetters: DeadLetterSink
  clock: Clock
}

/** Counters of the ingest pipeline, exported on /metrics. */
export interface IngestStats {
  messages: number
  /** Readings seen, accepted or not. */
  received: number
  accepted: number
  duplicates: number
  /** Readings missing by `seq` gaps. */
  seqMissed: number
  /** Drops of `seq` to a small number. */
  deviceRestarts: number
  /** Messages on topics of districts this instance does not own. */
  foreign: number
}

/** Result of one message: the readings accepted, in order. */
export interface IngestResult {
  accepted: Reading[]
}

export interface Ingest {
  readonly stats: Readonly<IngestStats>
  /** Decodes, validates and de-duplicates one message; rejections go to the dead letters. */
  handle(message: BrokerMessage): IngestResult
  /** Takes back accepted readings that could not be stored, so their resend is not dropped as a duplicate. */
  forget(readings: readonly Reading[]): void
}

const EMPTY: IngestResult = { accepted: [] }
const RESTART_SEQ = 10

type Rejection = { reason: DeadLetterReason; detail: string }

/** The payload a rejected reading is dead-lettered with: the message's own for a single reading, else the item's JSON. */
function itemPayload(whole: boolean, payload: Buffer, item: unknown): Buffer {
  return whole ? payload : Buffer.from(JSON.stringify(item))
}

/** Builds the ingest pipeline of SPEC §4. */
export function createIngest(options: IngestOptions): Ingest {
  const { topicPrefix, retentionMs, clock, deadLetters } = options
  const maxFutureMs = options.maxFutureMs ?? 300_000
  const maxPayloadBytes = options.maxPayloadBytes ?? 262_144
  const maxReadings = options.maxReadings ?? 1000
  const owned = options.districts === null ? null : new Set(options.districts)
  const duplicates = duplicateFilter({ clock })
  const lastSeq = new Map<string, number>()
  const stats: IngestStats = { messages: 0, received: 0, accepted: 0, duplicates: 0, seqMissed: 0, deviceRestarts: 0, foreign: 0 }

  function reject(topic: string, payload: Buffer, rejection: Rejection): void {
    deadLetters.put({ receivedAt: clock.now(), topic, payload, ...rejection })
  }

  /** The reading's event time (server time plus its index when it has none), or why it is refused. */
  function parseTs(raw: unknown, now: number, index: number): number | Rejection {
    if (raw === undefined) return now + index
    const ts = typeof raw === 'number' ? raw : Date.parse(raw as string)
    if (!Number.isFinite(ts)) return { reason: 'schema', detail: `ts '${String(raw)}' is not a valid time` }
    if (ts > now + maxFutureMs) return { reason: 'ts_future', detail: `ts ${new Date(ts).toISOString()} is more than ${maxFutureMs / 1000} s ahead of server time` }
    if (ts < now - retentionMs) return { reason: 'ts_expired', detail: `ts ${new Date(ts).toISOString()} is older than the raw-data retention` }
    return ts
  }

  function countSeq(sensor: string, seq: number | undefined): void {
    if (seq === undefined) return
    const last = lastSeq.get(sensor)
    lastSeq.set(sensor, last === undefined ? seq : Math.max(seq, last))
    if (last === undefined) return
    if (seq > last + 1) stats.seqMissed += seq - last - 1
    else if (seq < last && seq <= RESTART_SEQ) {
      stats.deviceRestarts += 1
      lastSeq.set(sensor, seq)
    }
  }

  /** Validates one reading object for a known sensor; returns the Reading or a rejection. */
  function toReading(sensor: Sensor, raw: unknown, gateway: boolean, now: number, index: number): Reading | Rejection | 'duplicate' {
    const problem = checkReading(sensor.kind, raw, gateway)
    if (problem !== null) return { reason: 'schema', detail: `${sensor.id}: ${problem}` }
    const obj = raw as Record<string, unknown>
    const ts = parseTs(obj.ts, now, index)
    if (typeof ts !== 'number') return { reason: ts.reason, detail: `${sensor.id}: ${ts.detail}` }
    if (duplicates.seen(sensor.id, ts)) return 'duplicate'
    const seq = obj.seq as number | undefined
    countSeq(sensor.id, seq)
    const fields: Record<string, number> = {}
    const spec = KIND_FIELDS[sensor.kind]
    for (const f of spec.required) fields[f] = obj[f] as number
    for (const f of spec.optional) if (obj[f] !== undefined) fields[f] = obj[f] as number
    const reading: Reading = {
      sensor: sensor.id,
      kind: sensor.kind,
      district: sensor.district,
      segment: sensor.segment,
      ts,
      fields,
      // Provisional: the quality stage (stream/quality-stage.ts) flags every reading before the log.
      quality: 'good',
      qualityReason: '',
      tsSource: obj.ts === undefined ? 'server' : 'device',
      receivedAt: now,
    }
    if (seq !== undefined) reading.seq = seq
    return reading
  }

  function handle(message: BrokerMessage): IngestResult {
    const { topic, payload } = message
    const parsed = parseTopic(topic, topicPrefix)
    if (parsed.type === 'foreign') return EMPTY
    if (parsed.type !== 'invalid' && owned !== null && !owned.has(parsed.district)) {
      stats.foreign += 1
      return EMPTY
    }
    stats.messages += 1
    const registry = options.registry()
    const now = clock.now()
    if (parsed.type === 'invalid') {
      stats.received += 1
      reject(topic, payload, { reason: 'topic_mismatch', detail: parsed.why })
      return EMPTY
    }
    let sensor: Sensor | undefined
    if (parsed.type === 'sensor') {
      sensor = registry.sensor(parsed.sensorId)
      const problem = sensor === undefined
        ? { reason: 'unknown_sensor' as const, detail: `sensor '${parsed.sensorId}' is not in the registry` }
        : sensor.district !== parsed.district || sensor.kind !== parsed.kind
          ? { reason: 'topic_mismatch' as const, detail: `sensor '${sensor.id}' is ${sensor.kind} in ${sensor.district}, topic says ${parsed.kind} in ${parsed.district}` }
          : undefined
      if (problem !== undefined) {
        stats.received += 1
        reject(topic, payload, problem)
        return EMPTY
      }
    }
    if (payload.length > maxPayloadBytes) {
      stats.received += 1
      reject(topic, payload, { reason: 'too_large', detail: `payload of ${payload.length} bytes exceeds ${maxPayloadBytes}` })
      return EMPTY
    }
    let body: unknown
    try {
      body = JSON.parse(payload.toString('utf8'))
    } catch (err) {
      stats.received += 1
      reject(topic, payload, { reason: 'malformed_json', detail: (err as Error).message })
      return EMPTY
    }
    // A single reading is taken as it is, without an array around it.
    const items: readonly unknown[] | undefined = Array.isArray(body) ? body : undefined
    const count = items === undefined ? 1 : items.length
    if (count > maxReadings) {
      stats.received += count
      reject(topic, payload, { reason: 'too_large', detail: `array of ${count} readings exceeds ${maxReadings}` })
      return EMPTY
    }
    if (count === 0) {
      stats.received += 1
      reject(topic, payload, { reason: 'schema', detail: 'empty array: no readings' })
      return EMPTY
    }
    const accepted: Reading[] = []
    const whole = items === undefined
    for (let i = 0; i < count; i++) {
      const item = items === undefined ? body : items[i]
      stats.received += 1
      let target = sensor
      if (parsed.type === 'gateway') {
        const envelope = checkGatewayEnvelope(item)
        if (envelope !== null) {
          reject(topic, itemPayload(whole, payload, item), { reason: 'schema', detail: `reading ${i}: ${envelope}` })
          continue
        }
        const id = (item as { sensor: string }).sensor
        target = registry.sensor(id)
        if (target === undefined) {
          reject(topic, itemPayload(whole, payload, item), { reason: 'unknown_sensor', detail: `sensor '${id}' is not in the registry` })
          continue
        }
        if (target.district !== parsed.district) {
          reject(topic, itemPayload(whole, payload, item), { reason: 'topic_mismatch', detail: `sensor '${id}' is in ${target.district}, gateway topic says ${parsed.district}` })
          continue
        }
      }
      if (target === undefined) continue
      const result = toReading(target, item, parsed.type === 'gateway', now, i)
      if (result === 'duplicate') {
        stats.duplicates += 1
      } else if ('reason' in result) {
        reject(topic, itemPayload(whole, payload, item), result)
      } else {
        accepted.push(result)
      }
    }
    stats.accepted += accepted.length
    return { accepted }
  }

  function forget(readings: readonly Reading[]): void {
    for (const r of readings) duplicates.forget(r.sensor, r.ts)
    stats.accepted -= readings.length
  }

  return { stats, handle, forget }
}
