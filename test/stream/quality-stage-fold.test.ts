// The flat-line history of a sensor that reports faster than its registry interval: points of one bucket (a tenth of
// intervalS, at least 1 s) fold into one entry, so the history stays bounded; readings a bucket apart or more keep the
// flags of the per-point reference exactly, and faster ones are never flagged where the per-point test would not flag
// them, and at most one bucket (plus one reading gap) later.
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import type { Quality, Reading, Registry, Sensor } from '../../domain.js'
import { mulberry32 } from '../../registry/generate-sample.js'
import { indexRegistry, type RegistryIndex } from '../../registry/registry-index.js'
import { createQualityStage } from '../../stream/quality-stage.js'
import { fixtureRegistry } from '../helpers/fixture-registry.js'
import { referenceQualityStage } from './quality-reference.js'

const SEC = 1000
const MIN = 60_000
const HOUR = 3_600_000
const T0 = Date.UTC(2026, 10, 27)
const RANK: Record<Quality, number> = { good: 0, suspect: 1, bad: 2 }

function testRegistry(): RegistryIndex {
  const reg: Registry = fixtureRegistry()
  const base = { kind: 'water_quality' as const, district: 'xihu', segment: 'river-1', lat: 30.26, lon: 120.1 }
  reg.sensors.push(
    { ...base, id: 'WQ-PH', name: 'pH at 5 min', intervalS: 300, params: { measures: ['ph'] } },
    { ...base, id: 'WQ-5', name: 'Station at 5 min', intervalS: 300, params: { measures: ['do_mgl', 'nh3n_mgl', 'ph', 'temp_c', 'cond_uscm'] } },
    { ...base, id: 'WQ-15', name: 'DO at 15 min', intervalS: 900, params: { measures: ['do_mgl'] } },
    { ...base, id: 'WQ-60', name: 'Hourly station', intervalS: 3600, params: { measures: ['do_mgl', 'nh3n_mgl'] } },
  )
  return indexRegistry(reg)
}

const REGISTRY = testRegistry()

/** Bucket width of a sensor, ms: a tenth of its interval, at least 1 s. */
function bucketOf(id: string): number {
  return Math.max(SEC, (REGISTRY.sensor(id) as Sensor).intervalS * 100)
}

function reading(id: string, ts: number, fields: Record<string, number>): Reading {
  const s = REGISTRY.sensor(id) as Sensor
  return { sensor: id, kind: s.kind, district: s.district, segment: s.segment, ts, fields, quality: 'good', qualityReason: '', tsSource: 'device', receivedAt: ts }
}

function stages() {
  const options = { registry: () => REGISTRY, latenessS: 120, clock: { now: () => T0 } }
  return { stage: createQualityStage(options), reference: referenceQualityStage(options) }
}

