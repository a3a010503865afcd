/**
 * Rain-driven hydrology as pure functions of event time: rain routed through a Nash cascade of
 * linear reservoirs (n reservoirs of time constant K, plus a pure travel delay), then mapped to
 * ponding and tunnel depths, sewer levels and river stages. No state: the value at any instant is
 * a convolution of the rain timeline, so readings depend only on the scenario and the time.
 */

/** Rain depth in mm over [t0S, t1S] (seconds): the catchment's rain, as the timeline gives it. */
export type RainDepth = (t0S: number, t1S: number) => number

/** A Nash cascade: how a catchment delays and smooths rain. */
export interface Reservoir {
  /** Time constant of each linear reservoir, seconds (> 0). */
  kS: number
  /** Number of reservoirs in series; default 2 (1 reacts at once, more give a later, smoother peak). */
  n?: number
  /** Pure travel delay before the cascade, seconds; default 0 (downstream gauges get more). */
  delayS?: number
}

/** CDF of the cascade's unit response (gamma with shape n, scale 1) at x = τ/K. */
export function nashCdf(x: number, n: number): number {
  if (x <= 0) return 0
  let term = 1
  let sum = 1
  for (let k = 1; k < n; k++) {
    term *= x / k
    sum += term
  }
  return 1 - Math.exp(-x) * sum
}

/** Steps of a routing convolution per time constant: fine enough for 1-minute tunnel readings. */
const STEPS_PER_K = 12

/**
 * Rain routed through the cascade at `tS`, mm/h: the outflow of the last reservoir. Equals the rain
 * rate in steady rain, rises after rain starts and recedes exponentially after it stops.
 */
export function routedRain(rain: RainDepth, tS: number, reservoir: Reservoir): number {
  const n = reservoir.n ?? 2
  const k = reservoir.kS
  const delay = reservoir.delayS ?? 0
  const horizon = k * (6 + 2 * n)
  const step = k / STEPS_PER_K
  const t = tS - delay
  if (rain(t - horizon, t) <= 0) return 0
  let out = 0
  let prevCdf = 0
  for (let tau = 0; tau < horizon; tau += step) {
    const cdf = nashCdf((tau + step) / k, n)
    const mm = rain(t - tau - step, t - tau)
    if (mm > 0) out += (cdf - prevCdf) * (mm / step) * 3600
    prevCdf = cdf
  }
  return out
}

/**
 * Water standing on a road or in an underpass, cm: the routed inflow the drains cannot take
 * (above `capacityMmH`) times `gainCmPerMmH` (how the low point concentrates its catchment).
 */
export function pondingDepthCm(routedMmH: number, capacityMmH: number, gainCmPerMmH: number): number {
  return Math.max(0, routedMmH - capacityMmH) * gainCmPerMmH
}

/** Sewer geometry of a manhole or pipe sensor, metres. */
export interface SewerGeometry {
  /** Invert of the outgoing pipe above the floor (0 for pipe_level). */
  invertM: number
  pipeDiameterM: number
  /** Floor (or pipe invert) to rim. */
  depthM: number
}

/**
 * Rise of a sewer level above its dry-weather level, metres: from `dryLevelM` toward a surcharge
 * halfway from the crown to the rim at `designMmH` of routed rain, at most 70 % of the way to the
 * rim (so a simulated storm never overflows a manhole).
 */
export function sewerRiseM(routedMmH: number, designMmH: number, geometry: SewerGeometry, dryLevelM: number): number {
  if (routedMmH <= 0) return 0
  const crown = geometry.invertM + geometry.pipeDiameterM
  const target = crown + 0.5 * (geometry.depthM - crown)
  const cap = crown + 0.7 * (geometry.depthM - crown)
  const x = routedMmH / designMmH
  // Soft saturation: linear at first, bending toward the cap.
  const level = dryLevelM + (target - dryLevelM) * x
  const capped = level <= target ? level : target + (cap - target) * Math.tanh((level - target) / Math.max(1e-6, cap - target))
  return Math.max(0, capped - dryLevelM)
}

/**
 * Rise of a river stage, metres: `(warning − normal) × routed / referenceMmH`, so routed rain of
 * `referenceMmH` brings the gauge from its normal level to its warning level.
 */
export function riverRiseM(routedMmH: number, referenceMmH: number, normalM: number, warningM: number): number {
  return Math.max(0, warningM - normalM) * (routedMmH / referenceMmH)
}

/** Great-circle distance between two points, metres (haversine). */
export function distanceM(lat1: number, lon1: number, lat2: number, lon2: number): number {
  const rad = Math.PI / 180
  const dLat = (lat2 - lat1) * rad
  const dLon = (lon2 - lon1) * rad
  const a = Math.sin(dLat / 2) ** 2 + Math.cos(lat1 * rad) * Math.cos(lat2 * rad) * Math.sin(dLon / 2) ** 2
  return 2 * 6_371_000 * Math.asin(Math.min(1, Math.sqrt(a)))
}

/** Part-full circular pipe flow by Manning (n = 0.013), m³/s, for fill 0 < f < 1 of a pipe of `diameter` m at `slope`. */
export function manningFlow(diameter: number, fill: number, slope: number): number {
  if (fill <= 0) return 0
  const f = Math.min(fill, 0.999)
  const theta = 2 * Math.acos(1 - 2 * f)
  const area = ((diameter * diameter) / 8) * (theta - Math.sin(theta))
  const perimeter = (diameter * theta) / 2
  return (1 / 0.013) * area * (area / perimeter) ** (2 / 3) * Math.sqrt(slope)
}
