import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import type { Quality, Reading, Sensor } from '../../domain.js'
import { clearWindow, clearWindowOfColumns } from '../../stream/indices/clear-window.js'
import { rainTotals, rainTotalsOfColumns } from '../../stream/indices/rain-totals.js'
import type { TimedValue } from '../../stream/indices/timed-value.js'
import { bucketMs, createSensorHistory, type HeldReadings } from '../../stream/sensor-history.js'
import { reference, type Kept } from './history-reference.js'
import { HOUR, MIN, T0, sensor } from './indices/fixtures.js'

const QUALITIES: Quality[] = ['good', 'suspect', 'bad']

function reading(s: Sensor, ts: number, fields: Record<string, number>, quality: Quality = 'good'): Reading {
  return { sensor: s.id, kind: s.kind, district: s.district, segment: s.segment, ts, fields, quality, qualityReason: '', tsSource: 'device', receivedAt: ts }
}

function heldList(held: HeldReadings | undefined): (Kept | undefined)[] {
  return held === undefined ? [] : Array.from({ length: held.length }, (_, i) => held.at(i))
}

/** Most entries any bucket of `b` ms holds. */
function mostPerBucket(held: HeldReadings, b: number): number {
  const counts = new Map<number, number>()
  for (let i = 0; i < held.length; i++) {
    const bucket = Math.floor((held.at(i) as Kept).ts / b)
    counts.set(bucket, (counts.get(bucket) ?? 0) + 1)
  }
  return Math.max(0, ...counts.values())
}

/**
 * What a sensor's history must hold after readings in strictly increasing ts order, written from the rule rather than
 * from the code: per bucket and quality, the latest reading, its `sum` field the sum of the bucket's positive amounts
 * of that quality (or the latest amount when none is positive), in ts order.
 */
function foldedInOrder(readings: readonly Kept[], b: number, sum?: string): Kept[] {
  const entries = new Map<string, { kept: Kept; positive: number; anyPositive: boolean }>()
  for (const r of readings) {
    const key = `${Math.floor(r.ts / b)}:${r.quality}`
    const e = entries.get(key) ?? { kept: r, positive: 0, anyPositive: false }
    e.kept = r
    const amount = sum === undefined ? undefined : r.fields[sum]
    if (amount !== undefined && amount > 0) {
      e.positive += amount
      e.anyPositive = true
    }
    entries.set(key, e)
  }
  return [...entries.values()]
    .map((e) => {
      if (sum === undefined || !e.anyPositive) return e.kept
      return { ...e.kept, fields: { ...e.kept.fields, [sum]: e.positive } }
    })
    .sort((x, y) => x.ts - y.ts)
}

describe('bucketMs', () => {
  it.each([
    [1, 1000],
    [10, 1000],
    [60, 6000],
    [300, 30_000],
    [14_400, 1_440_000],
  ])('intervalS %i: %i ms', (intervalS, ms) => {
    expect(bucketMs(intervalS)).toBe(ms)
  })
})

