import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import type { Quality, Reading, Registry, Sensor } from '../../domain.js'
import { indexRegistry, type RegistryIndex } from '../../registry/registry-index.js'
import { qualityTests, spikeTests, type QualityReading, type RateLimit } from '../../stream/indices/quality-tests.js'
import { createQualityStage, type QualityStageOptions } from '../../stream/quality-stage.js'
import { fixtureRegistry } from '../helpers/fixture-registry.js'

const MIN = 60_000
const HOUR = 3_600_000
/** Event-time origin: 2026-11-27T00:00:00Z. */
const T0 = Date.UTC(2026, 10, 27)

/** The fixture registry plus a zone without gauges (PD-2), a zone with its own gauge (RG-3, PD-3) and an hourly station (WQ-2). */
function testRegistry(): Registry {
  const reg = fixtureRegistry()
  const base = { district: 'xihu', lat: 30.26, lon: 120.1, intervalS: 60 }
  reg.segments.push(
    { id: 'zone-2', district: 'xihu', type: 'drainage', name: 'Zone without gauges' },
    { id: 'zone-3', district: 'xihu', type: 'drainage', name: 'Zone with its own gauge' },
  )
  reg.sensors.push(
    { ...base, id: 'PD-2', kind: 'ponding_depth', segment: 'zone-2', name: 'Ponding 2', params: {} },
    { ...base, id: 'RG-3', kind: 'rainfall', segment: 'zone-3', name: 'Rain 3', params: {} },
    { ...base, id: 'PD-3', kind: 'ponding_depth', segment: 'zone-3', name: 'Ponding 3', params: {} },
    {
      ...base,
      id: 'WQ-2',
      kind: 'water_quality',
      segment: 'river-1',
      name: 'Hourly station',
      intervalS: 3600,
      params: { measures: ['do_mgl', 'nh3n_mgl', 'codmn_mgl', 'tp_mgl', 'ph', 'turbidity_ntu', 'temp_c', 'cond_uscm'] },
    },
  )
  return reg
}

const REGISTRY = indexRegistry(testRegistry())

function sensorOf(id: string, registry: RegistryIndex = REGISTRY): Sensor {
  const s = registry.sensor(id)
  if (s === undefined) throw new Error(`no sensor ${id}`)
  return s
}

/** A reading as ingest hands it over: provisionally good. */
function reading(id: string, ts: number, fields: Record<string, number>): Reading {
  const s = sensorOf(id)
  return { sensor: id, kind: s.kind, district: s.district, segment: s.segment, ts, fields, quality: 'good', qualityReason: '', tsSource: 'device', receivedAt: ts }
}

function setup(options: Partial<QualityStageOptions> = {}) {
  let now = T0
  let registry = REGISTRY
  const stage = createQualityStage({ registry: () => registry, latenessS: 120, clock: { now: () => now }, ...options })
  /** Assesses one reading alone; returns it flagged and what was re-flagged. */
  const one = (id: string, ts: number, fields: Record<string, number>) => {
    const { readings, reflagged } = stage.assess([reading(id, ts, fields)])
    const r = readings[0]
    if (r === undefined) throw new Error('no reading back')
    return { r, reflagged }
  }
  const flag = (id: string, ts: number, fields: Record<string, number>) => {
    const { r } = one(id, ts, fields)
    return [r.quality, r.qualityReason]
  }
  return {
    stage,
    one,
    flag,
    advance: (ms: number) => (now += ms),
    setRegistry: (next: RegistryIndex) => (registry = next),
  }
}

