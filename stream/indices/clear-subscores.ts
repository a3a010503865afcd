import { snapScore } from './piecewise-linear.js'

/** The five clear-water parameters, in the order of the INDICES.md §1 table (the last tie-break). */
export const CLEAR_PARAMETERS = ['do_mgl', 'nh3n_mgl', 'tp_mgl', 'codmn_mgl', 'ph'] as const

export type ClearParameter = (typeof CLEAR_PARAMETERS)[number]

/** Which GB 3838 limits apply: rivers and lakes differ for total phosphorus. */
export type WaterBodyType = 'river' | 'lake'

/** A GB 3838 class 1–5, or 6 for worse than V (劣Ⅴ). */
export type WaterClass = 1 | 2 | 3 | 4 | 5 | 6

/** The published grade of a class (INDICES.md §1). */
export type Grade = 'excellent' | 'good' | 'slightly_polluted' | 'moderately_polluted' | 'heavily_polluted'

/** Parameter values of one segment (mg/L, pH units); a missing key has no value. */
export type ClearValues = Partial<Record<ClearParameter, number>>

/** Sub-scores by parameter, 0–100. */
export type ClearSubscores = Partial<Record<ClearParameter, number>>

/** Blend weights of INDICES.md §1. */
export const CLEAR_WEIGHTS: Readonly<Record<ClearParameter, number>> = {
  do_mgl: 0.25,
  nh3n_mgl: 0.25,
  tp_mgl: 0.2,
  codmn_mgl: 0.2,
  ph: 0.1,
}

/** Scores `A` at the class I..V limits (INDICES.md §1). */
export const CLASS_ANCHORS = [90, 80, 60, 40, 20] as const

/** Dissolved-oxygen class limits I..V in mg/L, higher is better (INDICES.md §1). */
export const DO_LIMITS = [7.5, 6, 5, 3, 2] as const

/** Dissolved oxygen in mg/L that scores 100. */
export const DO_IDEAL_MGL = 9.0

/** Class limits I..V of one parameter. */
export type ClassLimits = readonly [number, number, number, number, number]

/** Pollutant class limits I..V in mg/L, by water body (INDICES.md §1). */
export const POLLUTANT_LIMITS: Readonly<Record<'nh3n_mgl' | 'tp_mgl' | 'codmn_mgl', Readonly<Record<WaterBodyType, ClassLimits>>>> = {
  nh3n_mgl: { river: [0.15, 0.5, 1.0, 1.5, 2.0], lake: [0.15, 0.5, 1.0, 1.5, 2.0] },
  tp_mgl: { river: [0.02, 0.1, 0.2, 0.3, 0.4], lake: [0.01, 0.025, 0.05, 0.1, 0.2] },
  codmn_mgl: { river: [2, 4, 6, 10, 15], lake: [2, 4, 6, 10, 15] },
}

/** pH range of every class (INDICES.md §1). */
export const PH_RANGE = [6, 9] as const

/** Sub-score of a pollutant concentration `c` against class limits L1..L5 (INDICES.md §1). */
export function pollutantSubscore(c: number, limits: ClassLimits): number {
  const [l1, , , , l5] = limits
  if (c <= l1) return snapScore(Math.min(100, 100 - (10 * c) / l1))
  for (let k = 1; k < 5; k++) {
    const lo = limits[k - 1] as number
    const hi = limits[k] as number
    if (c <= hi) {
      const aHi = CLASS_ANCHORS[k - 1] as number
      const aLo = CLASS_ANCHORS[k] as number
      return snapScore(aHi - ((aHi - aLo) * (c - lo)) / (hi - lo))
    }
  }
  return snapScore(Math.max(0, 20 - (20 * (c - l5)) / l5))
}