describe('a sensor reporting faster than its interval holds at most one entry per bucket and quality', () => {
  const PD = sensor('PD-1', 'ponding_depth', {}, 300)
  const B = bucketMs(PD.intervalS)

  it('every second for 20,000 s with intervalS 300, all good: one entry per 30 s bucket, the latest reading of each', () => {
    const h = createSensorHistory({ retentionMs: () => 12 * HOUR, idleMs: () => 12 * HOUR })
    const outcomes = new Map<string, number>()
    for (let i = 0; i < 20_000; i++) {
      const o = h.insert(PD, reading(PD, T0 + i * 1000, { depth_cm: i }))
      outcomes.set(o, (outcomes.get(o) ?? 0) + 1)
    }
    const buckets = Math.ceil(20_000 / 30)
    expect(h.readingCount).toBe(buckets)
    expect(outcomes).toEqual(new Map([['added', buckets], ['folded', 20_000 - buckets]]))
    const held = h.get(PD.id)?.readings as HeldReadings
    expect(held.length).toBe(buckets)
    // T0 is on a bucket boundary: bucket k ends with the reading of second 30k + 29.
    expect(held.at(0)).toEqual({ ts: T0 + 29_000, quality: 'good', fields: { depth_cm: 29 } })
    expect(held.at(buckets - 1)).toEqual({ ts: T0 + 19_999_000, quality: 'good', fields: { depth_cm: 19_999 } })
    // Re-flags of the newest entry do not add to it either.
    expect(h.insert(PD, reading(PD, T0 + 19_999_000, { depth_cm: 19_999 }, 'suspect'))).toBe('replaced')
    expect(h.readingCount).toBe(buckets)
  })

  it('every second for 20,000 s with random qualities, re-flags of the newest and 1 h retention: at most 3 entries per bucket', () => {
    const h = createSensorHistory({ retentionMs: () => HOUR, idleMs: () => 12 * HOUR })
    let seed = 7
    const rnd = (): number => ((seed = (seed * 1_103_515_245 + 12_345) >>> 0) % 1_000_000) / 1_000_000
    let most = 0
    for (let i = 0; i < 20_000; i++) {
      const ts = T0 + i * 1000
      const roll = rnd()
      const quality: Quality = roll < 0.6 ? 'good' : roll < 0.85 ? 'suspect' : 'bad'
      h.insert(PD, reading(PD, ts, { depth_cm: i }, quality))
      // The spike test re-flags the previous reading now and then (it arrives before the next one).
      if (rnd() < 0.1) h.insert(PD, reading(PD, ts, { depth_cm: i }, rnd() < 0.5 ? 'suspect' : 'bad'))
      if (i % 1000 === 999) {
        const held = h.get(PD.id)?.readings as HeldReadings
        most = Math.max(most, mostPerBucket(held, B))
        expect(h.readingCount).toBe(held.length)
      }
    }
    expect(most).toBeLessThanOrEqual(3)
    // One hour of 30 s buckets, the oldest one possibly in part.
    expect(h.readingCount).toBeLessThanOrEqual(3 * (HOUR / B + 1))
    expect(h.readingCount).toBeGreaterThanOrEqual(HOUR / B)
  })

  it('a third quality in a bucket gets an entry, a fourth reading of a bucket folds into the entry of its quality', () => {
    const h = createSensorHistory({ retentionMs: () => HOUR, idleMs: () => HOUR })
    const at = (s: number, q: Quality, d: number) => h.insert(PD, reading(PD, T0 + s * 1000, { depth_cm: d }, q))
    expect([at(0, 'good', 1), at(1, 'suspect', 2), at(2, 'bad', 3), at(3, 'good', 4), at(4, 'bad', 5), at(5, 'bad', 6)]).toEqual([
      'added',
      'added',
      'added',
      'folded',
      'folded',
      'folded',
    ])
    expect(heldList(h.get(PD.id)?.readings)).toEqual([
      { ts: T0 + 1000, quality: 'suspect', fields: { depth_cm: 2 } },
      { ts: T0 + 3000, quality: 'good', fields: { depth_cm: 4 } },
      { ts: T0 + 5000, quality: 'bad', fields: { depth_cm: 6 } },
    ])
    expect(h.readingCount).toBe(3)
    // The next bucket starts afresh.
    expect(at(30, 'good', 7)).toBe('added')
    expect(h.readingCount).toBe(4)
  })

  it('a later field joins a folded entry, and a field the latest reading lacks is absent from it (the latest reading wins)', () => {
    const FL = sensor('FL-1', 'flow', {}, 300)
    const h = createSensorHistory({ retentionMs: () => HOUR, idleMs: () => HOUR })
    h.insert(FL, reading(FL, T0, { flow_m3s: 1 }))
    h.insert(FL, reading(FL, T0 + 1000, { flow_m3s: 2, velocity_ms: 0.5 }))
    expect(heldList(h.get(FL.id)?.readings)).toEqual([{ ts: T0 + 1000, quality: 'good', fields: { flow_m3s: 2, velocity_ms: 0.5 } }])
    h.insert(FL, reading(FL, T0 + 2000, { flow_m3s: 3 }))
    expect(heldList(h.get(FL.id)?.readings)).toEqual([{ ts: T0 + 2000, quality: 'good', fields: { flow_m3s: 3 } }])
    expect(h.values(FL.id, 'velocity_ms')).toEqual([])
  })
})

