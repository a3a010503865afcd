import type { Registry } from '../../domain.js'

/** A small registry of district `xihu` for tests: one river, one lake, one drainage zone, one sensor per kind. */
export function fixtureRegistry(): Registry {
  const base = { district: 'xihu', lat: 30.26, lon: 120.1, intervalS: 60 }
  return {
    segments: [
      { id: 'river-1', district: 'xihu', type: 'river', name: 'Test river', targetClass: 3 },
      { id: 'lake-1', district: 'xihu', type: 'lake', name: 'Test lake', targetClass: 2 },
      { id: 'zone-1', district: 'xihu', type: 'drainage', name: 'Test zone', riverGauges: ['WL-1'] },
    ],
    sensors: [
      { ...base, id: 'WL-1', kind: 'water_level', segment: 'river-1', name: 'Gauge 1', params: { normalLevelM: 2.9, warningLevelM: 3.5, guaranteedLevelM: 3.9, historicMaxLevelM: 4.2 } },
      { ...base, id: 'FL-1', kind: 'flow', segment: 'river-1', name: 'Flow 1', params: {} },
      { ...base, id: 'WQ-1', kind: 'water_quality', segment: 'river-1', name: 'Station 1', params: { measures: ['do_mgl', 'nh3n_mgl', 'codmn_mgl', 'tp_mgl', 'ph'] } },
      { ...base, id: 'MH-1', kind: 'manhole_level', segment: 'zone-1', name: 'Manhole 1', params: { invertM: 0.1, pipeDiameterM: 0.6, depthM: 3 } },
      { ...base, id: 'PL-1', kind: 'pipe_level', segment: 'zone-1', name: 'Pipe 1', params: { pipeDiameterM: 0.8, depthM: 3.2 } },
      { ...base, id: 'PD-1', kind: 'ponding_depth', segment: 'zone-1', name: 'Ponding 1', params: {} },
      { ...base, id: 'TD-1', kind: 'tunnel_depth', segment: 'zone-1', name: 'Tunnel 1', params: { closureCm: 27 } },
      { ...base, id: 'SD-1', kind: 'sediment', segment: 'zone-1', name: 'Sediment 1', params: { pipeDiameterM: 0.8 } },
      { ...base, id: 'RG-1', kind: 'rainfall', segment: 'zone-1', name: 'Rain 1', params: {} },
      { ...base, id: 'P-1', kind: 'parking', segment: 'zone-1', name: 'Lot 1', params: { capacity: 100, underground: true } },
    ],
    boards: [{ id: 'B-1', district: 'xihu', name: 'Board 1', lots: ['P-1'], lat: 30.26, lon: 120.1 }],
  }
}
