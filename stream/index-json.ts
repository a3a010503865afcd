import type { SegmentType } from '../domain.js'
import type { WaterClass } from './indices/clear-subscores.js'
import type { ClearIndex } from './indices/clear-water-index.js'
import type { DistrictClearIndex } from './indices/district-clear-index.js'
import type { DistrictSmoothIndex } from './indices/district-smooth-index.js'
import type { NullIndex } from './indices/null-index.js'
import type { SmoothBand } from './indices/smooth-subscores.js'
import type { SmoothIndex } from './indices/smooth-water-index.js'

/** A segment's clear-water index as SPEC §7 publishes it (confidence rounded to 2 decimals). */
export type ClearIndexJson = Pick<ClearIndex, 'value' | 'class' | 'grade' | 'limiting' | 'exceedances' | 'confidence' | 'flags'>

/** A zone's smooth-water index as SPEC §7 publishes it (confidence rounded to 2 decimals). */
export type SmoothIndexJson = Pick<SmoothIndex, 'value' | 'band' | 'limiting' | 'confidence' | 'flags'>

/** One entry of `segments` in `/api/indices` (SPEC §7): `clear` is null for zones, `smooth` for rivers and lakes. */
export interface SegmentIndexJson {
  segment: string
  district: string
  type: SegmentType
  clear: ClearIndexJson | NullIndex | null
  smooth: SmoothIndexJson | NullIndex | null
}

/** A district's clear-water index as SPEC §7 publishes it. */
export interface DistrictClearJson {
  value: number
  class: WaterClass
  worstSegment: string | null
  /** Segments per class, keys "1".."6". */
  classCounts: Record<string, number>
}

/** A district's smooth-water index as SPEC §7 publishes it. */
export interface DistrictSmoothJson {
  value: number
  band: SmoothBand
  worstSegment: string
}

/** One entry of `districts` in `/api/indices` (SPEC §7); an index is null when the district has no segment of its kind. */
export interface DistrictIndexJson {
  district: string
  clear: DistrictClearJson | NullIndex | null
  smooth: DistrictSmoothJson | NullIndex | null
}

/** The `/api/indices` body without `generatedAt`. */
export interface IndicesSnapshot {
  segments: SegmentIndexJson[]
  districts: DistrictIndexJson[]
}

/** One `water_index` point (SPEC §10): tags district, segment, index; fields value, level, confidence. */
export interface WaterIndexPoint {
  index: 'clear' | 'smooth'
  value: number
  /** Class 1–6 for clear, band level 0–4 for smooth. */
  level: number
  confidence: number
}

/** One emitted index result: a segment's or a district's entry of `/api/indices`. */
export interface IndexUpdate {
  /** Conflation key for the websocket hub: `segment:<id>` or `district:<id>`. */
  key: string
  scope: 'segment' | 'district'
  district: string
  /** The segment or zone id; `_all` for a district (the `segment` tag of `water_index`). */
  segment: string
  /** The latest event time of the result's inputs, epoch ms; `null` before any input. */
  eventTime: number | null
  /** The entry exactly as `/api/indices` lists it. */
  data: SegmentIndexJson | DistrictIndexJson
  /** The `water_index` points of this result: one per index with a value. */
  points: WaterIndexPoint[]
  /** Emitted by the periodic refresh rather than by a change. */
  refresh: boolean
}

/** A confidence as published: 2 decimals. */
export function roundConfidence(x: number): number {
  return Math.round(x * 100) / 100
}

/** The SPEC §7 form of a segment's clear-water index. */
export function clearIndexJson(index: ClearIndex | NullIndex): ClearIndexJson | NullIndex {
  if (index.value === null) return { value: null, reason: index.reason }
  return {
    value: index.value,
    class: index.class,
    grade: index.grade,
    limiting: index.limiting,
    exceedances: index.exceedances.map((e) => ({ parameter: e.parameter, value: e.value, limit: e.limit, multiple: e.multiple })),
    confidence: roundConfidence(index.confidence),
    flags: [...index.flags],
  }
}

/** The SPEC §7 form of a zone's smooth-water index. */
export function smoothIndexJson(index: SmoothIndex | NullIndex): SmoothIndexJson | NullIndex {
  if (index.value === null) return { value: null, reason: index.reason }
  return { value: index.value, band: index.band, limiting: index.limiting, confidence: roundConfidence(index.confidence), flags: [...index.flags] }
}

/** The SPEC §7 form of a district's clear-water index. */
export function districtClearJson(index: DistrictClearIndex | NullIndex): DistrictClearJson | NullIndex {
  if (index.value === null) return { value: null, reason: index.reason }
  return { value: index.value, class: index.class, worstSegment: index.worstSegment, classCounts: { ...index.classCounts } }
}

/** The SPEC §7 form of a district's smooth-water index. */
export function districtSmoothJson(index: DistrictSmoothIndex | NullIndex): DistrictSmoothJson | NullIndex {
  if (index.value === null) return { value: null, reason: index.reason }
  return { value: index.value, band: index.band, worstSegment: index.worstSegment }
}
