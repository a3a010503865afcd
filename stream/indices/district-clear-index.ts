import { CLEAR_PARAMETERS, gradeOfClass, type ClearParameter, type ClearValues, type Grade, type WaterBodyType, type WaterClass } from './clear-subscores.js'
import { clearMean } from './clear-window.js'
import { clearWaterIndex, type ClearIndex } from './clear-water-index.js'
import type { NullIndex } from './null-index.js'

/** One segment of a district, with its values and its own index. */
export interface DistrictClearSegment {
  segment: string
  type: WaterBodyType
  values: ClearValues
  index: ClearIndex | NullIndex
}

/** A district's clear-water index (INDICES.md §1 District, SPEC §7). */
export interface DistrictClearIndex {
  /** The lower of the river and lake values. */
  value: number
  class: WaterClass
  grade: Grade
  limiting: ClearParameter
  /** The segment with the lowest index value, `null` when no segment has one. */
  worstSegment: string | null
  /** Segments per class, keys "1".."6", only classes that occur. */
  classCounts: Record<string, number>
  /** The blend of the river segments' means and of the lake segments' means. */
  river: ClearIndex | NullIndex | null
  lake: ClearIndex | NullIndex | null
}

/** Per-parameter mean over segments that have the parameter, pH through 10^−pH (INDICES.md §1 District). */
export function districtMeans(segments: readonly DistrictClearSegment[]): ClearValues {
  const out: ClearValues = {}
  for (const p of CLEAR_PARAMETERS) {
    const vs = segments.map((s) => s.values[p]).filter((v): v is number => v !== undefined && Number.isFinite(v))
    const mean = clearMean(p, vs)
    if (mean !== undefined) out[p] = mean
  }
  return out
}

/**
 * The district clear-water index (INDICES.md §1 District): river and lake segments blended
 * separately from per-parameter means, the district value the lower of the two.
 */
export function districtClearIndex(segments: readonly DistrictClearSegment[]): DistrictClearIndex | NullIndex {
  const part = (type: WaterBodyType): ClearIndex | NullIndex | null => {
    const mine = segments.filter((s) => s.type === type)
    return mine.length === 0 ? null : clearWaterIndex(districtMeans(mine), { waterType: type })
  }
  const river = part('river')
  const lake = part('lake')
  const candidates = [river, lake].filter((r): r is ClearIndex => r !== null && r.value !== null)
  if (candidates.length === 0) {
    const reasons = [river, lake].filter((r): r is NullIndex => r !== null && r.value === null).map((r) => r.reason)
    return { value: null, reason: reasons.length > 0 ? reasons.join('; ') : 'no river or lake segment' }
  }
  const lowest = candidates.reduce((a, b) => (b.value < a.value ? b : a))
  let worst: { segment: string; value: number } | null = null
  const classCounts: Record<string, number> = {}
  for (const s of segments) {
    if (s.index.value === null) continue
    const key = String(s.index.class)
    classCounts[key] = (classCounts[key] ?? 0) + 1
    if (worst === null || s.index.value < worst.value) worst = { segment: s.segment, value: s.index.value }
  }
  const cls = lowest.class
  return {
    value: lowest.value,
    class: cls,
    grade: gradeOfClass(cls),
    limiting: lowest.limiting,
    worstSegment: worst?.segment ?? null,
    classCounts,
    river,
    lake,
  }
}
