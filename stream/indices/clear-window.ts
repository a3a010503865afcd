import type { Sensor } from '../../domain.js'
import { CLEAR_PARAMETERS, type ClearParameter } from './clear-subscores.js'
import { QUALITY_CODE, type ReadingColumns } from './reading-columns.js'
import { roundHalfEven } from './round-half-even.js'
import type { TimedValue } from './timed-value.js'

/** Reporting precision of GB 3838 hourly data, in decimals (INDICES.md §1 Windows). */
export const GB3838_DECIMALS: Readonly<Record<ClearParameter, number>> = {
  do_mgl: 2,
  codmn_mgl: 2,
  nh3n_mgl: 3,
  tp_mgl: 3,
  ph: 2,
}

const GOOD = QUALITY_CODE.good

/** Shortest clear-water window, 2 h in milliseconds (INDICES.md §1). */
export const MIN_CLEAR_WINDOW_MS = 2 * 3_600_000

/** Window length `W = max(2 h, 3·intervalS)` in milliseconds (INDICES.md §1). */
export function clearWindowMs(intervalS: number): number {
  return Math.max(MIN_CLEAR_WINDOW_MS, 3 * intervalS * 1000)
}

/** Good readings a window needs, `max(1, floor(0.5·W/intervalS))` (INDICES.md §1). */
export function clearMinValidCount(intervalS: number): number {
  return Math.max(1, Math.floor((0.5 * clearWindowMs(intervalS)) / (intervalS * 1000)))
}

/**
 * Mean of a parameter's values, rounded half to even to the GB 3838 precision; pH is averaged as
 * 10^−pH and converted back (INDICES.md §1). `undefined` for no values.
 */
export function clearMean(parameter: ClearParameter, values: readonly number[]): number | undefined {
  if (values.length === 0) return undefined
  let mean: number
  if (parameter === 'ph') mean = -Math.log10(values.reduce((sum, ph) => sum + 10 ** -ph, 0) / values.length)
  else mean = values.reduce((sum, v) => sum + v, 0) / values.length
  return roundHalfEven(mean, GB3838_DECIMALS[parameter])
}

/**
 * Median of a parameter over a segment's stations (INDICES.md §1): the middle value, the mean of the
 * two middle ones for an even count (pH through 10^−pH), rounded like a window mean.
 */
export function stationMedian(parameter: ClearParameter, values: readonly number[]): number | undefined {
  if (values.length === 0) return undefined
  const sorted = [...values].sort((a, b) => a - b)
  const mid = Math.floor(sorted.length / 2)
  if (sorted.length % 2 === 1) return roundHalfEven(sorted[mid] as number, GB3838_DECIMALS[parameter])
  return clearMean(parameter, [sorted[mid - 1] as number, sorted[mid] as number])
}

/** The last valid window of a station's parameter, kept by the caller for the `held` rule. */
export interface LastValidWindow {
  value: number
  /** End of that window (the station's latest reading then), epoch milliseconds. */
  ts: number
}

/** What `clearWindow` needs: one station's readings of one parameter. */
export interface ClearWindowInput {
  parameter: ClearParameter
  /** The station's readings of this parameter, any order; only `good` ones count. */
  readings: readonly TimedValue[]
  /** The station's latest reading time (any field, any quality), epoch milliseconds: the window ends here. */
  latestTs: number
  /** The station's `intervalS`. */
  intervalS: number
  /** The last valid window, if the caller kept one. */
  lastValid?: LastValidWindow
}

/** A station's window for one parameter (INDICES.md §1 Windows). */
export interface ClearWindow {
  /** The window mean, the held value, or `null`. */
  value: number | null
  /** Enough good readings in the window. */
  valid: boolean
  /** Invalid, showing the last valid value (at most `W` after that window ended). */
  held: boolean
  /** Good readings in the window. */
  count: number
  /** Window bounds `(start, end]`, epoch milliseconds. */
  start: number
  end: number
}

/**
 * Evaluates the trailing window `(latestTs − W, latestTs]` of one station and parameter: the rounded
 * mean of its good readings when there are enough, else the last valid value for at most `W` more
 * (flag `held`), else `null` (INDICES.md §1 Windows).
 */
export function clearWindow(input: ClearWindowInput): ClearWindow {
  const start = input.latestTs - clearWindowMs(input.intervalS)
  const end = input.latestTs
  // The good values in the window, in the readings' order (the mean sums in that order), in one pass.
  const good: number[] = []
  for (const r of input.readings) if (r.quality === 'good' && r.ts > start && r.ts <= end && Number.isFinite(r.value)) good.push(r.value)
  return windowOf(input, good)
}

/**
 * `clearWindow` over a station's readings held column by column (a reading without the parameter is skipped), with no
 * object per reading: the same window.
 */
export function clearWindowOfColumns(input: Omit<ClearWindowInput, 'readings'> & { readings: ReadingColumns }): ClearWindow {
  const start = input.latestTs - clearWindowMs(input.intervalS)
  const end = input.latestTs
  const good: number[] = []
  const { data, codes } = input.readings
  const offset = input.readings.offsetOf(input.parameter)
  if (offset >= 0) {
    for (let row = input.readings.start, last = row + input.readings.length; row < last; row++) {
      if (codes[row] !== GOOD) continue
      const ts = data[row] as number
      if (!(ts > start && ts <= end)) continue
      // An absent value is NaN: not finite, as a reading without the field is skipped.
      const value = data[offset + row] as number
      if (Number.isFinite(value)) good.push(value)
    }
  }
  return windowOf(input, good)
}

/** The window from its good values, in order. */
function windowOf(input: Omit<ClearWindowInput, 'readings'>, good: readonly number[]): ClearWindow {
  const w = clearWindowMs(input.intervalS)
  const start = input.latestTs - w
  const end = input.latestTs
  const count = good.length
  if (count >= clearMinValidCount(input.intervalS)) {
    const value = clearMean(input.parameter, good) as number
    return { value, valid: true, held: false, count, start, end }
  }
  const last = input.lastValid
  if (last !== undefined && end - last.ts <= w) return { value: last.value, valid: false, held: true, count, start, end }
  return { value: null, valid: false, held: false, count, start, end }
}

/** The clear-water parameters a station should report: its `measures` among the five (all five when it lists none). */
export function expectedClearParameters(sensor: Sensor): ClearParameter[] {
  const measures = sensor.params.measures
  if (!Array.isArray(measures)) return [...CLEAR_PARAMETERS]
  return CLEAR_PARAMETERS.filter((p) => measures.includes(p))
}

/** One station of a segment with the parameters whose windows are valid now. */
export interface StationWindows {
  sensor: Sensor
  valid: ReadonlySet<ClearParameter>
}

/**
 * Confidence of a segment's clear-water index (INDICES.md §1): valid windows / expected windows
 * over its stations; held windows are not valid. 0 when no window is expected.
 */
export function clearConfidence(stations: readonly StationWindows[]): number {
  let expected = 0
  let valid = 0
  for (const s of stations) {
    for (const p of expectedClearParameters(s.sensor)) {
      expected++
      if (s.valid.has(p)) valid++
    }
  }
  return expected === 0 ? 0 : valid / expected
}
