import type { Sensor } from '../domain.js'
import { closureCmOf, riverLevelsOf, wellGeometryOf } from '../stream/indices/smooth-subscores.js'
import { resized } from '../typed-arrays.js'
import type { AlertLevel, Report } from './condition.js'
import type { CompiledRateOfRise, CompiledTimeToOverflow } from './compile-rules.js'
import { thresholdOf, type ResolvedLevel } from './evaluate-hysteresis.js'
import { grown, numberSlots } from './evaluate-fault.js'
import { formatNumber, levelName, unitOf, withUnit } from './rule-messages.js'

const HOUR_MS = 3_600_000

/** What the rate rules read of a subject's values: `length` points, oldest first, event time in epoch ms. */
export interface Points {
  readonly length: number
  ts(i: number): number
  v(i: number): number
}

/**
 * The values of many subjects over a rule's window, one row each, oldest first. A row's single point is held in
 * the `t0`/`v0` columns with no array of its own; from its second point on, its points are in a plain number
 * array of ts and value pairs, grown by half. Columns of all rows are typed arrays, so a row costs a few bytes.
 */
export class PointColumns {
  head: Int32Array
  len: Int32Array
  t0: Float64Array
  v0: Float64Array
  /** Per row: ts and value of each point, interleaved; undefined while the row has held at most one point. */
  pairs: (number[] | undefined)[] = []

  constructor(capacity: number) {
    this.head = new Int32Array(capacity)
    this.len = new Int32Array(capacity)
    this.t0 = new Float64Array(capacity)
    this.v0 = new Float64Array(capacity)
  }

  /** Room for `capacity` rows. */
  resize(capacity: number): void {
    this.head = resized(this.head, capacity)
    this.len = resized(this.len, capacity)
    this.t0 = resized(this.t0, capacity)
    this.v0 = resized(this.v0, capacity)
  }

  /** Empties a row and lets go of its array. */
  clear(r: number): void {
    this.head[r] = 0
    this.len[r] = 0
    this.pairs[r] = undefined
  }

  ts(r: number, i: number): number {
    const a = this.pairs[r]
    return a === undefined ? (this.t0[r] as number) : (a[2 * ((this.head[r] as number) + i)] as number)
  }

  v(r: number, i: number): number {
    const a = this.pairs[r]
    return a === undefined ? (this.v0[r] as number) : (a[2 * ((this.head[r] as number) + i) + 1] as number)
  }

  /** PointSeries.push on row `r`. */
  push(r: number, ts: number, v: number, windowMs: number, bucketMs = 0): void {
    const n = this.len[r] as number
    if (n > 0 && this.ts(r, n - 1) >= ts) throw new RangeError(`point at ${ts} is not after the series' last one`)
    if (n > 0 && bucketMs > 0 && Math.floor(ts / bucketMs) === Math.floor(this.ts(r, n - 1) / bucketMs)) {
      this.fold(r, ts, v, windowMs)
      return
    }
    const start = ts - windowMs
    let drop = 0
    while (drop < n && this.ts(r, drop) < start) drop++
    let a = this.pairs[r]
    const length = n - drop
    if (a === undefined) {
      if (length === 0) {
        this.t0[r] = ts
        this.v0[r] = v
        this.len[r] = 1
        return
      }
      // One point held (and kept): the row gets an array.
      a = numberSlots(8)
      a[0] = this.t0[r] as number
      a[1] = this.v0[r] as number
      this.pairs[r] = a
      this.head[r] = 0
    } else {
      let head = (this.head[r] as number) + drop
      const cap = a.length >> 1
      if (head + length >= cap) {
        if (length * 2 >= cap) {
          const b = numberSlots(2 * grown(cap))
          for (let k = 0; k < 2 * length; k++) b[k] = a[2 * head + k] as number
          this.pairs[r] = a = b
        } else a.copyWithin(0, 2 * head, 2 * (head + length))
        head = 0
      }
      this.head[r] = head
    }
    const at = 2 * ((this.head[r] as number) + length)
    a[at] = ts
    a[at + 1] = v
    this.len[r] = length + 1
  }

