import { pino } from 'pino'
import { TestScheduler } from 'rxjs/testing'
import { afterEach, describe, expect, it } from 'vitest'
import type { Quality, Reading, Registry, Segment, Sensor, SensorKind } from '../../domain.js'
import { indexRegistry } from '../../registry/registry-index.js'
import { createIndexEngine, type IndexEngine, type IndexEngineOptions, type ZoneAlertChange } from '../../stream/index-engine.js'
import type { IndexUpdate, SegmentIndexJson } from '../../stream/index-json.js'
import { clearWaterIndex } from '../../stream/indices/clear-water-index.js'
import { districtClearIndex } from '../../stream/indices/district-clear-index.js'
import { SMOOTH_FIELD } from '../../stream/indices/smooth-subscores.js'
import { waterIndexLines } from '../../stream/water-index-lines.js'
import { GAUGE_PARAMS, HOUR, MANHOLE_PARAMS, manholeAtFill, manholeAtSurcharge, MIN, PIPE_PARAMS, T0 } from './indices/fixtures.js'

const SECOND = 1000

function sensor(id: string, kind: SensorKind, segment: string, params: Record<string, unknown> = {}, intervalS = 60, district = 'xihu'): Sensor {
  return { id, kind, district, segment, name: id, lat: 30.25, lon: 120.12, intervalS, params }
}
const river = (id: string, targetClass = 3, district = 'xihu'): Segment => ({ id, district, type: 'river', name: id, targetClass })
const lake = (id: string, targetClass = 3, district = 'xihu'): Segment => ({ id, district, type: 'lake', name: id, targetClass })
const zone = (id: string, riverGauges: string[] = [], district = 'xihu'): Segment => ({ id, district, type: 'drainage', name: id, riverGauges })

/** The field each kind reports in these tests: the scored ones, and rain. */
const FIELD: Partial<Record<SensorKind, string>> = { ...SMOOTH_FIELD, rainfall: 'rain_mm' }

const EXAMPLE_A = { do_mgl: 6.8, nh3n_mgl: 0.42, codmn_mgl: 3.6, tp_mgl: 0.12, ph: 7.4 }
const EXAMPLE_B = { do_mgl: 4.1, nh3n_mgl: 1.32, codmn_mgl: 5.2, tp_mgl: 0.18, ph: 7.9 }

interface Harness {
  engine: IndexEngine
  scheduler: TestScheduler
  updates: (IndexUpdate & { wall: number })[]
  /** Moves the wall clock (the scheduler's virtual time) on by `ms`, running what is due. */
  advance(ms: number): void
  /** Applies one batch of readings, received now. */
  send(...readings: [sensor: string, ts: number, value: number | Record<string, number>, quality?: Quality][]): void
  segment(id: string): SegmentIndexJson
  updatesOf(key: string): (IndexUpdate & { wall: number })[]
}

const open: IndexEngine[] = []
afterEach(() => {
  for (const engine of open.splice(0)) engine.close()
})

/** An engine on a TestScheduler whose virtual time is the wall clock; nothing runs until `advance`. */
function harness(registry: Registry, options: Partial<IndexEngineOptions> = {}): Harness {
  const scheduler = new TestScheduler((actual, expected) => expect(actual).toEqual(expected))
  const clock = { now: () => scheduler.now() }
  const index = indexRegistry(registry)
  const engine = createIndexEngine({ registry: () => index, clock, latenessS: 120, logger: pino({ level: 'silent' }), scheduler, ...options })
  open.push(engine)
  const updates: Harness['updates'] = []
  engine.updates$.subscribe((u) => updates.push({ ...u, wall: clock.now() }))
  return {
    engine,
    scheduler,
    updates,
    advance(ms) {
      const to = scheduler.now() + ms
      scheduler.schedule(() => undefined, ms)
      scheduler.maxFrames = to
      scheduler.flush()
    },
    send(...batch) {
      engine.update(
        batch.map(([id, ts, value, quality = 'good']): Reading => {
          const s = index.sensor(id)
          if (s === undefined) throw new Error(`unknown sensor ${id}`)
          const fields = typeof value === 'number' ? { [FIELD[s.kind] as string]: value } : value
          return { sensor: id, kind: s.kind, district: s.district, segment: s.segment, ts, fields, quality, qualityReason: quality === 'good' ? '' : 'test', tsSource: 'device', receivedAt: clock.now() }
        }),
      )
    },
    segment(id) {
      const found = engine.current().segments.find((s) => s.segment === id)
      if (found === undefined) throw new Error(`no segment ${id}`)
      return found
    },
    updatesOf(key) {
      return updates.filter((u) => u.key === key)
    },
  }
}