describe('what the windows see of folded readings', () => {
  // Strictly increasing ts, 1 to 40 s apart, quality mostly good.
  const steps = fc.array(
    fc.record({
      dt: fc.integer({ min: 1, max: 40_000 }),
      quality: fc.constantFrom<Quality>('good', 'good', 'good', 'good', 'suspect', 'bad'),
      value: fc.integer({ min: 0, max: 400 }),
    }),
    { minLength: 1, maxLength: 600 },
  )

  it('a clear-water window mean is the mean over the latest good reading of each bucket (intervalS 300, 1 s to 40 s apart)', () => {
    const WQ = sensor('WQ-1', 'water_quality', {}, 300)
    const b = bucketMs(WQ.intervalS)
    fc.assert(
      fc.property(steps, (xs) => {
        const h = createSensorHistory({ retentionMs: () => 24 * HOUR, idleMs: () => 24 * HOUR })
        const fed: Kept[] = []
        let ts = T0
        for (const x of xs) {
          ts += x.dt
          const r = { ts, quality: x.quality, fields: { do_mgl: x.value / 40 } }
          fed.push(r)
          h.insert(WQ, reading(WQ, ts, r.fields, r.quality))
        }
        const held = h.get(WQ.id)?.readings as HeldReadings
        const expected = foldedInOrder(fed, b)
        expect(heldList(held)).toEqual(expected)
        const values: TimedValue[] = expected.map((k) => ({ ts: k.ts, value: k.fields.do_mgl as number, quality: k.quality }))
        const window = { parameter: 'do_mgl' as const, latestTs: ts, intervalS: WQ.intervalS }
        expect(clearWindowOfColumns({ ...window, readings: held })).toEqual(clearWindow({ ...window, readings: values }))
      }),
      { numRuns: 200, seed: 11 },
    )
  })

  it('rain totals are the exact sum of every amount that is not bad, whatever the spacing (amounts in eighths of a mm)', () => {
    const RG = sensor('RG-1', 'rainfall', {}, 300)
    const b = bucketMs(RG.intervalS)
    fc.assert(
      fc.property(steps, (xs) => {
        const h = createSensorHistory({ retentionMs: () => 12 * HOUR + HOUR, idleMs: () => 24 * HOUR })
        const fed: Kept[] = []
        let ts = T0
        for (const [i, x] of xs.entries()) {
          ts += x.dt
          // Eighths add exactly in any order; now and then none, or an amount present as 0.
          const fields: Record<string, number> = i % 17 === 5 ? {} : { rain_mm: i % 11 === 3 ? 0 : x.value / 8 }
          fed.push({ ts, quality: x.quality, fields })
          h.insert(RG, reading(RG, ts, fields, x.quality))
        }
        const held = h.get(RG.id)?.readings as HeldReadings
        const exact = fed.reduce((s, r) => s + (r.quality !== 'bad' && (r.fields.rain_mm ?? 0) > 0 ? (r.fields.rain_mm as number) : 0), 0)
        // Everything fed is within the last 12 h (600 steps of at most 40 s).
        expect(rainTotalsOfColumns([held], ts).r12h).toBe(exact)
        // The shorter windows see each bucket's amounts at the ts of its latest reading of their quality.
        const expected = foldedInOrder(fed, b, 'rain_mm')
        const values: TimedValue[] = expected.flatMap((k) => (k.fields.rain_mm === undefined ? [] : [{ ts: k.ts, value: k.fields.rain_mm, quality: k.quality }]))
        expect(rainTotalsOfColumns([held], ts)).toEqual(rainTotals([values], ts))
      }),
      { numRuns: 200, seed: 12 },
    )
  })

  it('rain totals of a gauge reporting every second for 20,000 s are those of every amount, with at most 3 entries per 30 s', () => {
    const RG = sensor('RG-1', 'rainfall', {}, 300)
    const h = createSensorHistory({ retentionMs: () => 12 * HOUR, idleMs: () => 24 * HOUR })
    let exact = 0
    const all: TimedValue[] = []
    for (let i = 0; i < 20_000; i++) {
      const ts = T0 + i * 1000
      const quality: Quality = i % 97 === 0 ? 'bad' : i % 13 === 0 ? 'suspect' : 'good'
      const mm = (i % 5) * 0.25
      if (quality !== 'bad') exact += mm
      all.push({ ts, value: mm, quality })
      h.insert(RG, reading(RG, ts, { rain_mm: mm }, quality))
    }
    const held = h.get(RG.id)?.readings as HeldReadings
    expect(mostPerBucket(held, bucketMs(300))).toBeLessThanOrEqual(3)
    expect(h.readingCount).toBeLessThanOrEqual(3 * Math.ceil(20_000 / 30))
    expect(rainTotalsOfColumns([held], T0 + 19_999_000).r12h).toBe(exact)
    // Windows that start 1 ms before a bucket (T0 and the windows are whole multiples of 30 s) see whole buckets: exactly
    // the readings they would see one by one. Elsewhere a window's oldest bucket counts in full or not at all.
    const now = T0 + 667 * 30_000 - 1
    expect(rainTotalsOfColumns([held], now)).toEqual(rainTotals([all], now))
  })
})