  /**
   * The newest point of row `r` (of the bucket of `ts`) takes `ts` and `v`, latest per bucket; the points older
   * than `ts − windowMs` are dropped (the newest one stays: it is now at `ts`).
   */
  private fold(r: number, ts: number, v: number, windowMs: number): void {
    const n = this.len[r] as number
    const a = this.pairs[r]
    if (a === undefined) {
      this.t0[r] = ts
      this.v0[r] = v
      return
    }
    const at = 2 * ((this.head[r] as number) + n - 1)
    a[at] = ts
    a[at + 1] = v
    const start = ts - windowMs
    let drop = 0
    while (drop < n - 1 && this.ts(r, drop) < start) drop++
    this.head[r] = (this.head[r] as number) + drop
    this.len[r] = n - drop
  }
}

/**
 * A subject's values over the rule's window, oldest first, event time in epoch ms: one row of PointColumns,
 * standalone (a table of one row) or a view its owner moves between rows.
 */
export class PointSeries implements Points {
  constructor(
    private readonly cols: PointColumns = new PointColumns(1),
    public row = 0,
  ) {}

  /** Points held. */
  get length(): number {
    return this.cols.len[this.row] as number
  }

  ts(i: number): number {
    return this.cols.ts(this.row, i)
  }

  v(i: number): number {
    return this.cols.v(this.row, i)
  }

  /**
   * Appends a point later than every held one and drops the points older than `ts − windowMs`. (The engine feeds
   * each subject in event-time order: a reading not after the last one is counted late and not pushed.)
   *
   * With `bucketMs` > 0 the series holds at most one point per bucket of that width (`Math.floor(ts / bucketMs)`):
   * a point in the bucket of the newest held one replaces it (latest per bucket) instead of being appended. The
   * engine passes max(1 s, the sensor's registry interval / 10), so a sensor reporting faster than that holds no
   * more points than one reporting at that pace; readings at least a bucket apart are never folded. `minPoints`
   * of ratePerHour then counts held points, not readings.
   */
  push(ts: number, v: number, windowMs: number, bucketMs = 0): void {
    this.cols.push(this.row, ts, v, windowMs, bucketMs)
  }
}

/**
 * Least-squares slope of the series in units per hour, or undefined with fewer than `minPoints` points or when
 * they span less than half the window (two readings a minute apart make no rate). The points are those held: with
 * folding (PointSeries.push `bucketMs`) at most one per bucket, the latest reading of each, so `minPoints` counts
 * buckets with a reading rather than readings.
 */
export function ratePerHour(points: Points, windowMs: number, minPoints: number): number | undefined {
  const n = points.length
  if (n < minPoints || n < 2) return undefined
  const firstTs = points.ts(0)
  if (points.ts(n - 1) - firstTs < windowMs / 2) return undefined
  let sx = 0
  let sy = 0
  for (let i = 0; i < n; i++) {
    sx += (points.ts(i) - firstTs) / HOUR_MS
    sy += points.v(i)
  }
  const mx = sx / n
  const my = sy / n
  let sxy = 0
  let sxx = 0
  for (let i = 0; i < n; i++) {
    const dx = (points.ts(i) - firstTs) / HOUR_MS - mx
    sxy += dx * (points.v(i) - my)
    sxx += dx * dx
  }
  return sxx === 0 ? undefined : sxy / sxx
}

/** The report of a rate-of-rise subject at `level` for a rate per hour; built apart so the engine formats it only when it is news. */
export function rateOfRiseReport(rule: CompiledRateOfRise, rate: number, level: AlertLevel, levels: readonly ResolvedLevel[], where: string): Report {
  const threshold = thresholdOf(levels, level)
  const unit = unitOf(rule.field)
  const perHour = unit === '' ? '/h' : `${unit}/h`
  const limit = threshold === null ? '' : `, ${level > 0 ? '>=' : '<'} ${formatNumber(threshold, 3)} ${perHour}`
  const window = `${formatNumber(rule.windowMs / 60_000, 1)} min`
  return {
    level,
    value: Number(rate.toFixed(4)),
    threshold,
    message: `${rule.label} at ${where} ${rate >= 0 ? 'rising' : 'falling'} ${formatNumber(Math.abs(rate), 3)} ${perHour} over ${window} (${levelName(level)}${limit})`,
    dataGap: false,
  }
}