describe('clear-water index through the engine (INDICES.md §1)', () => {
  const registry: Registry = {
    segments: [river('seg-a'), river('seg-b'), lake('west-lake')],
    sensors: [
      sensor('WQ-A', 'water_quality', 'seg-a', {}, 3600),
      sensor('WQ-B', 'water_quality', 'seg-b', {}, 3600),
      sensor('WQ-L', 'water_quality', 'west-lake', {}, 3600),
    ],
    boards: [],
  }

  it('reproduces worked example A: 76.6, class III, limited by TP, no exceedance', () => {
    const h = harness(registry)
    h.send(['WQ-A', T0, EXAMPLE_A])
    expect(h.segment('seg-a')).toEqual({
      segment: 'seg-a',
      district: 'xihu',
      type: 'river',
      clear: { value: 76.6, class: 3, grade: 'good', limiting: 'tp_mgl', exceedances: [], confidence: 1, flags: [] },
      smooth: null,
    })
  })

  it('reproduces worked example B: 48.8, class IV, with DO and NH3-N above the class III limits', () => {
    const h = harness(registry)
    h.send(['WQ-B', T0, EXAMPLE_B])
    expect(h.segment('seg-b').clear).toEqual({
      value: 48.8,
      class: 4,
      grade: 'slightly_polluted',
      limiting: 'nh3n_mgl',
      exceedances: [
        { parameter: 'do_mgl', value: 4.1, limit: 5, multiple: 0.18 },
        { parameter: 'nh3n_mgl', value: 1.32, limit: 1, multiple: 0.32 },
      ],
      confidence: 1,
      flags: [],
    })
  })

  it('computes the district over rivers and lakes separately: the lower value, the worst segment and the class counts', () => {
    const h = harness(registry)
    h.send(['WQ-A', T0, EXAMPLE_A], ['WQ-B', T0, EXAMPLE_B], ['WQ-L', T0, { do_mgl: 8.2, nh3n_mgl: 0.2, codmn_mgl: 3, tp_mgl: 0.02, ph: 7.6 }])
    const a = clearWaterIndex(EXAMPLE_A, { waterType: 'river', targetClass: 3 })
    const b = clearWaterIndex(EXAMPLE_B, { waterType: 'river', targetClass: 3 })
    const lakeValues = { do_mgl: 8.2, nh3n_mgl: 0.2, codmn_mgl: 3, tp_mgl: 0.02, ph: 7.6 }
    const l = clearWaterIndex(lakeValues, { waterType: 'lake', targetClass: 3 })
    const expected = districtClearIndex([
      { segment: 'seg-a', type: 'river', values: EXAMPLE_A, index: a },
      { segment: 'seg-b', type: 'river', values: EXAMPLE_B, index: b },
      { segment: 'west-lake', type: 'lake', values: lakeValues, index: l },
    ])
    if (expected.value === null) throw new Error(expected.reason)
    const district = h.engine.current().districts.find((d) => d.district === 'xihu')
    expect(district).toEqual({
      district: 'xihu',
      clear: { value: expected.value, class: expected.class, worstSegment: 'seg-b', classCounts: expected.classCounts },
      smooth: null,
    })
    // the lake is class II (TP 0.02 in lake limits), A class III, B class IV
    expect(expected.classCounts).toEqual({ '2': 1, '3': 1, '4': 1 })
    // the lake half is not the lower one here, the rivers' mean is
    expect(expected.value).toBe((expected.river as { value: number }).value)
  })

  it('publishes null with a reason for a segment without data or without a station', () => {
    const h = harness({ ...registry, segments: [...registry.segments, river('dry-bed')] })
    expect(h.segment('seg-a').clear).toEqual({ value: null, reason: 'no readings yet' })
    expect(h.segment('dry-bed').clear).toEqual({ value: null, reason: 'no water-quality station on the segment' })
    h.send(['WQ-A', T0, { do_mgl: 6.8, tp_mgl: 0.1 }])
    expect(h.segment('seg-a').clear).toEqual({ value: null, reason: 'no value for nh3n_mgl' })
  })

  it('flags degraded with fewer than five parameters and takes confidence from each station\'s measures', () => {
    const h = harness({
      segments: [river('seg-a')],
      sensors: [
        sensor('WQ-1', 'water_quality', 'seg-a', { measures: ['do_mgl', 'nh3n_mgl', 'tp_mgl', 'ph'] }, 3600),
        sensor('WQ-2', 'water_quality', 'seg-a', { measures: ['do_mgl', 'nh3n_mgl'] }, 3600),
      ],
      boards: [],
    })
    h.send(['WQ-1', T0, { do_mgl: 6.8, nh3n_mgl: 0.42, tp_mgl: 0.12, ph: 7.4 }])
    // 4 of the 6 expected windows are valid; WQ-2 has not reported
    expect(h.segment('seg-a').clear).toMatchObject({ confidence: 0.67, flags: ['degraded'] })
    h.send(['WQ-2', T0, { do_mgl: 7.0, nh3n_mgl: 0.5 }])
    // two stations: the mean of each parameter they both have
    expect(h.segment('seg-a').clear).toMatchObject({ confidence: 1, flags: ['degraded'] })
    expect(h.segment('seg-a').clear).toEqual(expect.objectContaining({ limiting: 'tp_mgl' }))
  })
})

