import type { Registry } from '../../domain.js'

/**
 * A registry built for the worked examples of INDICES.md: river segment `seg-a` with one quality station, and
 * drainage zone `zone-x` whose sensors read the "moderate rain" example (POND 55.0, WELL 68.0, PIPE 80.0,
 * RIVER 72.0, SED 90 → 55.7 yellow) with the readings of `moderateRainReadings`.
 */
export function indexRegistry(): Registry {
  const at = { district: 'xihu', lat: 30.25, lon: 120.12 }
  const well = { invertM: 0, pipeDiameterM: 0.5, depthM: 3 }
  return {
    segments: [
      { id: 'seg-a', district: 'xihu', type: 'river', name: 'Segment A', targetClass: 3 },
      { id: 'zone-x', district: 'xihu', type: 'drainage', name: 'Zone X', riverGauges: ['WL-X'] },
    ],
    sensors: [
      { ...at, id: 'WQ-A', kind: 'water_quality', segment: 'seg-a', name: 'Station A', intervalS: 3600, params: { measures: ['do_mgl', 'nh3n_mgl', 'codmn_mgl', 'tp_mgl', 'ph'] } },
      { ...at, id: 'WL-X', kind: 'water_level', segment: 'seg-a', name: 'Gauge X', intervalS: 300, params: { normalLevelM: 2.9, warningLevelM: 3.5, guaranteedLevelM: 3.9, historicMaxLevelM: 4.2 } },
      { ...at, id: 'PD-X', kind: 'ponding_depth', segment: 'zone-x', name: 'Road X', intervalS: 300, params: {} },
      { ...at, id: 'TD-X', kind: 'tunnel_depth', segment: 'zone-x', name: 'Underpass X', intervalS: 60, params: { closureCm: 27 } },
      { ...at, id: 'MH-X1', kind: 'manhole_level', segment: 'zone-x', name: 'Manhole X1', intervalS: 300, params: well },
      { ...at, id: 'MH-X2', kind: 'manhole_level', segment: 'zone-x', name: 'Manhole X2', intervalS: 300, params: well },
      { ...at, id: 'PL-X', kind: 'pipe_level', segment: 'zone-x', name: 'Pipe X', intervalS: 300, params: { pipeDiameterM: 0.6, depthM: 3 } },
      { ...at, id: 'SD-X', kind: 'sediment', segment: 'zone-x', name: 'Sediment X', intervalS: 3600, params: { pipeDiameterM: 0.6 } },
    ],
    boards: [],
  }
}

/** Topic and body of each reading of worked example A (clear 76.6, class 3) and "moderate rain" (smooth 55.7, yellow). */
export function workedExampleReadings(ts: number): [string, Record<string, number>][] {
  return [
    ['city/xihu/water_quality/WQ-A', { ts, do_mgl: 6.8, nh3n_mgl: 0.42, codmn_mgl: 3.6, tp_mgl: 0.12, ph: 7.4 }],
    ['city/xihu/water_level/WL-X', { ts, level_m: 3.38 }],
    ['city/xihu/ponding_depth/PD-X', { ts, depth_cm: 6 }],
    ['city/xihu/tunnel_depth/TD-X', { ts, depth_cm: 18 }],
    // r = (1.25 − 0.5) / (3 − 0.5) = 0.3 → 68; f = 0.45 / 0.5 = 0.9 → 84
    ['city/xihu/manhole_level/MH-X1', { ts, level_m: 1.25 }],
    ['city/xihu/manhole_level/MH-X2', { ts, level_m: 0.45 }],
    // f = 0.6 / 0.6 = 1.0 → 80
    ['city/xihu/pipe_level/PL-X', { ts, level_m: 0.6 }],
    // k = 0.09 / 0.6 = 0.15 → 90
    ['city/xihu/sediment/SD-X', { ts, sediment_m: 0.09 }],
  ]
}
