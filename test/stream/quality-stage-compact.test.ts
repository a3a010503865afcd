import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import type { Reading, Registry, Sensor, SensorKind } from '../../domain.js'
import { indexRegistry, type RegistryIndex } from '../../registry/registry-index.js'
import { createQualityStage } from '../../stream/quality-stage.js'
import { fixtureRegistry } from '../helpers/fixture-registry.js'
import { referenceQualityStage } from './quality-reference.js'

const MIN = 60_000
const HOUR = 3_600_000
const T0 = Date.UTC(2026, 10, 27)

/** The fixture registry with a gauge-less and a gauged zone; `reloaded` changes limits, zones, kinds and membership. */
function registryOf(reloaded: boolean): RegistryIndex {
  const reg: Registry = fixtureRegistry()
  const base = { district: 'xihu', lat: 30.26, lon: 120.1, intervalS: 60 }
  reg.segments.push(
    { id: 'zone-2', district: 'xihu', type: 'drainage', name: 'Zone without gauges' },
    { id: 'zone-3', district: 'xihu', type: 'drainage', name: 'Zone with its own gauge' },
  )
  reg.sensors.push(
    { ...base, id: 'PD-2', kind: 'ponding_depth', segment: reloaded ? 'zone-3' : 'zone-2', name: 'Ponding 2', params: {} },
    { ...base, id: 'RG-3', kind: 'rainfall', segment: 'zone-3', name: 'Rain 3', params: {} },
    { ...base, id: 'WQ-2', kind: 'water_quality', segment: 'river-1', name: 'Hourly', intervalS: 3600, params: {} },
  )
  if (reloaded) {
    reg.sensors = reg.sensors
      .filter((s) => s.id !== 'FL-1')
      .map((s): Sensor => {
        if (s.id === 'WL-1') return { ...s, params: { normalLevelM: 1.9, warningLevelM: 3.5, guaranteedLevelM: 3.9, historicMaxLevelM: 4.2 } }
        if (s.id === 'SD-1') return { ...s, params: { pipeDiameterM: 1.0 } }
        if (s.id === 'P-1') return { ...s, params: { capacity: 80 } }
        // A kind change: the sensor starts over.
        if (s.id === 'PL-1') return { ...s, kind: 'manhole_level' }
        return s
      })
    // Known only after the reload: its flat-line test starts then.
    reg.sensors.push(
      { ...base, id: 'MH-X', kind: 'manhole_level', segment: 'zone-1', name: 'Manhole X', params: { depthM: 2 } },
      { ...base, id: 'WQ-X', kind: 'water_quality', segment: 'river-1', name: 'Station X', params: {} },
    )
  }
  return indexRegistry(reg)
}

const REGISTRIES = [registryOf(false), registryOf(true)] as const
const IDS = ['WL-1', 'FL-1', 'WQ-1', 'WQ-2', 'MH-1', 'PL-1', 'PD-1', 'PD-2', 'TD-1', 'SD-1', 'RG-1', 'RG-3', 'P-1', 'MH-X', 'WQ-X'] as const
const KIND_OF: Record<string, SensorKind> = { 'MH-X': 'manhole_level', 'WQ-X': 'water_quality' }

const VALUES: Record<string, readonly number[]> = {
  level_m: [1.2, 1.2, 1.2, 1.201, 1.5, 2.5, 3.6, 9999, -1],
  flow_m3s: [3, 3, 3, 60, -20, 9999],
  velocity_ms: [0.5, 0.5, 7],
  do_mgl: [7, 7, 7.005, 9.5, 16.5, 21],
  nh3n_mgl: [0.5, 0.5, 0.5, 4.5],
  ph: [7.2, 7.2, 8.5, 15],
  cond_uscm: [420, 420, 421, 5000],
  depth_cm: [0, 0, 0, 12, 30, 120, 250],
  sediment_m: [0.5, 0.5, 0.81, 1.2],
  rain_mm: [0, 0, 0.4, 2, 12],
  occupied: [40, 40, 40, 90, 120],
  capacity: [100, 80, 100],
}

/** What one reading is: which sensor, how far its event time moves, its field picks and its shape. */
const spec = fc.record({
  sensor: fc.integer({ min: 0, max: IDS.length - 1 }),
  dt: fc.constantFrom(MIN, MIN, MIN, 5 * MIN, 30 * MIN, 2 * HOUR, 0, -MIN, -10 * MIN),
  picks: fc.array(fc.nat(), { minLength: 8, maxLength: 8 }),
  present: fc.array(fc.boolean(), { minLength: 8, maxLength: 8 }),
  shape: fc.constantFrom('ingest', 'ingest', 'ingest', 'seq', 'seqAfterTs', 'server', 'extra', 'order', 'fields'),
})
type Spec = typeof spec extends fc.Arbitrary<infer T> ? T : never