describe('windows, validity and holds', () => {
  // intervalS 300: W = 2 h, valid with at least 12 good readings
  const registry: Registry = { segments: [river('seg-a')], sensors: [sensor('WQ-A', 'water_quality', 'seg-a', {}, 300)], boards: [] }

  it('is null until a window holds 12 good readings, then the window mean', () => {
    const h = harness(registry)
    for (let i = 0; i < 11; i++) h.send(['WQ-A', T0 + i * 5 * MIN, EXAMPLE_A])
    expect(h.segment('seg-a').clear).toEqual({ value: null, reason: 'no value for do_mgl and nh3n_mgl' })
    h.send(['WQ-A', T0 + 55 * MIN, EXAMPLE_A])
    expect(h.segment('seg-a').clear).toMatchObject({ value: 76.6, confidence: 1, flags: [] })
  })

  it('holds the last valid value for at most W after the window turns invalid, then has no value', () => {
    const h = harness(registry)
    for (let i = 0; i < 12; i++) h.send(['WQ-A', T0 + i * 5 * MIN, { ...EXAMPLE_A, nh3n_mgl: 0.4 + i * 0.004 }])
    const valid = h.segment('seg-a').clear
    expect(valid).toMatchObject({ confidence: 1, flags: [] })
    // from 60 min on the station sends only suspect readings: the good ones slide out of the window one by one
    const at = (minutes: number) => {
      h.send(['WQ-A', T0 + minutes * MIN, { ...EXAMPLE_A, nh3n_mgl: 1.9 }, 'suspect'])
      return h.segment('seg-a').clear
    }
    for (let m = 60; m <= 115; m += 5) expect(at(m)).toEqual(valid)
    // at 120 min the reading of 0 min leaves the window (T − W, T]: 11 good readings, invalid, held
    const held = at(120)
    expect(held).toMatchObject({ value: (valid as { value: number }).value, confidence: 0, flags: ['held'] })
    // held while T − 115 min ≤ W, that is up to 235 min
    for (let m = 125; m <= 235; m += 5) expect(at(m)).toEqual(held)
    expect(at(240)).toEqual({ value: null, reason: 'no value for do_mgl and nh3n_mgl' })
  })

  it('moves the windows of a station silent on the wall clock on with its silence: valid, then held, then no value', () => {
    const h = harness(registry)
    for (let i = 0; i < 24; i++) h.send(['WQ-A', T0 + i * 5 * MIN, EXAMPLE_A])
    // stale after 15 min; at 64 min of silence the window (T + 64 min − 2 h, T + 64 min] still holds 12 readings
    h.advance(64 * MIN)
    expect(h.segment('seg-a').clear).toMatchObject({ value: 76.6, confidence: 1, flags: [] })
    h.advance(6 * MIN)
    expect(h.segment('seg-a').clear).toMatchObject({ value: 76.6, confidence: 0, flags: ['held'] })
    // held for W = 2 h after the last valid window (at 65 min of silence)
    h.advance(114 * MIN)
    expect(h.segment('seg-a').clear).toMatchObject({ value: 76.6, flags: ['held'] })
    h.advance(2 * MIN)
    expect(h.segment('seg-a').clear).toEqual({ value: null, reason: 'no value for do_mgl and nh3n_mgl' })
    // reporting again resets the silence
    h.send(['WQ-A', T0 + 24 * 5 * MIN, EXAMPLE_A])
    expect(h.segment('seg-a').clear).toMatchObject({ value: 76.6, confidence: 1, flags: [] })
  })

  it('ignores bad readings and replaces a reading re-flagged at the same time', () => {
    const h = harness({ ...registry, sensors: [sensor('WQ-A', 'water_quality', 'seg-a', {}, 3600)] })
    h.send(['WQ-A', T0, EXAMPLE_A])
    h.send(['WQ-A', T0 + 10 * MIN, { ...EXAMPLE_B }, 'bad'])
    expect(h.segment('seg-a').clear).toMatchObject({ value: 76.6 })
    // W = 3 h, one good reading makes a window: two good readings average
    h.send(['WQ-A', T0 + 20 * MIN, EXAMPLE_B])
    const averaged = h.segment('seg-a').clear
    expect(averaged).not.toMatchObject({ value: 76.6 })
    // the spike test re-flags the reading of 20 min: it replaces the one held
    h.send(['WQ-A', T0 + 20 * MIN, EXAMPLE_B, 'suspect'])
    expect(h.segment('seg-a').clear).toMatchObject({ value: 76.6 })
    expect(h.engine.stats()).toMatchObject({ applied: 4, sensors: 1, readings: 3 })
  })
})

