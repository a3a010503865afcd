import { describe, expect, it } from 'vitest'
import type { Sensor } from '../../domain.js'
import { windowEnd } from '../../simulators/generate-messages.js'
import { schedule } from '../../simulators/schedule.js'
import type { Tick } from '../../simulators/schedule.js'

const S = Date.parse('2026-11-27T00:00:00Z')

function sensor(id: string, intervalS: number): Sensor {
  return { id, kind: 'water_level', district: 'xihu', segment: 'river-1', name: id, lat: 30.26, lon: 120.1, intervalS, params: {} }
}

const SENSORS = [sensor('C-3600', 3600), sensor('A-60', 60), sensor('B-300', 300)]

function ticks(sensors: Sensor[], start: number, end: number): Tick[] {
  return [...schedule(sensors, { start, end })]
}

describe('schedule', () => {
  it.each([
    // duration 10 s at speed 360 is one hour of event time; the hourly sensor's second reading at the end is excluded.
    [10, 360, { 'A-60': 60, 'B-300': 12, 'C-3600': 1 }],
    [10, 361, { 'A-60': 61, 'B-300': 13, 'C-3600': 2 }],
    [1, 60, { 'A-60': 1, 'B-300': 1, 'C-3600': 1 }],
    [0.5, 60, { 'A-60': 1, 'B-300': 1, 'C-3600': 1 }],
  ])('publishes exactly the readings of the window for %s s at speed %s', (durationS, speed, expected) => {
    const end = windowEnd(S, speed, durationS)
    const all = ticks(SENSORS, S, end)
    const counts: Record<string, number> = {}
    for (const t of all) counts[t.sensor.id] = (counts[t.sensor.id] ?? 0) + 1
    expect(counts).toEqual(expected)
    expect(all.length).toBe(Object.values(expected).reduce((a, b) => a + b, 0))
    for (const t of all) {
      expect(t.ts).toBeGreaterThanOrEqual(S)
      expect(t.ts).toBeLessThan(end)
    }
  })

  it('starts every sensor at start with seq 1 and steps by its interval', () => {
    const all = ticks(SENSORS, S, windowEnd(S, 360, 10))
    for (const s of SENSORS) {
      const own = all.filter((t) => t.sensor.id === s.id)
      expect(own[0]).toMatchObject({ ts: S, seq: 1 })
      own.forEach((t, i) => {
        expect(t.seq).toBe(i + 1)
        expect(t.ts).toBe(S + i * s.intervalS * 1000)
      })
    }
  })

  it('merges all sensors in ts order, ties broken by sensor id', () => {
    const all = ticks(SENSORS, S, windowEnd(S, 360, 10))
    expect(all.slice(0, 3).map((t) => t.sensor.id)).toEqual(['A-60', 'B-300', 'C-3600'])
    for (let i = 1; i < all.length; i++) {
      const a = all[i - 1] as Tick
      const b = all[i] as Tick
      expect(a.ts < b.ts || (a.ts === b.ts && a.sensor.id < b.sensor.id)).toBe(true)
    }
  })

  it('is lazy: an endless window yields on demand', () => {
    const it = schedule(SENSORS, { start: S, end: Number.POSITIVE_INFINITY })
    const first = Array.from({ length: 1000 }, () => it.next().value as Tick)
    expect(first.at(-1)?.ts).toBeGreaterThan(S)
    expect(it.next().done).toBe(false)
  })

  it('yields nothing for an empty window or no sensors', () => {
    expect(ticks(SENSORS, S, S)).toEqual([])
    expect(ticks([], S, S + 3_600_000)).toEqual([])
  })

  it('handles many sensors with mixed intervals in order', () => {
    const many = Array.from({ length: 5000 }, (_, i) => sensor(`S-${String(i).padStart(5, '0')}`, [60, 300, 3600, 90][i % 4] as number))
    const end = S + 3_600_000
    let n = 0
    let disorders = 0
    let prev: Tick | undefined
    for (const t of schedule(many, { start: S, end })) {
      if (prev && !(prev.ts < t.ts || (prev.ts === t.ts && prev.sensor.id < t.sensor.id))) disorders++
      prev = t
      n++
    }
    expect(disorders).toBe(0)
    expect(n).toBe(1250 * (60 + 12 + 1 + 40))
  })

  it('breaks ties by id in code-unit order whatever the registry order, equal ids included', () => {
    // Code-unit order, not the locale's: 'Z' < 'a' < 'é' < '𝔸' (a surrogate pair) and 'a-10' < 'a-9'.
    const ids = ['𝔸', 'a-9', 'Z', 'é', 'a-10', 'b', 'a-9', 'A']
    const sensors = ids.map((id, i) => sensor(id, [1, 2, 3][i % 3] as number))
    const end = S + 6_000
    const got = ticks(sensors, S, end).map((t) => `${t.ts - S}:${t.sensor.id}`)
    const want: [number, string][] = []
    for (const s of sensors) for (let ts = 0; ts < 6_000; ts += s.intervalS * 1000) want.push([ts, s.id])
    want.sort((a, b) => a[0] - b[0] || (a[1] < b[1] ? -1 : a[1] > b[1] ? 1 : 0))
    expect(got).toEqual(want.map(([ts, id]) => `${ts}:${id}`))
    expect(got.slice(0, 8)).toEqual(['0:A', '0:Z', '0:a-10', '0:a-9', '0:a-9', '0:b', '0:é', '0:𝔸'])
  })

  it('rejects a non-positive interval and a fractional start', () => {
    expect(() => ticks([sensor('X', 0)], S, S + 1000)).toThrow(/intervalS/)
    expect(() => ticks(SENSORS, S + 0.5, S + 1000)).toThrow(/start/)
  })
})
