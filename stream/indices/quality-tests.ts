import { KIND_FIELDS, type Quality, type Sensor } from '../../domain.js'
import { effectiveHistoricMax, riverLevelsOf } from './smooth-subscores.js'

/** Values devices send for "no measurement": always bad (INDICES.md §3). */
export const SENTINEL_VALUES: ReadonlySet<number> = new Set([-9999, 9999, 65535])

/** A quality flag and why; the reason is `test:field` (`range:do_mgl`), empty when good. */
export interface QualityResult {
  quality: Quality
  reason: string
}

/** A good reading. */
export const GOOD: Readonly<QualityResult> = { quality: 'good', reason: '' }

/** An inclusive range; a value outside it fails. */
export interface Range {
  min: number
  max: number
}

/** Spike thresholds: the spike value above `suspect` is suspect, above `bad` bad. */
export interface SpikeLimits {
  suspect: number
  bad: number
}

/** Flat-line thresholds: readings within ±`tolerance` of the newest, for a duration (ms) or a count of readings. */
export interface FlatLineLimits {
  tolerance: number
  by: 'duration' | 'count'
  suspect: number
  bad: number
  /** Level and depth sensors sit flat in dry weather: tested only while it rains. */
  rainOnly: boolean
}

/** The row of INDICES.md §3 for one field of one sensor. */
export interface FieldLimits {
  bad?: Range
  suspect?: Range
  spike?: SpikeLimits
  flat?: FlatLineLimits
  /** `rain_mm`: ranges apply to mm per minute since the previous reading. */
  perMinute?: boolean
}

const HOUR = 3_600_000
const MINUTE = 60_000
// Decimal tolerances such as 0.005 must include 3.215 vs 3.220 (a difference of 0.0050000000000001).
const FLAT_EPS = 1e-9

const within = (tolerance: number, suspect: number, bad: number, rainOnly = false): FlatLineLimits => ({ tolerance, by: 'duration', suspect, bad, rainOnly })
const identical = (suspect: number, bad: number): FlatLineLimits => ({ tolerance: 0, by: 'count', suspect, bad, rainOnly: false })
const r = (min: number, max: number): Range => ({ min, max })

/** The rows of INDICES.md §3 that do not depend on a sensor's params. */
export const QUALITY_TABLE: Readonly<Record<string, FieldLimits>> = {
  do_mgl: { bad: r(0, 20), suspect: r(0.1, 16), spike: { suspect: 1.0, bad: 2.0 }, flat: within(0.01, 2 * HOUR, 6 * HOUR) },
  ph: { bad: r(0, 14), suspect: r(4, 11), spike: { suspect: 0.3, bad: 0.6 }, flat: within(0.005, 6 * HOUR, 24 * HOUR) },
  nh3n_mgl: { bad: r(0, 100), suspect: r(0, 40), spike: { suspect: 1.0, bad: 3.0 }, flat: identical(12, 36) },
  codmn_mgl: { bad: r(0, 100), suspect: r(0, 30), spike: { suspect: 3, bad: 8 }, flat: identical(12, 36) },
  tp_mgl: { bad: r(0, 5), suspect: r(0, 2), spike: { suspect: 0.1, bad: 0.3 }, flat: identical(12, 36) },
  turbidity_ntu: { bad: r(0, 4000), suspect: r(0, 1000), spike: { suspect: 50, bad: 200 }, flat: within(0.1, 6 * HOUR, 24 * HOUR) },
  temp_c: { bad: r(-2, 40), suspect: r(0, 35), spike: { suspect: 1, bad: 2 }, flat: within(0.01, 6 * HOUR, 24 * HOUR) },
  // The table gives no tolerance for conductivity: identical values.
  cond_uscm: { bad: r(0, 10000), suspect: r(0, 3000), spike: { suspect: 100, bad: 300 }, flat: within(0, 6 * HOUR, 24 * HOUR) },
  flow_m3s: { bad: r(-50, 5000), suspect: r(-10, 2000) },
  depth_cm: { bad: r(0, 200), suspect: r(0, 100), spike: { suspect: 5, bad: 15 }, flat: within(0.5, 30 * MINUTE, 60 * MINUTE, true) },
  rain_mm: { bad: r(0, 10), suspect: r(0, 5), perMinute: true },
  velocity_ms: { bad: r(-2, 6), suspect: r(-0.5, 5) },
}

function num(v: unknown): number | undefined {
  return typeof v === 'number' && Number.isFinite(v) ? v : undefined
}

/**
 * The INDICES.md §3 row for a field of a sensor, with params filled in: river `level_m` from the
 * gauge levels (in the params' datum), manhole and pipe `level_m` to `depthM + 0.5`, `sediment_m`
 * to `pipeDiameterM`, `occupied` to `capacity`. `undefined` when the field has no tests.
 */