describe('late data', () => {
  const registry: Registry = { segments: [river('seg-a')], sensors: [sensor('WQ-A', 'water_quality', 'seg-a', {}, 300)], boards: [] }

  it('a late reading inside the window corrects the index, and the corrected result is emitted again', () => {
    const h = harness(registry)
    for (let i = 0; i < 24; i++) h.send(['WQ-A', T0 + i * 5 * MIN, EXAMPLE_A])
    h.advance(2 * SECOND)
    const before = h.updatesOf('segment:seg-a').at(-1)
    expect(before?.data).toMatchObject({ clear: { value: 76.6 } })
    const emitted = h.updatesOf('segment:seg-a').length

    // 90 min behind the latest reading (lateness 120 s), still inside W = 2 h: NH3-N 6 pulls the mean to 0.643
    h.send(['WQ-A', T0 + 25 * MIN + 30 * SECOND, { ...EXAMPLE_A, nh3n_mgl: 6 }])
    const after = h.updatesOf('segment:seg-a')
    expect(after).toHaveLength(emitted + 1)
    const corrected = after.at(-1)
    expect(corrected?.data).toMatchObject({ clear: { limiting: 'nh3n_mgl' } })
    expect((corrected?.data as SegmentIndexJson).clear).not.toEqual((before?.data as SegmentIndexJson).clear)
    expect(corrected?.eventTime).toBe(T0 + 115 * MIN)
    expect(h.engine.stats()).toMatchObject({ lateCorrections: 1, tooOld: 0 })
  })

  it('a late smooth-water reading among the last three moves the median, and the zone is emitted again', () => {
    const h = harness({ segments: [zone('zone-4')], sensors: [sensor('TD-1', 'tunnel_depth', 'zone-4', { closureCm: 27 }, 60)], boards: [] })
    h.send(['TD-1', T0, 10], ['TD-1', T0 + 4 * MIN, 10], ['TD-1', T0 + 10 * MIN, 10])
    h.advance(2 * SECOND)
    expect(h.updatesOf('segment:zone-4').at(-1)?.data).toMatchObject({ smooth: { value: 70 } })
    // 4 min behind the latest (lateness 2 min): the last three good readings are 10, 20, 10 at 4, 6 and 10 min: still 10
    h.send(['TD-1', T0 + 6 * MIN, 20])
    h.advance(2 * SECOND)
    expect(h.updatesOf('segment:zone-4')).toHaveLength(1)
    // a second late one: 20, 20, 10 at 6, 7 and 10 min gives 20 cm, 51.67
    h.send(['TD-1', T0 + 7 * MIN, 20])
    h.advance(2 * SECOND)
    expect(h.updatesOf('segment:zone-4').map((u) => (u.data as SegmentIndexJson).smooth?.value)).toEqual([70, 51.6])
    expect(h.engine.stats().lateCorrections).toBe(2)
  })

  it('a reading older than every window it could move is not applied and moves nothing', () => {
    const h = harness(registry)
    for (let i = 0; i < 30; i++) h.send(['WQ-A', T0 + i * 5 * MIN, EXAMPLE_A])
    h.advance(2 * SECOND)
    const emitted = h.updates.length
    h.send(['WQ-A', T0 + 2 * MIN, { ...EXAMPLE_A, nh3n_mgl: 1.9 }])
    h.advance(2 * SECOND)
    expect(h.updates).toHaveLength(emitted)
    expect(h.segment('seg-a').clear).toMatchObject({ value: 76.6 })
    expect(h.engine.stats()).toMatchObject({ tooOld: 1 })
  })
})

describe('emission: on change at most once a second per key, and every key every 10 s', () => {
  const registry: Registry = {
    segments: [zone('zone-4'), river('seg-a')],
    sensors: [sensor('PD-1', 'ponding_depth', 'zone-4', { closureCm: 27 }, 600), sensor('WQ-A', 'water_quality', 'seg-a', {}, 3600)],
    boards: [],
  }

  it('emits the first change at once, the last change of the second at its end, and nothing for an unchanged result', () => {
    const h = harness(registry)
    h.send(['PD-1', T0, 0])
    expect(h.updatesOf('segment:zone-4').map((u) => [u.wall, (u.data as SegmentIndexJson).smooth?.value])).toEqual([[0, 100]])
    h.advance(100)
    h.send(['PD-1', T0 + MIN, 10])
    h.advance(100)
    h.send(['PD-1', T0 + 2 * MIN, 20])
    h.advance(100)
    h.send(['PD-1', T0 + 3 * MIN, 15])
    h.advance(1700)
    // leading at 0; the three changes at 100, 200 and 300 ms give one trailing emission at 1000 ms with the latest
    expect(h.updatesOf('segment:zone-4').map((u) => [u.wall, (u.data as SegmentIndexJson).smooth?.value, u.refresh])).toEqual([
      [0, 100, false],
      [1000, 60, false],
    ])
    // the same result again: no emission
    h.send(['PD-1', T0 + 4 * MIN, 15])
    h.advance(2000)
    expect(h.updatesOf('segment:zone-4')).toHaveLength(2)
  })

  it('refreshes every segment and district every 10 s of wall time, changed or not', () => {
    const h = harness(registry)
    h.send(['PD-1', T0, 0], ['WQ-A', T0, EXAMPLE_A])
    h.advance(10_000)
    const refreshed = h.updates.filter((u) => u.refresh)
    expect(refreshed.map((u) => [u.wall, u.key])).toEqual([
      [10_000, 'segment:zone-4'],
      [10_000, 'segment:seg-a'],
      [10_000, 'district:xihu'],
    ])
    h.advance(10_000)
    expect(h.updates.filter((u) => u.refresh && u.wall === 20_000)).toHaveLength(3)
  })

  it('gives each update its entry, its event time and its water_index points', () => {
    const h = harness(registry)
    h.send(['PD-1', T0, 6], ['WQ-A', T0 + MIN, EXAMPLE_A])
    h.advance(1000)
    const seg = h.updatesOf('segment:seg-a').at(-1) as IndexUpdate
    expect(seg).toMatchObject({ scope: 'segment', district: 'xihu', segment: 'seg-a', eventTime: T0 + MIN, points: [{ index: 'clear', value: 76.6, level: 3, confidence: 1 }] })
    expect(waterIndexLines(seg)).toEqual([`water_index,district=xihu,index=clear,segment=seg-a value=76.6,level=3i,confidence=1 ${T0 + MIN}`])
    const district = h.updatesOf('district:xihu').at(-1) as IndexUpdate
    expect(district).toMatchObject({ scope: 'district', segment: '_all', eventTime: T0 + MIN })
    expect(district.data).toEqual({
      district: 'xihu',
      clear: { value: 76.6, class: 3, worstSegment: 'seg-a', classCounts: { '3': 1 } },
      smooth: { value: 78, band: 'blue', worstSegment: 'zone-4' },
    })
    expect(waterIndexLines(district)).toEqual([
      `water_index,district=xihu,index=clear,segment=_all value=76.6,level=3i,confidence=1 ${T0 + MIN}`,
      `water_index,district=xihu,index=smooth,segment=_all value=78,level=1i,confidence=1 ${T0 + MIN}`,
    ])
  })
})