describe('quality stage: a sensor reporting faster than its interval holds a bounded flat-line history', () => {
  it('pH every second with intervalS 300 and flat: room for two pairs per 30 s bucket over the 24 h the bad threshold reaches', () => {
    const { stage } = stages()
    const n = 90_000
    let worst = 0
    let firstBad = -1
    for (let i = 0; i < n; i += 100) {
      const batch: Reading[] = []
      // Wiggles inside the tolerance (±0.005): a flat line, and most buckets hold two values.
      for (let j = i; j < i + 100; j++) batch.push(reading('WQ-PH', T0 + j * SEC, { ph: 7 + 0.002 * (j % 3) }))
      stage.assess(batch).readings.forEach((r, k) => {
        worst = Math.max(worst, RANK[r.quality])
        if (firstBad < 0 && r.quality === 'bad') firstBad = i + k
      })
    }
    // Bad once the run lasts 24 h (give or take a bucket: the run starts at its oldest bucket's first point).
    expect(worst).toBe(2)
    expect(Math.abs(firstBad - 24 * 3600)).toBeLessThanOrEqual(30)
    const { entries, pairs, capacity } = stage.flatLineHistory('WQ-PH')
    const buckets = (24 * HOUR) / (30 * SEC)
    // The 24 h are held; the ring grows only when 24 h of buckets (two pairs each at most, plus the entry at the
    // horizon and the pending point) do not fit: 2 · 2883 pairs → 8192. Per point it would hold 86 400 points.
    expect(entries).toBeGreaterThanOrEqual(buckets)
    expect(pairs).toBeLessThanOrEqual(capacity)
    expect(capacity).toBeLessThanOrEqual(nextPowerOf2(2 * (buckets + 3)))
  })

  it('pH every second with a step of 0.1 every 10 min: only what a run can still reach, back to the last step', () => {
    const { stage } = stages()
    let worst = 0
    let most = 0
    for (let i = 0; i < 100_000; i += 100) {
      const batch: Reading[] = []
      for (let j = i; j < i + 100; j++) batch.push(reading('WQ-PH', T0 + j * SEC, { ph: 7 + 0.1 * (Math.floor(j / 600) % 2) + 0.002 * (j % 3) }))
      for (const r of stage.assess(batch).readings) worst = Math.max(worst, RANK[r.quality])
      most = Math.max(most, stage.flatLineHistory('WQ-PH').entries)
    }
    expect(worst).toBe(0)
    // Two entries either side of a step span 0.1, more than twice the tolerance: nothing before them is reached
    // again. 10 min of 30 s buckets, the step's bucket and the pending point; 2,880 entries before.
    expect(most).toBeLessThanOrEqual(600 / 30 + 2)
    expect(stage.flatLineHistory('WQ-PH').capacity).toBeLessThanOrEqual(64)
  })

  it('a count-based field keeps a run of identical readings (bounded by its count), and readings a bucket apart are one pair each', () => {
    const { stage } = stages()
    // Runs of 35 identical readings (suspect from 12, bad from 36): a run is held whole, and dropped at its end.
    let worst = 0
    for (let i = 0; i < 1000; i++) {
      const [r] = stage.assess([reading('WQ-5', T0 + i * SEC, { nh3n_mgl: 0.5 + 0.01 * (Math.floor(i / 35) % 2) })]).readings
      worst = Math.max(worst, RANK[(r as Reading).quality])
    }
    expect(worst).toBe(1)
    const counted = stage.flatLineHistory('WQ-5')
    expect(counted.entries).toBe(counted.pairs)
    expect(counted.capacity).toBe(64)
    // Alternating values are never a run: two entries and the pending point, in the ring's first four pairs.
    const { stage: alternating } = stages()
    for (let i = 0; i < 1000; i++) alternating.assess([reading('WQ-5', T0 + i * SEC, { nh3n_mgl: 0.5 + 0.01 * (i % 2) })])
    expect(alternating.flatLineHistory('WQ-5')).toMatchObject({ entries: 3, capacity: 4 })
    const { stage: spaced } = stages()
    for (let i = 0; i < 200; i++) spaced.assess([reading('WQ-5', T0 + i * 30 * SEC, { do_mgl: 7 + 0.5 * (i % 2) })])
    expect(spaced.flatLineHistory('WQ-5')).toMatchObject({ entries: 3, pairs: 3 })
  })
})

