import type { Segment, Sensor } from '../domain.js'
import type { RegistryIndex } from '../registry/registry-index.js'
import { COMPONENT_OF_KIND } from './indices/smooth-subscores.js'

/** What the index engine keeps of a sensor: clear-water station, scored smooth-water sensor or rain gauge. */
export type IndexRole = 'station' | 'smooth' | 'rain'

/** The registry as the indices read it: who feeds which segment. */
export interface IndexTopology {
  /** Every segment and drainage zone, in registry order. */
  readonly segments: readonly Segment[]
  /** Districts with at least one segment or zone, sorted. */
  readonly districts: readonly string[]
  /** Segments and zones of a district, in registry order. */
  segmentsOfDistrict(district: string): readonly Segment[]
  /** Water-quality stations of a river or lake segment. */
  stations(segmentId: string): readonly Sensor[]
  /** Scored sensors of a drainage zone: its own ponding, tunnel, manhole, pipe, sediment and level sensors plus its `riverGauges`. */
  zoneSensors(zoneId: string): readonly Sensor[]
  /** Rain gauges of a zone: its own, or the district's when it has none (INDICES.md §2). */
  rainGauges(zoneId: string): readonly Sensor[]
  /** Segments and zones whose index a reading of this sensor can move. */
  segmentsOf(sensorId: string): readonly string[]
  /** The role of a sensor, `undefined` when no index reads it. */
  role(sensorId: string): IndexRole | undefined
}

const NONE: readonly never[] = Object.freeze([])
const cache = new WeakMap<RegistryIndex, IndexTopology>()

function push<K, V>(map: Map<K, V[]>, key: K, value: V): void {
  const list = map.get(key)
  if (list === undefined) map.set(key, [value])
  else if (!list.includes(value)) list.push(value)
}

/** The topology of a registry, built once per RegistryIndex (a reload gives a new one). */
export function indexTopology(registry: RegistryIndex): IndexTopology {
  const cached = cache.get(registry)
  if (cached !== undefined) return cached
  const { segments, sensors } = registry.registry
  const stations = new Map<string, Sensor[]>()
  const zoneSensors = new Map<string, Sensor[]>()
  const ownRain = new Map<string, Sensor[]>()
  const districtRain = new Map<string, Sensor[]>()
  const roles = new Map<string, IndexRole>()
  const feeds = new Map<string, string[]>()
  const segmentsByDistrict = new Map<string, Segment[]>()

  for (const seg of segments) push(segmentsByDistrict, seg.district, seg)
  for (const sensor of sensors) {
    const seg = registry.segment(sensor.segment)
    if (sensor.kind === 'water_quality' && (seg?.type === 'river' || seg?.type === 'lake')) {
      push(stations, seg.id, sensor)
      roles.set(sensor.id, 'station')
      push(feeds, sensor.id, seg.id)
    } else if (sensor.kind === 'rainfall') {
      push(districtRain, sensor.district, sensor)
      if (seg?.type === 'drainage') push(ownRain, seg.id, sensor)
      roles.set(sensor.id, 'rain')
    } else if (COMPONENT_OF_KIND[sensor.kind] !== undefined && seg?.type === 'drainage') {
      push(zoneSensors, seg.id, sensor)
      roles.set(sensor.id, 'smooth')
      push(feeds, sensor.id, seg.id)
    }
  }
  const rainOf = new Map<string, readonly Sensor[]>()
  for (const seg of segments) {
    if (seg.type !== 'drainage') continue
    for (const id of seg.riverGauges ?? []) {
      const gauge = registry.sensor(id)
      if (gauge === undefined || gauge.kind !== 'water_level') continue
      push(zoneSensors, seg.id, gauge)
      roles.set(gauge.id, 'smooth')
      push(feeds, gauge.id, seg.id)
    }
    const gauges = ownRain.get(seg.id) ?? districtRain.get(seg.district) ?? NONE
    rainOf.set(seg.id, gauges)
    for (const g of gauges) push(feeds, g.id, seg.id)
  }

  const topology: IndexTopology = {
    segments,
    districts: [...segmentsByDistrict.keys()].sort(),
    segmentsOfDistrict: (district) => segmentsByDistrict.get(district) ?? NONE,
    stations: (id) => stations.get(id) ?? NONE,
    zoneSensors: (id) => zoneSensors.get(id) ?? NONE,
    rainGauges: (id) => rainOf.get(id) ?? NONE,
    segmentsOf: (id) => feeds.get(id) ?? NONE,
    role: (id) => roles.get(id),
  }
  cache.set(registry, topology)
  return topology
}
