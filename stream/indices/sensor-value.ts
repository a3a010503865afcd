import type { TimedValue } from './timed-value.js'

/** Span within which the last three good readings are smoothed by their median, ms (INDICES.md §2). */
export const MEDIAN_SPAN_MS = 15 * 60_000

/**
 * A smooth-water sensor's value (INDICES.md §2): the median of its last 3 `good` readings when all
 * three lie within 15 min of each other, else its latest `good` reading; `undefined` without one.
 * `ts` is the time of the latest good reading.
 */
export function sensorValue(recent: readonly TimedValue[]): { value: number; ts: number } | undefined {
  const good = recent.filter((r) => r.quality === 'good' && Number.isFinite(r.value)).sort((a, b) => a.ts - b.ts)
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