describe('smooth-water index through the engine (INDICES.md §2)', () => {
  const dryZone = (id: string, gauge: string): Sensor[] => [
    sensor(`${id}-PD1`, 'ponding_depth', id, { closureCm: 27 }, 300),
    sensor(`${id}-PD2`, 'ponding_depth', id, { closureCm: 27 }, 300),
    sensor(`${id}-TD1`, 'tunnel_depth', id, { closureCm: 27 }, 60),
    sensor(`${id}-MH1`, 'manhole_level', id, MANHOLE_PARAMS, 300),
    sensor(`${id}-MH2`, 'manhole_level', id, MANHOLE_PARAMS, 300),
    sensor(`${id}-PL1`, 'pipe_level', id, PIPE_PARAMS, 300),
    sensor(`${id}-SD1`, 'sediment', id, { pipeDiameterM: 1.2 }, 3600),
    sensor(`${id}-RG1`, 'rainfall', id, {}, 300),
    sensor(gauge, 'water_level', 'xixi', GAUGE_PARAMS, 300),
  ]
  const registry: Registry = {
    segments: [zone('zone-dry', ['WL-D']), zone('zone-rain', ['WL-R']), river('xixi')],
    sensors: [...dryZone('zone-dry', 'WL-D'), ...dryZone('zone-rain', 'WL-R')],
    boards: [],
  }
  const dry = (ts: number): [string, number, number][] => [
    ['zone-dry-PD1', ts, 0],
    ['zone-dry-PD2', ts, 1],
    ['zone-dry-TD1', ts, 0],
    ['zone-dry-MH1', ts, manholeAtFill(0.35)],
    ['zone-dry-MH2', ts, manholeAtFill(0.62)],
    ['zone-dry-PL1', ts, 0.45],
    ['WL-D', ts, 2.85],
    ['zone-dry-SD1', ts, 0.15 * 1.2],
    ['zone-dry-RG1', ts, 0],
  ]
  const moderate = (ts: number): [string, number, number][] => [
    ['zone-rain-PD1', ts, 6],
    ['zone-rain-PD2', ts, 4],
    ['zone-rain-TD1', ts, 18],
    ['zone-rain-MH1', ts, manholeAtSurcharge(0.3)],
    ['zone-rain-MH2', ts, manholeAtFill(0.9)],
    ['zone-rain-PL1', ts, 1.0],
    ['WL-R', ts, 3.38],
    ['zone-rain-SD1', ts, 0.15 * 1.2],
    ['zone-rain-RG1', ts, 4],
  ]

  it('reproduces the dry example: 96.6, normal, limited by WELL', () => {
    const h = harness(registry)
    h.send(...dry(T0))
    expect(h.segment('zone-dry')).toEqual({
      segment: 'zone-dry',
      district: 'xihu',
      type: 'drainage',
      clear: null,
      smooth: { value: 96.6, band: 'normal', limiting: 'WELL', confidence: 1, flags: [] },
    })
  })

  it('reproduces the moderate-rain example: 55.7, yellow, limited by POND', () => {
    const h = harness(registry)
    h.send(...moderate(T0))
    expect(h.segment('zone-rain').smooth).toEqual({ value: 55.7, band: 'yellow', limiting: 'POND', confidence: 1, flags: [] })
  })

  it('gives the district the blend of its zones, banded by the worst zone', () => {
    const h = harness(registry)
    h.send(...dry(T0), ...moderate(T0))
    const district = h.engine.current().districts.find((d) => d.district === 'xihu')
    // s_min 55.7, U 60, S = 76.15, q = 0.46163: 55.7 + 0.5·0.46163·4.3 = 56.69
    expect(district?.smooth).toEqual({ value: 56.6, band: 'yellow', worstSegment: 'zone-rain' })
    // the river of the gauges has no station: no clear-water values in the district
    expect(district?.clear).toEqual({ value: null, reason: 'no value for do_mgl and nh3n_mgl' })
  })

  it('takes the value of a sensor from the median of its last three good readings within 15 min', () => {
    const h = harness(registry)
    h.send(...moderate(T0))
    h.send(['zone-rain-TD1', T0 + MIN, 30], ['zone-rain-TD1', T0 + 2 * MIN, 18])
    // 18, 30, 18: the median 18 keeps the example's value
    expect(h.segment('zone-rain').smooth).toMatchObject({ value: 55.7 })
    h.send(['zone-rain-TD1', T0 + 3 * MIN, 30])
    // 30, 18, 30: 30 cm
    expect(h.segment('zone-rain').smooth).not.toMatchObject({ value: 55.7 })
  })
})