export function qualityLimits(sensor: Sensor, field: string): FieldLimits | undefined {
  const p = sensor.params
  if (field === 'level_m') {
    if (sensor.kind === 'water_level') {
      const levels = riverLevelsOf(sensor)
      const flat = within(0.005, 30 * MINUTE, 60 * MINUTE, true)
      const spike = { suspect: 0.05, bad: 0.2 }
      if (levels === undefined) return { spike, flat }
      const hn = levels.normalLevelM - levels.offsetM
      const hx = effectiveHistoricMax(levels) - levels.offsetM
      return { bad: r(hn - 5, hx + 3), suspect: r(hn - 2, hx + 1), spike, flat }
    }
    const depthM = num(p.depthM)
    return {
      ...(depthM === undefined ? {} : { bad: r(0, depthM + 0.5) }),
      spike: { suspect: 0.1, bad: 0.3 },
      flat: within(0.005, 30 * MINUTE, 60 * MINUTE, true),
    }
  }
  if (field === 'sediment_m') {
    const d = num(p.pipeDiameterM)
    return d === undefined ? undefined : { bad: r(0, d) }
  }
  if (field === 'occupied') {
    const c = num(p.capacity)
    return { bad: r(0, c ?? Infinity) }
  }
  return QUALITY_TABLE[field]
}

const RANK: Record<Quality, number> = { good: 0, suspect: 1, bad: 2 }

/** The worst of several results; the first one wins a tie (INDICES.md §3: the worst flag wins). */
export function worstQuality(results: Iterable<QualityResult>): QualityResult {
  let worst: QualityResult = GOOD
  for (const res of results) if (RANK[res.quality] > RANK[worst.quality]) worst = res
  return worst
}

/** Sentinel test: −9999, 9999 and 65535 are bad (INDICES.md §3). */
export function sentinelTest(field: string, value: number): QualityResult {
  return SENTINEL_VALUES.has(value) ? { quality: 'bad', reason: `sentinel:${field}` } : GOOD
}

/** Range test (INDICES.md §3): bad outside the bad range, suspect outside the suspect range. */
export function rangeTest(field: string, value: number, limits: FieldLimits): QualityResult {
  const out = (range: Range | undefined) => range !== undefined && (value < range.min || value > range.max)
  if (!Number.isFinite(value) || out(limits.bad)) return { quality: 'bad', reason: `range:${field}` }
  if (out(limits.suspect)) return { quality: 'suspect', reason: `range:${field}` }
  return GOOD
}

/**
 * The spike value of the middle of three consecutive readings: the QARTOD `|x1 − (x0 + x2)/2|`,
 * capped by the distance from x1 to each neighbour, so a step that persists on the following
 * reading (x2 ≈ x1), or that only starts at it (x0 ≈ x1), is not a spike (INDICES.md §3).
 */
export function spikeValue(x0: number, x1: number, x2: number): number {
  return Math.min(Math.abs(x1 - (x0 + x2) / 2), Math.abs(x1 - x0), Math.abs(x1 - x2))
}

/** Spike test of the middle reading x1 of one field (INDICES.md §3): above `suspect` suspect, above `bad` bad. */
export function spikeTest(field: string, x0: number, x1: number, x2: number, limits: SpikeLimits): QualityResult {
  const s = spikeValue(x0, x1, x2)
  if (s > limits.bad) return { quality: 'bad', reason: `spike:${field}` }
  if (s > limits.suspect) return { quality: 'suspect', reason: `spike:${field}` }
  return GOOD
}

/** One reading as the quality tests see it. */
export interface QualityReading {
  /** Event time, epoch milliseconds. */
  ts: number
  fields: Readonly<Record<string, number>>
}

/**
 * Re-flags the previous reading `x1` once `x2` has arrived (INDICES.md §3): the spike test on every
 * field with spike limits, to be combined with x1's stored flag by `worstQuality`. The newest
 * reading is `good` for spikes until then.
 */
export function spikeTests(sensor: Sensor, x0: QualityReading, x1: QualityReading, x2: QualityReading): QualityResult {
  const results: QualityResult[] = []
  for (const [field, v1] of Object.entries(x1.fields)) {
    const v0 = x0.fields[field]
    const v2 = x2.fields[field]
    const spike = qualityLimits(sensor, field)?.spike
    if (v0 === undefined || v2 === undefined || spike === undefined) continue
    results.push(spikeTest(field, v0, v1, v2, spike))
  }
  return worstQuality(results)
}

/**
 * Flat-line test of the newest point of `series` (oldest first; INDICES.md §3): the run of readings
 * within ±tolerance of the newest, as a duration from its first reading or as a count. Rain-only
 * tests pass while dry and count only readings since `rainingSince`.
 */
