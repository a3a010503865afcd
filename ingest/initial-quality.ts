import type { Quality, Sensor } from '../domain.js'

/** Values devices send for "no measurement" (INDICES.md §3): always bad. */
export const SENTINELS = new Set([-9999, 9999, 65535])

/**
 * The checks that need no history, applied at ingest: sentinel codes, and for parking lots
 * occupancy beyond capacity (bad) or a reported capacity differing from the registry (suspect).
 * The stream's quality tests (range, spike, rate, flat line) refine this later.
 */
export function initialQuality(sensor: Sensor, fields: Record<string, number>): { quality: Quality; reason: string } {
  for (const [field, value] of Object.entries(fields)) {
    if (SENTINELS.has(value)) return { quality: 'bad', reason: `sentinel:${field}` }
  }
  if (sensor.kind === 'parking') {
    const capacity = typeof sensor.params.capacity === 'number' ? sensor.params.capacity : undefined
    const occupied = fields.occupied ?? 0
    if (occupied < 0) return { quality: 'bad', reason: 'range:occupied' }
    if (capacity !== undefined && occupied > capacity) return { quality: 'bad', reason: 'range:occupied' }
    if (capacity !== undefined && fields.capacity !== undefined && fields.capacity !== capacity) {
      return { quality: 'suspect', reason: 'capacity_mismatch' }
    }
  }
  return { quality: 'good', reason: '' }
}
