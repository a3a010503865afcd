import { describe, expect, it } from 'vitest'
import type { Reading, Sensor } from '../../domain.js'
import { indexRegistry } from '../../registry/registry-index.js'
import { createQualityStage } from '../../stream/quality-stage.js'
import { fixtureRegistry } from '../helpers/fixture-registry.js'

const T0 = Date.UTC(2026, 10, 27)

describe('quality stage with shared field plans', () => {
  it('tests each sensor against its own limits when sensors of a kind share their tests', () => {
    const reg = fixtureRegistry()
    const zone = reg.segments.find((s) => s.type === 'drainage')?.id as string
    const base = { kind: 'manhole_level' as const, district: 'xihu', segment: zone, lat: 30.26, lon: 120.1, intervalS: 60 }
    const shallow: Sensor = { ...base, id: 'MH-S', name: 'Shallow', params: { depthM: 2 } }
    const deep: Sensor = { ...base, id: 'MH-D', name: 'Deep', params: { depthM: 5 } }
    reg.sensors.push(shallow, deep)
    const registry = indexRegistry(reg)
    const stage = createQualityStage({ registry: () => registry, latenessS: 60, clock: { now: () => T0 } })
    const reading = (s: Sensor, ts: number, level: number): Reading => ({
      sensor: s.id, kind: s.kind, district: s.district, segment: s.segment, ts, fields: { level_m: level }, quality: 'good', qualityReason: '', tsSource: 'device', receivedAt: T0,
    })
    const out = stage.assess([reading(shallow, T0, 1), reading(deep, T0, 1), reading(shallow, T0 + 60_000, 3), reading(deep, T0 + 60_000, 3)]).readings
    expect(out.map((r) => [r.sensor, r.quality, r.qualityReason])).toEqual([
      ['MH-S', 'good', ''],
      ['MH-D', 'good', ''],
      ['MH-S', 'bad', 'range:level_m'],
      ['MH-D', 'good', ''],
    ])
  })
})
