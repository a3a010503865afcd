import { blend } from './blend.js'
import type { NullIndex } from './null-index.js'
import { bandOfSmooth, levelOfBand, smoothUpperEdge, type AlertLevel, type SmoothBand } from './smooth-subscores.js'
import type { SmoothIndex } from './smooth-water-index.js'
import { truncateIndex } from './truncate-index.js'

/** One zone of a district with its index. */
export interface DistrictSmoothZone {
  zone: string
  index: SmoothIndex | NullIndex
}

/** A district's smooth-water index (INDICES.md §2 District, SPEC §7). */
export interface DistrictSmoothIndex {
  value: number
  band: SmoothBand
  level: AlertLevel
  /** The zone with the lowest index: it decides the band. */
  worstSegment: string
  /** Zones with a value / zones given. */
  coverage: number
}

/**
 * The district smooth-water index (INDICES.md §2): the blend of its zones' index values with equal
 * weights, every zone a hazard component, so the district band is the band of its worst zone.
 */
export function districtSmoothIndex(zones: readonly DistrictSmoothZone[]): DistrictSmoothIndex | NullIndex {
  const valued = zones.filter((z): z is { zone: string; index: SmoothIndex } => z.index.value !== null)
  const result = blend(
    valued.map((z) => ({ key: z.zone, weight: 1, score: z.index.value })),
    smoothUpperEdge,
  )
  if (result === undefined) return { value: null, reason: zones.length === 0 ? 'no drainage zone' : 'no zone has a smooth-water index' }
  const band = bandOfSmooth(result.sMin)
  return {
    value: truncateIndex(result.index, result.upper),
    band,
    level: levelOfBand(band),
    worstSegment: result.limiting,
    coverage: valued.length / zones.length,
  }
}
