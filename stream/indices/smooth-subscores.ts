import type { Sensor, SensorKind } from '../../domain.js'
import { DEFAULT_NEAR_MARGIN_M } from '../../registry/ordering-keyword.js'
import { piecewiseLinear, snapScore } from './piecewise-linear.js'

/** The smooth-water components, in the order of the INDICES.md §2 table (the last tie-break). */
export const SMOOTH_COMPONENTS = ['POND', 'WELL', 'PIPE', 'RIVER', 'SED'] as const

export type SmoothComponent = (typeof SMOOTH_COMPONENTS)[number]

/** Blend weights of INDICES.md §2. */
export const SMOOTH_WEIGHTS: Readonly<Record<SmoothComponent, number>> = { POND: 0.35, WELL: 0.2, PIPE: 0.15, RIVER: 0.2, SED: 0.1 }

/** Whether a component can decide the band; sediment only moves the mean (INDICES.md §2). */
export const SMOOTH_HAZARD: Readonly<Record<SmoothComponent, boolean>> = { POND: true, WELL: true, PIPE: true, RIVER: true, SED: false }

/** Component of each scored sensor kind (INDICES.md §2); river gauges come from the zone's `riverGauges`. */
export const COMPONENT_OF_KIND: Readonly<Partial<Record<SensorKind, SmoothComponent>>> = {
  ponding_depth: 'POND',
  tunnel_depth: 'POND',
  manhole_level: 'WELL',
  pipe_level: 'PIPE',
  water_level: 'RIVER',
  sediment: 'SED',
}

/** The reading field scored for each kind. */
export const SMOOTH_FIELD: Readonly<Partial<Record<SensorKind, string>>> = {
  ponding_depth: 'depth_cm',
  tunnel_depth: 'depth_cm',
  manhole_level: 'level_m',
  pipe_level: 'level_m',
  water_level: 'level_m',
  sediment: 'sediment_m',
}

/** Default underpass closure depth `Dc`, centimetres (INDICES.md §2). */
export const DEFAULT_CLOSURE_CM = 27

/** Depth above the rim at which a well scores 20, metres (INDICES.md §2). */
export const RIM_FULL_SCORE_DEPTH_M = 0.15

/** Margin above the guaranteed level below which `Hx` is raised, metres (`Hx′ = max(Hx, Hg + 0.3)`). */
export const HISTORIC_MAX_MIN_MARGIN_M = 0.3

/** Band of a smooth-water score (INDICES.md §2). */
export type SmoothBand = 'normal' | 'blue' | 'yellow' | 'orange' | 'red'

/** Alert level 0 none … 4 red (INDICES.md §4). */
export type AlertLevel = 0 | 1 | 2 | 3 | 4

/** Band of a score: ≥ 80 normal, [60, 80) blue, [40, 60) yellow, [20, 40) orange, < 20 red (INDICES.md §2). */
export function bandOfSmooth(s: number): SmoothBand {
  if (s >= 80) return 'normal'
  if (s >= 60) return 'blue'
  if (s >= 40) return 'yellow'
  if (s >= 20) return 'orange'
  return 'red'
}

/** Level number of a band, 0 normal … 4 red (INDICES.md §4). */
export function levelOfBand(band: SmoothBand): AlertLevel {
  return ({ normal: 0, blue: 1, yellow: 2, orange: 3, red: 4 } as const)[band]
}

/** Upper edge `U` of the band of a smooth-water score: 100 | 80 | 60 | 40 | 20 (INDICES.md §2). */
export function smoothUpperEdge(s: number): number {
  return [100, 80, 60, 40, 20][levelOfBand(bandOfSmooth(s))] as number
}

/** Sub-score of a ponding or tunnel depth in cm (INDICES.md §2): 2 → 100, 5 → 80, 15 → 60, Dc → 40, 40 → 20, 50 → 0. */
export function depthSubscore(depthCm: number, closureCm: number = DEFAULT_CLOSURE_CM): number {
  return piecewiseLinear(
    [
      { x: 2, y: 100 },
      { x: 5, y: 80 },
      { x: 15, y: 60 },
      { x: closureCm, y: 40 },
      { x: 40, y: 20 },
      { x: 50, y: 0 },
    ],
    depthCm,
  )
}

/** Geometry of a manhole or a pipe-level sensor, metres (INDICES.md §2). */
export interface WellGeometry {
  /** Outgoing pipe invert above the floor; 0 for `pipe_level`. */
  invertM: number
  pipeDiameterM: number
  /** Floor (or pipe invert) to rim. */
  depthM: number
}

/**
 * Sub-score of a manhole or pipe level in m (INDICES.md §2): 100 up to half full, 80 at the crown,
 * 40 at the rim, 20 at 0.15 m above it (the depth above the rim is the level beyond `depthM`).
 */
export function wellSubscore(levelM: number, g: WellGeometry): number {
  const crown = g.invertM + g.pipeDiameterM
  if (levelM <= crown) {
    const f = (levelM - g.invertM) / g.pipeDiameterM
    return snapScore(f <= 0.5 ? 100 : 100 - 40 * (f - 0.5))
  }
  if (levelM < g.depthM) return snapScore(80 - (40 * (levelM - crown)) / (g.depthM - crown))
  const p = levelM - g.depthM
  return snapScore(40 - 20 * Math.min(1, p / RIM_FULL_SCORE_DEPTH_M))
}