describe('staleness on the wall clock (INDICES.md §2)', () => {
  const registry: Registry = {
    segments: [zone('zone-4')],
    sensors: [
      sensor('TD-1', 'tunnel_depth', 'zone-4', { closureCm: 27 }, 60),
      sensor('PD-1', 'ponding_depth', 'zone-4', { closureCm: 27 }, 600),
      sensor('MH-1', 'manhole_level', 'zone-4', MANHOLE_PARAMS, 600),
    ],
    boards: [],
  }

  it('holds a silent hazard sensor whose last score was below 80 at that score, flagged held, until it reports again', () => {
    const h = harness(registry)
    h.send(['TD-1', T0, 20], ['PD-1', T0, 0], ['MH-1', T0, manholeAtFill(0.3)])
    const fresh = h.segment('zone-4').smooth
    // POND = TD-1 at 20 cm = 51.67; S = 69.24: 53.1
    expect(fresh).toEqual({ value: 53.1, band: 'yellow', limiting: 'POND', confidence: 1, flags: [] })
    // TD-1 (intervalS 60) is stale once silent for more than 180 s of wall time; the refresh at 190 s shows it
    h.advance(190_000)
    const refresh = h.updatesOf('segment:zone-4').filter((u) => u.wall === 190_000)
    expect(refresh.map((u) => (u.data as SegmentIndexJson).smooth)).toEqual([{ value: 53.1, band: 'yellow', limiting: 'POND', confidence: 0.67, flags: ['held'] }])
    expect(h.updatesOf('segment:zone-4').filter((u) => u.wall === 180_000).map((u) => (u.data as SegmentIndexJson).smooth)).toEqual([fresh])
    h.send(['TD-1', T0 + 4 * MIN, 3])
    expect(h.segment('zone-4').smooth).toMatchObject({ confidence: 1, flags: [] })
  })

  it('drops a silent sensor whose last score was 80 or more', () => {
    const h = harness(registry)
    h.send(['TD-1', T0, 3], ['PD-1', T0, 8], ['MH-1', T0, manholeAtFill(0.3)])
    // POND = TD-1 at 3 cm = 93.3 before, PD-1 at 8 cm = 74 decides anyway
    const before = h.segment('zone-4').smooth
    expect(before).toMatchObject({ limiting: 'POND', confidence: 1, flags: [] })
    h.advance(190_000)
    const after = h.segment('zone-4').smooth
    expect(after).toMatchObject({ value: (before as { value: number }).value, confidence: 0.67, flags: [] })
  })

  it('an operator clears a held score: the sensor drops out', () => {
    const h = harness(registry)
    h.send(['TD-1', T0, 20], ['PD-1', T0, 0], ['MH-1', T0, manholeAtFill(0.3)])
    h.advance(190_000)
    expect(h.segment('zone-4').smooth).toMatchObject({ flags: ['held'] })
    expect(h.engine.clearHeld('TD-1')).toBe(true)
    expect(h.segment('zone-4').smooth).toEqual({ value: 100, band: 'normal', limiting: 'POND', confidence: 0.67, flags: [] })
  })
})

