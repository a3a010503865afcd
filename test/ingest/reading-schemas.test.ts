import { describe, expect, it } from 'vitest'
import { checkReading } from '../../ingest/reading-schemas.js'

describe('checkReading', () => {
  it.each([
    ['water_level', { ts: 1764236400000, seq: 1, level_m: 3.91 }],
    ['water_level', { ts: '2026-11-27T10:00:00.000Z', level_m: 3 }],
    ['water_level', { ts: '2026-11-27T18:00:00+08:00', level_m: 3 }],
    ['flow', { flow_m3s: 12.5, velocity_ms: 0.4 }],
    ['water_quality', { do_mgl: 6.8 }],
    ['water_quality', { do_mgl: 6.8, nh3n_mgl: 0.42, codmn_mgl: 3.6, tp_mgl: 0.12, ph: 7.4, turbidity_ntu: 12, temp_c: 14, cond_uscm: 420 }],
    ['pipe_level', { level_m: 0.3, flow_m3s: 0.2 }],
    ['parking', { occupied: 42 }],
    ['parking', { occupied: 42, capacity: 100 }],
  ] as const)('accepts a valid %s reading %j', (kind, reading) => {
    expect(checkReading(kind, reading, false)).toBeNull()
  })

  it.each([
    ['water_level', { ts: 1 }, /must have required property 'level_m'/],
    ['water_level', { level_m: '3.1' }, /level_m must be number/],
    ['water_level', { level_m: 3.1, depth_cm: 2 }, /unknown field 'depth_cm'/],
    ['water_level', { level_m: 3.1, ts: 'yesterday' }, /ts/],
    ['water_level', { level_m: 3.1, seq: -1 }, /seq must be >= 0/],
    ['water_quality', { ts: 1 }, /needs at least one of do_mgl/],
    ['parking', { occupied: 4.5 }, /occupied must be integer/],
    ['rainfall', 42, /reading must be object/],
  ] as const)('rejects a %s reading %j', (kind, reading, why) => {
    expect(checkReading(kind, reading, false)).toMatch(why)
  })

  it('requires the sensor id on gateway readings', () => {
    expect(checkReading('water_level', { level_m: 3 }, true)).toMatch(/sensor/)
    expect(checkReading('water_level', { sensor: 'WL-1', level_m: 3 }, true)).toBeNull()
    expect(checkReading('water_level', { sensor: 'WL-1', level_m: 3 }, false)).toMatch(/unknown field 'sensor'/)
  })
})