describe('quality stage: INDICES.md §3 tests and the ingest checks', () => {
  it.each([
    ['WQ-1', { do_mgl: 8 }, 'good', ''],
    ['WQ-1', { do_mgl: 21 }, 'bad', 'range:do_mgl'],
    ['WQ-1', { do_mgl: 16.5 }, 'suspect', 'range:do_mgl'],
    ['WQ-1', { ph: 3.9 }, 'suspect', 'range:ph'],
    ['WQ-1', { nh3n_mgl: 41 }, 'suspect', 'range:nh3n_mgl'],
    ['WQ-1', { codmn_mgl: 101 }, 'bad', 'range:codmn_mgl'],
    ['WQ-2', { turbidity_ntu: 1500 }, 'suspect', 'range:turbidity_ntu'],
    ['WQ-2', { temp_c: -3 }, 'bad', 'range:temp_c'],
    ['WQ-2', { cond_uscm: 3500 }, 'suspect', 'range:cond_uscm'],
    // Worst wins; the reasons of that flag are joined.
    ['WQ-1', { do_mgl: 16.5, ph: 15 }, 'bad', 'range:ph'],
    ['WQ-1', { do_mgl: 21, ph: 15 }, 'bad', 'range:do_mgl;range:ph'],
    ['WQ-1', { do_mgl: 16.5, tp_mgl: 2.5 }, 'suspect', 'range:do_mgl;range:tp_mgl'],
    ['WQ-1', { do_mgl: 9999, ph: 15 }, 'bad', 'sentinel:do_mgl;range:ph'],
    ['TD-1', { depth_cm: 50 }, 'good', ''],
    ['TD-1', { depth_cm: 150 }, 'suspect', 'range:depth_cm'],
    ['TD-1', { depth_cm: 250 }, 'bad', 'range:depth_cm'],
    ['TD-1', { depth_cm: -9999 }, 'bad', 'sentinel:depth_cm'],
    ['PD-1', { depth_cm: 65535 }, 'bad', 'sentinel:depth_cm'],
    ['PD-1', { depth_cm: 9999 }, 'bad', 'sentinel:depth_cm'],
    // River gauge Hn 2.90, Hx′ 4.20: suspect outside [0.90, 5.20], bad outside [−2.10, 7.20].
    ['WL-1', { level_m: 3.0 }, 'good', ''],
    ['WL-1', { level_m: 0.8 }, 'suspect', 'range:level_m'],
    ['WL-1', { level_m: 7.3 }, 'bad', 'range:level_m'],
    // Manhole depthM 3: bad above 3.5.
    ['MH-1', { level_m: 3.5 }, 'good', ''],
    ['MH-1', { level_m: 3.51 }, 'bad', 'range:level_m'],
    ['PL-1', { level_m: -0.1 }, 'bad', 'range:level_m'],
    ['SD-1', { sediment_m: 0.81 }, 'bad', 'range:sediment_m'],
    ['FL-1', { flow_m3s: 6000 }, 'bad', 'range:flow_m3s'],
    ['FL-1', { flow_m3s: 10, velocity_ms: 5.5 }, 'suspect', 'range:velocity_ms'],
    // Parking: beyond capacity bad, a reported capacity other than the registry's suspect.
    ['P-1', { occupied: 100 }, 'good', ''],
    ['P-1', { occupied: 101 }, 'bad', 'range:occupied'],
    ['P-1', { occupied: -1 }, 'bad', 'range:occupied'],
    ['P-1', { occupied: 50, capacity: 90 }, 'suspect', 'capacity_mismatch'],
    ['P-1', { occupied: 101, capacity: 90 }, 'bad', 'range:occupied'],
    ['P-1', { occupied: 50, capacity: 100 }, 'good', ''],
    ['P-1', { occupied: 65535 }, 'bad', 'sentinel:occupied'],
    // A gauge's first reading covers intervalS (60 s): tested as mm per minute.
    ['RG-1', { rain_mm: 4 }, 'good', ''],
    ['RG-1', { rain_mm: 6 }, 'suspect', 'range:rain_mm'],
    ['RG-1', { rain_mm: 11 }, 'bad', 'range:rain_mm'],
  ] as [string, Record<string, number>, Quality, string][])('%s %o is %s %s', (id, fields, quality, reason) => {
    expect(setup().flag(id, T0, fields)).toEqual([quality, reason])
  })

  it('changes nothing given in: a reading whose flag changes comes back as a new object', () => {
    const { stage } = setup()
    const goodOne = reading('TD-1', T0, { depth_cm: 3 })
    const badOne = reading('TD-1', T0 + MIN, { depth_cm: -9999 })
    const input = [goodOne, badOne]
    const { readings } = stage.assess(input)
    expect(readings).not.toBe(input)
    expect(readings[0]).toBe(goodOne)
    expect(readings[1]).not.toBe(badOne)
    expect(badOne.quality).toBe('good')
    const allGood = [reading('TD-1', T0 + 2 * MIN, { depth_cm: 3 })]
    expect(stage.assess(allGood).readings).toBe(allGood)
  })

  it.each([
    // previous mm (its ts T0), minutes later, mm, flag
    [2, 5, 30, 'suspect'],
    [2, 5, 20, 'good'],
    [2, 1, 11, 'bad'],
    // A bad previous reading still ends the interval the next amount covers.
    [-9999, 5, 20, 'good'],
  ] as const)('rain after %d mm: %d min later %d mm is %s (per minute since the previous reading)', (prev, minutes, mm, quality) => {
    const { flag } = setup()
    flag('RG-1', T0, { rain_mm: prev })
    expect(flag('RG-1', T0 + minutes * MIN, { rain_mm: mm })[0]).toBe(quality)
  })

  it.each([
    ['DO within ±0.01 for 1 h', 'do_mgl', 2, HOUR, (i: number) => 7 + 0.01 * (i % 2), 'good'],
    ['DO within ±0.01 for 2 h', 'do_mgl', 3, HOUR, (i: number) => 7 + 0.01 * (i % 2), 'suspect'],
    ['DO within ±0.01 for 6 h', 'do_mgl', 7, HOUR, () => 7, 'bad'],
    ['pH within ±0.005 for 24 h', 'ph', 25, HOUR, () => 7.2, 'bad'],
    ['11 identical NH3-N readings', 'nh3n_mgl', 11, HOUR, () => 0.5, 'good'],
    ['12 identical NH3-N readings', 'nh3n_mgl', 12, HOUR, () => 0.5, 'suspect'],
    ['36 identical TP readings', 'tp_mgl', 36, HOUR, () => 0.1, 'bad'],
    ['identical conductivity for 6 h', 'cond_uscm', 7, HOUR, () => 420, 'suspect'],
    ['conductivity moving by 1 µS/cm', 'cond_uscm', 7, HOUR, (i: number) => 420 + (i % 2), 'good'],
  ] as [string, string, number, number, (i: number) => number, Quality][])('flat line: %s', (_case, field, n, step, value, quality) => {
    const { flag } = setup()
    let last: (string | undefined)[] = []
    for (let i = 0; i < n; i++) last = flag('WQ-2', T0 + i * step, { [field]: value(i) })
    expect(last).toEqual(quality === 'good' ? ['good', ''] : [quality, `flat:${field}`])
  })

  it('applies configured rate-of-change limits, none by default', () => {
    const rateLimits: Record<string, RateLimit> = { level_m: { suspectPerHour: 0.6, badPerHour: 2.4 } }
    const off = setup()
    off.flag('WL-1', T0, { level_m: 3.0 })
    expect(off.flag('WL-1', T0 + 5 * MIN, { level_m: 3.3 })).toEqual(['good', ''])
    const on = setup({ rateLimits })
    on.flag('WL-1', T0, { level_m: 3.0 })
    expect(on.flag('WL-1', T0 + 5 * MIN, { level_m: 3.1 })).toEqual(['suspect', 'rate:level_m'])
    expect(on.flag('WL-1', T0 + 10 * MIN, { level_m: 3.4 })).toEqual(['bad', 'rate:level_m'])
  })
})

