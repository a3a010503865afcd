import { describe, expect, it } from 'vitest'
import type { Sensor } from '../../../domain.js'
import {
  flatLineTest,
  qualityHistoryMs,
  qualityLimits,
  qualityTests,
  spikeTests,
  spikeValue,
  worstQuality,
  type QualityReading,
  type QualityResult,
} from '../../../stream/indices/quality-tests.js'
import { GAUGE_PARAMS, HOUR, MANHOLE_PARAMS, MIN, sensor, T0 } from './fixtures.js'

const WQ = sensor('WQ-1', 'water_quality', { measures: ['do_mgl', 'nh3n_mgl', 'codmn_mgl', 'tp_mgl', 'ph', 'turbidity_ntu', 'temp_c', 'cond_uscm'] }, 3600)
const WL = sensor('WL-1', 'water_level', GAUGE_PARAMS, 300)
const WL_OFFSET = sensor('WL-2', 'water_level', { ...GAUGE_PARAMS, offsetM: 2 }, 300)
const MH = sensor('MH-1', 'manhole_level', MANHOLE_PARAMS, 300)
const TD = sensor('TD-1', 'tunnel_depth', { closureCm: 27 }, 60)
const SD = sensor('SD-1', 'sediment', { pipeDiameterM: 1.2 }, 3600)
const RG = sensor('RG-1', 'rainfall', {}, 300)
const P = sensor('P-01', 'parking', { capacity: 420, underground: true }, 60)
const FL = sensor('FL-1', 'flow', {}, 300)
const WQ_DO_PH = sensor('WQ-3', 'water_quality', { measures: ['do_mgl', 'ph'] }, 3600)
const WQ_NH3N_5MIN = sensor('WQ-4', 'water_quality', { measures: ['nh3n_mgl'] }, 300)
const SENSORS = new Map([WQ, WL, WL_OFFSET, MH, TD, SD, RG, P, FL, WQ_DO_PH, WQ_NH3N_5MIN].map((s) => [s.id, s]))
const byId = (id: string): Sensor => {
  const s = SENSORS.get(id)
  if (s === undefined) throw new Error(`no sensor ${id}`)
  return s
}

const BAD = (reason: string): QualityResult => ({ quality: 'bad', reason })
const SUSPECT = (reason: string): QualityResult => ({ quality: 'suspect', reason })
const GOOD: QualityResult = { quality: 'good', reason: '' }

function test1(s: Sensor, fields: Record<string, number>, history: QualityReading[] = [], rainingSince: number | null = null): QualityResult {
  return qualityTests({ ts: T0, fields }, { sensor: s, history, rainingSince })
}

