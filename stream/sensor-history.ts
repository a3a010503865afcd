import type { Quality, Reading, Sensor } from '../domain.js'
import type { ClearParameter } from './indices/clear-subscores.js'
import type { LastValidWindow } from './indices/clear-window.js'
import type { TimedValue } from './indices/timed-value.js'

/** One reading as the index engine keeps it. */
export interface HeldReading {
  /** Event time, epoch milliseconds. */
  ts: number
  quality: Quality
  fields: Readonly<Record<string, number>>
}

/** What is kept of one sensor: its recent readings in event-time order and its window memory. */
export interface SensorRecord {
  /** Latest event time of any reading, any quality, epoch milliseconds. */
  latestTs: number
  /** Latest arrival on the wall clock, epoch milliseconds (staleness). */
  lastReceivedAt: number
  /** Readings newer than `latestTs − retention`, sorted by `ts`, one per `ts`. */
  readings: HeldReading[]
  /** The last valid clear-water window per parameter, for the `held` rule (INDICES.md §1); created by its first. */
  lastValid: Partial<Record<ClearParameter, LastValidWindow>> | undefined
  /** Readings added or replaced so far: a caller's result over `readings` holds while this is unchanged. */
  changes: number
}

/** Options of createSensorHistory. */
export interface SensorHistoryOptions {
  /** How far behind its latest reading a sensor's readings are kept, ms. */
  retentionMs: (sensor: Sensor) => number
  /** How long a sensor may stay silent in event time (behind the latest reading of any sensor) before it is forgotten, ms. */
  idleMs: (sensor: Sensor) => number
  /** Hard cap of readings kept per sensor, whatever the retention; default 20 000. */
  maxReadings?: number
}

/** What `insert` did with a reading. */
export type InsertOutcome = 'added' | 'replaced' | 'too_old'

/** Bounded per-sensor reading history of the index engine. */
export interface SensorHistory {
  /** Adds a reading; one with the `ts` of a kept reading replaces it (a re-flag). Older than the retention: not kept. */
  insert(sensor: Sensor, reading: Reading): InsertOutcome
  get(sensorId: string): SensorRecord | undefined
  /** The kept readings that carry `field`, oldest first. */
  values(sensorId: string, field: string): TimedValue[]
  /** Forgets sensors `lookup` does not know and sensors idle longer than their `idleMs`; returns how many went. */
  evict(lookup: (sensorId: string) => Sensor | undefined): number
  /** Latest event time over every reading inserted, epoch ms; `undefined` before the first. */
  readonly eventTime: number | undefined
  /** Sensors held. */
  readonly size: number
  /** Readings held over all sensors. */
  readonly readingCount: number
}

/** Index of the first reading with `ts ≥ target` (or `ts > target` when `after`). */
function search(readings: readonly HeldReading[], target: number, after = false): number {
  let lo = 0
  let hi = readings.length
  while (lo < hi) {
    const mid = (lo + hi) >>> 1
    const ts = (readings[mid] as HeldReading).ts
    if (ts < target || (after && ts === target)) lo = mid + 1
    else hi = mid
  }
  return lo
}

/** The readings of a record before its first kept reading (shared, never written). */
const EMPTY: HeldReading[] = []

/** Creates an empty history; every sensor's readings are bounded by its retention and the hard cap. */
export function createSensorHistory(options: SensorHistoryOptions): SensorHistory {
  const records = new Map<string, SensorRecord>()
  const maxReadings = options.maxReadings ?? 20_000
  let eventTime: number | undefined
  let readingCount = 0

  return {
    insert(sensor, reading) {
      eventTime = eventTime === undefined ? reading.ts : Math.max(eventTime, reading.ts)
      let rec = records.get(sensor.id)
      if (rec === undefined) {
        rec = { latestTs: reading.ts, lastReceivedAt: reading.receivedAt, readings: EMPTY, lastValid: undefined, changes: 0 }
        records.set(sensor.id, rec)
      }
      // Any data resets staleness, even a reading too old to keep (SPEC §6).
      rec.lastReceivedAt = Math.max(rec.lastReceivedAt, reading.receivedAt)
      const latest = Math.max(rec.latestTs, reading.ts)
      const horizon = latest - options.retentionMs(sensor)
      if (reading.ts <= horizon) return 'too_old'
      rec.latestTs = latest
      const held: HeldReading = { ts: reading.ts, quality: reading.quality, fields: reading.fields }
      rec.changes++
      let list = rec.readings
      let outcome: InsertOutcome = 'added'
      if (list === EMPTY) {
        // Exactly one element to start with (a push would reserve 17): most sensors of a large registry hold few.
        list = [held]
        rec.readings = list
        readingCount++
      } else if (list.length === 0 || (list[list.length - 1] as HeldReading).ts < reading.ts) {
        // In order, the usual case.
        list.push(held)
        readingCount++
      } else {
        const at = search(list, reading.ts)
        if (list[at]?.ts === reading.ts) {
          list[at] = held
          outcome = 'replaced'
        } else {
          list.splice(at, 0, held)
          readingCount++
        }
      }
      const drop = Math.max(search(list, horizon, true), list.length - maxReadings)
      if (drop > 0) {
        list.splice(0, drop)
        readingCount -= drop
      }
      return outcome
    },
    get(id) {
      return records.get(id)
    },
    values(id, field) {
      const out: TimedValue[] = []
      for (const r of records.get(id)?.readings ?? []) {
        const value = r.fields[field]
        if (value !== undefined) out.push({ ts: r.ts, value, quality: r.quality })
      }
      return out
    },
    evict(lookup) {
      let evicted = 0
      for (const [id, rec] of records) {
        const sensor = lookup(id)
        if (sensor !== undefined && eventTime !== undefined && eventTime - rec.latestTs <= options.idleMs(sensor)) continue
        records.delete(id)
        readingCount -= rec.readings.length
        evicted++
      }
      return evicted
    },
    get eventTime() {
      return eventTime
    },
    get size() {
      return records.size
    },
    get readingCount() {
      return readingCount
    },
  }
}
