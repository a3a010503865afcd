import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { KIND_FIELDS, type Quality, type Reading, type Sensor, type SensorKind } from '../../domain.js'
import { sensorState } from '../../stream/sensor-state.js'
import { referenceSensorState } from './sensor-state-reference.js'

const T0 = Date.UTC(2026, 10, 27)
const KINDS = Object.keys(KIND_FIELDS) as SensorKind[]
const SENSORS = ['A', 'B', 'C', 'D']

function sensor(id: string): Sensor {
  return { id, kind: 'tunnel_depth', district: 'xihu', segment: 'zone-1', name: id, lat: 30.26, lon: 120.1, intervalS: 60, params: {} }
}

/** Fields of a kind in ingest's order (required, then the optional ones picked), or shuffled / odd ones to take the fallback. */
const fieldsOf = (kind: SensorKind): fc.Arbitrary<Record<string, number>> => {
  const names = [...KIND_FIELDS[kind].required, ...KIND_FIELDS[kind].optional]
  return fc.tuple(fc.array(fc.boolean(), { minLength: names.length, maxLength: names.length }), fc.array(fc.double(), { minLength: names.length, maxLength: names.length }), fc.integer({ min: 0, max: 9 })).map(([picked, values, odd]) => {
    const fields: Record<string, number> = {}
    const chosen = names.filter((_, i) => picked[i] === true || (i === 0 && !picked.includes(true)))
    if (odd === 0) chosen.reverse()
    for (const name of chosen) fields[name] = values[names.indexOf(name)] as number
    if (odd === 1) fields.extra_field = 1
    return fields
  })
}

const readingArb: fc.Arbitrary<Reading> = fc
  .record({
    sensor: fc.constantFrom(...SENSORS),
    kind: fc.constantFrom(...KINDS),
    district: fc.constantFrom('xihu', 'gongshu'),
    segment: fc.constantFrom('zone-1', 'zone-2', 'river-1'),
    dt: fc.integer({ min: -5, max: 8 }),
    received: fc.integer({ min: 0, max: 400 }),
    quality: fc.constantFrom<Quality>('good', 'suspect', 'bad'),
    qualityReason: fc.constantFrom('', 'range:depth_cm', 'spike'),
    tsSource: fc.constantFrom('device' as const, 'server' as const),
    seq: fc.option(fc.integer({ min: 0, max: 1000 }), { nil: undefined }),
  })
  .chain((r) =>
    fieldsOf(r.kind).map((fields) => {
      const reading: Reading = {
        sensor: r.sensor,
        kind: r.kind,
        district: r.district,
        segment: r.segment,
        ts: T0 + r.dt * 60_000,
        fields,
        quality: r.quality,
        qualityReason: r.qualityReason,
        tsSource: r.tsSource,
        receivedAt: T0 + r.received * 1000,
      }
      if (r.seq !== undefined) reading.seq = r.seq
      return reading
    }),
  )

type Step = { type: 'update'; reading: Reading } | { type: 'retain'; keep: string[] }
const stepArb: fc.Arbitrary<Step> = fc.oneof(
  { weight: 12, arbitrary: readingArb.map((reading) => ({ type: 'update' as const, reading })) },
  { weight: 1, arbitrary: fc.subarray(SENSORS).map((keep) => ({ type: 'retain' as const, keep })) },
)

describe('sensor state columns', () => {
  it('answers last and status like an entry per sensor holding its last Reading', () => {
    fc.assert(
      fc.property(fc.array(stepArb, { maxLength: 80 }), fc.integer({ min: 0, max: 900 }), (steps, checkS) => {
        const state = sensorState()
        const reference = referenceSensorState()
        for (const step of steps) {
          if (step.type === 'update') {
            state.update(step.reading)
            reference.update(step.reading)
          } else {
            state.retain(new Set(step.keep))
            reference.retain(new Set(step.keep))
          }
          for (const id of SENSORS) {
            expect(state.last(id)).toStrictEqual(reference.last(id))
            expect(state.status(sensor(id), T0 + checkS * 1000)).toBe(reference.status(sensor(id), T0 + checkS * 1000))
          }
        }
      }),
      { numRuns: 300 },
    )
  })

  it('keeps the last reading of many sensors across slot growth and reuse', () => {
    const state = sensorState()
    const reading = (i: number, ts: number): Reading => ({
      sensor: `S-${i}`,
      kind: i % 2 === 0 ? 'water_quality' : 'flow',
      district: 'xihu',
      segment: `seg-${i % 7}`,
      ts,
      fields: i % 2 === 0 ? { do_mgl: i, ph: 7 } : { flow_m3s: i },
      quality: 'good',
      qualityReason: '',
      tsSource: 'device',
      receivedAt: ts,
    })
    for (let i = 0; i < 1000; i++) state.update(reading(i, T0))
    state.retain(new Set(Array.from({ length: 500 }, (_, i) => `S-${i * 2}`)))
    for (let i = 1000; i < 1600; i++) state.update(reading(i, T0 + 1))
    for (let i = 0; i < 1600; i++) {
      const kept = i < 1000 ? i % 2 === 0 : true
      expect(state.last(`S-${i}`)).toStrictEqual(kept ? reading(i, i < 1000 ? T0 : T0 + 1) : undefined)
    }
  })

  it('gives the reading itself back when its fields are not in ingest order', () => {
    const state = sensorState()
    const odd: Reading = { sensor: 'F-1', kind: 'flow', district: 'xihu', segment: 'r', ts: T0, fields: { velocity_ms: 1, flow_m3s: 2 }, quality: 'good', qualityReason: '', tsSource: 'device', receivedAt: T0 }
    state.update(odd)
    expect(state.last('F-1')).toBe(odd)
    const usual = { ...odd, ts: T0 + 1, fields: { flow_m3s: 2, velocity_ms: 1 } }
    state.update(usual)
    expect(state.last('F-1')).not.toBe(usual)
    expect(state.last('F-1')).toStrictEqual(usual)
    expect(Object.keys(state.last('F-1')?.fields ?? {})).toEqual(['flow_m3s', 'velocity_ms'])
  })
})
