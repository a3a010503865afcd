import type { Reading, Sensor } from '../../domain.js'
import type { SensorState } from '../../stream/sensor-state.js'

/** The sensor state as it was before its columns: an entry object per sensor holding the last Reading itself. */
export function referenceSensorState(): SensorState {
  const entries = new Map<string, { last: Reading; heard: number; ts: number[]; bad: boolean[] }>()
  return {
    update(reading) {
      const bad = reading.quality === 'bad'
      const e = entries.get(reading.sensor)
      if (e === undefined) {
        entries.set(reading.sensor, { last: reading, heard: reading.receivedAt, ts: [reading.ts, -Infinity, -Infinity], bad: [bad, false, false] })
        return
      }
      if (reading.ts >= e.last.ts) e.last = reading
      if (reading.receivedAt > e.heard) e.heard = reading.receivedAt
      const held = e.ts.indexOf(reading.ts)
      if (held >= 0) {
        e.bad[held] = bad
        return
      }
      const at = e.ts.findIndex((t) => reading.ts > t)
      if (at < 0) return
      e.ts.splice(at, 0, reading.ts)
      e.bad.splice(at, 0, bad)
      e.ts.length = 3
      e.bad.length = 3
    },
    last(id) {
      return entries.get(id)?.last
    },
    status(sensor: Sensor, now: number) {
      const e = entries.get(sensor.id)
      if (e === undefined) return 'unknown'
      if (now - e.heard > 3 * sensor.intervalS * 1000) return 'stale'
      return e.ts[2] !== -Infinity && e.bad.every((b) => b) ? 'fault' : 'online'
    },
    retain(ids) {
      for (const id of entries.keys()) if (!ids.has(id)) entries.delete(id)
    },
  }
}
