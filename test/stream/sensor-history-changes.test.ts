import { describe, expect, it } from 'vitest'
import type { Reading, Sensor } from '../../domain.js'
import { createSensorHistory } from '../../stream/sensor-history.js'
import { HOUR, MIN, T0 } from './indices/fixtures.js'

const TD: Sensor = { id: 'TD-1', kind: 'tunnel_depth', district: 'xihu', segment: 'zone-4', name: 'TD-1', lat: 0, lon: 0, intervalS: 60, params: {} }
const reading = (s: Sensor, ts: number, depth: number, receivedAt = 0): Reading => ({
  sensor: s.id, kind: s.kind, district: s.district, segment: s.segment, ts, fields: { depth_cm: depth }, quality: 'good', qualityReason: '', tsSource: 'device', receivedAt,
})

describe('sensor history change count', () => {
  it('counts every added or replaced reading, and not a reading too old to keep (which only moves lastReceivedAt)', () => {
    const h = createSensorHistory({ retentionMs: () => HOUR, idleMs: () => 12 * HOUR })
    h.insert(TD, reading(TD, T0 + 2 * HOUR, 1, 10))
    expect(h.get('TD-1')?.changes).toBe(1)
    h.insert(TD, reading(TD, T0 + 2 * HOUR + MIN, 2))
    h.insert(TD, reading(TD, T0 + 2 * HOUR + 30_000, 3))
    h.insert(TD, reading(TD, T0 + 2 * HOUR + MIN, 4))
    expect(h.get('TD-1')?.changes).toBe(4)
    expect(h.insert(TD, reading(TD, T0, 5, 99))).toBe('too_old')
    expect(h.get('TD-1')).toMatchObject({ changes: 4, lastReceivedAt: 99 })
    expect(h.values('TD-1', 'depth_cm').map((v) => v.value)).toEqual([1, 3, 4])
  })

  it('keeps the records of different sensors apart from the first reading on, with no window memory until one is valid', () => {
    const h = createSensorHistory({ retentionMs: () => HOUR, idleMs: () => 12 * HOUR })
    const other = { ...TD, id: 'TD-2' }
    h.insert(TD, reading(TD, T0, 1))
    h.insert(other, reading(other, T0, 2))
    h.insert(TD, reading(TD, T0 + MIN, 3))
    expect(h.values('TD-1', 'depth_cm').map((v) => v.value)).toEqual([1, 3])
    expect(h.values('TD-2', 'depth_cm').map((v) => v.value)).toEqual([2])
    expect(h.get('TD-1')?.lastValid).toBeUndefined()
    expect(h.readingCount).toBe(3)
  })
})
