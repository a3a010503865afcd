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

/** A hysteresis state its owner may update in place (see stepHysteresisInPlace). */
export interface MutableHysteresisState {
  level: AlertLevel
  since: (number | null)[]
}

/** No level, no timers; frozen: a subject that steps in place needs its own (freshHysteresis). */
export const INITIAL_HYSTERESIS: Readonly<HysteresisState> = Object.freeze({ level: 0, since: Object.freeze([null, null, null, null]) })

/** A new state at `level` with no timers, owned by the caller. */
export function freshHysteresis(level: AlertLevel = 0): MutableHysteresisState {
  return { level, since: [null, null, null, null] }
}

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
  return resolveLevelsInto([], levels, sensor, direction)
}

/**
 * `resolveLevels` written into `out`, whose level objects are reused: for levels on sensor params, resolved on every
 * reading without garbage and without keeping a copy per sensor. `out` holds the result until the next call.
 */
export function resolveLevelsInto(out: ResolvedLevel[], levels: readonly CompiledLevel[], sensor: Sensor | undefined, direction: 'above' | 'below'): ResolvedLevel[] {
  let n = 0
  for (let i = 0; i < levels.length; i++) {
    const l = levels[i] as CompiledLevel
    const raise = resolveValue(l.raise, sensor)
    const reset = resolveValue(l.reset, sensor)
    if (raise === undefined || reset === undefined) continue
    const safe = direction === 'above' ? reset < raise : reset > raise
    const slot = out[n]
    if (slot === undefined) out.push({ level: l.level, raise, reset: safe ? reset : raise })
    else {
      slot.level = l.level
      slot.raise = raise
      slot.reset = safe ? reset : raise
    }
    n++
  }
  out.length = n
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

/** stepHysteresis that updates `state` in place instead of allocating: same levels and timers. */
export function stepHysteresisInPlace(state: MutableHysteresisState, value: number, at: number, levels: readonly ResolvedLevel[], direction: 'above' | 'below', forMs: number): void {
  // Indexed loops, not for-of: small enough bytecode for the engine's hot path to inline this call, so the numbers
  // it is passed are not boxed into new heap objects on every reading.
  const since = state.since
  const n = levels.length
  let configured = 0
  for (let i = 0; i < n; i++) {
    const l = levels[i] as ResolvedLevel
    const k = l.level - 1
    configured |= 1 << k
    since[k] = passes(value, l.raise, direction) ? (since[k] ?? at) : null
  }
  for (let k = 0; k < 4; k++) if ((configured & (1 << k)) === 0) since[k] = null
  const prevLevel = state.level
  let level: AlertLevel = 0
  for (let i = 0; i < n; i++) {
    const l = levels[i] as ResolvedLevel
    if (l.level <= prevLevel && !clearedPast(value, l.reset, direction)) level = Math.max(level, l.level) as AlertLevel
  }
  for (let i = 0; i < n; i++) {
    const l = levels[i] as ResolvedLevel
    const s = since[l.level - 1]
    if (l.level > level && s !== null && s !== undefined && at - s >= forMs) level = l.level
  }
  state.level = level
}

/** Whether no level's timer runs: with level 0, the state equals a fresh one. */
export function noTimers(state: HysteresisState): boolean {
  for (const s of state.since) if (s !== null) return false
  return true
}

/** The level's raise value, or the reset value crossed when the level is 0; `null` when the rule has no level. */
export function thresholdOf(levels: readonly ResolvedLevel[], level: AlertLevel): number | null {
  if (level > 0) return levels.find((l) => l.level === level)?.raise ?? null
  return levels[0]?.reset ?? null
}
