import { describe, expect, it } from 'vitest'
import type { Quality, Reading, Sensor } from '../../domain.js'
import { createSensorHistory } from '../../stream/sensor-history.js'
import { HOUR, MIN, T0 } from './indices/fixtures.js'

const TD: Sensor = { id: 'TD-1', kind: 'tunnel_depth', district: 'xihu', segment: 'zone-4', name: 'TD-1', lat: 0, lon: 0, intervalS: 60, params: {} }
const PD: Sensor = { ...TD, id: 'PD-1', kind: 'ponding_depth' }
const reading = (s: Sensor, ts: number, depth: number, quality: Quality = 'good', receivedAt = 0): Reading => ({
  sensor: s.id, kind: s.kind, district: s.district, segment: s.segment, ts, fields: { depth_cm: depth }, quality, qualityReason: '', tsSource: 'device', receivedAt,
})

describe('createSensorHistory', () => {
  const history = () => createSensorHistory({ retentionMs: () => HOUR, idleMs: () => 12 * HOUR })

  it('keeps readings in event-time order whatever the arrival order', () => {
    const h = history()
    for (const t of [5, 1, 3, 2, 4]) h.insert(TD, reading(TD, T0 + t * MIN, t))
    expect(h.values('TD-1', 'depth_cm').map((v) => v.value)).toEqual([1, 2, 3, 4, 5])
    expect(h.get('TD-1')?.latestTs).toBe(T0 + 5 * MIN)
    expect(h.values('TD-1', 'level_m')).toEqual([])
  })

  it('replaces a reading with the same ts (a re-flag) instead of adding one', () => {
    const h = history()
    expect(h.insert(TD, reading(TD, T0, 60))).toBe('added')
    expect(h.insert(TD, reading(TD, T0, 60, 'suspect'))).toBe('replaced')
    expect(h.values('TD-1', 'depth_cm')).toEqual([{ ts: T0, value: 60, quality: 'suspect' }])
    expect(h.readingCount).toBe(1)
  })

  it('drops readings older than the retention behind the latest, and does not keep ones arriving that old', () => {
    const h = history()
    for (let t = 0; t <= 90; t++) h.insert(TD, reading(TD, T0 + t * MIN, t))
    const kept = h.values('TD-1', 'depth_cm')
    expect(kept[0]?.ts).toBe(T0 + 31 * MIN)
    expect(kept).toHaveLength(60)
    expect(h.insert(TD, reading(TD, T0 + 30 * MIN, 0, 'good', 5))).toBe('too_old')
    expect(h.readingCount).toBe(60)
    // it still counts as the sensor being heard
    expect(h.get('TD-1')?.lastReceivedAt).toBe(5)
  })

  it('caps the readings of one sensor', () => {
    const h = createSensorHistory({ retentionMs: () => HOUR, idleMs: () => HOUR, maxReadings: 10 })
    // One bucket (intervalS/10 = 6 s) apart: readings closer than that would be folded (sensor-history-fold tests).
    for (let i = 0; i < 50; i++) h.insert(TD, reading(TD, T0 + i * 6000, i))
    expect(h.values('TD-1', 'depth_cm').map((v) => v.value)).toEqual([40, 41, 42, 43, 44, 45, 46, 47, 48, 49])
    expect(h.readingCount).toBe(10)
  })

  it('forgets sensors idle longer than their idle time in event time, and sensors the registry no longer has', () => {
    const h = history()
    h.insert(TD, reading(TD, T0, 1))
    h.insert(PD, reading(PD, T0, 1))
    h.insert(TD, reading(TD, T0 + 12 * HOUR, 1))
    expect(h.evict((id) => (id === 'TD-1' ? TD : PD))).toBe(0)
    h.insert(TD, reading(TD, T0 + 12 * HOUR + 1, 1))
    expect(h.evict((id) => (id === 'TD-1' ? TD : PD))).toBe(1)
    expect(h.get('PD-1')).toBeUndefined()
    expect(h.evict(() => undefined)).toBe(1)
    expect({ size: h.size, readingCount: h.readingCount }).toEqual({ size: 0, readingCount: 0 })
  })
})