const step = fc.oneof(
  { weight: 10, arbitrary: fc.record({ kind: fc.constant('batch' as const), readings: fc.array(spec, { minLength: 1, maxLength: 5 }), wallMs: fc.constantFrom(1000, 1000, 60_000, 7 * HOUR) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('reload' as const), to: fc.constantFrom(0, 1) }) },
)

function readingOf(s: Spec, registry: RegistryIndex, clockTs: Map<string, number>): Reading {
  const id = IDS[s.sensor] as string
  const sensor = registry.sensor(id) ?? REGISTRIES[0].sensor(id)
  const kind = sensor?.kind ?? (KIND_OF[id] as SensorKind)
  const fieldNames = { water_level: ['level_m'], flow: ['flow_m3s', 'velocity_ms'], water_quality: ['do_mgl', 'nh3n_mgl', 'ph', 'cond_uscm'], manhole_level: ['level_m'], pipe_level: ['level_m', 'flow_m3s'], ponding_depth: ['depth_cm'], tunnel_depth: ['depth_cm'], sediment: ['sediment_m'], rainfall: ['rain_mm'], parking: ['occupied', 'capacity'] }[kind]
  const fields: Record<string, number> = {}
  for (const [i, name] of fieldNames.entries()) {
    if (i > 0 && s.present[i] === false) continue
    const values = VALUES[name] as readonly number[]
    fields[name] = values[(s.picks[i] as number) % values.length] as number
  }
  // WQ-2 reports hourly: a step under a tenth of that would fold its flat-line points into buckets (a sensor reporting
  // faster than its interval), which the per-point reference does not model; the fold has its own tests.
  const dt = id === 'WQ-2' && s.dt > 0 ? Math.max(s.dt, 6 * MIN) : s.dt
  const ts = (clockTs.get(id) ?? T0) + dt
  clockTs.set(id, Math.max(ts, clockTs.get(id) ?? T0))
  const district = sensor?.district ?? 'xihu'
  const segment = sensor?.segment ?? 'zone-1'
  if (s.shape === 'seqAfterTs') return { sensor: id, kind, district, segment, ts, seq: 3, fields, quality: 'good', qualityReason: '', tsSource: 'device', receivedAt: ts }
  if (s.shape === 'order') return { ts, sensor: id, kind, district, segment, fields, quality: 'good', qualityReason: '', tsSource: 'device', receivedAt: ts }
  const r: Reading = {
    sensor: id,
    kind,
    district,
    segment,
    ts,
    fields: s.shape === 'fields' ? Object.fromEntries(Object.entries(fields).reverse()) : fields,
    quality: 'good',
    qualityReason: '',
    tsSource: s.shape === 'server' ? 'server' : 'device',
    receivedAt: ts + 150,
  }
  if (s.shape === 'seq') r.seq = (ts / MIN) % 1000
  if (s.shape === 'extra') (r as unknown as Record<string, unknown>).note = 'x'
  return r
}

describe('quality stage against the plain reference (one object per sensor)', () => {
  it('flags, re-flags, sizes and counts exactly as the reference, key order included', () => {
    fc.assert(
      fc.property(fc.array(step, { minLength: 1, maxLength: 60 }), (steps) => {
        let now = T0
        let registry: RegistryIndex = REGISTRIES[0]
        const options = { registry: () => registry, latenessS: 120, clock: { now: () => now }, idleMs: 6 * HOUR, sweepMs: 60_000, rateLimits: { flow_m3s: { suspectPerHour: 20, badPerHour: 50 } } }
        const compact = createQualityStage(options)
        const reference = referenceQualityStage(options)
        const clockTs = new Map<string, number>()
        for (const st of steps) {
          if (st.kind === 'reload') {
            registry = REGISTRIES[st.to]
            continue
          }
          now += st.wallMs
          const batch = st.readings.map((s) => readingOf(s, registry, clockTs))
          const got = compact.assess(batch)
          const want = reference.assess(batch)
          expect(got.readings === batch).toBe(want.readings === batch)
          expect(JSON.stringify(got.readings)).toBe(JSON.stringify(want.readings))
          expect(JSON.stringify(got.reflagged)).toBe(JSON.stringify(want.reflagged))
          expect(got.readings).toEqual(want.readings)
          expect(got.reflagged).toEqual(want.reflagged)
          expect(compact.size).toBe(reference.size)
          expect(compact.stats).toEqual(reference.stats)
        }
      }),
      { numRuns: 300 },
    )
  })
})

