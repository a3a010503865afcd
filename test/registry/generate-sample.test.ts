import { readFileSync } from 'node:fs'
import { describe, expect, it } from 'vitest'
import { BUNDLED_REGISTRY } from '../../config.js'
import { WATER_KINDS } from '../../domain.js'
import type { Sensor, SensorKind } from '../../domain.js'
import { SAMPLE_PATH, generateSample, sampleJson } from '../../registry/generate-sample.js'
import { loadRegistry } from '../../registry/load-registry.js'
import { indexRegistry } from '../../registry/registry-index.js'

const INDEX_PARAMETERS = ['do_mgl', 'nh3n_mgl', 'codmn_mgl', 'tp_mgl', 'ph']

describe('the bundled Xihu sample', () => {
  const registry = loadRegistry(BUNDLED_REGISTRY)
  const index = indexRegistry(registry)
  const ofKind = (kind: SensorKind, list: readonly Sensor[] = registry.sensors) => list.filter((s) => s.kind === kind)

  it('is the file the generator writes', () => {
    expect(SAMPLE_PATH).toBe(BUNDLED_REGISTRY)
  })

  it('has exactly 393 water sensors covering all 9 water kinds, 12 lots and at least 3 boards', () => {
    const water = registry.sensors.filter((s) => (WATER_KINDS as readonly string[]).includes(s.kind))
    expect(water).toHaveLength(393)
    expect(new Set(water.map((s) => s.kind))).toEqual(new Set(WATER_KINDS))
    expect(ofKind('parking').map((s) => s.id)).toEqual(Array.from({ length: 12 }, (_, i) => `P-${String(i + 1).padStart(2, '0')}`))
    expect(registry.boards.length).toBeGreaterThanOrEqual(3)
    for (const board of registry.boards) expect(board.lots.length).toBeGreaterThanOrEqual(2)
    expect(registry.sensors).toHaveLength(405)
  })

  it('lies in Xihu district of Hangzhou', () => {
    expect(index.districts).toEqual(['xihu'])
    for (const s of [...registry.sensors, ...registry.boards]) {
      expect(s.lat).toBeGreaterThanOrEqual(30.18)
      expect(s.lat).toBeLessThanOrEqual(30.32)
      expect(s.lon).toBeGreaterThanOrEqual(120.02)
      expect(s.lon).toBeLessThanOrEqual(120.17)
    }
  })

  it('has rivers, West Lake and 8–10 drainage zones', () => {
    const types = registry.segments.map((s) => s.type)
    expect(types.filter((t) => t === 'river').length).toBeGreaterThanOrEqual(4)
    expect(registry.segments.filter((s) => s.type === 'lake').map((s) => s.id)).toContain('west-lake-outer')
    const zones = types.filter((t) => t === 'drainage').length
    expect(zones).toBeGreaterThanOrEqual(8)
    expect(zones).toBeLessThanOrEqual(10)
  })

  it('gives every drainage zone river gauges that are water_level sensors', () => {
    for (const zone of registry.segments.filter((s) => s.type === 'drainage')) {
      expect(zone.riverGauges?.length, zone.id).toBeGreaterThanOrEqual(1)
      for (const gauge of zone.riverGauges ?? []) expect(index.sensor(gauge)?.kind, `${zone.id} → ${gauge}`).toBe('water_level')
    }
  })

  it('gives every drainage zone ponding points, manholes, pipes and sediment probes', () => {
    for (const zone of registry.segments.filter((s) => s.type === 'drainage')) {
      const sensors = index.sensorsOfSegment(zone.id)
      for (const kind of ['ponding_depth', 'manhole_level', 'pipe_level', 'sediment'] as const) {
        expect(ofKind(kind, sensors).length, `${zone.id} ${kind}`).toBeGreaterThanOrEqual(1)
      }
    }
  })

  it('gives every manhole and pipe its geometry, and every sediment probe a pipe diameter', () => {
    for (const s of [...ofKind('manhole_level'), ...ofKind('pipe_level')]) {
      expect(s.params.pipeDiameterM, s.id).toBeTypeOf('number')
      expect(s.params.depthM, s.id).toBeTypeOf('number')
    }
    for (const s of ofKind('sediment')) expect(s.params.pipeDiameterM, s.id).toBeTypeOf('number')
  })

  it('gives every river and lake segment at least 3 quality stations covering DO, NH3-N and 3 of the 5 index parameters', () => {
    for (const segment of registry.segments.filter((s) => s.type !== 'drainage')) {
      const stations = ofKind('water_quality', index.sensorsOfSegment(segment.id))
      expect(stations.length, segment.id).toBeGreaterThanOrEqual(3)
      for (const station of stations) {
        const measures = station.params.measures as string[]
        expect(measures, station.id).toEqual(expect.arrayContaining(['do_mgl', 'nh3n_mgl']))
        expect(INDEX_PARAMETERS.filter((p) => measures.includes(p)).length, station.id).toBeGreaterThanOrEqual(3)
      }
    }
  })

  it('gives every river and lake segment water level gauges', () => {
    for (const segment of registry.segments.filter((s) => s.type !== 'drainage')) {
      expect(ofKind('water_level', index.sensorsOfSegment(segment.id)).length, segment.id).toBeGreaterThanOrEqual(1)
    }
  })

  it('uses the id scheme of each kind', () => {
    const prefix: Record<string, string> = { water_level: 'WL', flow: 'FL', water_quality: 'WQ', manhole_level: 'MH', pipe_level: 'PL', ponding_depth: 'PD', tunnel_depth: 'TD', sediment: 'SD', rainfall: 'RG' }
    for (const s of registry.sensors) {
      if (s.kind === 'parking') expect(s.id).toMatch(/^P-[0-9]{2}$/)
      else expect(s.id).toMatch(new RegExp(`^${prefix[s.kind]}-[0-9]{4}$`))
    }
  })
})

describe('generateSample', () => {
  it('is deterministic', () => {
    expect(generateSample()).toEqual(generateSample())
  })

  it('produces exactly the committed registry/xihu.json', () => {
    expect(readFileSync(SAMPLE_PATH, 'utf8')).toBe(sampleJson())
    expect(JSON.parse(readFileSync(SAMPLE_PATH, 'utf8'))).toEqual(generateSample())
  })
})