/** River-gauge params, metres, in the datum of the params (INDICES.md §2). */
export interface RiverLevels {
  normalLevelM: number
  warningLevelM: number
  guaranteedLevelM: number
  historicMaxLevelM: number
  /** Δ, default 0.2. */
  nearMarginM: number
  /** Added to `level_m`, default 0. */
  offsetM: number
}

/** `Hx′ = max(Hx, Hg + 0.3)` (INDICES.md §2). */
export function effectiveHistoricMax(levels: RiverLevels): number {
  return Math.max(levels.historicMaxLevelM, levels.guaranteedLevelM + HISTORIC_MAX_MIN_MARGIN_M)
}

/**
 * Sub-score of a river gauge's raw `level_m` (INDICES.md §2), `offsetM` added first:
 * Hn → 100, Hw − Δ → 80, Hw → 60, Hg → 40, Hx′ → 20, Hx′ + 0.5 → 0.
 */
export function riverLevelSubscore(levelM: number, levels: RiverLevels): number {
  const hx = effectiveHistoricMax(levels)
  return piecewiseLinear(
    [
      { x: levels.normalLevelM, y: 100 },
      { x: levels.warningLevelM - levels.nearMarginM, y: 80 },
      { x: levels.warningLevelM, y: 60 },
      { x: levels.guaranteedLevelM, y: 40 },
      { x: hx, y: 20 },
      { x: hx + 0.5, y: 0 },
    ],
    levelM + levels.offsetM,
  )
}

/** Sub-score of a sediment depth in m in a pipe (INDICES.md §2): ratio 0.1 → 100 … 0.5 and above → 20. */
export function sedimentSubscore(sedimentM: number, pipeDiameterM: number): number {
  return piecewiseLinear(
    [
      { x: 0.1, y: 100 },
      { x: 0.2, y: 80 },
      { x: 0.3, y: 60 },
      { x: 0.4, y: 40 },
      { x: 0.5, y: 20 },
    ],
    sedimentM / pipeDiameterM,
  )
}

function num(v: unknown): number | undefined {
  return typeof v === 'number' && Number.isFinite(v) ? v : undefined
}

/** A manhole's or pipe sensor's geometry from its params, or `undefined` without one (INDICES.md §2). */
export function wellGeometryOf(sensor: Sensor): WellGeometry | undefined {
  const pipeDiameterM = num(sensor.params.pipeDiameterM)
  const depthM = num(sensor.params.depthM)
  if (pipeDiameterM === undefined || depthM === undefined || pipeDiameterM <= 0) return undefined
  const invertM = sensor.kind === 'pipe_level' ? 0 : (num(sensor.params.invertM) ?? 0)
  if (depthM <= invertM + pipeDiameterM) return undefined
  return { invertM, pipeDiameterM, depthM }
}

/** A river gauge's levels from its params with their defaults, or `undefined` when one is missing. */
export function riverLevelsOf(sensor: Sensor): RiverLevels | undefined {
  const p = sensor.params
  const normalLevelM = num(p.normalLevelM)
  const warningLevelM = num(p.warningLevelM)
  const guaranteedLevelM = num(p.guaranteedLevelM)
  const historicMaxLevelM = num(p.historicMaxLevelM)
  if (normalLevelM === undefined || warningLevelM === undefined || guaranteedLevelM === undefined || historicMaxLevelM === undefined) return undefined
  return {
    normalLevelM,
    warningLevelM,
    guaranteedLevelM,
    historicMaxLevelM,
    nearMarginM: num(p.nearMarginM) ?? DEFAULT_NEAR_MARGIN_M,
    offsetM: num(p.offsetM) ?? 0,
  }
}

/** The closure depth `Dc` of a ponding or tunnel sensor, cm (default 27). */
export function closureCmOf(sensor: Sensor): number {
  return num(sensor.params.closureCm) ?? DEFAULT_CLOSURE_CM
}

/** A function scoring the sensor's value, or `undefined` for a kind that is not scored or a sensor without geometry. */
export function smoothScorer(sensor: Sensor): ((value: number) => number) | undefined {
  switch (sensor.kind) {
    case 'ponding_depth':
    case 'tunnel_depth': {
      const dc = closureCmOf(sensor)
      return (v) => depthSubscore(v, dc)
    }
    case 'manhole_level':
    case 'pipe_level': {
      const g = wellGeometryOf(sensor)
      return g === undefined ? undefined : (v) => wellSubscore(v, g)
    }
    case 'water_level': {
      const levels = riverLevelsOf(sensor)
      return levels === undefined ? undefined : (v) => riverLevelSubscore(v, levels)
    }
    case 'sediment': {
      const d = num(sensor.params.pipeDiameterM)
      return d === undefined || d <= 0 ? undefined : (v) => sedimentSubscore(v, d)
    }
    default:
      return undefined
  }
}

/** Sub-score of one sensor value (INDICES.md §2), `undefined` when the sensor cannot be scored. */
export function smoothSubscore(sensor: Sensor, value: number): number | undefined {
  return smoothScorer(sensor)?.(value)
}