describe('a sensor reporting at or slower than its bucket behaves as before', () => {
  it('matches the unfolded reference history: readings in order at least one bucket apart, late readings, re-flags, pruning and the cap', () => {
    fc.assert(
      fc.property(
        fc.constantFrom(1, 10, 60, 300, 3600),
        fc.constantFrom<Sensor['kind']>('rainfall', 'water_quality', 'tunnel_depth'),
        fc.integer({ min: 3, max: 200 }),
        fc.array(
          fc.record({
            kind: fc.constantFrom('next', 'next', 'next', 'late', 'reflag'),
            extra: fc.nat({ max: 3_000_000 }),
            pick: fc.nat(),
            quality: fc.constantFrom(...QUALITIES),
            value: fc.oneof(fc.double({ min: -5, max: 50, noNaN: true }), fc.constant(Number.NaN)),
            absent: fc.boolean(),
          }),
          { maxLength: 400 },
        ),
        (intervalS, kind, maxReadings, xs) => {
          const s = sensor('S-1', kind, {}, intervalS)
          const b = bucketMs(intervalS)
          const retentionMs = 40 * b
          const field = kind === 'rainfall' ? 'rain_mm' : kind === 'water_quality' ? 'do_mgl' : 'depth_cm'
          const h = createSensorHistory({ retentionMs: () => retentionMs, idleMs: () => 24 * HOUR, maxReadings })
          const ref = reference(retentionMs, maxReadings)
          let newest = T0
          for (const x of xs) {
            const kept = ref.kept
            let ts: number
            if (x.kind === 'next' || kept.length === 0) ts = newest += b + (x.extra % (2 * b))
            else if (x.kind === 'late') ts = newest - 1 - (x.extra % (2 * retentionMs))
            else ts = (kept[x.pick % kept.length] as Kept).ts
            const fields: Record<string, number> = x.absent ? {} : { [field]: x.value }
            expect(h.insert(s, reading(s, ts, fields, x.quality))).toBe(ref.insert({ ts, quality: x.quality, fields }))
            expect(h.readingCount).toBe(ref.kept.length)
          }
          expect(heldList(h.get(s.id)?.readings)).toEqual(ref.kept)
        },
      ),
      { numRuns: 300, seed: 13 },
    )
  })
})

