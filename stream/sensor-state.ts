import type { Reading, Sensor } from '../domain.js'

/** Live status of a sensor from data only (SPEC §6); `fault` comes with the quality tests. */
export type SensorStatus = 'unknown' | 'online' | 'stale' | 'fault'

/** What the engine last heard from each sensor. */
export interface SensorState {
  /** Records an accepted reading; keeps the one with the latest event time as `last`. */
  update(reading: Reading): void
  /** The reading with the latest event time, if any. */
  last(sensorId: string): Reading | undefined
  /** Status at wall time `now`: stale when silent for 3 × intervalS, unknown when never heard. */
  status(sensor: Sensor, now: number): SensorStatus
  /** Forgets sensors no longer in the registry. */
  retain(ids: ReadonlySet<string>): void
}

/** Creates the per-sensor live state: one entry per sensor that ever reported. */
export function sensorState(): SensorState {
  const lastReading = new Map<string, Reading>()
  const lastHeard = new Map<string, number>()
  return {
    update(reading) {
      const prev = lastReading.get(reading.sensor)
      if (prev === undefined || reading.ts >= prev.ts) lastReading.set(reading.sensor, reading)
      lastHeard.set(reading.sensor, Math.max(lastHeard.get(reading.sensor) ?? 0, reading.receivedAt))
    },
    last(id) {
      return lastReading.get(id)
    },
    status(sensor, now) {
      const heard = lastHeard.get(sensor.id)
      if (heard === undefined) return 'unknown'
      return now - heard > 3 * sensor.intervalS * 1000 ? 'stale' : 'online'
    },
    retain(ids) {
      for (const id of lastReading.keys()) if (!ids.has(id)) lastReading.delete(id)
      for (const id of lastHeard.keys()) if (!ids.has(id)) lastHeard.delete(id)
    },
  }
}
