import type { Sensor } from '../domain.js'
import type { AlertLevel } from './condition.js'
import type { CompiledLevel } from './compile-rules.js'
import type { ValueRef } from './rule-schema.js'

/** A level with its raise and reset values resolved for one subject. */
export type ResolvedLevel = CompiledLevel<number>

/** Per-level hysteresis state: the level, and since when (event time) each level's raise value has been passed. */
export interface HysteresisState {
  level: AlertLevel
  /** Index `k − 1` for level k: since when the value has been continuously past raise_k, `null` when it is not. */
  since: readonly (number | null)[]
}

/** No level, no timers. */
export const INITIAL_HYSTERESIS: Readonly<HysteresisState> = { level: 0, since: [null, null, null, null] }

/** A value ref for one sensor: the number, or `factor · params[param] + offset`; undefined when the param is missing. */
export function resolveValue(ref: ValueRef, sensor: Sensor | undefined): number | undefined {
  if (typeof ref === 'number') return ref
  const p = sensor?.params[ref.param]
  if (typeof p !== 'number' || !Number.isFinite(p)) return undefined
  return (ref.factor ?? 1) * p + (ref.offset ?? 0)
}

/**
 * The levels that apply to a sensor: those whose values resolve. A reset on the wrong side of its raise (possible
 * only with params the loader could not compare) is moved onto the raise value: no hysteresis, never a stuck level.
 */
export function resolveLevels(levels: readonly CompiledLevel[], sensor: Sensor | undefined, direction: 'above' | 'below'): ResolvedLevel[] {
  const out: ResolvedLevel[] = []
  for (const l of levels) {
    const raise = resolveValue(l.raise, sensor)
    const reset = resolveValue(l.reset, sensor)
    if (raise === undefined || reset === undefined) continue
    const safe = direction === 'above' ? reset < raise : reset > raise
    out.push({ level: l.level, raise, reset: safe ? reset : raise })
  }
  return out
}

/** At or past the raise value. */
export function passes(value: number, raise: number, direction: 'above' | 'below'): boolean {
  return direction === 'above' ? value >= raise : value <= raise
}

/** Strictly past the reset value on the safe side. */
export function clearedPast(value: number, reset: number, direction: 'above' | 'below'): boolean {
  return direction === 'above' ? value < reset : value > reset
}

/**
 * One value through per-level hysteresis: the level drops to the highest level not yet cleared past its reset
 * value (0 when none), then rises to the highest level whose raise value has been passed continuously for `forMs`.
 */
export function stepHysteresis(state: HysteresisState, value: number, at: number, levels: readonly ResolvedLevel[], direction: 'above' | 'below', forMs: number): HysteresisState {
  const since: (number | null)[] = [null, null, null, null]
  for (const l of levels) since[l.level - 1] = passes(value, l.raise, direction) ? (state.since[l.level - 1] ?? at) : null
  let level: AlertLevel = 0
  for (const l of levels) if (l.level <= state.level && !clearedPast(value, l.reset, direction)) level = Math.max(level, l.level) as AlertLevel
  for (const l of levels) {
    const s = since[l.level - 1]
    if (l.level > level && s !== null && s !== undefined && at - s >= forMs) level = l.level
  }
  return { level, since }
}

/** The level's raise value, or the reset value crossed when the level is 0; `null` when the rule has no level. */
export function thresholdOf(levels: readonly ResolvedLevel[], level: AlertLevel): number | null {
  if (level > 0) return levels.find((l) => l.level === level)?.raise ?? null
  return levels[0]?.reset ?? null
}
