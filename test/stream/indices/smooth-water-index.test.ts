import { describe, expect, it } from 'vitest'
import { belowFortySince, corroboration } from '../../../stream/indices/corroboration.js'
import { districtSmoothIndex } from '../../../stream/indices/district-smooth-index.js'
import { isRaining, NO_RAIN, rainAlertFloor, rainPressure, rainTotals, type RainTotals } from '../../../stream/indices/rain-totals.js'
import { sensorValue } from '../../../stream/indices/sensor-value.js'
import { depthSubscore } from '../../../stream/indices/smooth-subscores.js'
import { smoothWaterIndex, type SensorSnapshot, type SmoothIndex } from '../../../stream/indices/smooth-water-index.js'
import type { TimedValue } from '../../../stream/indices/timed-value.js'
import { fresh, GAUGE_PARAMS, good, MANHOLE_PARAMS, manholeAtFill, manholeAtSurcharge, MIN, PIPE_PARAMS, sensor, T0 } from './fixtures.js'

const NOW = T0
const RAIN: RainTotals = { mm30: 4, mm60: 8, r3h: 10, r6h: 10, r12h: 10 }

const pond = (id: string) => sensor(id, 'ponding_depth', { closureCm: 27 })
const tunnel = (id: string) => sensor(id, 'tunnel_depth', { closureCm: 27 })
const manhole = (id: string) => sensor(id, 'manhole_level', MANHOLE_PARAMS, 300)
const pipe = (id: string) => sensor(id, 'pipe_level', PIPE_PARAMS, 300)
const gauge = (id: string) => sensor(id, 'water_level', GAUGE_PARAMS, 300)
const sediment = (id: string) => sensor(id, 'sediment', { pipeDiameterM: 1.2 }, 3600)

function index(sensors: SensorSnapshot[], rain: RainTotals = NO_RAIN, now = NOW): SmoothIndex {
  const r = smoothWaterIndex({ sensors, rain, now })
  if (r.value === null) throw new Error(r.reason)
  return r
}

/** Every component at 100: the background of the single-sensor cases. */
function calm(now = NOW): SensorSnapshot[] {
  return [fresh(manhole('MH-9'), now, manholeAtFill(0.3)), fresh(pipe('PL-9'), now, 0.3), fresh(gauge('WL-9'), now, 2.5), fresh(sediment('SD-9'), now, 0.06)]
}

describe('smooth-water worked examples (INDICES.md §2)', () => {
  it('dry: POND 100, WELL 95.2, PIPE 100, RIVER 100, SED 90; S 98.04; 96.6 normal', () => {
    const r = index([
      fresh(pond('PD-1'), NOW, 0),
      fresh(pond('PD-2'), NOW, 1),
      fresh(pond('PD-3'), NOW, 0),
      fresh(manhole('MH-1'), NOW, manholeAtFill(0.35)),
      fresh(manhole('MH-2'), NOW, manholeAtFill(0.62)),
      fresh(pipe('PL-1'), NOW, 0.45),
      fresh(gauge('WL-1'), NOW, 2.85),
      fresh(sediment('SD-1'), NOW, 0.15 * 1.2),
    ])
    expect(r.components.POND).toBe(100)
    expect(r.components.WELL).toBeCloseTo(95.2, 9)
    expect(r.components.PIPE).toBe(100)
    expect(r.components.RIVER).toBe(100)
    expect(r.components.SED).toBeCloseTo(90, 9)
    expect(r.mean).toBeCloseTo(98.04, 9)
    expect(r).toMatchObject({ value: 96.6, band: 'normal', level: 0, limiting: 'WELL', confidence: 1, flags: [] })
  })

  it('moderate rain: POND 55.0, WELL 68.0, PIPE 80.0, RIVER 72.0, SED 90; S 68.25; 55.7 yellow', () => {
    const r = index(
      [
        fresh(pond('PD-1'), NOW, 6),
        fresh(tunnel('TD-1'), NOW, 18),
        fresh(manhole('MH-1'), NOW, manholeAtSurcharge(0.3)),
        fresh(manhole('MH-2'), NOW, manholeAtFill(0.9)),
        fresh(pipe('PL-1'), NOW, 1.0),
        fresh(gauge('WL-1'), NOW, 3.38),
        fresh(sediment('SD-1'), NOW, 0.15 * 1.2),
      ],
      RAIN,
    )
    expect(r.components.POND).toBeCloseTo(55, 9)
    expect(r.components.WELL).toBeCloseTo(68, 9)
    expect(r.components.PIPE).toBeCloseTo(80, 9)
    expect(r.components.RIVER).toBeCloseTo(72, 9)
    expect(r.components.SED).toBeCloseTo(90, 9)
    expect(r.mean).toBeCloseTo(68.25, 9)
    expect(r).toMatchObject({ value: 55.7, band: 'yellow', level: 2, limiting: 'POND', flags: [] })
    expect(r.sensors.find((s) => s.sensor === 'PD-1')?.score).toBeCloseTo(78, 9)
  })
})

