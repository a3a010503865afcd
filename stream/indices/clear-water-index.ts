import { blend, type BlendComponent } from './blend.js'
import {
  CLEAR_PARAMETERS,
  CLEAR_WEIGHTS,
  classLimit,
  classOfScore,
  clearSubscores,
  clearUpperEdge,
  gradeOfClass,
  type ClearParameter,
  type ClearSubscores,
  type ClearValues,
  type Grade,
  type WaterBodyType,
  type WaterClass,
} from './clear-subscores.js'
import type { NullIndex } from './null-index.js'
import { roundHalfEven } from './round-half-even.js'
import { truncateIndex } from './truncate-index.js'

/** Parameters the clear-water index cannot do without (INDICES.md §1 Coverage). */
export const CLEAR_REQUIRED: readonly ClearParameter[] = ['do_mgl', 'nh3n_mgl']

/** Fewest parameters with a value for a clear-water index (INDICES.md §1 Coverage). */
export const CLEAR_MIN_PARAMETERS = 3

/** Decimals of an exceedance multiple. */
export const MULTIPLE_DECIMALS = 3

/** A parameter worse than the segment's target class (INDICES.md §1 Output). */
export interface ClearExceedance {
  parameter: ClearParameter
  value: number
  /** The target class's limit. */
  limit: number
  /** `(c − limit)/limit`, for DO `(limit − c)/limit`, rounded to 3 decimals. */
  multiple: number
}

/** A segment's clear-water index (INDICES.md §1 Output, SPEC §7). */
export interface ClearIndex {
  /** Truncated index, 0–100. */
  value: number
  class: WaterClass
  grade: Grade
  limiting: ClearParameter
  exceedances: ClearExceedance[]
  /** Share of expected windows that are valid, 0–1. */
  confidence: number
  /** `degraded` (fewer than 5 parameters) plus whatever the caller passed (`held`). */
  flags: string[]
  /** The scored parameter values. */
  values: ClearValues
  subScores: ClearSubscores
  /** Weighted mean `S` and untruncated index, for explanation and tests. */
  mean: number
  raw: number
}

/** Per-segment context of the clear-water index. */
export interface ClearIndexOptions {
  /** River or lake limits. */
  waterType: WaterBodyType
  /** GB 3838 target class 1–5; no exceedances without one. */
  targetClass?: number
  /** Confidence computed by `clearConfidence`; default 1. */
  confidence?: number
  /** Flags to carry (`held` when a value came from a held window). */
  flags?: readonly string[]
}

/** The exceedances of `values` against a target class; pH has none (INDICES.md §1 Output). */
export function clearExceedances(values: ClearValues, targetClass: number, waterType: WaterBodyType): ClearExceedance[] {
  const out: ClearExceedance[] = []
  for (const parameter of CLEAR_PARAMETERS) {
    const value = values[parameter]
    const limit = classLimit(parameter, targetClass, waterType)
    if (value === undefined || limit === undefined) continue
    // A value on the limit belongs to the better class: only strict excess counts.
    const excess = parameter === 'do_mgl' ? limit - value : value - limit
    if (excess > 0) out.push({ parameter, value, limit, multiple: roundHalfEven(excess / limit, MULTIPLE_DECIMALS) })
  }
  return out
}

/** Why a set of values cannot make a clear-water index, or `undefined` when it can (INDICES.md §1 Coverage). */
export function clearCoverageProblem(values: ClearValues): string | undefined {
  const present = CLEAR_PARAMETERS.filter((p) => values[p] !== undefined && Number.isFinite(values[p]))
  const missing = CLEAR_REQUIRED.filter((p) => !present.includes(p))
  if (missing.length > 0) return `no value for ${missing.join(' and ')}`
  if (present.length < CLEAR_MIN_PARAMETERS) return `only ${present.length} of 5 parameters have a value (at least ${CLEAR_MIN_PARAMETERS} needed)`
  return undefined
}

/**
 * The clear-water index of a segment from its parameter values (window means, station medians;
 * INDICES.md §1): `null` with a reason unless DO, NH3-N and at least 3 parameters have values.
 */
export function clearWaterIndex(values: ClearValues, options: ClearIndexOptions): ClearIndex | NullIndex {
  const problem = clearCoverageProblem(values)
  if (problem !== undefined) return { value: null, reason: problem }
  const subScores = clearSubscores(values, options.waterType)
  const components: BlendComponent<ClearParameter>[] = []
  const scored: ClearValues = {}
  for (const p of CLEAR_PARAMETERS) {
    const s = subScores[p]
    if (s === undefined) continue
    components.push({ key: p, weight: CLEAR_WEIGHTS[p], score: s })
    scored[p] = values[p]
  }
  const result = blend(components, clearUpperEdge)
  if (result === undefined) return { value: null, reason: 'no parameter has a value' }
  const cls = classOfScore(result.sMin)
  const flags = [...(options.flags ?? [])]
  if (components.length < CLEAR_PARAMETERS.length && !flags.includes('degraded')) flags.push('degraded')
  return {
    value: truncateIndex(result.index, result.upper),
    class: cls,
    grade: gradeOfClass(cls),
    limiting: result.limiting,
    exceedances: options.targetClass === undefined ? [] : clearExceedances(scored, options.targetClass, options.waterType),
    confidence: options.confidence ?? 1,
    flags,
    values: scored,
    subScores,
    mean: result.mean,
    raw: result.index,
  }
}
