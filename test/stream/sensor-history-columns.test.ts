import { describe, expect, it } from 'vitest'
import type { Quality, Reading, Sensor } from '../../domain.js'
import { mulberry32 } from '../../registry/generate-sample.js'
import { createSensorHistory, HeldReadings } from '../../stream/sensor-history.js'
import { reference, type Kept } from './history-reference.js'
import { MIN, T0 } from './indices/fixtures.js'

const WQ: Sensor = { id: 'WQ-1', kind: 'water_quality', district: 'xihu', segment: 'seg-1', name: 'WQ-1', lat: 0, lon: 0, intervalS: 60, params: {} }
const FIELDS = ['do_mgl', 'ph', 'nh3n_mgl', 'tp_mgl'] as const
const QUALITIES: Quality[] = ['good', 'suspect', 'bad']

describe('sensor history columns behave as a list of reading objects', () => {
  it.each([1, 2, 3, 4, 5, 6])('random inserts, seed %i: order, re-flags, pruning, the cap, absent and NaN fields', (seed) => {
    const rnd = mulberry32(seed)
    const retentionMs = (10 + Math.floor(rnd() * 50)) * MIN
    const maxReadings = 5 + Math.floor(rnd() * 60)
    const h = createSensorHistory({ retentionMs: () => retentionMs, idleMs: () => 24 * 60 * MIN, maxReadings })
    const ref = reference(retentionMs, maxReadings)
    let clock = T0
    let changes = 0
    for (let step = 0; step < 3000; step++) {
      // Mostly in order, now and then late (within or beyond the retention) or a re-flag of a kept reading.
      const roll = rnd()
      const kept = ref.kept
      let ts: number
      if (roll < 0.7 || kept.length === 0) ts = clock += Math.floor(1 + rnd() * 3) * MIN
      else if (roll < 0.85) ts = (kept[Math.floor(rnd() * kept.length)] as Kept).ts
      else ts = clock - Math.floor(rnd() * 2 * retentionMs) - 1
      const fields: Record<string, number> = {}
      // The later fields come only after a while, so columns are added to a record that holds readings.
      for (const [k, f] of FIELDS.entries()) if (rnd() < 0.7 && step > k * 400) fields[f] = rnd() < 0.05 ? Number.NaN : Math.round(rnd() * 1000) / 100
      const quality = QUALITIES[Math.floor(rnd() * 3)] as Quality
      const reading: Reading = { sensor: WQ.id, kind: WQ.kind, district: WQ.district, segment: WQ.segment, ts, fields, quality, qualityReason: '', tsSource: 'device', receivedAt: ts }
      const outcome = h.insert(WQ, reading)
      expect(outcome).toBe(ref.insert({ ts, quality, fields }))
      if (outcome !== 'too_old') changes++
      const rec = h.get(WQ.id)
      expect(rec?.changes).toBe(changes)
      expect(h.readingCount).toBe(ref.kept.length)
      if (step % 50 === 0 || step > 2950) {
        const held = rec?.readings as HeldReadings
        expect(Array.from({ length: held.length }, (_, i) => held.at(i))).toEqual(ref.kept)
        for (const f of [...FIELDS, 'level_m']) {
          const expected = ref.kept.flatMap((k) => (k.fields[f] === undefined ? [] : [{ ts: k.ts, value: k.fields[f], quality: k.quality }]))
          expect(h.values(WQ.id, f)).toEqual(expected)
        }
      }
    }
  })

  it('tells a field present as NaN from an absent one, through growth and moves', () => {
    const held = new HeldReadings()
    for (let i = 0; i < 100; i++) held.put(T0 + i, 'good', i % 3 === 0 ? { a: Number.NaN } : i % 3 === 1 ? { a: i, b: i } : {})
    held.dropOldest(40)
    for (let i = 100; i < 140; i++) held.put(T0 + i, 'suspect', i % 2 === 0 ? { b: Number.NaN } : { a: i })
    expect(held.length).toBe(100)
    for (let i = 0; i < held.length; i++) {
      const t = i + 40
      const expected = t < 100 ? (t % 3 === 0 ? { a: Number.NaN } : t % 3 === 1 ? { a: t, b: t } : {}) : t % 2 === 0 ? { b: Number.NaN } : { a: t }
      expect(held.at(i)?.fields).toEqual(expected)
    }
  })

  it('keeps one buffer no longer than 1.5 rows per reading while readings only grow', () => {
    const held = new HeldReadings()
    for (let i = 0; i < 300; i++) held.put(T0 + i * 1000, 'good', { depth_cm: i })
    expect(held.capacity).toBeLessThanOrEqual(450)
    expect(held.data.buffer).toBe(held.codes.buffer)
  })
})