describe('quality stage: spikes re-flag the previous reading', () => {
  it.each([
    ['a spike', [0, 20, 0], 'bad'],
    ['a small spike', [0, 10, 0], 'suspect'],
    ['below the threshold', [0, 5, 0], undefined],
    ['a step that persists', [0, 20, 20], undefined],
    ['a step that persists, nearly', [0, 30, 28], undefined],
    ['a ramp', [0, 10, 20], undefined],
  ] as [string, number[], Quality | undefined][])('%s: depths %o', (_case, depths, quality) => {
    const { one } = setup()
    const results = depths.map((d, i) => one('TD-1', T0 + i * MIN, { depth_cm: d }))
    for (const { r } of results) expect(r.quality).toBe('good')
    expect(results[1]?.reflagged).toEqual([])
    const reflagged = results[2]?.reflagged
    if (quality === undefined) expect(reflagged).toEqual([])
    else expect(reflagged).toEqual([{ ...reading('TD-1', T0 + MIN, { depth_cm: depths[1] as number }), quality, qualityReason: 'spike:depth_cm' }])
  })

  it('re-flags within the same call in place, without a second copy in reflagged', () => {
    const { stage } = setup()
    const { readings, reflagged } = stage.assess([0, 20, 0].map((d, i) => reading('TD-1', T0 + i * MIN, { depth_cm: d })))
    expect(readings.map((r) => [r.quality, r.qualityReason])).toEqual([['good', ''], ['bad', 'spike:depth_cm'], ['good', '']])
    expect(reflagged).toEqual([])
  })

  it('keeps a flag that is already as bad, and worsens a suspect one', () => {
    const same = setup()
    // 108 is suspect by range; its spike (8 cm) is suspect too: nothing changes.
    const sameRuns = [100, 108, 100].map((d, i) => same.one('TD-1', T0 + i * MIN, { depth_cm: d }))
    expect(sameRuns[1]?.r.qualityReason).toBe('range:depth_cm')
    expect(sameRuns[2]?.reflagged).toEqual([])
    const worse = setup()
    const worseRuns = [0, 150, 0].map((d, i) => worse.one('TD-1', T0 + i * MIN, { depth_cm: d }))
    expect(worseRuns[2]?.reflagged.map((r) => [r.ts, r.quality, r.qualityReason])).toEqual([[T0 + MIN, 'bad', 'spike:depth_cm']])
  })

  it('waits for the next non-bad reading: a bad one is no neighbour', () => {
    const { one } = setup()
    one('TD-1', T0, { depth_cm: 0 })
    one('TD-1', T0 + MIN, { depth_cm: 20 })
    expect(one('TD-1', T0 + 2 * MIN, { depth_cm: -9999 }).reflagged).toEqual([])
    expect(one('TD-1', T0 + 3 * MIN, { depth_cm: 0 }).reflagged.map((r) => [r.ts, r.quality])).toEqual([[T0 + MIN, 'bad']])
  })

  it('a spike re-flagged bad leaves the history: the flat line it interrupted goes on', () => {
    const { one } = setup()
    for (let i = 0; i < 35; i++) one('WQ-2', T0 + i * HOUR, { nh3n_mgl: 0.5 })
    one('WQ-2', T0 + 35 * HOUR, { nh3n_mgl: 4.5 })
    const { r, reflagged } = one('WQ-2', T0 + 36 * HOUR, { nh3n_mgl: 0.5 })
    expect(reflagged.map((x) => [x.ts, x.quality, x.qualityReason])).toEqual([[T0 + 35 * HOUR, 'bad', 'spike:nh3n_mgl']])
    // 35 identical readings before the spike and this one: 36.
    expect([r.quality, r.qualityReason]).toEqual(['bad', 'flat:nh3n_mgl'])
  })

  it('joins the spike reasons of several fields', () => {
    const { one } = setup()
    one('WQ-1', T0, { do_mgl: 7, ph: 7.5 })
    one('WQ-1', T0 + MIN, { do_mgl: 9.5, ph: 8.4 })
    expect(one('WQ-1', T0 + 2 * MIN, { do_mgl: 7, ph: 7.5 }).reflagged.map((r) => [r.quality, r.qualityReason])).toEqual([['bad', 'spike:do_mgl;spike:ph']])
  })
})