describe('quality stage: lazy per-sensor state', () => {
  const registry = REGISTRIES[0]
  const reading = (id: string, ts: number, fields: Record<string, number>): Reading => {
    const s = registry.sensor(id) as Sensor
    return { sensor: id, kind: s.kind, district: s.district, segment: s.segment, ts, fields, quality: 'good', qualityReason: '', tsSource: 'device', receivedAt: ts }
  }

  it('counts a flat line from the first reading, which has no ring yet', () => {
    const stage = createQualityStage({ registry: () => registry, latenessS: 120, clock: { now: () => T0 } })
    // WQ-1's nh3n_mgl is flat after 12 identical values (suspect) and 36 (bad), counted from the first.
    const flags: string[] = []
    for (let k = 0; k < 36; k++) flags.push(stage.assess([reading('WQ-1', T0 + k * HOUR, { nh3n_mgl: 0.5 })]).readings[0]?.quality as string)
    expect(flags.indexOf('suspect')).toBe(11)
    expect(flags.indexOf('bad')).toBe(35)
  })

  it('starts a flat line at a reload that gives a field its flat-line test, as the reference', () => {
    let registry: RegistryIndex = REGISTRIES[0]
    const options = { registry: () => registry, latenessS: 120, clock: { now: () => T0 } }
    const stages = [createQualityStage(options), referenceQualityStage(options)]
    const wq = (ts: number, nh3n: number): Reading => ({ sensor: 'WQ-X', kind: 'water_quality', district: 'xihu', segment: 'river-1', ts, fields: { nh3n_mgl: nh3n }, quality: 'good', qualityReason: '', tsSource: 'device', receivedAt: ts })
    const flags: string[][] = [[], []]
    for (const [j, stage] of stages.entries()) {
      registry = REGISTRIES[0]
      // Unknown to the first registry: no limits, no flat-line test, no ring.
      for (let k = 0; k < 3; k++) stage.assess([wq(T0 + k * HOUR, 0.5)])
      registry = REGISTRIES[1]
      for (let k = 3; k < 20; k++) flags[j]?.push(stage.assess([wq(T0 + k * HOUR, 0.5)]).readings[0]?.quality as string)
      // And back: the field loses its test, the ring made under the second registry stays for a third.
      registry = REGISTRIES[0]
      for (let k = 20; k < 23; k++) stage.assess([wq(T0 + k * HOUR, 0.5)])
      registry = REGISTRIES[1]
      for (let k = 23; k < 26; k++) flags[j]?.push(stage.assess([wq(T0 + k * HOUR, 0.5)]).readings[0]?.quality as string)
    }
    expect(flags[0]?.indexOf('suspect')).toBe(11)
    expect(flags[0]).toEqual(flags[1])
  })

  it('re-flags a pending reading of an earlier call as an equal object rebuilt from its numbers', () => {
    const stage = createQualityStage({ registry: () => registry, latenessS: 120, clock: { now: () => T0 } })
    stage.assess([reading('TD-1', T0, { depth_cm: 0 })])
    const spike = { ...reading('TD-1', T0 + MIN, { depth_cm: 20 }), seq: 7, tsSource: 'server' as const, receivedAt: T0 + 99 }
    const pushed = stage.assess([spike]).readings[0] as Reading
    const { reflagged } = stage.assess([reading('TD-1', T0 + 2 * MIN, { depth_cm: 0 })])
    expect(reflagged).toHaveLength(1)
    const again = reflagged[0] as Reading
    expect(again).not.toBe(pushed)
    expect(JSON.stringify(again)).toBe(JSON.stringify({ ...pushed, quality: 'bad', qualityReason: again.qualityReason }))
    expect(again.qualityReason).toMatch(/^spike:depth_cm/)
  })

  it('keeps a pending reading of another shape as the object itself', () => {
    const stage = createQualityStage({ registry: () => registry, latenessS: 120, clock: { now: () => T0 } })
    stage.assess([reading('TD-1', T0, { depth_cm: 0 })])
    const odd = { note: 'first', ...reading('TD-1', T0 + MIN, { depth_cm: 20 }) }
    stage.assess([odd])
    const again = stage.assess([reading('TD-1', T0 + 2 * MIN, { depth_cm: 0 })]).reflagged[0] as Reading & { note?: string }
    expect(Object.keys(again)[0]).toBe('note')
    expect(again).toEqual({ ...odd, quality: 'bad', qualityReason: again.qualityReason })
  })
})
