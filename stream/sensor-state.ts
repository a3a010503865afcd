import type { Reading, Sensor } from '../domain.js'

/** Live status of a sensor from data only (SPEC §6). */
export type SensorStatus = 'unknown' | 'online' | 'stale' | 'fault'

/** What the engine last heard from each sensor. */
export interface SensorState {
  /** Records an accepted or re-flagged reading; keeps the one with the latest event time as `last`. */
  update(reading: Reading): void
  /** The reading with the latest event time, if any. */
  last(sensorId: string): Reading | undefined
  /**
   * Status at wall time `now`: `unknown` when never heard, `stale` when silent for 3 × intervalS, `fault` when
   * its 3 latest readings by event time are all bad, else `online`.
   */
  status(sensor: Sensor, now: number): SensorStatus
  /** Forgets sensors no longer in the registry. */
  retain(ids: ReadonlySet<string>): void
}

/** One sensor's entry: the last reading, when it was last heard, and the flags of its 3 latest readings (newest first). */
interface Entry {
  last: Reading
  heard: number
  ts0: number
  ts1: number
  ts2: number
  bad0: boolean
  bad1: boolean
  bad2: boolean
}

/** Records the flag of a reading among the 3 latest by event time; a reading with a ts already held (a re-flag) replaces its flag. */
function record(e: Entry, ts: number, bad: boolean): void {
  if (ts === e.ts0) e.bad0 = bad
  else if (ts === e.ts1) e.bad1 = bad
  else if (ts === e.ts2) e.bad2 = bad
  else if (ts > e.ts0) {
    e.ts2 = e.ts1
    e.bad2 = e.bad1
    e.ts1 = e.ts0
    e.bad1 = e.bad0
    e.ts0 = ts
    e.bad0 = bad
  } else if (ts > e.ts1) {
    e.ts2 = e.ts1
    e.bad2 = e.bad1
    e.ts1 = ts
    e.bad1 = bad
  } else if (ts > e.ts2) {
    e.ts2 = ts
    e.bad2 = bad
  }
}

/** Creates the per-sensor live state: one entry per sensor that ever reported. */
export function sensorState(): SensorState {
  const entries = new Map<string, Entry>()
  return {
    update(reading) {
      const bad = reading.quality === 'bad'
      const e = entries.get(reading.sensor)
      if (e === undefined) {
        entries.set(reading.sensor, { last: reading, heard: reading.receivedAt, ts0: reading.ts, ts1: -Infinity, ts2: -Infinity, bad0: bad, bad1: false, bad2: false })
        return
      }
      if (reading.ts >= e.last.ts) e.last = reading
      if (reading.receivedAt > e.heard) e.heard = reading.receivedAt
      record(e, reading.ts, bad)
    },
    last(id) {
      return entries.get(id)?.last
    },
    status(sensor, now) {
      const e = entries.get(sensor.id)
      if (e === undefined) return 'unknown'
      if (now - e.heard > 3 * sensor.intervalS * 1000) return 'stale'
      return e.ts2 !== -Infinity && e.bad0 && e.bad1 && e.bad2 ? 'fault' : 'online'
    },
    retain(ids) {
      for (const id of entries.keys()) if (!ids.has(id)) entries.delete(id)
    },
  }
}