describe('quality stage: the flat line of level and depth sensors counts only while it rains', () => {
  /** Feeds `id` a flat 0 every 5 min for `minutes`, with a rain reading of `gauge` (mm) just before each; returns the flags. */
  function flatRun(id: string, field: string, value: number, minutes: number, gauge?: { id: string; mm: number }) {
    const s = setup()
    const flags: string[][] = []
    for (let m = 0; m <= minutes; m += 5) {
      if (gauge !== undefined) s.flag(gauge.id, T0 + m * MIN, { rain_mm: gauge.mm })
      flags.push(s.flag(id, T0 + m * MIN, { [field]: value }) as string[])
    }
    return { flags, s }
  }

  it('a depth sensor flat for 2 h in dry weather stays good', () => {
    expect(new Set(flatRun('TD-1', 'depth_cm', 0, 120).flags.map((f) => f[0]))).toEqual(new Set(['good']))
  })

  it('a zero rain reading does not make it rain', () => {
    expect(flatRun('TD-1', 'depth_cm', 0, 60, { id: 'RG-1', mm: 0 }).flags.at(-1)).toEqual(['good', ''])
  })

  it.each([
    ['TD-1', 'its zone gauge', 'depth_cm', 0, 'RG-1'],
    ['MH-1', 'its zone gauge', 'level_m', 0.4, 'RG-1'],
    ['PD-2', 'a district gauge, its zone having none', 'depth_cm', 2, 'RG-1'],
    ['WL-1', 'a district gauge, a river segment having none', 'level_m', 3.2, 'RG-1'],
  ] as const)('%s flat while it rains on %s: suspect at 30 min, bad at 60 min', (id, _why, field, value, gauge) => {
    const { flags } = flatRun(id, field, value, 60, { id: gauge, mm: 1 })
    expect(flags[5]).toEqual(['good', ''])
    expect(flags[6]).toEqual(['suspect', `flat:${field}`])
    expect(flags[12]).toEqual(['bad', `flat:${field}`])
  })

  it('rain in another zone does not count for a zone with its own gauges', () => {
    const { flags } = flatRun('PD-3', 'depth_cm', 2, 60, { id: 'RG-1', mm: 1 })
    expect(flags[12]).toEqual(['good', ''])
  })

  it('counts only since the rain started, and stops 30 min after the last wet reading', () => {
    const { flag } = setup()
    for (let m = 0; m <= 120; m += 5) flag('TD-1', T0 + m * MIN, { depth_cm: 0 })
    flag('RG-1', T0 + 125 * MIN, { rain_mm: 2 })
    expect(flag('TD-1', T0 + 125 * MIN, { depth_cm: 0 })).toEqual(['good', ''])
    expect(flag('TD-1', T0 + 150 * MIN, { depth_cm: 0 })).toEqual(['good', ''])
    // 29 min after the only wet reading: still raining, flat for 29 min of it.
    expect(flag('TD-1', T0 + 154 * MIN, { depth_cm: 0 })).toEqual(['good', ''])
    flag('RG-1', T0 + 150 * MIN, { rain_mm: 1 })
    expect(flag('TD-1', T0 + 155 * MIN, { depth_cm: 0 })).toEqual(['suspect', 'flat:depth_cm'])
    // 30 min after the last wet reading (150): dry again.
    expect(flag('TD-1', T0 + 180 * MIN, { depth_cm: 0 })).toEqual(['good', ''])
  })

  it('a bad rain reading does not make it rain', () => {
    const { flags } = flatRun('TD-1', 'depth_cm', 0, 60, { id: 'RG-1', mm: 9999 })
    expect(flags[12]).toEqual(['good', ''])
  })
})