describe('corroboration: a dry-weather 60 cm tunnel spike', () => {
  const registry: Registry = {
    segments: [zone('zone-4')],
    sensors: [
      sensor('TD-1', 'tunnel_depth', 'zone-4', { closureCm: 27 }, 60),
      sensor('MH-1', 'manhole_level', 'zone-4', MANHOLE_PARAMS, 60),
      sensor('RG-1', 'rainfall', 'zone-4', {}, 60),
    ],
    boards: [],
  }
  const minute = (h: Harness, t: number, depth: number, rain = 0) =>
    h.send(['RG-1', T0 + t * MIN, rain], ['MH-1', T0 + t * MIN, manholeAtFill(0.3)], ['TD-1', T0 + t * MIN, depth])

  it('is capped at 40 and unconfirmed until it has persisted 30 min, then it counts', () => {
    const h = harness(registry)
    for (let t = 0; t < 30; t++) {
      minute(h, t, 60)
      // POND raised to 40, WELL 100: S = 61.82, q = 0.3636, 40 + 0.5·0.3636·20 = 43.6
      expect(h.segment('zone-4').smooth, `t = ${t}`).toEqual({ value: 43.6, band: 'yellow', limiting: 'POND', confidence: 1, flags: ['unconfirmed'] })
    }
    minute(h, 30, 60)
    // below 40 on every reading for 30 min: POND 0 counts, 0 + 0.5·0.3636·20 = 3.6
    expect(h.segment('zone-4').smooth).toEqual({ value: 3.6, band: 'red', limiting: 'POND', confidence: 1, flags: [] })
  })

  it('counts at once when 2 mm fell in the last 60 min', () => {
    const h = harness(registry)
    minute(h, 0, 0, 1)
    minute(h, 10, 0, 1.5)
    minute(h, 20, 60)
    expect(h.segment('zone-4').smooth).toMatchObject({ value: 3.6, flags: [] })
  })

  it('one reading back above 40 restarts the persistence run', () => {
    const h = harness(registry)
    for (let t = 0; t < 20; t++) minute(h, t, 60)
    minute(h, 20, 10)
    for (let t = 21; t <= 50; t++) minute(h, t, 60)
    expect(h.segment('zone-4').smooth).toMatchObject({ value: 43.6, flags: ['unconfirmed'] })
    minute(h, 51, 60)
    expect(h.segment('zone-4').smooth).toMatchObject({ value: 3.6, flags: [] })
  })

  it('dates the run from its first reading below 40 after a long stretch above (only the run is read back)', () => {
    const h = harness(registry)
    for (let t = 0; t < 45; t++) minute(h, t, 10)
    // The median of three still reads 10 cm at 45; the run starts there all the same.
    minute(h, 45, 60)
    for (let t = 46; t < 75; t++) {
      minute(h, t, 60)
      expect(h.segment('zone-4').smooth, `t = ${t}`).toMatchObject({ value: 43.6, flags: ['unconfirmed'] })
    }
    minute(h, 75, 60)
    expect(h.segment('zone-4').smooth).toMatchObject({ value: 3.6, flags: [] })
  })
})

describe('the zone alert level at the INDICES.md §4 cadence in event time', () => {
  // The §4 walk-through: t range, depth cm, SWI, level after
  const ROWS: [number, number, number, number, number][] = [
    [0, 0, 3, 95.5, 0],
    [1, 1, 8, 75.9, 0],
    [2, 2, 10, 73.2, 1],
    [3, 3, 16, 58.8, 1],
    [4, 4, 22, 52.1, 2],
    [5, 5, 28, 38.9, 2],
    [6, 6, 31, 35.8, 3],
    [7, 7, 30, 36.8, 3],
    [8, 8, 26, 47.6, 3],
    [9, 9, 23, 51.0, 3],
    [10, 37, 20, 54.3, 3],
    [38, 45, 20, 54.3, 2],
    [46, 75, 8, 75.9, 2],
    [76, 80, 8, 75.9, 1],
    [81, 110, 1, 100, 1],
    [111, 111, 1, 100, 0],
  ]
  const registry: Registry = {
    segments: [zone('zone-w', ['WL-1']), river('xixi')],
    sensors: [
      sensor('TD-1', 'tunnel_depth', 'zone-w', { closureCm: 27 }, 60),
      sensor('MH-1', 'manhole_level', 'zone-w', MANHOLE_PARAMS, 300),
      sensor('PL-1', 'pipe_level', 'zone-w', PIPE_PARAMS, 300),
      sensor('SD-1', 'sediment', 'zone-w', { pipeDiameterM: 1.0 }, 3600),
      sensor('RG-1', 'rainfall', 'zone-w', {}, 60),
      sensor('WL-1', 'water_level', 'xixi', GAUGE_PARAMS, 300),
    ],
    boards: [],
  }

  it('follows the walk-through from raise to clear, one evaluation a minute while it rains', () => {
    const h = harness(registry)
    const changes: ZoneAlertChange[] = []
    h.engine.zoneAlerts$.subscribe((c) => changes.push(c))
    // 0.05 mm a minute: 3 mm in every 60 min (raining, every reading corroborated), far below orange pressure
    h.send(...Array.from({ length: 60 }, (_, i): [string, number, number] => ['RG-1', T0 + (i - 60) * MIN, 0.05]))
    expect(h.engine.zoneAlertLevel('zone-w')).toBe(0)
    const seen: [number, number | null, number][] = []
    for (const [from, to, depth] of ROWS) {
      for (let t = from; t <= to; t++) {
        const ts = T0 + t * MIN
        // Three readings of the same depth in the minute: the median-of-3 rule gives the table's depth (docs/indices.md).
        h.send(
          ['TD-1', ts - 40 * SECOND, depth],
          ['TD-1', ts - 20 * SECOND, depth],
          ['TD-1', ts, depth],
          ['MH-1', ts, manholeAtFill(0.4)],
          ['PL-1', ts, 0.3],
          ['WL-1', ts, 2.8],
          ['SD-1', ts, 0.05],
          ['RG-1', ts, 0.05],
        )
        const smooth = h.segment('zone-w').smooth
        seen.push([t, smooth?.value ?? null, h.engine.zoneAlertLevel('zone-w')])
      }
    }
    for (const [from, to, , swi, level] of ROWS) {
      for (let t = from; t <= to; t++) expect(seen[t], `t = ${t}`).toEqual([t, swi, level])
    }
    expect(changes.map((c) => [(c.at - T0) / MIN, c.previous, c.level])).toEqual([
      [2, 0, 1],
      [4, 1, 2],
      [6, 2, 3],
      [38, 3, 2],
      [76, 2, 1],
      [111, 1, 0],
    ])
  })

  it('evaluates every 5 min in dry weather without an alert, catching up over gaps in event time', () => {
    const h = harness(registry)
    const changes: ZoneAlertChange[] = []
    h.engine.zoneAlerts$.subscribe((c) => changes.push(c))
    const calm = (ts: number, depth: number) => h.send(['TD-1', ts, depth], ['MH-1', ts, manholeAtFill(0.4)], ['RG-1', ts, 0])
    // dry: a 31 cm reading at minute 1 falls between the 5-min evaluations at 0 and 5
    calm(T0, 3)
    calm(T0 + MIN, 31)
    calm(T0 + 2 * MIN, 3)
    calm(T0 + 3 * MIN, 3)
    calm(T0 + 6 * MIN, 3)
    expect(h.engine.zoneAlertLevel('zone-w')).toBe(0)
    // 31 cm from 10 min on (unconfirmed: counted as 40, yellow): the median of 3 still gives 3 cm at 10,
    // then yellow candidates at 15 and 20 raise the level to 2 at 20
    for (let t = 10; t <= 19; t++) calm(T0 + t * MIN, 31)
    expect(h.engine.zoneAlertLevel('zone-w')).toBe(0)
    calm(T0 + 20 * MIN, 31)
    expect(h.engine.zoneAlertLevel('zone-w')).toBe(2)
    // an alert is active: every minute from now on, also through 40 min without data; at 40 the 31 cm has
    // persisted 30 min and counts (orange), so the level is 3 from 41, found when the next reading arrives
    calm(T0 + 60 * MIN, 31)
    expect(h.engine.zoneAlertLevel('zone-w')).toBe(3)
    expect(changes.map((c) => [(c.at - T0) / MIN, c.level])).toEqual([
      [20, 2],
      [41, 3],
    ])
  })
})

