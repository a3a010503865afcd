import { QUALITY_CODE, type ReadingColumns } from './reading-columns.js'
import type { AlertLevel } from './smooth-subscores.js'
import type { TimedValue } from './timed-value.js'

const MINUTE_MS = 60_000

/** Rolling rain totals in mm, each the maximum over the gauges (INDICES.md §2). */
export interface RainTotals {
  /** Last 30 min: more than 0 means "raining". */
  mm30: number
  /** Last 60 min: 2 mm or more corroborates a hazard reading. */
  mm60: number
  r3h: number
  r6h: number
  r12h: number
}

/** No rain at all. */
export const NO_RAIN: RainTotals = { mm30: 0, mm60: 0, r3h: 0, r6h: 0, r12h: 0 }

/** Rain in the last 60 min that corroborates a hazard sub-score below 40, mm (INDICES.md §2). */
export const CORROBORATING_RAIN_MM = 2

/** Trailing window totals that give an observed rain level, mm (INDICES.md §2 Rain pressure). */
export const RAIN_PRESSURE_MM = { blue12h: 50, yellow6h: 50, orange3h: 50, red3h: 100 } as const

/** The totals and their trailing windows, minutes. */
const RAIN_WINDOWS: readonly (readonly [keyof RainTotals, number])[] = [
  ['mm30', 30],
  ['mm60', 60],
  ['r3h', 180],
  ['r6h', 360],
  ['r12h', 720],
]

const BAD = QUALITY_CODE.bad

/**
 * Totals over `(now − window, now]` of the `rain_mm` readings of each gauge, the maximum over the
 * gauges (the zone's, or the district's when it has none: the caller chooses). Bad readings are skipped.
 */
export function rainTotals(gauges: readonly (readonly TimedValue[])[], now: number): RainTotals {
  const out = { ...NO_RAIN }
  for (const readings of gauges) {
    for (const [key, minutes] of RAIN_WINDOWS) {
      const start = now - minutes * MINUTE_MS
      let sum = 0
      for (const r of readings) if (r.quality !== 'bad' && r.ts > start && r.ts <= now && r.value > 0) sum += r.value
      out[key] = Math.max(out[key], sum)
    }
  }
  return out
}

/**
 * `rainTotals` over gauges whose readings are held column by column (the `rain_mm` field), with no object per
 * reading: the same totals, summed in the same order.
 */
export function rainTotalsOfColumns(gauges: readonly ReadingColumns[], now: number): RainTotals {
  const out = { ...NO_RAIN }
  for (const gauge of gauges) {
    const offset = gauge.offsetOf('rain_mm')
    if (offset < 0) continue
    const { data, codes } = gauge
    const first = gauge.start
    const last = first + gauge.length
    for (const [key, minutes] of RAIN_WINDOWS) {
      const start = now - minutes * MINUTE_MS
      let sum = 0
      for (let row = first; row < last; row++) {
        const ts = data[row] as number
        // An absent value is NaN, never above 0.
        const value = data[offset + row] as number
        if (codes[row] !== BAD && ts > start && ts <= now && value > 0) sum += value
      }
      out[key] = Math.max(out[key], sum)
    }
  }
  return out
}

/** "Raining": more than 0 mm in the last 30 min (INDICES.md §2). */
export function isRaining(totals: RainTotals): boolean {
  return totals.mm30 > 0
}

/** Observed rain level (INDICES.md §2): blue R12h ≥ 50, yellow R6h ≥ 50, orange R3h ≥ 50, red R3h ≥ 100. */
export function rainPressure(totals: RainTotals): AlertLevel {
  if (totals.r3h >= RAIN_PRESSURE_MM.red3h) return 4
  if (totals.r3h >= RAIN_PRESSURE_MM.orange3h) return 3
  if (totals.r6h >= RAIN_PRESSURE_MM.yellow6h) return 2
  if (totals.r12h >= RAIN_PRESSURE_MM.blue12h) return 1
  return 0
}

/** The least alert level rain imposes on a zone: blue at orange pressure or above, never more (INDICES.md §2). */
export function rainAlertFloor(pressure: AlertLevel): AlertLevel {
  return pressure >= 3 ? 1 : 0
}