describe('sensor value (INDICES.md §2)', () => {
  it.each([
    ['three good readings within 15 min: their median', [good(0, 10), good(5 * MIN, 30), good(10 * MIN, 20)], 20],
    ['three readings spanning exactly 15 min: the median', [good(0, 10), good(5 * MIN, 30), good(15 * MIN, 20)], 20],
    ['three readings spanning more than 15 min: the latest', [good(0, 10), good(10 * MIN, 30), good(16 * MIN, 20)], 20],
    ['spanning more than 15 min, the latest differs', [good(0, 10), good(10 * MIN, 20), good(16 * MIN, 30)], 30],
    ['two readings: the latest', [good(0, 30), good(MIN, 10)], 10],
    ['suspect readings are skipped', [good(0, 10), good(MIN, 12), { ts: 2 * MIN, value: 99, quality: 'suspect' }, good(3 * MIN, 11)], 11],
    ['out of order readings are sorted', [good(10 * MIN, 20), good(0, 10), good(5 * MIN, 30)], 20],
  ] as [string, TimedValue[], number][])('%s', (_case, recent, value) => {
    expect(sensorValue(recent)?.value).toBe(value)
  })

  it('has no value without a good reading', () => {
    expect(sensorValue([{ ts: 0, value: 1, quality: 'bad' }])).toBeUndefined()
    expect(sensorValue([])).toBeUndefined()
  })
})

describe('staleness, holding and confidence (INDICES.md §2)', () => {
  it('drops a stale sensor whose last score was 80 or more', () => {
    const r = index([{ sensor: pond('PD-1'), recent: [good(NOW - 30 * MIN, 0)], stale: true, lastScore: 100 }, fresh(tunnel('TD-1'), NOW, 3), ...calm()])
    expect(r.sensors.map((s) => s.sensor)).not.toContain('PD-1')
    expect(r.confidence).toBe(4 / 5)
    expect(r.flags).toEqual([])
  })

  it('holds a stale sensor whose last score was below 80 at that score', () => {
    const r = index([{ sensor: pond('PD-1'), recent: [], stale: true, lastScore: 45 }, fresh(tunnel('TD-1'), NOW, 3), ...calm()])
    expect(r.sensors.find((s) => s.sensor === 'PD-1')).toMatchObject({ score: 45, held: true, fresh: false })
    expect(r.components.POND).toBe(45)
    expect(r.band).toBe('yellow')
    expect(r.flags).toEqual(['held'])
  })

  it('never scores a missing sensor as 100: a zone with only silent or never-heard sensors is null', () => {
    const silent: SensorSnapshot[] = [
      { sensor: pond('PD-1'), recent: [], stale: false },
      { sensor: manhole('MH-1'), recent: [], stale: true, lastScore: 90 },
      fresh(sediment('SD-1'), NOW, 0.06),
    ]
    expect(smoothWaterIndex({ sensors: silent, rain: NO_RAIN, now: NOW })).toEqual({ value: null, reason: 'no fresh or held hazard sensor' })
    expect(smoothWaterIndex({ sensors: [], rain: NO_RAIN, now: NOW })).toEqual({ value: null, reason: 'no hazard sensor in the zone' })
  })

  it('flags degraded below half the hazard sensors fresh, and leaves out sensors without geometry', () => {
    const r = index([
      fresh(pond('PD-1'), NOW, 0),
      { sensor: pond('PD-2'), recent: [], stale: false },
      { sensor: pond('PD-3'), recent: [], stale: true },
      { sensor: manhole('MH-1'), recent: [], stale: true, lastScore: 70 },
      fresh(sensor('MH-X', 'manhole_level', {}), NOW, 5),
    ])
    expect(r.confidence).toBe(1 / 4)
    expect(r.flags).toEqual(['degraded', 'held'])
    expect(r.sensors.map((s) => s.sensor)).toEqual(['PD-1', 'MH-1'])
  })

  it('uses the minimum over a component\'s sensors and never lets sediment decide the band', () => {
    const r = index([fresh(pond('PD-1'), NOW, 0), fresh(tunnel('TD-1'), NOW, 10), fresh(sediment('SD-1'), NOW, 0.6)])
    expect(r.components.POND).toBe(70)
    expect(r.components.SED).toBe(20)
    expect(r.band).toBe('blue')
    expect(r.limiting).toBe('POND')
  })

  it('a zone whose only fresh sensor is sediment has no index', () => {
    expect(smoothWaterIndex({ sensors: [fresh(sediment('SD-1'), NOW, 0.06), { sensor: pond('PD-1'), recent: [], stale: false }], rain: NO_RAIN, now: NOW }).value).toBeNull()
  })
})

