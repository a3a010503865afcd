import type { Board, Registry, Segment, Sensor } from '../domain.js'

/** Read-only lookups over one validated registry; every method is a plain Map lookup. */
export interface RegistryIndex {
  /** The indexed registry: a deep-frozen copy of the one given to indexRegistry. */
  readonly registry: Registry
  /** Every district with a segment, sensor or board, sorted. */
  readonly districts: readonly string[]
  /** The sensor with this id, or undefined. */
  sensor(id: string): Sensor | undefined
  /** The segment or drainage zone with this id, or undefined. */
  segment(id: string): Segment | undefined
  /** The guidance board with this id, or undefined. */
  board(id: string): Board | undefined
  /** The sensors on a segment, in registry order; empty for an unknown segment. */
  sensorsOfSegment(id: string): readonly Sensor[]
  /** The sensors of a district, in registry order; empty for an unknown district. */
  sensorsOfDistrict(district: string): readonly Sensor[]
  /** The segments and drainage zones of a district, in registry order. */
  segmentsOfDistrict(district: string): readonly Segment[]
  /** The guidance boards of a district, in registry order. */
  boardsOfDistrict(district: string): readonly Board[]
}

const NONE: readonly never[] = Object.freeze([])

function deepFreeze<T>(value: T): T {
  if (value !== null && typeof value === 'object' && !Object.isFrozen(value)) {
    for (const child of Object.values(value)) deepFreeze(child)
    Object.freeze(value)
  }
  return value
}

function groupBy<T>(items: readonly T[], key: (item: T) => string): Map<string, readonly T[]> {
  const groups = new Map<string, T[]>()
  for (const item of items) {
    const k = key(item)
    const group = groups.get(k)
    if (group === undefined) groups.set(k, [item])
    else group.push(item)
  }
  for (const group of groups.values()) Object.freeze(group)
  return groups
}

function byId<T extends { id: string }>(items: readonly T[]): Map<string, T> {
  return new Map(items.map((item) => [item.id, item]))
}

/** Builds the lookups over a (validated) registry; the index holds a frozen copy, so later changes to the argument do not leak in. */
export function indexRegistry(registry: Registry): RegistryIndex {
  const frozen = deepFreeze(structuredClone(registry))
  const sensors = byId(frozen.sensors)
  const segments = byId(frozen.segments)
  const boards = byId(frozen.boards)
  const sensorsBySegment = groupBy(frozen.sensors, (s) => s.segment)
  const sensorsByDistrict = groupBy(frozen.sensors, (s) => s.district)
  const segmentsByDistrict = groupBy(frozen.segments, (s) => s.district)
  const boardsByDistrict = groupBy(frozen.boards, (b) => b.district)
  const districts = Object.freeze(
    [...new Set([...segmentsByDistrict.keys(), ...sensorsByDistrict.keys(), ...boardsByDistrict.keys()])].sort(),
  )
  return Object.freeze({
    registry: frozen,
    districts,
    sensor: (id: string) => sensors.get(id),
    segment: (id: string) => segments.get(id),
    board: (id: string) => boards.get(id),
    sensorsOfSegment: (id: string) => sensorsBySegment.get(id) ?? NONE,
    sensorsOfDistrict: (district: string) => sensorsByDistrict.get(district) ?? NONE,
    segmentsOfDistrict: (district: string) => segmentsByDistrict.get(district) ?? NONE,
    boardsOfDistrict: (district: string) => boardsByDistrict.get(district) ?? NONE,
  })
}