export function flatLineTest(field: string, series: readonly { ts: number; value: number }[], limits: FlatLineLimits, rainingSince: number | null): QualityResult {
  const newest = series[series.length - 1]
  if (newest === undefined) return GOOD
  if (limits.rainOnly && rainingSince === null) return GOOD
  const from = limits.rainOnly && rainingSince !== null ? rainingSince : -Infinity
  let count = 0
  let startTs = newest.ts
  for (let i = series.length - 1; i >= 0; i--) {
    const x = series[i] as { ts: number; value: number }
    if (x.ts < from || Math.abs(x.value - newest.value) > limits.tolerance + FLAT_EPS) break
    count++
    startTs = x.ts
  }
  const measure = limits.by === 'count' ? count : newest.ts - startTs
  if (measure >= limits.bad) return { quality: 'bad', reason: `flat:${field}` }
  if (measure >= limits.suspect) return { quality: 'suspect', reason: `flat:${field}` }
  return GOOD
}

/** A rate-of-change limit, in field units per hour; the INDICES.md table has none, so it is off by default. */
export interface RateLimit {
  suspectPerHour: number
  badPerHour?: number
}

/** Rate-of-change test against the previous reading of the field; reason `rate:field`. */
export function rateOfChangeTest(field: string, previous: { ts: number; value: number }, current: { ts: number; value: number }, limit: RateLimit): QualityResult {
  const hours = (current.ts - previous.ts) / HOUR
  if (hours <= 0) return GOOD
  const rate = Math.abs(current.value - previous.value) / hours
  if (limit.badPerHour !== undefined && rate > limit.badPerHour) return { quality: 'bad', reason: `rate:${field}` }
  if (rate > limit.suspectPerHour) return { quality: 'suspect', reason: `rate:${field}` }
  return GOOD
}

/** What the tests of a new reading need besides the reading. */
export interface QualityContext {
  sensor: Sensor
  /** The sensor's previous readings that are not bad, oldest first, covering `qualityHistoryMs(sensor)`. */
  history: readonly QualityReading[]
  /** Start of the current rain ("raining": > 0 mm in the last 30 min on the zone's gauges, else the district's); `null` when dry. */
  rainingSince: number | null
  /** Rate-of-change limits by field; none by default. */
  rateLimits?: Readonly<Record<string, RateLimit>>
}

/**
 * Quality of a new reading (INDICES.md §3): sentinels, ranges (rain per minute since the previous
 * reading, the first by `intervalS`/60), flat lines, optional rates; the worst flag over its fields
 * wins. Spikes re-flag the previous reading instead (`spikeTests`).
 */
export function qualityTests(reading: QualityReading, context: QualityContext): QualityResult {
  const { sensor, history } = context
  const results: QualityResult[] = []
  for (const [field, value] of Object.entries(reading.fields)) {
    const sentinel = sentinelTest(field, value)
    if (sentinel.quality !== 'good') {
      results.push(sentinel)
      continue
    }
    const limits = qualityLimits(sensor, field)
    if (limits === undefined) continue
    let tested = value
    if (limits.perMinute === true) {
      const previous = history[history.length - 1]
      const gapMin = previous === undefined ? 0 : (reading.ts - previous.ts) / MINUTE
      tested = value / (gapMin > 0 ? gapMin : sensor.intervalS / 60)
    }
    results.push(rangeTest(field, tested, limits))
    const series = history.flatMap((h) => {
      const v = h.fields[field]
      return v === undefined ? [] : [{ ts: h.ts, value: v }]
    })
    if (limits.flat !== undefined) results.push(flatLineTest(field, [...series, { ts: reading.ts, value }], limits.flat, context.rainingSince))
    const rate = context.rateLimits?.[field]
    const previous = series[series.length - 1]
    if (rate !== undefined && previous !== undefined) results.push(rateOfChangeTest(field, previous, { ts: reading.ts, value }, rate))
  }
  return worstQuality(results)
}

/** How far back `history` must reach for the flat-line tests of the sensor's fields, ms. */
export function qualityHistoryMs(sensor: Sensor): number {
  const declared = sensor.params.measures
  const kindFields = KIND_FIELDS[sensor.kind]
  const fields = Array.isArray(declared) ? (declared as string[]) : [...kindFields.required, ...kindFields.optional]
  let ms = 0
  for (const field of fields) {
    const flat = qualityLimits(sensor, field)?.flat
    if (flat === undefined) continue
    ms = Math.max(ms, flat.by === 'count' ? flat.bad * sensor.intervalS * 1000 : flat.bad)
  }
  return ms
}