describe('quality stage: readings at least a bucket apart get exactly the per-point flags', () => {
  const IDS = ['WQ-5', 'WQ-60', 'WQ-15', 'TD-1', 'PD-1', 'WL-1', 'RG-1', 'WQ-1'] as const
  const FIELDS: Record<string, readonly string[]> = {
    'WQ-5': ['do_mgl', 'nh3n_mgl', 'ph', 'temp_c', 'cond_uscm'],
    'WQ-60': ['do_mgl', 'nh3n_mgl'],
    'WQ-15': ['do_mgl'],
    'WQ-1': ['do_mgl', 'nh3n_mgl', 'ph'],
    'TD-1': ['depth_cm'],
    'PD-1': ['depth_cm'],
    'WL-1': ['level_m'],
    'RG-1': ['rain_mm'],
  }
  const VALUES: Record<string, readonly number[]> = {
    do_mgl: [7, 7, 7.004, 7.008, 7.012, 7.02, 7.5, 9.5],
    nh3n_mgl: [0.5, 0.5, 0.5, 0.6],
    ph: [7.2, 7.2, 7.203, 7.206, 7.3],
    temp_c: [20, 20, 20.005, 20.011],
    cond_uscm: [420, 420, 421],
    depth_cm: [0, 0, 0.3, 0.6, 4, 30],
    level_m: [1.2, 1.2, 1.203, 1.206, 1.3],
    rain_mm: [0, 0, 0.5],
  }
  const spec = fc.record({
    sensor: fc.integer({ min: 0, max: IDS.length - 1 }),
    // In buckets of the sensor: 1 and 3 buckets, and fixed steps at least as long (and a reading out of order).
    dt: fc.constantFrom(1, 1, 1, 1, 3, 10 * MIN, 30 * MIN, HOUR, -MIN),
    picks: fc.array(fc.nat(), { minLength: 5, maxLength: 5 }),
    present: fc.array(fc.boolean(), { minLength: 5, maxLength: 5 }),
  })

  it('against the reference, re-flags included', () => {
    fc.assert(
      fc.property(fc.array(fc.array(spec, { minLength: 1, maxLength: 4 }), { minLength: 1, maxLength: 150 }), (batches) => {
        const { stage, reference } = stages()
        const latest = new Map<string, number>()
        for (const specs of batches) {
          const batch = specs.map((s) => {
            const id = IDS[s.sensor] as string
            const b = bucketOf(id)
            const last = latest.get(id) ?? T0
            const step = s.dt <= 3 ? s.dt * b : Math.max(s.dt, b)
            const ts = last + (s.dt < 0 ? s.dt : step)
            latest.set(id, Math.max(ts, last))
            const fields: Record<string, number> = {}
            for (const [i, name] of (FIELDS[id] as readonly string[]).entries()) {
              if (i > 0 && s.present[i] === false) continue
              const values = VALUES[name] as readonly number[]
              fields[name] = values[(s.picks[i] as number) % values.length] as number
            }
            return reading(id, ts, fields)
          })
          const got = stage.assess(batch)
          const want = reference.assess(batch)
          expect(JSON.stringify(got.readings)).toBe(JSON.stringify(want.readings))
          expect(JSON.stringify(got.reflagged)).toBe(JSON.stringify(want.reflagged))
        }
        // Nothing was folded: one pair per point.
        for (const id of IDS) {
          const h = stage.flatLineHistory(id)
          expect(h.pairs).toBe(h.entries)
        }
      }),
      { numRuns: 150 },
    )
  })
})

function nextPowerOf2(n: number): number {
  return 2 ** Math.ceil(Math.log2(n))
}

