import type { Sensor } from '../domain.js'
import type { AlertLevel, Report } from './condition.js'
import type { CompiledStale } from './compile-rules.js'
import { formatNumber, levelName, sensorLabel } from './rule-messages.js'

/** How a stale rule sees one sensor at a wall time. */
export interface StaleVerdict {
  /** Level the silence calls for, 0 while not silent long enough. */
  level: AlertLevel
  /** Silence limit applied, ms. */
  limitMs: number
  /** The shorter rain limit applied (hazard kind, raining). */
  wet: boolean
}

/**
 * A sensor silent for `silentMs` (wall clock since its last reading arrived): stale at `afterIntervals` × its
 * interval, or at `rainAfterIntervals` for a hazard kind while it rains (then at `rainLevel`).
 */
export function staleVerdict(rule: CompiledStale, sensor: Sensor, silentMs: number, raining: boolean): StaleVerdict {
  const wet = raining && rule.hazardKinds.includes(sensor.kind)
  const limitMs = (wet ? rule.rainAfterIntervals : rule.afterIntervals) * sensor.intervalS * 1000 * rule.scale
  return { level: silentMs >= limitMs ? (wet ? rule.rainLevel : rule.level) : 0, limitMs, wet }
}

/** The condition of a stale sensor: value and threshold in minutes of silence. */
export function staleReport(rule: CompiledStale, sensor: Sensor, silentMs: number, verdict: StaleVerdict, level: AlertLevel): Report {
  const intervals = verdict.wet ? rule.rainAfterIntervals : rule.afterIntervals
  const minutes = silentMs / 60_000
  const why = verdict.wet ? ' while raining (it may have drowned)' : ''
  return {
    level,
    value: Number(minutes.toFixed(1)),
    threshold: Number((verdict.limitMs / 60_000).toFixed(1)),
    message: `${sensorLabel(sensor, sensor.id)} (${sensor.id}) silent for ${formatNumber(minutes, 0)} min${why}, ${formatNumber(intervals)} × its ${formatNumber(sensor.intervalS / 60, 1)}-min interval (${levelName(level)})`,
  }
}

/** The condition that clears a stale sensor: it reported again. */
export function freshReport(sensor: Sensor): Report {
  return { level: 0, value: 0, threshold: null, message: `${sensorLabel(sensor, sensor.id)} (${sensor.id}) reporting again (cleared)` }
}