describe('bounded state', () => {
  const registry: Registry = {
    segments: [zone('zone-4')],
    sensors: [sensor('TD-1', 'tunnel_depth', 'zone-4', { closureCm: 27 }, 60), sensor('PD-1', 'ponding_depth', 'zone-4', { closureCm: 27 }, 60)],
    boards: [],
  }

  it('keeps at most an hour of a smooth-water sensor and forgets sensors idle for 12 h of event time', () => {
    const h = harness(registry)
    for (let t = 0; t < 60; t++) h.send(['TD-1', T0 + t * MIN, 0], ['PD-1', T0 + t * MIN, 0])
    expect(h.engine.stats()).toMatchObject({ sensors: 2, readings: 120 })
    let maxReadings = 0
    for (let t = 60; t <= 60 + 13 * 60; t++) {
      h.send(['TD-1', T0 + t * MIN, 0])
      maxReadings = Math.max(maxReadings, h.engine.stats().readings)
    }
    expect(maxReadings).toBeLessThanOrEqual(120)
    expect(h.engine.stats()).toMatchObject({ sensors: 1, evicted: 1 })
    expect(h.engine.stats().readings).toBeLessThanOrEqual(60)
  })

  it('ignores readings no index reads and sensors outside the registry', () => {
    const h = harness({ ...registry, sensors: [...registry.sensors, sensor('P-1', 'parking', 'zone-4', { capacity: 10 }, 60)] })
    h.send(['P-1', T0, { occupied: 3 }])
    h.engine.update([{ sensor: 'XX-1', kind: 'tunnel_depth', district: 'xihu', segment: 'zone-4', ts: T0, fields: { depth_cm: 1 }, quality: 'good', qualityReason: '', tsSource: 'device', receivedAt: 0 }])
    expect(h.engine.stats()).toMatchObject({ ignored: 2, sensors: 0 })
  })
})

describe('registry reloads', () => {
  it('reads the registry in force on every computation', () => {
    const first = indexRegistry({ segments: [zone('zone-4')], sensors: [sensor('PD-1', 'ponding_depth', 'zone-4', {}, 60)], boards: [] })
    const second = indexRegistry({ segments: [zone('zone-4'), zone('zone-5')], sensors: [sensor('PD-1', 'ponding_depth', 'zone-5', {}, 60)], boards: [] })
    let current = first
    const scheduler = new TestScheduler(() => undefined)
    const engine = createIndexEngine({ registry: () => current, clock: { now: () => 0 }, latenessS: 120, logger: pino({ level: 'silent' }), scheduler })
    open.push(engine)
    const reading: Reading = { sensor: 'PD-1', kind: 'ponding_depth', district: 'xihu', segment: 'zone-4', ts: T0, fields: { depth_cm: 6 }, quality: 'good', qualityReason: '', tsSource: 'device', receivedAt: 0 }
    engine.update([reading])
    expect(engine.current().segments.map((s) => [s.segment, s.smooth?.value])).toEqual([['zone-4', 78]])
    current = second
    engine.update([{ ...reading, segment: 'zone-5', ts: T0 + HOUR }])
    expect(engine.current().segments.map((s) => [s.segment, s.smooth?.value])).toEqual([
      ['zone-4', null],
      ['zone-5', 78],
    ])
  })
})
