import { describe, expect, it } from 'vitest'
import type { Quality, Reading, Sensor } from '../../domain.js'
import { mulberry32 } from '../../registry/generate-sample.js'
import { bucketMs, createSensorHistory, HeldReadings } from '../../stream/sensor-history.js'
import { reference } from './history-reference.js'
import { MIN, T0 } from './indices/fixtures.js'

const QUALITIES: Quality[] = ['good', 'suspect', 'bad']
const FIELDS = ['level_m', 'flow_m3s'] as const

function sensor(i: number): Sensor {
  return { id: `S-${i}`, kind: 'pipe_level', district: 'xihu', segment: 'zone-1', name: `S-${i}`, lat: 0, lon: 0, intervalS: 60, params: {} }
}

describe('records of one reading in shared rows', () => {
  it('share one buffer while they hold one reading, and move to their own with a second', () => {
    const h = createSensorHistory({ retentionMs: () => 60 * MIN, idleMs: () => 24 * 60 * MIN })
    const reading = (i: number, ts: number, fields: Record<string, number>): Reading => ({
      sensor: `S-${i}`, kind: 'pipe_level', district: 'xihu', segment: 'zone-1', ts, fields, quality: 'good', qualityReason: '', tsSource: 'device', receivedAt: ts,
    })
    for (let i = 0; i < 100; i++) h.insert(sensor(i), reading(i, T0, { level_m: i }))
    const buffers = new Set(Array.from({ length: 100 }, (_, i) => h.get(`S-${i}`)?.readings.data.buffer))
    // Chunks of 16, 32 and 64 rows.
    expect(buffers.size).toBe(3)
    h.insert(sensor(7), reading(7, T0 + MIN, { level_m: 70 }))
    const own = h.get('S-7')?.readings as HeldReadings
    expect(buffers.has(own.data.buffer as ArrayBuffer)).toBe(false)
    expect([own.at(0), own.at(1)]).toEqual([{ ts: T0, quality: 'good', fields: { level_m: 7 } }, { ts: T0 + MIN, quality: 'good', fields: { level_m: 70 } }])
    // Its row goes to the next new record, whose neighbours keep theirs.
    h.insert(sensor(100), reading(100, T0, { level_m: 100 }))
    for (let i = 0; i <= 100; i++) {
      if (i !== 7) expect(h.get(`S-${i}`)?.readings.at(0)).toEqual({ ts: T0, quality: 'good', fields: { level_m: i } })
    }
    // A new field moves a record out too; its readings keep their values and the field is absent in the older one.
    h.insert(sensor(8), reading(8, T0, { level_m: 8, flow_m3s: 0.5 }))
    expect(h.get('S-8')?.readings.at(0)).toEqual({ ts: T0, quality: 'good', fields: { level_m: 8, flow_m3s: 0.5 } })
    expect(h.values('S-9', 'level_m')).toEqual([{ ts: T0, value: 9, quality: 'good' }])
  })

  it('an evicted record gives its row back and is left empty', () => {
    let known = true
    const h = createSensorHistory({ retentionMs: () => 60 * MIN, idleMs: () => 24 * 60 * MIN })
    const r: Reading = { sensor: 'S-1', kind: 'pipe_level', district: 'xihu', segment: 'zone-1', ts: T0, fields: { level_m: 1 }, quality: 'bad', qualityReason: '', tsSource: 'device', receivedAt: T0 }
    h.insert(sensor(1), r)
    const held = h.get('S-1')?.readings as HeldReadings
    known = false
    expect(h.evict((id) => (known ? sensor(Number(id.slice(2))) : undefined))).toBe(1)
    expect(held.length).toBe(0)
    expect(held.at(0)).toBeUndefined()
    expect(h.readingCount).toBe(0)
  })

  it.each([1, 2, 3, 4])('many sensors with random inserts, pruning, caps and evictions, seed %i, read as lists of readings', (seed) => {
    const rnd = mulberry32(seed)
    const retentionMs = (3 + Math.floor(rnd() * 10)) * MIN
    const maxReadings = 1 + Math.floor(rnd() * 3)
    const idleMs = (5 + Math.floor(rnd() * 10)) * MIN
    const h = createSensorHistory({ retentionMs: () => retentionMs, idleMs: () => idleMs, maxReadings })
    const refs = new Map<string, { ref: ReturnType<typeof reference>; latestTs: number }>()
    let clock = T0
    let eventTime = -Infinity
    for (let step = 0; step < 4000; step++) {
      const i = Math.floor(rnd() * 60)
      const s = sensor(i)
      const roll = rnd()
      const ts = roll < 0.6 ? (clock += Math.floor(rnd() * 2) * MIN) : clock - Math.floor(rnd() * 2 * retentionMs)
      const fields: Record<string, number> = {}
      for (const f of FIELDS) if (rnd() < (f === 'level_m' ? 0.9 : 0.2)) fields[f] = rnd() < 0.05 ? Number.NaN : Math.round(rnd() * 1000) / 100
      const quality = QUALITIES[Math.floor(rnd() * 3)] as Quality
      let entry = refs.get(s.id)
      if (entry === undefined) {
        entry = { ref: reference(retentionMs, maxReadings, { bucketMs: bucketMs(s.intervalS) }), latestTs: -Infinity }
        refs.set(s.id, entry)
      }
      eventTime = Math.max(eventTime, ts)
      const outcome = h.insert(s, { sensor: s.id, kind: s.kind, district: s.district, segment: s.segment, ts, fields, quality, qualityReason: '', tsSource: 'device', receivedAt: ts })
      expect(outcome).toBe(entry.ref.insert({ ts, quality, fields }))
      entry.latestTs = Math.max(entry.latestTs, ts)
      if (step % 97 === 0) {
        const drop = new Set([`S-${Math.floor(rnd() * 60)}`])
        h.evict((id) => (drop.has(id) ? undefined : sensor(Number(id.slice(2)))))
        for (const [id, e] of refs) if (drop.has(id) || eventTime - e.latestTs > idleMs) refs.delete(id)
      }
      if (step % 13 === 0 || step > 3950) {
        let count = 0
        for (const [id, e] of refs) {
          const held = h.get(id)?.readings as HeldReadings
          expect(Array.from({ length: held.length }, (_, k) => held.at(k))).toEqual(e.ref.kept)
          count += e.ref.kept.length
        }
        expect(h.size).toBe(refs.size)
        expect(h.readingCount).toBe(count)
      }
    }
  })
})
