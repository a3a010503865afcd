import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import type { Registry } from '../../domain.js'
import { loadRegistry, parseRegistry } from '../../registry/load-registry.js'
import { expectAppError } from '../helpers/expect-app-error.js'
import { fixtureRegistry } from '../helpers/fixture-registry.js'

type Json = Record<string, any>
const sensor = (r: Registry, id: string): Json => r.sensors.find((s) => s.id === id) as Json
const segment = (r: Registry, id: string): Json => r.segments.find((s) => s.id === id) as Json

/**
 * fixtureRegistry() (one sensor of every kind on a river, a lake and a drainage zone; valid as is) with the
 * geometry the boundary cases below rely on: manhole invertM + pipeDiameterM = 1 m, a pipe of diameter 1 m, and
 * the water-quality station on the lake.
 */
function fixture(): Registry {
  const registry = fixtureRegistry()
  sensor(registry, 'WQ-1').segment = 'lake-1'
  sensor(registry, 'MH-1').params = { invertM: 0.2, pipeDiameterM: 0.8, depthM: 3 }
  sensor(registry, 'PL-1').params = { pipeDiameterM: 1, depthM: 3 }
  return registry
}

describe('parseRegistry', () => {
  it('accepts a registry with one sensor of every kind', () => {
    const registry = fixture()
    expect(parseRegistry(registry)).toBe(registry)
  })

  it('leaves the registry as it was, not frozen', () => {
    const registry = fixture()
    parseRegistry(registry)
    expect(registry).toEqual(fixture())
    expect(Object.isFrozen(registry.sensors[0])).toBe(false)
  })

  it.each<[string, (r: Registry) => void]>([
    ['a warning level exactly normal + the default 0.2 m margin', (r) => Object.assign(sensor(r, 'WL-1').params, { normalLevelM: 2.9, warningLevelM: 3.1 })],
    ['a warning level exactly normal + an explicit margin', (r) => Object.assign(sensor(r, 'WL-1').params, { warningLevelM: 3.25, nearMarginM: 0.35 })],
    ['a manhole without invertM', (r) => delete sensor(r, 'MH-1').params.invertM],
    ['a pipe with invertM 0', (r) => (sensor(r, 'PL-1').params.invertM = 0)],
    ['a ponding point with closure depth 15.5 cm', (r) => (sensor(r, 'PD-1').params.closureCm = 15.5)],
    ['a historic maximum below the guaranteed level', (r) => (sensor(r, 'WL-1').params.historicMaxLevelM = 3.6)],
    ['a water-quality station on a river and a gauge on a lake', (r) => ((sensor(r, 'WQ-1').segment = 'river-1'), (sensor(r, 'WL-1').segment = 'lake-1'))],
    ['an empty board list', (r) => (r.boards = [])],
  ])('accepts %s', (_name, mutate) => {
    const registry = fixture()
    mutate(registry)
    expect(() => parseRegistry(registry)).not.toThrow()
  })

  it.each<[string, (r: Registry) => void, string]>([
    ['warning level below normal', (r) => (sensor(r, 'WL-1').params.warningLevelM = 2.8), 'sensors[0] (WL-1): params.warningLevelM must be at least normalLevelM + nearMarginM'],
    ['warning level inside the near margin', (r) => (sensor(r, 'WL-1').params.warningLevelM = 3.0), 'sensors[0] (WL-1): params.warningLevelM must be at least normalLevelM + nearMarginM'],
    ['warning level inside an explicit margin', (r) => (sensor(r, 'WL-1').params.nearMarginM = 0.7), 'sensors[0] (WL-1): params.warningLevelM must be at least normalLevelM + nearMarginM'],
    ['guaranteed level equal to warning', (r) => (sensor(r, 'WL-1').params.guaranteedLevelM = 3.5), 'sensors[0] (WL-1): params.guaranteedLevelM must be greater than warningLevelM'],
    ['historic maximum at normal', (r) => (sensor(r, 'WL-1').params.historicMaxLevelM = 2.9), 'sensors[0] (WL-1): params.historicMaxLevelM must be greater than normalLevelM'],
    ['a zero near margin', (r) => (sensor(r, 'WL-1').params.nearMarginM = 0), 'sensors[0] (WL-1): params.nearMarginM must be > 0'],
    ['a gauge without a warning level', (r) => delete sensor(r, 'WL-1').params.warningLevelM, 'sensors[0] (WL-1): params.warningLevelM is required'],
    ['a level given as a string', (r) => (sensor(r, 'WL-1').params.normalLevelM = '2.9'), 'sensors[0] (WL-1): params.normalLevelM must be number'],
    ['manhole depthM equal to invertM + pipeDiameterM', (r) => (sensor(r, 'MH-1').params.depthM = 1.0), 'sensors[3] (MH-1): params.depthM must be greater than invertM + pipeDiameterM'],
    ['manhole depthM below invertM + pipeDiameterM', (r) => (sensor(r, 'MH-1').params.depthM = 0.9), 'sensors[3] (MH-1): params.depthM must be greater than invertM + pipeDiameterM'],
    ['a manhole without a pipe diameter', (r) => delete sensor(r, 'MH-1').params.pipeDiameterM, 'sensors[3] (MH-1): params.pipeDiameterM is required'],
    ['a negative manhole invert', (r) => (sensor(r, 'MH-1').params.invertM = -0.1), 'sensors[3] (MH-1): params.invertM must be >= 0'],
    ['pipe depthM not above the diameter', (r) => (sensor(r, 'PL-1').params.depthM = 1), 'sensors[4] (PL-1): params.depthM must be greater than pipeDiameterM'],
    ['a pipe with a non-zero invert', (r) => (sensor(r, 'PL-1').params.invertM = 0.2), 'sensors[4] (PL-1): params.invertM must be equal to constant'],
    ['closureCm 45', (r) => (sensor(r, 'TD-1').params.closureCm = 45), 'sensors[6] (TD-1): params.closureCm must be < 40'],
    ['closureCm 15', (r) => (sensor(r, 'PD-1').params.closureCm = 15), 'sensors[5] (PD-1): params.closureCm must be > 15'],
    ['a misspelt param', (r) => (sensor(r, 'TD-1').params.closureCM = 27), 'sensors[6] (TD-1): params.closureCM is not a known property'],
    ['a sediment probe without a pipe diameter', (r) => (sensor(r, 'SD-1').params = {}), 'sensors[7] (SD-1): params.pipeDiameterM is required'],
    ['an empty measures list', (r) => (sensor(r, 'WQ-1').params.measures = []), 'sensors[2] (WQ-1): params.measures must NOT have fewer than 1 items'],
    ['an unknown measured field', (r) => (sensor(r, 'WQ-1').params.measures = ['do_mgl', 'chlorophyll']), 'sensors[2] (WQ-1): params.measures[1] must be one of do_mgl'],
    ['a lot with capacity 0', (r) => (sensor(r, 'P-1').params.capacity = 0), 'sensors[9] (P-1): params.capacity must be >= 1'],
    ['a lot with a fractional capacity', (r) => (sensor(r, 'P-1').params.capacity = 12.5), 'sensors[9] (P-1): params.capacity must be integer'],
    ['a lot without underground', (r) => delete sensor(r, 'P-1').params.underground, 'sensors[9] (P-1): params.underground is required'],
    ['params on a rain gauge', (r) => (sensor(r, 'RG-1').params.diameterMm = 200), 'sensors[8] (RG-1): params.diameterMm is not a known property'],
    ['unknown kind', (r) => (sensor(r, 'RG-1').kind = 'salinity' as never), "sensors[8] (RG-1): kind must be one of water_level, flow"],
    ['an id with a slash', (r) => (sensor(r, 'FL-1').id = 'FL/1'), 'sensors[1] (FL/1): id must match pattern'],
    ['an id with an MQTT wildcard', (r) => (sensor(r, 'FL-1').id = 'FL+1'), 'sensors[1] (FL+1): id must match pattern'],
    ['latitude 95', (r) => (sensor(r, 'FL-1').lat = 95), 'sensors[1] (FL-1): lat must be <= 90'],
    ['longitude -181', (r) => (sensor(r, 'FL-1').lon = -181), 'sensors[1] (FL-1): lon must be >= -180'],
    ['intervalS 0', (r) => (sensor(r, 'FL-1').intervalS = 0), 'sensors[1] (FL-1): intervalS must be >= 1'],
    ['a fractional intervalS', (r) => (sensor(r, 'FL-1').intervalS = 1.5), 'sensors[1] (FL-1): intervalS must be integer'],
    ['a sensor without params', (r) => delete sensor(r, 'FL-1').params, 'sensors[1] (FL-1): params is required'],
    ['an unknown sensor property', (r) => (sensor(r, 'FL-1').owner = 'x'), 'sensors[1] (FL-1): owner is not a known property'],
    ['unknown segment', (r) => (sensor(r, 'FL-1').segment = 'river-9'), "sensors[1] (FL-1): segment 'river-9' does not exist"],
    ['a district other than its segment', (r) => (sensor(r, 'FL-1').district = 'gongshu'), "sensors[1] (FL-1): district 'gongshu' differs from the district 'xihu' of its segment 'river-1'"],
    ['duplicate id', (r) => (sensor(r, 'FL-1').id = 'WL-1'), 'sensors[1] (WL-1): duplicate id, first used by sensors[0]'],
    ['a gauge on a drainage zone', (r) => (sensor(r, 'WL-1').segment = 'zone-1'), "sensors[0] (WL-1): a water_level sensor must sit on a river segment or lake segment, not on drainage zone 'zone-1'"],
    ['a manhole on a river', (r) => (sensor(r, 'MH-1').segment = 'river-1'), "sensors[3] (MH-1): a manhole_level sensor must sit on a drainage zone, not on river segment 'river-1'"],
    ['a lot on a lake', (r) => (sensor(r, 'P-1').segment = 'lake-1'), "sensors[9] (P-1): a parking sensor must sit on a drainage zone, not on lake segment 'lake-1'"],
    ['riverGauges pointing at a manhole', (r) => (segment(r, 'zone-1').riverGauges = ['MH-1']), "segments[2] (zone-1): riverGauges[0] 'MH-1' must be a water_level sensor, not manhole_level"],
    ['riverGauges pointing at an unknown sensor', (r) => (segment(r, 'zone-1').riverGauges = ['WL-1', 'WL-9']), "segments[2] (zone-1): riverGauges[1] 'WL-9' is not a sensor of the registry"],
    ['a drainage zone without riverGauges', (r) => delete segment(r, 'zone-1').riverGauges, 'segments[2] (zone-1): riverGauges is required'],
    ['a drainage zone with empty riverGauges', (r) => (segment(r, 'zone-1').riverGauges = []), 'segments[2] (zone-1): riverGauges must NOT have fewer than 1 items'],
    ['riverGauges on a river', (r) => (segment(r, 'river-1').riverGauges = ['WL-1']), 'segments[0] (river-1): riverGauges is not allowed on a river segment'],
    ['a target class on a drainage zone', (r) => (segment(r, 'zone-1').targetClass = 3), 'segments[2] (zone-1): targetClass is not allowed on a drainage zone'],
    ['a lake without a target class', (r) => delete segment(r, 'lake-1').targetClass, 'segments[1] (lake-1): targetClass is required'],
    ['target class 6', (r) => (segment(r, 'river-1').targetClass = 6), 'segments[0] (river-1): targetClass must be <= 5'],
    ['an unknown segment type', (r) => (segment(r, 'lake-1').type = 'canal'), 'segments[1] (lake-1): type must be one of river, lake, drainage'],
    ['a duplicate segment id', (r) => (segment(r, 'lake-1').id = 'river-1'), 'segments[1] (river-1): duplicate id, first used by segments[0]'],
    ['a board lot that is a manhole', (r) => r.boards[0]?.lots.push('MH-1'), "boards[0] (B-1): lots[1] 'MH-1' must be a parking sensor, not manhole_level"],
    ['a board lot that does not exist', (r) => r.boards[0]?.lots.push('P-9'), "boards[0] (B-1): lots[1] 'P-9' is not a sensor of the registry"],
    ['a board without lots', (r) => r.boards[0]?.lots.pop(), 'boards[0] (B-1): lots must NOT have fewer than 1 items'],
    ['a board in another district than its lot', (r) => r.boards[0] && (r.boards[0].district = 'gongshu'), "boards[0] (B-1): lots[0] 'P-1' is in district 'xihu', not 'gongshu'"],
    ['a duplicate board id', (r) => r.boards.push({ ...(r.boards[0] as Registry['boards'][number]) }), 'boards[1] (B-1): duplicate id, first used by boards[0]'],
    ['no boards array', (r) => delete (r as Partial<Registry>).boards, 'boards is required'],
    ['an unknown top-level key', (r) => ((r as Json).lots = []), 'lots is not a known property'],
  ])('rejects %s, naming the entry', (_name, mutate, message) => {
    const registry = fixture()
    mutate(registry)
    const err = expectAppError(() => parseRegistry(registry))
    expect(err.code).toBe('CW_ERR_REGISTRY_INVALID')
    expect(err.statusCode).toBe(500)
    expect(err.message).toContain(`Invalid registry: ${message}`)
  })

  it('rejects a value that is not an object', () => {
    const err = expectAppError(() => parseRegistry([]))
    expect(err.message).toBe('Invalid registry: registry must be object (got [])')
  })

  it('prefixes the message with the source and puts the entry in the details', () => {
    const registry = fixture()
    ;(sensor(registry, 'TD-1').params as Json).closureCm = 45
    const err = expectAppError(() => parseRegistry(registry, 'city.json'))
    expect(err.message).toBe('Invalid registry: city.json: sensors[6] (TD-1): params.closureCm must be < 40 (got 45)')
    expect(err.details).toEqual([{ source: 'city.json', entry: 'sensors[6]', id: 'TD-1', message: 'params.closureCm must be < 40 (got 45)' }])
  })
})