describe('range and sentinel tests (INDICES.md §3)', () => {
  it.each([
    ['WQ-1', { do_mgl: 8 }, GOOD],
    ['WQ-1', { do_mgl: 21 }, BAD('range:do_mgl')],
    ['WQ-1', { do_mgl: -0.1 }, BAD('range:do_mgl')],
    ['WQ-1', { do_mgl: 16.5 }, SUSPECT('range:do_mgl')],
    ['WQ-1', { do_mgl: 0.05 }, SUSPECT('range:do_mgl')],
    ['WQ-1', { ph: 3.9 }, SUSPECT('range:ph')],
    ['WQ-1', { ph: 14.5 }, BAD('range:ph')],
    ['WQ-1', { nh3n_mgl: 41 }, SUSPECT('range:nh3n_mgl')],
    ['WQ-1', { codmn_mgl: 101 }, BAD('range:codmn_mgl')],
    ['WQ-1', { tp_mgl: 2.5 }, SUSPECT('range:tp_mgl')],
    ['WQ-1', { turbidity_ntu: 1500 }, SUSPECT('range:turbidity_ntu')],
    ['WQ-1', { temp_c: -1 }, SUSPECT('range:temp_c')],
    ['WQ-1', { temp_c: -3 }, BAD('range:temp_c')],
    ['WQ-1', { cond_uscm: 3500 }, SUSPECT('range:cond_uscm')],
    ['WQ-1', { do_mgl: 16.5, tp_mgl: 2.5 }, SUSPECT('range:do_mgl')],
    ['WQ-1', { do_mgl: 16.5, ph: 15 }, BAD('range:ph')],
    ['WQ-1', { do_mgl: 9999, ph: 15 }, BAD('sentinel:do_mgl')],
    ['TD-1', { depth_cm: 50 }, GOOD],
    ['TD-1', { depth_cm: 150 }, SUSPECT('range:depth_cm')],
    ['TD-1', { depth_cm: 250 }, BAD('range:depth_cm')],
    ['TD-1', { depth_cm: -9999 }, BAD('sentinel:depth_cm')],
    ['TD-1', { depth_cm: 65535 }, BAD('sentinel:depth_cm')],
    // River gauge Hn 2.90, Hx′ 4.20: suspect outside [0.90, 5.20], bad outside [−2.10, 7.20].
    ['WL-1', { level_m: 3.0 }, GOOD],
    ['WL-1', { level_m: 0.8 }, SUSPECT('range:level_m')],
    ['WL-1', { level_m: 5.3 }, SUSPECT('range:level_m')],
    ['WL-1', { level_m: -2.2 }, BAD('range:level_m')],
    ['WL-1', { level_m: 7.3 }, BAD('range:level_m')],
    // offsetM 2: level_m 1.0 is 3.0 m in the datum of the params.
    ['WL-2', { level_m: 1.0 }, GOOD],
    ['WL-2', { level_m: 3.3 }, SUSPECT('range:level_m')],
    ['MH-1', { level_m: 3.7 }, GOOD],
    ['MH-1', { level_m: 3.71 }, BAD('range:level_m')],
    ['MH-1', { level_m: -0.01 }, BAD('range:level_m')],
    ['SD-1', { sediment_m: 1.2 }, GOOD],
    ['SD-1', { sediment_m: 1.21 }, BAD('range:sediment_m')],
    ['P-01', { occupied: 420 }, GOOD],
    ['P-01', { occupied: 421 }, BAD('range:occupied')],
    ['FL-1', { flow_m3s: -20 }, SUSPECT('range:flow_m3s')],
    ['FL-1', { flow_m3s: 6000 }, BAD('range:flow_m3s')],
    ['FL-1', { flow_m3s: 10, velocity_ms: 5.5 }, SUSPECT('range:velocity_ms')],
    ['FL-1', { flow_m3s: 10, velocity_ms: -3 }, BAD('range:velocity_ms')],
  ] as [string, Record<string, number>, QualityResult][])('%s: %o is %o', (id, fields, expected) => {
    expect(test1(byId(id), fields)).toEqual(expected)
  })

  it.each([
    // mm, minutes since the previous reading (undefined: first reading, intervalS 300 → 5 min), result
    [20, undefined, GOOD],
    [30, undefined, SUSPECT('range:rain_mm')],
    [60, undefined, BAD('range:rain_mm')],
    [6, 1, SUSPECT('range:rain_mm')],
    [30, 10, GOOD],
    [11, 1, BAD('range:rain_mm')],
    [-0.1, 5, BAD('range:rain_mm')],
  ] as const)('rain %d mm after %s min is tested per minute: %o', (mm, minutes, expected) => {
    const history = minutes === undefined ? [] : [{ ts: T0 - minutes * MIN, fields: { rain_mm: 0 } }]
    expect(test1(RG, { rain_mm: mm }, history)).toEqual(expected)
  })
})