describe('quality stage: readings faster than a bucket', () => {
  /** DO: suspect after 2 h, bad after 6 h within ±0.01. */
  const rankOf = (ms: number): number => (ms >= 6 * HOUR ? 2 : ms >= 2 * HOUR ? 1 : 0)

  it('are never flagged flat where the per-point test is not, and at most a bucket plus a reading gap later', () => {
    fc.assert(
      fc.property(
        fc.constantFrom('WQ-5', 'WQ-15', 'WQ-60'),
        fc.integer(),
        fc.array(fc.integer({ min: 10, max: 8 * 60 }), { minLength: 1, maxLength: 4 }),
        (id, seed, minutes) => {
          const rnd = mulberry32(seed)
          const b = bucketOf(id)
          // Gaps of at least 1 s and less than a bucket.
          const maxGap = Math.max(SEC, Math.floor(b * (0.2 + 0.79 * rnd())))
          const { stage, reference } = stages()
          let ts = T0 + Math.floor(rnd() * b)
          let level = 7.3
          for (const m of minutes) {
            // A flat episode: values within 0.008 of each other, at least 0.03 from every value of the one before.
            const step = (0.03 + 0.07 * rnd()) * (rnd() < 0.5 ? -1 : 1)
            level = level + step > 7.6 || level + step < 7 ? level - step : level + step
            const start = ts
            const end = start + m * MIN
            for (; ts < end; ts += SEC + Math.floor(rnd() * (maxGap - SEC + 1))) {
              const r = reading(id, ts, { do_mgl: level + 0.004 * Math.floor(rnd() * 3) })
              const got = stage.assess([r])
              const want = reference.assess([r])
              expect(got.reflagged).toEqual([])
              expect(want.reflagged).toEqual([])
              const gotFlag = got.readings[0] as Reading
              const wantFlag = want.readings[0] as Reading
              for (const f of [gotFlag, wantFlag]) expect(f.qualityReason).toBe(f.quality === 'good' ? '' : 'flat:do_mgl')
              // The per-point reference flags by the time since the episode began.
              expect(RANK[wantFlag.quality]).toBe(rankOf(ts - start))
              expect(RANK[gotFlag.quality]).toBeLessThanOrEqual(RANK[wantFlag.quality])
              expect(RANK[gotFlag.quality]).toBeGreaterThanOrEqual(rankOf(ts - start - b - maxGap))
            }
          }
          // Bounded by buckets: room for at most two pairs a bucket over the 6 h the bad threshold reaches.
          expect(stage.flatLineHistory(id).capacity).toBeLessThanOrEqual(nextPowerOf2(2 * (Math.ceil((6 * HOUR + maxGap) / b) + 3)))
        },
      ),
      { numRuns: 12 },
    )
  })

  it.each([
    ['down', 7.5, 7],
    ['up', 7, 7.5],
  ])('a step %s inside a bucket: the bucket holding both levels ends the run, so the flat line starts at the next bucket', (_dir, before, after) => {
    const { stage, reference } = stages()
    // Buckets of 30 s, a reading every 5 s; the step comes 15 s into a bucket.
    const stepAt = T0 + 10 * MIN + 15 * SEC
    const firsts: Record<string, Partial<Record<Quality, number>>> = { got: {}, want: {} }
    for (let ts = T0; ts <= T0 + 7 * HOUR; ts += 5 * SEC) {
      // Wiggles inside the tolerance, so the buckets of one level hold two values.
      const r = reading('WQ-5', ts, { do_mgl: (ts < stepAt ? before : after) + 0.005 * ((ts / (5 * SEC)) % 2) })
      const got = stage.assess([r]).readings[0] as Reading
      const want = reference.assess([r]).readings[0] as Reading
      expect(RANK[got.quality]).toBeLessThanOrEqual(RANK[want.quality])
      ;(firsts.got as Partial<Record<Quality, number>>)[got.quality] ??= ts
      ;(firsts.want as Partial<Record<Quality, number>>)[want.quality] ??= ts
    }
    expect(firsts.want).toEqual({ good: T0, suspect: stepAt + 2 * HOUR, bad: stepAt + 6 * HOUR })
    expect(firsts.got).toEqual({ good: T0, suspect: stepAt + 15 * SEC + 2 * HOUR, bad: stepAt + 15 * SEC + 6 * HOUR })
  })

  it.each([
    ['dip', 7.5, 7],
    ['peak', 7, 7.5],
  ])('a %s of one reading, the third of its bucket, ends the run at that bucket', (_kind, level, blip) => {
    const { stage, reference } = stages()
    // Buckets of 30 s, a reading every 5 s: the bucket already holds two values when the blip is folded into it.
    const blipAt = T0 + 10 * MIN + 10 * SEC
    const firsts: Record<string, Partial<Record<Quality, number>>> = { got: {}, want: {} }
    for (let ts = T0; ts <= T0 + 7 * HOUR; ts += 5 * SEC) {
      const r = reading('WQ-5', ts, { do_mgl: ts === blipAt ? blip : level + 0.005 * ((ts / (5 * SEC)) % 2) })
      const got = stage.assess([r]).readings[0] as Reading
      const want = reference.assess([r]).readings[0] as Reading
      expect(RANK[got.quality]).toBeLessThanOrEqual(RANK[want.quality])
      ;(firsts.got as Partial<Record<Quality, number>>)[got.quality] ??= ts
      ;(firsts.want as Partial<Record<Quality, number>>)[want.quality] ??= ts
    }
    const after = blipAt + 5 * SEC
    expect(firsts.want).toEqual({ good: T0, suspect: after + 2 * HOUR, bad: after + 6 * HOUR })
    const nextBucket = T0 + 10 * MIN + 30 * SEC
    expect(firsts.got).toEqual({ good: T0, suspect: nextBucket + 2 * HOUR, bad: nextBucket + 6 * HOUR })
  })

  it('a depth sensor flat while it rains: the bucket the rain began in ends the run, so its flag comes up to a bucket later', () => {
    const { stage, reference } = stages()
    const b = bucketOf('TD-1')
    expect(b).toBe(6 * SEC)
    // Rain from 3.5 s into a bucket; the depth sensor reports a flat 0 every 2 s, dry before.
    const rainFrom = T0 + 20 * MIN + 3500
    const firsts: Record<string, Partial<Record<Quality, number>>> = { got: {}, want: {} }
    let gauge = rainFrom
    for (let ts = T0; ts <= T0 + 2 * HOUR; ts += 2 * SEC) {
      const batch: Reading[] = []
      if (ts >= gauge) {
        batch.push(reading('RG-1', gauge, { rain_mm: 1 }))
        gauge += MIN
      }
      batch.push(reading('TD-1', ts, { depth_cm: 0 }))
      const got = stage.assess(batch).readings.at(-1) as Reading
      const want = reference.assess(batch).readings.at(-1) as Reading
      expect(RANK[got.quality]).toBeLessThanOrEqual(RANK[want.quality])
      for (const [name, r] of [['got', got], ['want', want]] as const) {
        const first = firsts[name] as Partial<Record<Quality, number>>
        first[r.quality] ??= ts
      }
    }
    // Per point, the run starts at the first reading in the rain (20 min 4 s): suspect 30 min later, bad 60 min later.
    expect(firsts.want).toEqual({ good: T0, suspect: T0 + 50 * MIN + 4 * SEC, bad: T0 + 80 * MIN + 4 * SEC })
    // Folded, it starts at the first reading of the next bucket (20 min 6 s).
    expect(firsts.got).toEqual({ good: T0, suspect: T0 + 50 * MIN + 6 * SEC, bad: T0 + 80 * MIN + 6 * SEC })
  })

  it('a spike re-flagged bad leaves the history even when its neighbours were folded: the flat line it interrupted goes on', () => {
    const { stage, reference } = stages()
    // Hourly station (buckets of 6 min) reporting every 10 s: 7.000 and 7.004, a spike of 9.5 after 90 min.
    const spikeAt = T0 + 90 * MIN + 30 * SEC
    const flags: { got: string[]; want: string[] } = { got: [], want: [] }
    const reflagged: { got: Reading[]; want: Reading[] } = { got: [], want: [] }
    for (let ts = T0; ts <= T0 + 3 * HOUR; ts += 10 * SEC) {
      const r = reading('WQ-60', ts, { do_mgl: ts === spikeAt ? 9.5 : 7 + 0.004 * ((ts / (10 * SEC)) % 2) })
      const got = stage.assess([r])
      const want = reference.assess([r])
      flags.got.push(`${got.readings[0]?.quality}:${got.readings[0]?.qualityReason}`)
      flags.want.push(`${want.readings[0]?.quality}:${want.readings[0]?.qualityReason}`)
      reflagged.got.push(...got.reflagged)
      reflagged.want.push(...want.reflagged)
      if (ts === spikeAt + 10 * SEC) {
        // The spike was the newest pair, never folded: it is gone, and every bucket holds values within the tolerance.
        const h = stage.flatLineHistory('WQ-60')
        expect(h.entries).toBe(Math.floor((ts - T0) / (6 * MIN)) + 2)
        expect(h.pairs).toBeLessThanOrEqual(2 * h.entries)
      }
    }
    expect(reflagged.got).toEqual(reflagged.want)
    expect(reflagged.got.map((r) => [r.ts, r.quality, r.qualityReason])).toEqual([[spikeAt, 'bad', 'spike:do_mgl']])
    expect(flags.got).toEqual(flags.want)
    // Flat since T0 (the spike is no point of the run): suspect from 2 h on.
    expect(flags.got[(2 * HOUR) / (10 * SEC)]).toBe('suspect:flat:do_mgl')
    expect(flags.got[(2 * HOUR) / (10 * SEC) - 1]).toBe('good:')
  })
})
