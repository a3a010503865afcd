import type { Sensor } from '../domain.js'
import { closureCmOf, riverLevelsOf, wellGeometryOf } from '../stream/indices/smooth-subscores.js'
import type { AlertLevel, Report } from './condition.js'
import type { CompiledRateOfRise, CompiledTimeToOverflow } from './compile-rules.js'
import { stepHysteresis, thresholdOf, type HysteresisState, type ResolvedLevel } from './evaluate-hysteresis.js'
import { formatNumber, levelName, unitOf, withUnit } from './rule-messages.js'

const HOUR_MS = 3_600_000

/** One value of a windowed series, event time in epoch ms. */
export interface Point {
  ts: number
  v: number
}

/** The series with `p` appended (or replacing a point of the same ts) and points older than `p.ts − windowMs` dropped. */
export function pushPoint(points: readonly Point[], p: Point, windowMs: number): Point[] {
  const start = p.ts - windowMs
  const out = points.filter((q) => q.ts >= start && q.ts !== p.ts && q.ts <= p.ts)
  out.push(p)
  return out
}

/** pushPoint on a series the caller owns, in place: same points, same order. */
export function pushPointInPlace(points: Point[], p: Point, windowMs: number): void {
  const last = points[points.length - 1]
  if (last !== undefined && last.ts >= p.ts) {
    // Out of order: not what the engine feeds, but keep pushPoint's answer.
    const start = p.ts - windowMs
    const kept = points.filter((q) => q.ts >= start && q.ts !== p.ts && q.ts <= p.ts)
    points.length = 0
    for (const q of kept) points.push(q)
    points.push(p)
    return
  }
  const start = p.ts - windowMs
  let drop = 0
  while (drop < points.length && (points[drop] as Point).ts < start) drop++
  if (drop > 0) points.splice(0, drop)
  points.push(p)
}

/**
 * Least-squares slope of the series in units per hour, or undefined with fewer than `minPoints` points or when
 * they span less than half the window (two readings a minute apart make no rate).
 */
export function ratePerHour(points: readonly Point[], windowMs: number, minPoints: number): number | undefined {
  if (points.length < minPoints || points.length < 2) return undefined
  const first = points[0] as Point
  const last = points[points.length - 1] as Point
  if (last.ts - first.ts < windowMs / 2) return undefined
  let sx = 0
  let sy = 0
  for (const p of points) {
    sx += (p.ts - first.ts) / HOUR_MS
    sy += p.v
  }
  const mx = sx / points.length
  const my = sy / points.length
  let sxy = 0
  let sxx = 0
  for (const p of points) {
    const dx = (p.ts - first.ts) / HOUR_MS - mx
    sxy += dx * (p.v - my)
    sxx += dx * dx
  }
  return sxx === 0 ? undefined : sxy / sxx
}

/** A rate of rise per hour through the rule's hysteresis; the level is held (no report) while no rate can be computed. */
export function stepRateOfRise(rule: CompiledRateOfRise, state: HysteresisState, points: readonly Point[], at: number, levels: readonly ResolvedLevel[], where: string): { state: HysteresisState; report: Report } | undefined {
  const rate = ratePerHour(points, rule.windowMs, rule.minPoints)
  if (rate === undefined) return undefined
  const next = stepHysteresis(state, rate, at, levels, 'above', rule.forMs)
  return { state: next, report: rateOfRiseReport(rule, rate, next.level, levels, where) }
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

/** The limit of `time_to_overflow` for a sensor: rim `depthM`, closure depth `closureCm`, or guaranteed level; undefined without params. */
export function overflowLimit(sensor: Sensor): OverflowLimit | undefined {
  switch (sensor.kind) {
    case 'manhole_level':
    case 'pipe_level': {
      const g = wellGeometryOf(sensor)
      return g === undefined ? undefined : { field: 'level_m', limit: g.depthM, offset: 0, what: 'its rim', noun: sensor.kind === 'pipe_level' ? 'Pipe' : 'Manhole' }
    }
    case 'tunnel_depth':
    case 'ponding_depth':
      return { field: 'depth_cm', limit: closureCmOf(sensor), offset: 0, what: 'the closure depth', noun: sensor.kind === 'tunnel_depth' ? 'Underpass' : 'Road' }
    case 'water_level': {
      const levels = riverLevelsOf(sensor)
      return levels === undefined ? undefined : { field: 'level_m', limit: levels.guaranteedLevelM, offset: levels.offsetM, what: 'the guaranteed level', noun: 'River' }
    }
    default:
      return undefined
  }
}

/**
 * Minutes until the latest value reaches the limit at the current rate of rise (INDICES.md limits): 0 at or above
 * it, Infinity when not rising; through the rule's hysteresis on minutes (raise at or below, reset above). The level
 * is held (no report) while no rate can be computed.
 */
export function stepTimeToOverflow(rule: CompiledTimeToOverflow, state: HysteresisState, points: readonly Point[], at: number, levels: readonly ResolvedLevel[], limit: OverflowLimit, where: string): { state: HysteresisState; report: Report; eta: number } | undefined {
  const trend = overflowTrend(points, rule, limit)
  if (trend === undefined) return undefined
  const next = stepHysteresis(state, trend.eta, at, levels, 'below', rule.forMs)
  return { state: next, eta: trend.eta, report: timeToOverflowReport(trend, next.level, levels, limit, where) }
}

/** Where a series stands against its overflow limit: latest value, rate per hour (undefined when none), minutes to the limit. */
export interface OverflowTrend {
  latest: number
  rate: number | undefined
  eta: number
}

/** The trend of a series towards its limit, or undefined while no rate can be computed below the limit (the level is held). */
export function overflowTrend(points: readonly Point[], rule: CompiledTimeToOverflow, limit: OverflowLimit): OverflowTrend | undefined {
  const latest = points[points.length - 1]
  if (latest === undefined) return undefined
  const rate = ratePerHour(points, rule.windowMs, rule.minPoints)
  if (rate === undefined && latest.v < limit.limit) return undefined
  const perMinute = (rate ?? 0) / 60
  const eta = latest.v >= limit.limit ? 0 : perMinute > 0 ? (limit.limit - latest.v) / perMinute : Infinity
  return { latest: latest.v, rate, eta }
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