/** Sub-score of dissolved oxygen `c` in mg/L (INDICES.md §1); 9.0 and above score 100. */
export function doSubscore(c: number): number {
  if (c >= DO_LIMITS[0]) return snapScore(Math.min(100, 90 + (10 * (c - DO_LIMITS[0])) / (DO_IDEAL_MGL - DO_LIMITS[0])))
  for (let k = 1; k < 5; k++) {
    const dk = DO_LIMITS[k] as number
    const dPrev = DO_LIMITS[k - 1] as number
    if (c >= dk) {
      const aPrev = CLASS_ANCHORS[k - 1] as number
      const ak = CLASS_ANCHORS[k] as number
      return snapScore(ak + ((aPrev - ak) * (c - dk)) / (dPrev - dk))
    }
  }
  return snapScore(Math.max(0, 10 * c))
}

/** Sub-score of a pH value (INDICES.md §1): 100 at 7, 90 at 6 and 9, 0 at 5 and 10. */
export function phSubscore(ph: number): number {
  if (ph < PH_RANGE[0]) return snapScore(Math.max(0, 20 - 20 * (PH_RANGE[0] - ph)))
  if (ph > PH_RANGE[1]) return snapScore(Math.max(0, 20 - 20 * (ph - PH_RANGE[1])))
  const i = ph <= 7 ? 7 - ph : (ph - 7) / 2
  return snapScore(100 - 10 * i)
}

/** Sub-score of one clear-water parameter (INDICES.md §1). */
export function clearSubscore(parameter: ClearParameter, value: number, waterType: WaterBodyType): number {
  switch (parameter) {
    case 'do_mgl':
      return doSubscore(value)
    case 'ph':
      return phSubscore(value)
    default:
      return pollutantSubscore(value, POLLUTANT_LIMITS[parameter][waterType])
  }
}

/** Sub-scores of every parameter that has a value (INDICES.md §1). */
export function clearSubscores(values: ClearValues, waterType: WaterBodyType): ClearSubscores {
  const out: ClearSubscores = {}
  for (const p of CLEAR_PARAMETERS) {
    const v = values[p]
    if (v !== undefined && Number.isFinite(v)) out[p] = clearSubscore(p, v, waterType)
  }
  return out
}

/** Class of a score (INDICES.md §1): ≥ 90 I, [80, 90) II, [60, 80) III, [40, 60) IV, [20, 40) V, < 20 class 6. */
export function classOfScore(s: number): WaterClass {
  if (s >= 90) return 1
  if (s >= 80) return 2
  if (s >= 60) return 3
  if (s >= 40) return 4
  if (s >= 20) return 5
  return 6
}

/** Upper edge `U` of the band of a clear-water score: 100 | 90 | 80 | 60 | 40 | 20 (INDICES.md §1 Aggregation). */
export function clearUpperEdge(s: number): number {
  return [100, 90, 80, 60, 40, 20][classOfScore(s) - 1] as number
}

/** Grade of a class (INDICES.md §1): I–II excellent … 6 heavily polluted. */
export function gradeOfClass(cls: WaterClass): Grade {
  if (cls <= 2) return 'excellent'
  if (cls === 3) return 'good'
  if (cls === 4) return 'slightly_polluted'
  if (cls === 5) return 'moderately_polluted'
  return 'heavily_polluted'
}

/**
 * The class limit of a parameter for class 1–5 (INDICES.md §1): the maximum for pollutants, the
 * minimum for dissolved oxygen; `undefined` for pH, whose range is the same for every class.
 */
export function classLimit(parameter: ClearParameter, cls: number, waterType: WaterBodyType): number | undefined {
  if (parameter === 'ph' || cls < 1 || cls > 5) return undefined
  if (parameter === 'do_mgl') return DO_LIMITS[cls - 1]
  return POLLUTANT_LIMITS[parameter][waterType][cls - 1]
}

/** Class of a parameter value; a value on a class limit belongs to the better class (INDICES.md §1). */
export function classOfValue(parameter: ClearParameter, value: number, waterType: WaterBodyType): WaterClass {
  return classOfScore(clearSubscore(parameter, value, waterType))
}
