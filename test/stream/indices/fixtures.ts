import type { Sensor, SensorKind } from '../../../domain.js'
import type { SensorSnapshot } from '../../../stream/indices/smooth-water-index.js'
import type { TimedValue } from '../../../stream/indices/timed-value.js'

export const MIN = 60_000
export const HOUR = 3_600_000
/** An arbitrary event-time origin: 2026-11-27T00:00:00Z. */
export const T0 = Date.UTC(2026, 10, 27)

/** A sensor of the given kind with the given params. */
export function sensor(id: string, kind: SensorKind, params: Record<string, unknown> = {}, intervalS = 60): Sensor {
  return { id, kind, district: 'xihu', segment: 'zone-4', name: id, lat: 30.27, lon: 120.12, intervalS, params }
}

/** The worked-example river gauge of INDICES.md §2: Hn 2.90, Hw 3.50, Hg 3.90, Hx 4.20. */
export const GAUGE_PARAMS = { normalLevelM: 2.9, warningLevelM: 3.5, guaranteedLevelM: 3.9, historicMaxLevelM: 4.2 }

/** A manhole with invert 0.2 m, DN 800, 3.2 m deep: crown 1.0 m, so r = (level − 1.0)/2.2. */
export const MANHOLE_PARAMS = { invertM: 0.2, pipeDiameterM: 0.8, depthM: 3.2 }

/** A DN 1000 pipe sensor under a 3.0 m manhole: f = level, r = (level − 1)/2. */
export const PIPE_PARAMS = { pipeDiameterM: 1.0, depthM: 3.0 }

/** Manhole level giving fill f. */
export const manholeAtFill = (f: number) => MANHOLE_PARAMS.invertM + f * MANHOLE_PARAMS.pipeDiameterM
/** Manhole level giving surcharge r. */
export const manholeAtSurcharge = (r: number) => 1.0 + r * (MANHOLE_PARAMS.depthM - 1.0)

/** One good reading at `ts`. */
export const good = (ts: number, value: number): TimedValue => ({ ts, value, quality: 'good' })

/** A fresh snapshot whose latest good reading is `value` at `now`. */
export function fresh(s: Sensor, now: number, value: number): SensorSnapshot {
  return { sensor: s, recent: [good(now, value)], stale: false }
}