describe('corroboration (INDICES.md §2): one bad probe must not close a tunnel', () => {
  const readings = (from: number, to: number, depth: (t: number) => number): TimedValue[] => {
    const out: TimedValue[] = []
    for (let t = from; t <= to; t++) out.push(good(T0 + t * MIN, depth(t)))
    return out
  }

  it.each([
    // minute, tunnel index, score counted, unconfirmed
    [0, 46.5, 40, true],
    [1, 46.5, 40, true],
    [15, 46.5, 40, true],
    [29, 46.5, 40, true],
    [30, 6.5, 0, false],
    [45, 6.5, 0, false],
  ])('a dry-weather 60 cm tunnel reading since t = 0, at t = %d min: index %d (score %d, unconfirmed %s)', (t, value, score, unconfirmed) => {
    const now = T0 + t * MIN
    const r = index([{ sensor: tunnel('TD-1'), recent: readings(0, t, () => 60), stale: false }, ...calm(now)], NO_RAIN, now)
    expect(r.value).toBe(value)
    expect(r.sensors[0]).toMatchObject({ sensor: 'TD-1', raw: 0, score, unconfirmed })
    expect(r.flags.includes('unconfirmed')).toBe(unconfirmed)
  })

  it('restarts the 30 min when a reading in between was not below 40', () => {
    const recent = readings(0, 40, (t) => (t === 15 ? 10 : 60))
    expect(index([{ sensor: tunnel('TD-1'), recent, stale: false }, ...calm(T0 + 40 * MIN)], NO_RAIN, T0 + 40 * MIN).sensors[0]?.unconfirmed).toBe(true)
    expect(index([{ sensor: tunnel('TD-1'), recent: readings(0, 46, (t) => (t === 15 ? 10 : 60)), stale: false }, ...calm(T0 + 46 * MIN)], NO_RAIN, T0 + 46 * MIN).sensors[0]?.unconfirmed).toBe(false)
  })

  it('counts suspect readings for persistence (the corroboration rule reads them)', () => {
    const recent = readings(0, 30, () => 60).map((r, i) => (i < 29 ? { ...r, quality: 'suspect' as const } : r))
    expect(index([{ sensor: tunnel('TD-1'), recent, stale: false }, ...calm(T0 + 30 * MIN)], NO_RAIN, T0 + 30 * MIN).sensors[0]?.unconfirmed).toBe(false)
  })

  it.each([
    ['2 mm of rain in the last 60 min', [], { ...NO_RAIN, mm60: 2 }, 'rain'],
    ['another hazard sensor below 80', [fresh(pond('PD-2'), NOW, 6)], NO_RAIN, 'neighbour'],
    // A river gauge at its warning level scores 60 (< 80), so it corroborates as a neighbour first.
    ['a river gauge of the zone at its warning level', [fresh(gauge('WL-2'), NOW, 3.5)], NO_RAIN, 'neighbour'],
  ] as [string, SensorSnapshot[], RainTotals, string][])('is corroborated at once by %s', (_case, extra, rain, reason) => {
    const r = index([fresh(tunnel('TD-1'), NOW, 60), ...extra, ...calm()], rain)
    expect(r.sensors[0]).toMatchObject({ score: 0, unconfirmed: false, corroboratedBy: reason })
  })

  it('is not corroborated by 1.9 mm of rain, a neighbour at 80 or a river at Hw − Δ', () => {
    const r = index([fresh(tunnel('TD-1'), NOW, 60), fresh(pond('PD-2'), NOW, 5), fresh(gauge('WL-2'), NOW, 3.3), ...calm()], { ...NO_RAIN, mm60: 1.9 })
    expect(r.sensors[0]).toMatchObject({ score: 40, unconfirmed: true })
  })

  it('a lone river gauge above its guaranteed level corroborates itself (it is at or above warning)', () => {
    const r = index([fresh(gauge('WL-1'), NOW, 4.45)])
    expect(r.sensors[0]).toMatchObject({ raw: 10, score: 10, corroboratedBy: 'river' })
    expect(r.band).toBe('red')
  })

  it('belowFortySince finds the start of the run and honours the caller\'s record when the run fills `recent`', () => {
    const score = (d: number) => depthSubscore(d)
    expect(belowFortySince([good(0, 60), good(MIN, 5), good(2 * MIN, 60), good(3 * MIN, 45)], score)).toBe(2 * MIN)
    expect(belowFortySince([good(0, 60), good(MIN, 5)], score)).toBeUndefined()
    expect(belowFortySince([good(5 * MIN, 60)], score, 0)).toBe(0)
    expect(belowFortySince([good(4 * MIN, 5), good(5 * MIN, 60)], score, 0)).toBe(5 * MIN)
    expect(corroboration({ rain: NO_RAIN, otherHazardScores: [80, 100], riverAtWarning: false, belowFortySince: 0, now: 30 * MIN - 1 })).toBeUndefined()
  })
})