describe('spike test on the middle of three readings (INDICES.md §3)', () => {
  it.each([
    // x0, x1, x2, spike value: the QARTOD value capped by the gap to each neighbour
    [0, 10, 0, 10],
    [0, 10, 10, 0],
    [10, 10, 0, 0],
    [0, 10, 20, 0],
    [0, 20, 16, 4],
    [0, 20, 10, 10],
    [5, -5, 5, 10],
  ])('(%d, %d, %d) has spike value %d', (x0, x1, x2, s) => {
    expect(spikeValue(x0, x1, x2)).toBeCloseTo(s, 12)
  })

  const r = (i: number, fields: Record<string, number>): QualityReading => ({ ts: T0 + i * MIN, fields })
  it.each([
    ['TD-1', { depth_cm: 0 }, { depth_cm: 10 }, { depth_cm: 0 }, SUSPECT('spike:depth_cm')],
    ['TD-1', { depth_cm: 0 }, { depth_cm: 20 }, { depth_cm: 0 }, BAD('spike:depth_cm')],
    ['TD-1', { depth_cm: 0 }, { depth_cm: 5 }, { depth_cm: 0 }, GOOD],
    ['TD-1', { depth_cm: 0 }, { depth_cm: 30 }, { depth_cm: 30 }, GOOD],
    ['TD-1', { depth_cm: 0 }, { depth_cm: 30 }, { depth_cm: 28 }, GOOD],
    ['TD-1', { depth_cm: 0 }, { depth_cm: 30 }, { depth_cm: 10 }, BAD('spike:depth_cm')],
    ['WL-1', { level_m: 3.0 }, { level_m: 3.1 }, { level_m: 3.0 }, SUSPECT('spike:level_m')],
    ['WL-1', { level_m: 3.0 }, { level_m: 3.3 }, { level_m: 3.0 }, BAD('spike:level_m')],
    ['WL-1', { level_m: 3.0 }, { level_m: 3.04 }, { level_m: 3.0 }, GOOD],
    ['MH-1', { level_m: 1.0 }, { level_m: 1.2 }, { level_m: 1.0 }, SUSPECT('spike:level_m')],
    ['WQ-1', { do_mgl: 7, ph: 7.5 }, { do_mgl: 9.5, ph: 7.9 }, { do_mgl: 7, ph: 7.5 }, BAD('spike:do_mgl')],
    ['WQ-1', { do_mgl: 7, ph: 7.5 }, { do_mgl: 7.2, ph: 7.9 }, { do_mgl: 7, ph: 7.5 }, SUSPECT('spike:ph')],
    ['WQ-1', { do_mgl: 7 }, { do_mgl: 9.5, ph: 7.9 }, { ph: 7.5 }, GOOD],
  ] as [string, Record<string, number>, Record<string, number>, Record<string, number>, QualityResult][])(
    '%s: %o, %o, %o flags the middle reading %o',
    (id, a, b, c, expected) => {
      expect(spikeTests(byId(id), r(0, a), r(1, b), r(2, c))).toEqual(expected)
    },
  )

  it('the newest reading is good provisionally and re-flagged when the next arrives', () => {
    const history = [r(0, { depth_cm: 0 })]
    const spike = r(1, { depth_cm: 20 })
    const stored = qualityTests(spike, { sensor: TD, history, rainingSince: null })
    expect(stored).toEqual(GOOD)
    const next = r(2, { depth_cm: 0 })
    expect(worstQuality([stored, spikeTests(TD, history[0] as QualityReading, spike, next)])).toEqual(BAD('spike:depth_cm'))
    // A stored range flag worse than the spike flag stays.
    expect(worstQuality([BAD('range:depth_cm'), SUSPECT('spike:depth_cm')])).toEqual(BAD('range:depth_cm'))
  })
})