describe('quality stage: late readings (SPEC §6)', () => {
  it('marks a reading older than the sensor watermark late and keeps its flag from the tests', () => {
    const { flag } = setup()
    const t = T0 + 10 * MIN
    expect(flag('TD-1', t, { depth_cm: 3 })).toEqual(['good', ''])
    expect(flag('TD-1', t - 60_000, { depth_cm: 3 })).toEqual(['good', ''])
    expect(flag('TD-1', t - 120_000, { depth_cm: 3 })).toEqual(['good', ''])
    expect(flag('TD-1', t - 121_000, { depth_cm: 3 })).toEqual(['good', 'late'])
    expect(flag('TD-1', t - 5 * MIN, { depth_cm: 150 })).toEqual(['suspect', 'late;range:depth_cm'])
    expect(flag('TD-1', t - 6 * MIN, { depth_cm: -9999 })).toEqual(['bad', 'late;sentinel:depth_cm'])
    // Each sensor has its own watermark.
    expect(flag('PD-1', t - 6 * MIN, { depth_cm: 3 })).toEqual(['good', ''])
  })

  it('a late or out-of-order reading moves neither the watermark nor the history', () => {
    const { flag, one } = setup()
    one('TD-1', T0, { depth_cm: 0 })
    one('TD-1', T0 + 2 * MIN, { depth_cm: 20 })
    // Out of order within the lateness: not late, and not the middle of the spike test.
    expect(one('TD-1', T0 + MIN, { depth_cm: 10 }).reflagged).toEqual([])
    expect(one('TD-1', T0 + 3 * MIN, { depth_cm: 0 }).reflagged.map((r) => r.ts)).toEqual([T0 + 2 * MIN])
    // The watermark is T0 + 3 min − 120 s.
    expect(flag('TD-1', T0 + MIN, { depth_cm: 0 })).toEqual(['good', ''])
    expect(flag('TD-1', T0 + MIN - 1, { depth_cm: 0 })).toEqual(['good', 'late'])
  })
})