describe('readings in any order, faster than the bucket, against the reference history with folding', () => {
  it.each([1, 2, 3, 4, 5, 6])('seed %i: outcomes, entries, counts, re-flags of the newest and of folded-away readings, pruning and the cap', (seed) => {
    fc.assert(
      fc.property(
        fc.constantFrom(10, 60, 300),
        fc.constantFrom<Sensor['kind']>('rainfall', 'water_quality'),
        fc.integer({ min: 2, max: 60 }),
        fc.array(
          fc.record({
            kind: fc.constantFrom('next', 'next', 'next', 'next', 'late', 'reflag', 'reflagNewest'),
            gap: fc.nat({ max: 20_000 }),
            pick: fc.nat(),
            quality: fc.constantFrom(...QUALITIES),
            value: fc.oneof(fc.integer({ min: -8, max: 80 }).map((v) => v / 8), fc.constant(Number.NaN)),
            absent: fc.boolean(),
            other: fc.boolean(),
          }),
          { maxLength: 500 },
        ),
        (intervalS, kind, maxReadings, xs) => {
          const s = sensor('S-1', kind, {}, intervalS)
          const b = bucketMs(intervalS)
          const retentionMs = 30 * b
          const field = kind === 'rainfall' ? 'rain_mm' : 'do_mgl'
          const h = createSensorHistory({ retentionMs: () => retentionMs, idleMs: () => 24 * HOUR, maxReadings })
          const ref = reference(retentionMs, maxReadings, { bucketMs: b, ...(kind === 'rainfall' ? { sum: 'rain_mm' } : {}) })
          let newest = T0
          let changes = 0
          for (const x of xs) {
            const kept = ref.kept
            let ts: number
            if (x.kind === 'next' || kept.length === 0) ts = newest += 1 + (x.gap % (b / 2))
            else if (x.kind === 'late') ts = newest - 1 - (x.gap % b)
            else if (x.kind === 'reflag') ts = (kept[x.pick % kept.length] as Kept).ts
            else ts = (kept[kept.length - 1] as Kept).ts
            const fields: Record<string, number> = x.absent ? {} : { [field]: x.value }
            // A second field now and then, so columns are added to records holding folded rows.
            if (x.other) fields.temp_c = x.value
            const outcome = h.insert(s, reading(s, ts, fields, x.quality))
            expect(outcome).toBe(ref.insert({ ts, quality: x.quality, fields }))
            if (outcome !== 'too_old') changes++
            expect(h.readingCount).toBe(ref.kept.length)
            expect(h.get(s.id)?.changes).toBe(changes)
          }
          expect(heldList(h.get(s.id)?.readings)).toEqual(ref.kept)
        },
      ),
      { numRuns: 60, seed },
    )
  })
})