describe('loadRegistry', () => {
  const dir = mkdtempSync(join(tmpdir(), 'cw-registry-'))
  afterAll(() => rmSync(dir, { recursive: true, force: true }))

  it('loads a valid file', () => {
    const file = join(dir, 'ok.json')
    writeFileSync(file, JSON.stringify(fixture()))
    expect(loadRegistry(file)).toEqual(fixture())
  })

  it('returns a registry the caller may still edit (indexRegistry freezes it only once indexed)', () => {
    const file = join(dir, 'editable.json')
    writeFileSync(file, JSON.stringify(fixture()))
    const registry = loadRegistry(file)
    expect(Object.isFrozen(registry.sensors)).toBe(false)
    registry.sensors.pop()
    expect(registry.sensors).toHaveLength(fixture().sensors.length - 1)
  })

  it.each<[string, string | undefined, string]>([
    ['a missing file', undefined, 'cannot be read'],
    ['a file that is not JSON', '{"segments": [', 'is not valid JSON'],
  ])('rejects %s, naming the file', (name, content, message) => {
    const file = join(dir, `${name.replace(/ /g, '-')}.json`)
    if (content !== undefined) writeFileSync(file, content)
    const err = expectAppError(() => loadRegistry(file))
    expect(err.code).toBe('CW_ERR_REGISTRY_INVALID')
    expect(err.message).toContain(`Invalid registry: ${file}: ${message}`)
  })

  it('names the file and the entry of a bad registry', () => {
    const file = join(dir, 'bad.json')
    const registry = fixture()
    ;(sensor(registry, 'WL-1').params as Json).warningLevelM = 2.5
    writeFileSync(file, JSON.stringify(registry))
    const err = expectAppError(() => loadRegistry(file))
    expect(err.message).toContain(`${file}: sensors[0] (WL-1): params.warningLevelM must be at least normalLevelM + nearMarginM`)
  })
})
