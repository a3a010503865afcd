import type { Board, Registry, Segment, Sensor } from '../domain.js'
import { isHandedOver } from './handover.js'

/** Read-only lookups over one validated registry; every method is a plain Map lookup. */
export interface RegistryIndex {
  /** The indexed registry, deep-frozen: a copy of the one given to indexRegistry, or that one itself when loadRegistry returned it. */
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

/** Freezes every object and array reachable from `value` (descending into frozen ones too: a shallow freeze is not enough). */
function deepFreeze<T>(value: T): T {
  if (value === null || typeof value !== 'object') return value
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) deepFreeze(value[i])
  } else {
    const record = value as Record<string, unknown>
    for (const key in record) deepFreeze(record[key])
  }
  return Object.isFrozen(value) ? value : Object.freeze(value)
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
  // A loop, not `new Map(items.map(...))`: no pair array per item on the way.
  const map = new Map<string, T>()
  for (const item of items) map.set(item.id, item)
  return map
}

/**
 * Builds the lookups over a (validated) registry. The index holds a frozen copy, so later changes to the argument do
 * not leak in; except a registry loadRegistry returned, which no one else holds: that one is deep-frozen in place and
 * held as is (no second copy of a large registry), so it can no longer be changed after indexing.
 */
export function indexRegistry(registry: Registry): RegistryIndex {
  const frozen = deepFreeze(isHandedOver(registry) ? registry : structuredClone(registry))
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
