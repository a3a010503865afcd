/** One component of a blend: a clear-water parameter, a smooth-water component or a zone. */
export interface BlendComponent<K extends string = string> {
  key: K
  /** Weight in the mean `S`; any positive number, the blend normalises. */
  weight: number
  /** Sub-score, 0–100. */
  score: number
  /** Whether the component may decide the band (`s_min`); default true (SED is the one exception). */
  hazard?: boolean
}

/** The aggregation of INDICES.md §1, before truncation. */
export interface BlendResult<K extends string = string> {
  /** The index, untruncated: `s_min ≤ index < U`, or exactly 100. */
  index: number
  /** Lowest hazard sub-score. */
  sMin: number
  /** The component that gave `sMin`: ties go to the larger weight, then to the earlier component. */
  limiting: K
  /** Upper edge of the band of `sMin`. */
  upper: number
  /** Weighted mean `S` over every component. */
  mean: number
  /** Share `q` of the way from `s_min` to 100 that `S` lies, clamped to [0, 1]. */
  q: number
}

/**
 * The shared aggregation (INDICES.md §1 "Aggregation"): `s_min` over the hazard components, `S`
 * over all of them, `index = s_min + 0.5·q·(U − s_min)`; `undefined` without a hazard component.
 * Pass components in table order: that order is the last tie-break for `limiting`.
 */
export function blend<K extends string>(
  components: readonly BlendComponent<K>[],
  upperEdge: (sMin: number) => number,
): BlendResult<K> | undefined {
  let limiting: BlendComponent<K> | undefined
  let sumW = 0
  let sumWS = 0
  for (const c of components) {
    sumW += c.weight
    sumWS += c.weight * c.score
    if (c.hazard === false) continue
    if (limiting === undefined || c.score < limiting.score || (c.score === limiting.score && c.weight > limiting.weight)) limiting = c
  }
  if (limiting === undefined || sumW <= 0) return undefined
  const sMin = limiting.score
  const upper = upperEdge(sMin)
  const mean = sumWS / sumW
  if (sMin >= 100) return { index: 100, sMin, limiting: limiting.key, upper, mean, q: 1 }
  const q = Math.min(1, Math.max(0, (mean - sMin) / (100 - sMin)))
  return { index: sMin + 0.5 * q * (upper - sMin), sMin, limiting: limiting.key, upper, mean, q }
}