describe('quality stage: bounded memory and registry reloads', () => {
  it('forgets sensors idle for longer than their history, at the next sweep', () => {
    const { stage, one, advance } = setup()
    one('TD-1', T0, { depth_cm: 0 })
    one('TD-1', T0 + MIN, { depth_cm: 20 })
    one('PD-1', T0, { depth_cm: 0 })
    // Hourly NH3-N counts 36 readings: 36 h of history.
    one('WQ-2', T0, { nh3n_mgl: 0.5 })
    expect(stage.size).toBe(3)
    advance(25 * HOUR)
    one('FL-1', T0 + 25 * HOUR, { flow_m3s: 10 })
    expect(stage.size).toBe(2)
    expect(stage.stats.evicted).toBe(2)
    // TD-1 forgot its watermark (this would be late) and its pending spike.
    expect(one('TD-1', T0 - 10 * MIN, { depth_cm: 0 }).r.qualityReason).toBe('')
    expect(one('TD-1', T0 + 2 * MIN, { depth_cm: 0 }).reflagged).toEqual([])
    advance(12 * HOUR)
    one('FL-1', T0 + 37 * HOUR, { flow_m3s: 10 })
    expect(stage.size).toBe(2)
    expect(stage.stats.evicted).toBe(3)
  })

  it('keeps a map no larger than the sensors heard within the idle time', () => {
    const { stage, one, advance } = setup()
    const ids = ['TD-1', 'PD-1', 'PD-2', 'PD-3', 'RG-1']
    for (let day = 0; day < 5; day++) {
      const id = ids[day] as string
      for (let i = 0; i < 100; i++) one(id, T0 + day * 25 * HOUR + i * MIN, { [sensorOf(id).kind === 'rainfall' ? 'rain_mm' : 'depth_cm']: 1 })
      expect(stage.size).toBe(1)
      advance(25 * HOUR)
    }
  })

  it('recomputes limits after a registry reload and forgets removed sensors', () => {
    const { flag, one, stage, setRegistry, advance } = setup()
    expect(flag('WL-1', T0, { level_m: 0.8 })).toEqual(['suspect', 'range:level_m'])
    one('SD-1', T0, { sediment_m: 0.5 })
    expect(flag('SD-1', T0 + MIN, { sediment_m: 0.81 })).toEqual(['bad', 'range:sediment_m'])
    const next = testRegistry()
    next.sensors = next.sensors.filter((s) => s.id !== 'FL-1').map((s) => {
      if (s.id === 'WL-1') return { ...s, params: { normalLevelM: 1.9, warningLevelM: 3.5, guaranteedLevelM: 3.9, historicMaxLevelM: 4.2 } }
      if (s.id === 'SD-1') return { ...s, params: { pipeDiameterM: 1.0 } }
      return s
    })
    one('FL-1', T0, { flow_m3s: 1 })
    expect(stage.size).toBe(3)
    setRegistry(indexRegistry(next))
    expect(flag('WL-1', T0 + MIN, { level_m: 0.8 })).toEqual(['good', ''])
    expect(flag('SD-1', T0 + 2 * MIN, { sediment_m: 0.81 })).toEqual(['good', ''])
    advance(61_000)
    flag('WL-1', T0 + 2 * MIN, { level_m: 3 })
    expect(stage.size).toBe(2)
  })

  it('a reload keeps the history: a pending spike is still re-flagged', () => {
    const { one, setRegistry } = setup()
    one('TD-1', T0, { depth_cm: 0 })
    one('TD-1', T0 + MIN, { depth_cm: 20 })
    setRegistry(indexRegistry(testRegistry()))
    expect(one('TD-1', T0 + 2 * MIN, { depth_cm: 0 }).reflagged.map((r) => r.quality)).toEqual(['bad'])
  })
})

