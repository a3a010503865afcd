import { readFileSync } from 'node:fs'
import { describe, expect, it } from 'vitest'
import { BUNDLED_REGISTRY } from '../../config.js'
import type { Registry } from '../../domain.js'
import { loadRegistry } from '../../registry/load-registry.js'
import { indexRegistry } from '../../registry/registry-index.js'

/** The bundled registry plus a Gongshu zone and sensor; a copy, so not one loadRegistry handed over. */
function twoDistricts(): Registry {
  const registry = structuredClone(loadRegistry(BUNDLED_REGISTRY))
  registry.segments.push({ id: 'gs-zone-1', district: 'gongshu', type: 'drainage', name: 'Gongshu zone 1', riverGauges: ['WL-0001'] })
  registry.sensors.push({
    id: 'GS-PD-1',
    kind: 'ponding_depth',
    district: 'gongshu',
    segment: 'gs-zone-1',
    name: 'Moganshan Rd ponding point',
    lat: 30.3,
    lon: 120.15,
    intervalS: 300,
    params: {},
  })
  return registry
}

describe('indexRegistry', () => {
  const registry = twoDistricts()
  const index = indexRegistry(registry)

  it('finds sensors, segments and boards by id', () => {
    expect(index.sensor('WL-0001')).toEqual(registry.sensors.find((s) => s.id === 'WL-0001'))
    expect(index.sensor('GS-PD-1')?.district).toBe('gongshu')
    expect(index.segment('zone-4')?.type).toBe('drainage')
    expect(index.board('B-02')?.lots.length).toBeGreaterThanOrEqual(2)
  })

  it.each([['sensor'], ['segment'], ['board']] as const)('answers undefined for an unknown %s', (what) => {
    expect(index[what]('nope')).toBeUndefined()
  })

  it('lists districts sorted', () => {
    expect(index.districts).toEqual(['gongshu', 'xihu'])
  })

  it('groups by segment and district in registry order', () => {
    const onZone4 = registry.sensors.filter((s) => s.segment === 'zone-4')
    expect(index.sensorsOfSegment('zone-4')).toEqual(onZone4)
    expect(index.sensorsOfDistrict('gongshu').map((s) => s.id)).toEqual(['GS-PD-1'])
    expect(index.sensorsOfDistrict('xihu')).toHaveLength(registry.sensors.length - 1)
    expect(index.segmentsOfDistrict('gongshu').map((s) => s.id)).toEqual(['gs-zone-1'])
    expect(index.boardsOfDistrict('xihu').map((b) => b.id)).toEqual(registry.boards.map((b) => b.id))
    expect(index.boardsOfDistrict('gongshu')).toEqual([])
  })

  it.each([['sensorsOfSegment'], ['sensorsOfDistrict'], ['segmentsOfDistrict'], ['boardsOfDistrict']] as const)(
    '%s answers an empty list for an unknown key',
    (method) => {
      expect(index[method]('nope')).toEqual([])
    },
  )

  it('is immutable and does not follow later changes to its argument', () => {
    expect(Object.isFrozen(index)).toBe(true)
    expect(Object.isFrozen(index.registry.sensors)).toBe(true)
    expect(Object.isFrozen(index.sensor('WL-0001')?.params)).toBe(true)
    expect(Object.isFrozen(index.sensorsOfSegment('zone-1'))).toBe(true)
    expect(() => {
      ;(index.sensorsOfSegment('zone-1') as unknown[]).push({})
    }).toThrow(TypeError)
    registry.sensors.pop()
    expect(index.sensor('GS-PD-1')).toBeDefined()
    expect(index.registry).toEqual(twoDistricts())
  })
})

/** Every object and array reachable from `value` that is not frozen, as paths. */
function unfrozen(value: unknown, path = '$'): string[] {
  if (value === null || typeof value !== 'object') return []
  const out = Object.isFrozen(value) ? [] : [path]
  for (const [key, child] of Object.entries(value)) out.push(...unfrozen(child, `${path}.${key}`))
  return out
}

describe('indexRegistry of a registry loadRegistry returned', () => {
  it('adopts it: deep-frozen in place, held as is and equal to the file', () => {
    const loaded = loadRegistry(BUNDLED_REGISTRY)
    expect(unfrozen(loaded).length).toBeGreaterThan(0)
    const index = indexRegistry(loaded)
    expect(index.registry).toBe(loaded)
    expect(unfrozen(loaded)).toEqual([])
    expect(loaded).toEqual(JSON.parse(readFileSync(BUNDLED_REGISTRY, 'utf8')))
    const gauge = loaded.sensors.find((s) => s.kind === 'water_level')
    expect(index.sensor(gauge?.id ?? '')).toBe(gauge)
    expect(() => {
      loaded.sensors.pop()
    }).toThrow(TypeError)
  })

  it('freezes what the caller added before indexing, also under an object already frozen', () => {
    const loaded = loadRegistry(BUNDLED_REGISTRY)
    const params = { closureCm: 27 }
    loaded.segments.push({ id: 'gs-zone-1', district: 'gongshu', type: 'drainage', name: 'Gongshu zone 1' })
    loaded.sensors.push(
      Object.freeze({ id: 'GS-TD-1', kind: 'tunnel_depth' as const, district: 'gongshu', segment: 'gs-zone-1', name: 'Underpass', lat: 30.3, lon: 120.15, intervalS: 60, params }),
    )
    const index = indexRegistry(loaded)
    expect(Object.isFrozen(params)).toBe(true)
    expect(unfrozen(index.registry)).toEqual([])
    expect(index.sensorsOfDistrict('gongshu').map((s) => s.id)).toEqual(['GS-TD-1'])
  })

  it('can be indexed again (a second index shares the frozen registry)', () => {
    const loaded = loadRegistry(BUNDLED_REGISTRY)
    const first = indexRegistry(loaded)
    const second = indexRegistry(loaded)
    expect(second.registry).toBe(first.registry)
    expect(second.sensor('WL-0001')).toBe(first.sensor('WL-0001'))
    expect(second.districts).toEqual(first.districts)
  })
})

describe('indexRegistry of a registry the caller keeps', () => {
  it('neither freezes nor changes it', () => {
    const registry = twoDistricts()
    const before = structuredClone(registry)
    const index = indexRegistry(registry)
    expect(registry).toEqual(before)
    expect(Object.isFrozen(registry)).toBe(false)
    expect(Object.isFrozen(registry.sensors[0])).toBe(false)
    expect(Object.isFrozen(registry.sensors[0]?.params)).toBe(false)
    expect(index.registry).not.toBe(registry)
    expect(index.registry).toEqual(registry)
    expect(unfrozen(index.registry)).toEqual([])
  })

  it('copies a copy of a loaded registry too (only what loadRegistry returned is adopted)', () => {
    const copy = { ...loadRegistry(BUNDLED_REGISTRY) }
    const index = indexRegistry(copy)
    expect(index.registry).not.toBe(copy)
    expect(Object.isFrozen(copy.sensors)).toBe(false)
  })
})