/** What a kind overflows into: the limit in the units of the reading (datum-adjusted for river gauges). */
export interface OverflowLimit {
  field: string
  limit: number
  /** Added to the reading to reach the datum of the limit (river `offsetM`), else 0. */
  offset: number
  what: string
  noun: string
}

/**
 * The limit of `time_to_overflow` for a sensor: rim `depthM`, closure depth `closureCm`, or guaranteed level; undefined
 * without params. With `into`, written there (and `into` returned) instead of into a new object.
 */
export function overflowLimit(sensor: Sensor, into?: OverflowLimit): OverflowLimit | undefined {
  switch (sensor.kind) {
    case 'manhole_level':
    case 'pipe_level': {
      const g = wellGeometryOf(sensor)
      return g === undefined ? undefined : limitOf(into, 'level_m', g.depthM, 0, 'its rim', sensor.kind === 'pipe_level' ? 'Pipe' : 'Manhole')
    }
    case 'tunnel_depth':
    case 'ponding_depth':
      return limitOf(into, 'depth_cm', closureCmOf(sensor), 0, 'the closure depth', sensor.kind === 'tunnel_depth' ? 'Underpass' : 'Road')
    case 'water_level': {
      const levels = riverLevelsOf(sensor)
      return levels === undefined ? undefined : limitOf(into, 'level_m', levels.guaranteedLevelM, levels.offsetM, 'the guaranteed level', 'River')
    }
    default:
      return undefined
  }
}

function limitOf(into: OverflowLimit | undefined, field: string, limit: number, offset: number, what: string, noun: string): OverflowLimit {
  if (into === undefined) return { field, limit, offset, what, noun }
  into.field = field
  into.limit = limit
  into.offset = offset
  into.what = what
  into.noun = noun
  return into
}

/** Where a series stands against its overflow limit: latest value, rate per hour (undefined when none), minutes to the limit. */
export interface OverflowTrend {
  latest: number
  rate: number | undefined
  eta: number
}

/** The trend of a series towards its limit, or undefined while no rate can be computed below the limit (the level is held). */
export function overflowTrend(points: Points, rule: CompiledTimeToOverflow, limit: OverflowLimit): OverflowTrend | undefined {
  if (points.length === 0) return undefined
  const latest = points.v(points.length - 1)
  const rate = ratePerHour(points, rule.windowMs, rule.minPoints)
  if (rate === undefined && latest < limit.limit) return undefined
  const perMinute = (rate ?? 0) / 60
  const eta = latest >= limit.limit ? 0 : perMinute > 0 ? (limit.limit - latest) / perMinute : Infinity
  return { latest, rate, eta }
}

/** Minutes to overflow as conditions carry them: one decimal, `null` when not rising. */
export function etaMinutesOf(eta: number): number | null {
  return Number.isFinite(eta) ? Number(eta.toFixed(1)) : null
}

/** The report of a time-to-overflow subject at `level`; built apart so the engine formats it only when it is news. */
export function timeToOverflowReport(trend: OverflowTrend, level: AlertLevel, levels: readonly ResolvedLevel[], limit: OverflowLimit, where: string): Report {
  const { eta, rate } = trend
  const threshold = thresholdOf(levels, level)
  const unit = unitOf(limit.field)
  const limitText = threshold === null ? '' : `, ${level > 0 ? '<=' : '>'} ${formatNumber(threshold, 1)} min`
  const now = withUnit(trend.latest, unit)
  const rising = rate === undefined ? '' : `, ${rate >= 0 ? 'rising' : 'falling'} ${withUnit(Math.abs(rate), unit, 3)}/h`
  const head =
    eta === 0
      ? `${limit.noun} at ${where} has reached ${limit.what} ${withUnit(limit.limit, unit)} (${now}${rising})`
      : Number.isFinite(eta)
        ? `${limit.noun} at ${where} reaches ${limit.what} ${withUnit(limit.limit, unit)} in about ${formatNumber(eta, 0)} min (${now}${rising})`
        : `${limit.noun} at ${where} is not rising towards ${limit.what} ${withUnit(limit.limit, unit)} (${now}${rising})`
  return {
    level,
    value: trend.latest,
    threshold: limit.limit,
    message: `${head} (${levelName(level)}${limitText})`,
    etaMinutes: etaMinutesOf(eta),
    dataGap: false,
  }
}
