import type { TimedValue } from './timed-value.js'

/** Span within which the last three good readings are smoothed by their median, ms (INDICES.md §2). */
export const MEDIAN_SPAN_MS = 15 * 60_000

const isGood = (r: TimedValue): boolean => r.quality === 'good' && Number.isFinite(r.value)

/** The middle of three values as a stable ascending sort orders them (a tie keeps the earlier one first). */
function middleOfThree(a: number, b: number, c: number): number {
  let x = a
  let y = b
  if (x - y > 0) {
    const t = x
    x = y
    y = t
  }
  if (y - c > 0) return x - c > 0 ? x : c
  return y
}

/** The general case, readings in any order: sorted by time (stably) first. */
function sensorValueUnordered(recent: readonly TimedValue[]): { value: number; ts: number } | undefined {
  const good = recent.filter(isGood).sort((a, b) => a.ts - b.ts)
  const latest = good[good.length - 1]
  if (latest === undefined) return undefined
  const last3 = good.slice(-3)
  const first = last3[0] as TimedValue
  if (last3.length === 3 && latest.ts - first.ts <= MEDIAN_SPAN_MS) {
    const sorted = last3.map((r) => r.value).sort((a, b) => a - b)
    return { value: sorted[1] as number, ts: latest.ts }
  }
  return { value: latest.value, ts: latest.ts }
}

/**
 * A smooth-water sensor's value (INDICES.md §2): the median of its last 3 `good` readings when all
 * three lie within 15 min of each other, else its latest `good` reading; `undefined` without one.
 * `ts` is the time of the latest good reading.
 *
 * Readings already in time order (the engine's are) are read in one pass without copying or sorting,
 * with the result a sort would give.
 */
export function sensorValue(recent: readonly TimedValue[]): { value: number; ts: number } | undefined {
  let first: TimedValue | undefined
  let middle: TimedValue | undefined
  let latest: TimedValue | undefined
  let count = 0
  for (const r of recent) {
    if (!isGood(r)) continue
    if (!Number.isFinite(r.ts) || (latest !== undefined && r.ts < latest.ts)) return sensorValueUnordered(recent)
    first = middle
    middle = latest
    latest = r
    count++
  }
  if (latest === undefined) return undefined
  if (count >= 3 && latest.ts - (first as TimedValue).ts <= MEDIAN_SPAN_MS) {
    return { value: middleOfThree((first as TimedValue).value, (middle as TimedValue).value, latest.value), ts: latest.ts }
  }
  return { value: latest.value, ts: latest.ts }
}