describe('quality stage agrees with the pure tests', () => {
  const WQ2 = sensorOf('WQ-2')
  const rateLimits: Record<string, RateLimit> = { do_mgl: { suspectPerHour: 2, badPerHour: 5 } }
  const field = <T>(values: T[]) => fc.option(fc.constantFrom(...values), { nil: undefined, freq: 5 })
  const fields = fc
    .record({
      do_mgl: field([7, 7, 7.005, 7.02, 9.5, 16.5, 21, 9999]),
      nh3n_mgl: field([0.5, 0.5, 0.5, 0.5, 1.0, 4.5, 45]),
      ph: field([7.2, 7.2, 7.203, 7.9, 8.5, 15]),
      cond_uscm: field([420, 420, 420, 421, 800]),
    })
    .map((r) => Object.fromEntries(Object.entries(r).filter(([, v]) => v !== undefined)) as Record<string, number>)
    .filter((r) => Object.keys(r).length > 0)
  const step = fc.constantFrom(30 * MIN, HOUR, HOUR, HOUR, 2 * HOUR)

  it('each flag is the qualityTests flag over the non-bad history, and each re-flag the spikeTests flag', () => {
    fc.assert(
      fc.property(fc.array(fc.tuple(step, fields), { minLength: 1, maxLength: 80 }), (steps) => {
        const stage = createQualityStage({ registry: () => REGISTRY, latenessS: 120, clock: { now: () => T0 }, rateLimits })
        const ref: { q: QualityReading; quality: Quality; tested: boolean }[] = []
        const rank = { good: 0, suspect: 1, bad: 2 }
        let ts = T0
        for (const [dt, f] of steps) {
          ts += dt
          const q: QualityReading = { ts, fields: f }
          const nonBad = () => ref.filter((x) => x.quality !== 'bad')
          const before = nonBad()
          const own0 = qualityTests(q, { sensor: WQ2, history: before.map((x) => x.q), rainingSince: null, rateLimits })
          let expectedReflag: [number, Quality] | undefined
          const x0 = before.at(-2)
          const x1 = before.at(-1)
          // Each reading is the middle of a spike test once: when the next non-bad reading arrives.
          if (own0.quality !== 'bad' && x0 !== undefined && x1 !== undefined && !x1.tested) {
            x1.tested = true
            const spike = spikeTests(WQ2, x0.q, x1.q, q)
            if (rank[spike.quality] > rank[x1.quality]) {
              expectedReflag = [x1.q.ts, spike.quality]
              x1.quality = spike.quality
            }
          }
          const own = qualityTests(q, { sensor: WQ2, history: nonBad().map((x) => x.q), rainingSince: null, rateLimits })
          const { readings, reflagged } = stage.assess([reading('WQ-2', ts, f)])
          const out = readings[0] as Reading
          expect(reflagged.map((r) => [r.ts, r.quality])).toEqual(expectedReflag === undefined ? [] : [expectedReflag])
          expect(out.quality).toBe(own.quality)
          expect(out.qualityReason.split(';')[0]).toBe(own.reason)
          ref.push({ q, quality: out.quality, tested: false })
        }
      }),
      { numRuns: 500 },
    )
  })
})
