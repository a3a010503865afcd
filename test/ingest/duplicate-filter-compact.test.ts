import { describe, expect, it } from 'vitest'
import fc from 'fast-check'
import { duplicateFilter, type DuplicateFilterStats } from '../../ingest/duplicate-filter.js'
import { referenceDuplicateFilter } from './duplicate-reference.js'

const T0 = 1_780_000_000_000

/** The compact filter and the plain reference on one fake clock. */
function pair(horizonMs: number, slackMs: number) {
  const clock = { t: T0 }
  const options = { clock: { now: () => clock.t }, horizonMs, slackMs }
  return { clock, compact: duplicateFilter(options), reference: referenceDuplicateFilter(options) }
}

function withoutObjects(stats: DuplicateFilterStats): Omit<DuplicateFilterStats, 'objects'> {
  const { objects: _objects, ...rest } = stats
  return rest
}

describe('duplicateFilter rows (one run or one value per sensor, no objects)', () => {
  it('holds a sensor after its first reading as a row', () => {
    const { filter } = { filter: duplicateFilter({ clock: { now: () => T0 } }) }
    for (let i = 0; i < 100; i++) expect(filter.seen(`S${i}`, T0 - 1000)).toBe(false)
    expect(filter.stats()).toEqual({ sensors: 100, runs: 0, runPairs: 0, lists: 100, listValues: 100, objects: 0 })
    expect(filter.seen('S7', T0 - 1000)).toBe(true)
    expect(filter.seen('S7', T0 - 999)).toBe(false)
    // Two values are evenly spaced: still a row; a third off their step needs the object.
    expect(filter.stats()).toMatchObject({ sensors: 100, lists: 100, listValues: 101, objects: 0 })
    expect(filter.seen('S7', T0 - 997)).toBe(false)
    expect(filter.stats()).toMatchObject({ sensors: 100, lists: 100, listValues: 102, objects: 1 })
  })

  it('holds a regular sensor as a row from its first reading on, its eighth making the list a run', () => {
    const { clock, compact } = pair(60_000, 600)
    for (let k = 0; k < 20; k++) {
      clock.t = T0 + k * 1000 + 40
      expect(compact.seen('A', T0 + k * 1000)).toBe(false)
      expect(compact.stats()).toMatchObject(k < 7 ? { objects: 0, runs: 0, lists: 1, listValues: k + 1 } : { objects: 0, runs: 1, lists: 0, runPairs: k + 1 })
    }
    expect(compact.stats()).toMatchObject({ runs: 1, runPairs: 20, lists: 0 })
    // A run in a row answers for its members and takes out the expired ones.
    expect(compact.seen('A', T0 + 5000)).toBe(true)
    expect(compact.seen('A', T0 + 5500)).toBe(false)
    expect(compact.stats().objects).toBe(1)
    compact.forget('A', T0 + 5500)
    expect(compact.stats()).toMatchObject({ objects: 0, runs: 1, runPairs: 20, lists: 0 })
    // Expiry trims the row's run from its front as it grows.
    for (let k = 20; k <= 70; k++) {
      clock.t = T0 + k * 1000 + 40
      expect(compact.seen('A', T0 + k * 1000)).toBe(false)
    }
    expect(compact.stats()).toMatchObject({ objects: 0, runs: 1, runPairs: 60, lists: 0 })
    expect(compact.size).toBe(60)
    expect(compact.seen('A', T0 + 11_000)).toBe(true)
    expect(compact.seen('A', T0 + 10_000)).toBe(false)
  })

  it('forgets from a row: a single value drops the sensor, a run member splits it into an object', () => {
    const { clock, compact } = pair(60_000, 600)
    compact.seen('A', T0)
    compact.forget('A', T0 + 1)
    expect(compact.size).toBe(1)
    compact.forget('A', T0)
    expect(compact.size).toBe(0)
    expect(compact.stats()).toMatchObject({ sensors: 0, objects: 0 })
    for (let k = 0; k < 10; k++) {
      clock.t = T0 + k * 1000
      compact.seen('B', T0 + k * 1000)
    }
    compact.forget('B', T0 + 9000)
    expect(compact.stats()).toMatchObject({ runs: 1, objects: 0 })
    compact.forget('B', T0 + 4000)
    expect(compact.stats()).toMatchObject({ runs: 2, objects: 1 })
    clock.t = T0 + 4000
    expect(compact.seen('B', T0 + 4000)).toBe(false)
    expect(compact.stats()).toMatchObject({ runs: 1, runPairs: 9, objects: 0 })
  })

  it('sweeps silent rows out while others move into their slots', () => {
    const { clock, compact } = pair(1000, 10)
    for (let i = 0; i < 50; i++) compact.seen(`S${i}`, T0)
    clock.t += 2000
    for (let k = 0; k < 64 * 60; k++) {
      clock.t = T0 + 2000 + k
      compact.seen('live', T0 + 2000 + k)
    }
    expect(compact.stats()).toMatchObject({ sensors: 1, objects: 0 })
    for (let i = 0; i < 50; i++) expect(compact.seen(`S${i}`, T0)).toBe(false)
    expect(compact.stats().sensors).toBe(51)
  })
})