describe('flat-line test (INDICES.md §3)', () => {
  const series = (n: number, stepMs: number, value: (i: number) => number, start = T0) =>
    Array.from({ length: n }, (_, i): QualityReading => ({ ts: start + i * stepMs, fields: {} })).map((x, i) => ({ ts: x.ts, value: value(i) }))

  const flat = (s: Sensor, field: string, points: { ts: number; value: number }[], rainingSince: number | null) => {
    const history = points.slice(0, -1).map((p) => ({ ts: p.ts, fields: { [field]: p.value } }))
    const last = points[points.length - 1] as { ts: number; value: number }
    return qualityTests({ ts: last.ts, fields: { [field]: last.value } }, { sensor: s, history, rainingSince })
  }

  it.each([
    ['dry: a depth sensor at 0 for 5 h', TD, 'depth_cm', series(61, 5 * MIN, () => 0), null, GOOD],
    ['raining for 25 min, flat', TD, 'depth_cm', series(6, 5 * MIN, () => 0), T0, GOOD],
    ['raining for 30 min, flat', TD, 'depth_cm', series(7, 5 * MIN, () => 0), T0, SUSPECT('flat:depth_cm')],
    ['raining for 60 min, flat', TD, 'depth_cm', series(13, 5 * MIN, () => 0), T0, BAD('flat:depth_cm')],
    ['flat for 5 h, raining only for the last 20 min', TD, 'depth_cm', series(61, 5 * MIN, () => 0), T0 + 280 * MIN, GOOD],
    ['raining, within ±0.5 cm', TD, 'depth_cm', series(7, 5 * MIN, (i) => (i % 2 === 0 ? 3.0 : 3.5)), T0, SUSPECT('flat:depth_cm')],
    ['raining, moving by 0.6 cm', TD, 'depth_cm', series(7, 5 * MIN, (i) => (i % 2 === 0 ? 3.0 : 3.6)), T0, GOOD],
    ['raining, a river gauge within ±0.005 m for 30 min', WL, 'level_m', series(7, 5 * MIN, (i) => (i % 2 === 0 ? 3.215 : 3.22)), T0, SUSPECT('flat:level_m')],
    ['raining, a manhole level flat for 60 min', MH, 'level_m', series(13, 5 * MIN, () => 0.4), T0, BAD('flat:level_m')],
    ['DO within ±0.01 for 1 h', WQ, 'do_mgl', series(2, HOUR, () => 7.01), null, GOOD],
    ['DO within ±0.01 for 2 h', WQ, 'do_mgl', series(3, HOUR, (i) => 7 + 0.01 * (i % 2)), null, SUSPECT('flat:do_mgl')],
    ['DO within ±0.01 for 6 h', WQ, 'do_mgl', series(7, HOUR, () => 7), null, BAD('flat:do_mgl')],
    ['pH within ±0.005 for 6 h', WQ, 'ph', series(7, HOUR, () => 7.2), null, SUSPECT('flat:ph')],
    ['pH within ±0.005 for 24 h', WQ, 'ph', series(25, HOUR, () => 7.2), null, BAD('flat:ph')],
    ['11 identical NH3-N readings', WQ, 'nh3n_mgl', series(11, HOUR, () => 0.5), null, GOOD],
    ['12 identical NH3-N readings', WQ, 'nh3n_mgl', series(12, HOUR, () => 0.5), null, SUSPECT('flat:nh3n_mgl')],
    ['36 identical TP readings', WQ, 'tp_mgl', series(36, HOUR, () => 0.1), null, BAD('flat:tp_mgl')],
    ['12 COD_Mn readings, one different', WQ, 'codmn_mgl', series(12, HOUR, (i) => (i === 0 ? 3.1 : 3)), null, GOOD],
    ['identical conductivity for 6 h', WQ, 'cond_uscm', series(7, HOUR, () => 420), null, SUSPECT('flat:cond_uscm')],
    ['conductivity moving by 1 µS/cm', WQ, 'cond_uscm', series(7, HOUR, (i) => 420 + (i % 2)), null, GOOD],
  ] as [string, Sensor, string, { ts: number; value: number }[], number | null, QualityResult][])('%s', (_case, s, field, points, rainingSince, expected) => {
    expect(flat(s, field, points, rainingSince)).toEqual(expected)
  })

  it('tests a bare series too', () => {
    const limits = qualityLimits(TD, 'depth_cm')?.flat
    if (limits === undefined) throw new Error('no flat-line limits')
    expect(flatLineTest('depth_cm', [], limits, T0)).toEqual(GOOD)
  })
})

describe('rate of change (off by default)', () => {
  const history = [{ ts: T0 - 5 * MIN, fields: { level_m: 3.0 } }]
  it('flags nothing without configured limits', () => {
    // 0.2 m in 5 min is 2.4 m/h.
    expect(qualityTests({ ts: T0, fields: { level_m: 3.2 } }, { sensor: WL, history, rainingSince: null })).toEqual(GOOD)
  })
  it.each([
    [3.04, GOOD],
    [3.1, SUSPECT('rate:level_m')],
    [3.3, BAD('rate:level_m')],
  ] as const)('with 0.6 m/h suspect and 2.4 m/h bad, 3.0 → %d m in 5 min is %o', (level, expected) => {
    const rateLimits = { level_m: { suspectPerHour: 0.6, badPerHour: 2.4 } }
    expect(qualityTests({ ts: T0, fields: { level_m: level } }, { sensor: WL, history, rainingSince: null, rateLimits })).toEqual(expected)
  })
})

describe('qualityHistoryMs', () => {
  it.each([
    ['WQ-1', 36 * HOUR],
    ['WQ-3', 24 * HOUR],
    ['WQ-4', 3 * HOUR],
    ['TD-1', HOUR],
    ['WL-1', HOUR],
    ['RG-1', 0],
  ] as [string, number][])('%s needs %d ms of history', (id, ms) => {
    expect(qualityHistoryMs(byId(id))).toBe(ms)
  })
})