describe('re-flags of folded readings', () => {
  const TD = sensor('TD-1', 'tunnel_depth', {}, 60)
  const RG = sensor('RG-1', 'rainfall', {}, 60)
  const history = () => createSensorHistory({ retentionMs: () => HOUR, idleMs: () => 12 * HOUR })

  it('the spike re-flag of the newest reading finds the folded entry that carries its ts and updates it', () => {
    const h = history()
    for (const [s, d] of [[0, 10], [1, 11], [2, 60]] as const) h.insert(TD, reading(TD, T0 + s * 1000, { depth_cm: d }))
    expect(h.readingCount).toBe(1)
    // The quality stage re-flags the reading of 2 s when the next one arrives, ahead of it.
    expect(h.insert(TD, reading(TD, T0 + 2000, { depth_cm: 60 }, 'bad'))).toBe('replaced')
    expect(h.insert(TD, reading(TD, T0 + 3000, { depth_cm: 12 }))).toBe('added')
    expect(h.values(TD.id, 'depth_cm')).toEqual([
      { ts: T0 + 2000, value: 60, quality: 'bad' },
      { ts: T0 + 3000, value: 12, quality: 'good' },
    ])
    expect(h.readingCount).toBe(2)
  })

  it('a re-flag of the newest folded rain entry keeps the amounts folded into it before that reading', () => {
    const h = history()
    for (const [s, mm] of [[0, 1], [1, 2], [2, 4]] as const) h.insert(RG, reading(RG, T0 + s * 1000, { rain_mm: mm }))
    expect(h.values(RG.id, 'rain_mm')).toEqual([{ ts: T0 + 2000, value: 7, quality: 'good' }])
    expect(h.insert(RG, reading(RG, T0 + 2000, { rain_mm: 4 }, 'suspect'))).toBe('replaced')
    expect(h.values(RG.id, 'rain_mm')).toEqual([{ ts: T0 + 2000, value: 7, quality: 'suspect' }])
    // A correction of its amount replaces that reading's share only, however often.
    expect(h.insert(RG, reading(RG, T0 + 2000, { rain_mm: 5 }, 'suspect'))).toBe('replaced')
    expect(h.values(RG.id, 'rain_mm')).toEqual([{ ts: T0 + 2000, value: 8, quality: 'suspect' }])
    // A later good reading of the bucket gets an entry of its own; the suspect amounts stay with theirs.
    h.insert(RG, reading(RG, T0 + 3000, { rain_mm: 1 }))
    expect(h.values(RG.id, 'rain_mm')).toEqual([
      { ts: T0 + 2000, value: 8, quality: 'suspect' },
      { ts: T0 + 3000, value: 1, quality: 'good' },
    ])
    expect(rainTotalsOfColumns([h.get(RG.id)?.readings as HeldReadings], T0 + 3000).mm30).toBe(9)
  })

  it('a re-flag of a ts folded away neither throws nor corrupts the counts: it is held as a late reading of its own', () => {
    const h = history()
    for (const s of [0, 1, 2]) h.insert(TD, reading(TD, T0 + s * 1000, { depth_cm: 10 + s }))
    const changes = h.get(TD.id)?.changes
    expect(h.insert(TD, reading(TD, T0 + 1000, { depth_cm: 11 }, 'suspect'))).toBe('added')
    expect(h.get(TD.id)?.changes).toBe((changes ?? 0) + 1)
    expect(h.values(TD.id, 'depth_cm')).toEqual([
      { ts: T0 + 1000, value: 11, quality: 'suspect' },
      { ts: T0 + 2000, value: 12, quality: 'good' },
    ])
    expect(h.readingCount).toBe(2)
    // The bucket's next reading in order still folds into the entry of its quality.
    expect(h.insert(TD, reading(TD, T0 + 3000, { depth_cm: 13 }))).toBe('folded')
    expect(h.readingCount).toBe(2)
    expect(h.evict(() => undefined)).toBe(1)
    expect(h.readingCount).toBe(0)
  })
})

describe('many sensors', () => {
  it('records of one folded reading keep their shared rows and the counts stay exact', () => {
    const h = createSensorHistory({ retentionMs: () => 10 * MIN, idleMs: () => HOUR })
    const sensors = Array.from({ length: 50 }, (_, i) => sensor(`S-${i}`, i % 2 === 0 ? 'rainfall' : 'tunnel_depth', {}, 60))
    for (let t = 0; t < 5; t++) for (const s of sensors) h.insert(s, reading(s, T0 + t * 1000, s.kind === 'rainfall' ? { rain_mm: 0.5 } : { depth_cm: t }))
    expect(h.readingCount).toBe(50)
    expect(h.values('S-0', 'rain_mm')).toEqual([{ ts: T0 + 4000, value: 2.5, quality: 'good' }])
    expect(h.values('S-1', 'depth_cm')).toEqual([{ ts: T0 + 4000, value: 4, quality: 'good' }])
    // Still one row each, in the shared pools: no record has a buffer of its own.
    const buffers = new Set(sensors.map((s) => h.get(s.id)?.readings.data.buffer))
    expect(buffers.size).toBeLessThanOrEqual(6)
  })
})
