import { describe, expect, it } from 'vitest'
import { BUNDLED_REGISTRY } from '../../config.js'
import type { Registry } from '../../domain.js'
import { loadRegistry } from '../../registry/load-registry.js'
import { indexRegistry } from '../../registry/registry-index.js'

function twoDistricts(): Registry {
  const registry = loadRegistry(BUNDLED_REGISTRY)
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