describe('duplicateFilter against the plain reference', () => {
  type Op =
    | { kind: 'next'; sensor: number; skip: number; jitter: number; delay: number }
    | { kind: 'seen'; sensor: number; ts: number }
    | { kind: 'resend'; sensor: number; back: number }
    | { kind: 'forget'; sensor: number; back: number }
    | { kind: 'advance'; ms: number }
  const sensor = fc.integer({ min: 0, max: 5 })
  const op: fc.Arbitrary<Op> = fc.oneof(
    {
      weight: 12,
      arbitrary: fc.record({
        kind: fc.constant('next' as const),
        sensor,
        skip: fc.oneof({ weight: 8, arbitrary: fc.constant(1) }, { weight: 2, arbitrary: fc.integer({ min: -30, max: 30 }) }),
        jitter: fc.oneof({ weight: 8, arbitrary: fc.constant(0) }, { weight: 2, arbitrary: fc.integer({ min: -3, max: 3 }) }),
        delay: fc.oneof({ weight: 6, arbitrary: fc.constant(10) }, { weight: 4, arbitrary: fc.integer({ min: 0, max: 200 }) }),
      }),
    },
    { weight: 2, arbitrary: fc.record({ kind: fc.constant('seen' as const), sensor, ts: fc.oneof(fc.integer({ min: 4000, max: 6000 }), fc.constantFrom(0, -0, 0.5, 2 ** 53)) }) },
    { weight: 4, arbitrary: fc.record({ kind: fc.constant('resend' as const), sensor, back: fc.integer({ min: 0, max: 40 }) }) },
    { weight: 2, arbitrary: fc.record({ kind: fc.constant('forget' as const), sensor, back: fc.integer({ min: -1, max: 40 }) }) },
    { weight: 2, arbitrary: fc.record({ kind: fc.constant('advance' as const), ms: fc.oneof(fc.integer({ min: 0, max: 50 }), fc.integer({ min: 900, max: 1100 })) }) },
  )

  for (const slack of [0, 10, 50]) {
    it(`answers, sizes and stats as the reference does (slack ${slack} ms)`, () => {
      fc.assert(
        fc.property(fc.array(op, { minLength: 20, maxLength: 500, size: 'max' }), (ops) => {
          const { clock, compact, reference } = pair(1000, slack)
          clock.t = 5000
          const last = [0, 0, 0, 0, 0, 0]
          const sent: number[][] = [[], [], [], [], [], []]
          const seen = (s: number, ts: number) => {
            const got = compact.seen(`S${s}`, ts)
            expect(got, `S${s} ${ts} at ${clock.t}`).toBe(reference.seen(`S${s}`, ts))
            ;(sent[s] as number[]).push(ts)
          }
          for (const o of ops) {
            if (o.kind === 'advance') clock.t += o.ms
            else if (o.kind === 'next') {
              clock.t += o.delay
              last[o.sensor] = (last[o.sensor] as number) + o.skip * 10
              seen(o.sensor, 4800 + (last[o.sensor] as number) + o.jitter)
            } else if (o.kind === 'seen') seen(o.sensor, o.ts)
            else {
              const list = sent[o.sensor] as number[]
              const ts = o.back < 0 || list.length === 0 ? 4321 : (list[Math.max(0, list.length - 1 - o.back)] as number)
              if (o.kind === 'resend') seen(o.sensor, ts)
              else {
                compact.forget(`S${o.sensor}`, ts)
                reference.forget(`S${o.sensor}`, ts)
              }
            }
            expect(compact.size).toBe(reference.size)
            expect(withoutObjects(compact.stats())).toEqual(reference.stats())
          }
        }),
        { numRuns: 200 },
      )
    })
  }
})