describe('rain totals and pressure (INDICES.md §2)', () => {
  it('sums trailing windows per gauge and takes the maximum over gauges', () => {
    const now = T0 + 12 * 60 * MIN
    const g1 = [good(now - 10 * MIN, 1), good(now - 45 * MIN, 2), good(now - 5 * 60 * MIN, 30), good(now - 11 * 60 * MIN, 40), { ts: now - MIN, value: 9999, quality: 'bad' as const }]
    const g2 = [good(now, 0.5), good(now - 20 * MIN, 0.5), good(now - 2 * 60 * MIN, 55)]
    expect(rainTotals([g1, g2], now)).toEqual({ mm30: 1, mm60: 3, r3h: 56, r6h: 56, r12h: 73 })
    expect(isRaining(rainTotals([g1], now))).toBe(true)
    expect(isRaining(rainTotals([g1], now + 31 * MIN))).toBe(false)
  })

  it.each([
    [{ ...NO_RAIN }, 0, 0],
    [{ ...NO_RAIN, r12h: 50 }, 1, 0],
    [{ ...NO_RAIN, r6h: 50, r12h: 50 }, 2, 0],
    [{ ...NO_RAIN, r3h: 50, r6h: 50, r12h: 50 }, 3, 1],
    [{ ...NO_RAIN, r3h: 100, r6h: 100, r12h: 100 }, 4, 1],
    [{ ...NO_RAIN, r3h: 49.9, r6h: 49.9, r12h: 49.9 }, 0, 0],
  ])('%o is rain level %d, alert floor %d', (totals, level, floor) => {
    expect(rainPressure(totals)).toBe(level)
    expect(rainAlertFloor(rainPressure(totals))).toBe(floor)
  })

  it('reports the pressure and floor with the zone index', () => {
    const r = index([fresh(pond('PD-1'), NOW, 0)], { mm30: 20, mm60: 30, r3h: 60, r6h: 60, r12h: 60 })
    expect(r).toMatchObject({ value: 100, band: 'normal', rainPressure: 3, alertFloor: 1 })
  })
})

describe('districtSmoothIndex (every zone a hazard component)', () => {
  const z = (value: number | null) => (value === null ? { value: null, reason: 'x' } : ({ value } as SmoothIndex))
  it.each([
    [[96.6, 55.7], 56.6, 'yellow', 'b'],
    [[100, 100, 100], 100, 'normal', 'a'],
    [[96.6, null, 96.6], 96.6, 'normal', 'a'],
    [[90, 90, 90, 90, 15], 16.7, 'red', 'e'],
  ])('zones %o give %d %s, worst %s', (values, value, band, worst) => {
    const zones = values.map((v, i) => ({ zone: 'abcde'[i] as string, index: z(v) }))
    expect(districtSmoothIndex(zones)).toMatchObject({ value, band, worstSegment: worst })
  })

  it('is null when no zone has a value', () => {
    expect(districtSmoothIndex([{ zone: 'a', index: { value: null, reason: 'x' } }]).value).toBeNull()
  })
})
