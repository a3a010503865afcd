// The compact duplicate filter against the plain reference, on sequences aimed at the rows that hold short evenly
// spaced lists (a sensor's second to seventh reading at a fixed interval): regular series with their own step, jitter,
// resends, readings before the first (a backlog replayed backwards), forgets, clock jumps across the horizon and
// timestamps at the edge of the safe integers.
import { describe, expect, it } from 'vitest'
import fc from 'fast-check'
import { duplicateFilter, type DuplicateFilterStats } from '../../ingest/duplicate-filter.js'
import { referenceDuplicateFilter } from './duplicate-reference.js'

const HORIZON = 1000
const SENSORS = 6
/** Per sensor: the step of its series and where it starts (the last near the largest safe integer). */
const STEPS = [10, 1, 7, 100, 10, 1]
const BASES = [5000, 5000, 4000, 100, -40, 2 ** 53 - 12]

function pair(slackMs: number, horizonMs = HORIZON) {
  const clock = { t: 5000 }
  const options = { clock: { now: () => clock.t }, horizonMs, slackMs }
  return { clock, compact: duplicateFilter(options), reference: referenceDuplicateFilter(options) }
}

function withoutObjects(stats: DuplicateFilterStats): Omit<DuplicateFilterStats, 'objects'> {
  const { objects: _objects, ...rest } = stats
  return rest
}

type Op =
  | { kind: 'next'; sensor: number; skip: number; jitter: number; delay: number }
  | { kind: 'before'; sensor: number; delay: number }
  | { kind: 'resend'; sensor: number; back: number }
  | { kind: 'forget'; sensor: number; back: number }
  | { kind: 'odd'; sensor: number; ts: number }
  | { kind: 'advance'; ms: number }
  | { kind: 'edge'; sensor: number; back: number; offset: number }

const sensor = fc.integer({ min: 0, max: SENSORS - 1 })
const op: fc.Arbitrary<Op> = fc.oneof(
  {
    weight: 14,
    arbitrary: fc.record({
      kind: fc.constant('next' as const),
      sensor,
      skip: fc.oneof({ weight: 10, arbitrary: fc.constant(1) }, { weight: 2, arbitrary: fc.integer({ min: -3, max: 5 }) }),
      jitter: fc.oneof({ weight: 10, arbitrary: fc.constant(0) }, { weight: 1, arbitrary: fc.integer({ min: -2, max: 2 }) }),
      delay: fc.oneof({ weight: 6, arbitrary: fc.constant(10) }, { weight: 4, arbitrary: fc.integer({ min: 0, max: 120 }) }),
    }),
  },
  { weight: 3, arbitrary: fc.record({ kind: fc.constant('before' as const), sensor, delay: fc.integer({ min: 0, max: 30 }) }) },
  { weight: 3, arbitrary: fc.record({ kind: fc.constant('resend' as const), sensor, back: fc.integer({ min: 0, max: 12 }) }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('forget' as const), sensor, back: fc.integer({ min: -1, max: 12 }) }) },
  {
    weight: 1,
    arbitrary: fc.record({
      kind: fc.constant('odd' as const),
      sensor,
      // Finite only, as the ingest pipeline passes them (with Infinity the filter and the reference already differ).
      ts: fc.constantFrom(0, -0, 0.5, -1, 4999.5, 2 ** 53 - 1, 2 ** 53, 2 ** 53 + 2, -(2 ** 53)),
    }),
  },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('advance' as const), ms: fc.oneof(fc.integer({ min: 0, max: 60 }), fc.integer({ min: 900, max: 1100 })) }) },
  // Moves the clock to about the horizon of an earlier reading of the sensor.
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('edge' as const), sensor, back: fc.integer({ min: 0, max: 12 }), offset: fc.integer({ min: -3, max: 60 }) }) },
)

/** Replays ops on both filters, comparing every answer, the size and the stats; returns the compact filter. */
function replay(ops: readonly Op[], slack: number, horizon = HORIZON) {
  const { clock, compact, reference } = pair(slack, horizon)
  const next = BASES.map((b, s) => b - (STEPS[s] as number))
  const low = [...BASES]
  const sent: { ts: number; at: number }[][] = BASES.map(() => [])
  const seen = (s: number, ts: number) => {
    const got = compact.seen(`S${s}`, ts)
    expect(got, `S${s} ${ts} at ${clock.t}`).toBe(reference.seen(`S${s}`, ts))
    ;(sent[s] as { ts: number; at: number }[]).push({ ts, at: clock.t })
  }
  const pick = (s: number, back: number) => {
    const list = sent[s] as { ts: number; at: number }[]
    return back < 0 || list.length === 0 ? undefined : list[Math.max(0, list.length - 1 - back)]
  }
  for (const o of ops) {
    if (o.kind === 'advance') clock.t += o.ms
    else if (o.kind === 'next') {
      clock.t += o.delay
      next[o.sensor] = (next[o.sensor] as number) + o.skip * (STEPS[o.sensor] as number)
      seen(o.sensor, (next[o.sensor] as number) + o.jitter)
    } else if (o.kind === 'before') {
      clock.t += o.delay
      low[o.sensor] = (low[o.sensor] as number) - (STEPS[o.sensor] as number)
      seen(o.sensor, low[o.sensor] as number)
    } else if (o.kind === 'odd') seen(o.sensor, o.ts)
    else if (o.kind === 'resend') {
      const p = pick(o.sensor, o.back)
      if (p !== undefined) seen(o.sensor, p.ts)
    } else if (o.kind === 'edge') {
      const p = pick(o.sensor, o.back)
      if (p !== undefined) clock.t = Math.max(clock.t, p.at + horizon + o.offset)
    } else {
      const ts = pick(o.sensor, o.back)?.ts ?? 4321
      compact.forget(`S${o.sensor}`, ts)
      reference.forget(`S${o.sensor}`, ts)
    }
    expect(compact.size).toBe(reference.size)
    expect(withoutObjects(compact.stats())).toEqual(reference.stats())
  }
  // Every pair either one remembers, the other does too.
  for (let s = 0; s < SENSORS; s++) {
    for (const { ts } of sent[s] as { ts: number }[]) expect(compact.seen(`S${s}`, ts), `S${s} ${ts} at the end`).toBe(reference.seen(`S${s}`, ts))
  }
  expect(compact.size).toBe(reference.size)
  return compact
}

describe('duplicateFilter against the reference, around short evenly spaced lists', () => {
  for (const slack of [0, 10, 50, 400]) {
    it(`answers, sizes and stats as the reference does (slack ${slack} ms)`, () => {
      fc.assert(
        fc.property(fc.array(op, { minLength: 10, maxLength: 300, size: 'max' }), (ops) => {
          replay(ops, slack)
        }),
        { numRuns: 250 },
      )
    })
  }

  it('holds regular series as rows whatever their direction, and only irregular ones as objects', () => {
    fc.assert(
      fc.property(
        fc.array(fc.record({ kind: fc.constantFrom('next' as const, 'before' as const), sensor, delay: fc.integer({ min: 0, max: 20 }) }), { minLength: 1, maxLength: 200 }),
        (moves) => {
          const ops = moves.map((m): Op => (m.kind === 'next' ? { kind: 'next', sensor: m.sensor, skip: 1, jitter: 0, delay: m.delay } : { kind: 'before', sensor: m.sensor, delay: m.delay }))
          // The last sensor's series leaves the safe integers after 12 steps (then its values are listed in a Track).
          const compact = replay(ops.filter((o) => 'sensor' in o && o.sensor !== SENSORS - 1), 1_000_000, 1_000_000_000)
          expect(compact.stats().objects).toBe(0)
        },
      ),
      { numRuns: 200 },
    )
  })
})

describe('duplicateFilter short evenly spaced lists', () => {
  it('keeps a list of two to seven values in a row, makes the eighth appended a run, and answers at their edges', () => {
    const { clock, compact, reference } = pair(10_000, 1_000_000)
    const both = (ts: number) => {
      const got = compact.seen('A', ts)
      expect(got).toBe(reference.seen('A', ts))
      return got
    }
    // Backwards first: values before the first are taken in the row too.
    for (let k = 0; k < 5; k++) {
      clock.t += 5
      expect(both(10_000 - k * 250)).toBe(false)
    }
    expect(compact.stats()).toEqual({ sensors: 1, runs: 0, runPairs: 0, lists: 1, listValues: 5, objects: 0 })
    for (const ts of [9000, 9250, 10_000]) expect(both(ts)).toBe(true)
    for (const ts of [8750, 10_250, 9100, 9000.5]) expect([compact.seen('B', ts), reference.seen('B', ts)]).toEqual([false, false])
    expect(compact.stats().objects).toBe(1)
    expect(both(10_250)).toBe(false)
    expect(both(10_500)).toBe(false)
    expect(compact.stats()).toMatchObject({ runs: 0, lists: 2, listValues: 11, objects: 1 })
    expect(both(10_750)).toBe(false)
    expect(compact.stats()).toMatchObject({ runs: 1, runPairs: 8, lists: 1, objects: 1 })
    expect(withoutObjects(compact.stats())).toEqual(reference.stats())
  })

  it('forgets from a short list, which stays a row while its values are evenly spaced', () => {
    const { clock, compact, reference } = pair(100)
    for (let k = 0; k < 5; k++) {
      clock.t += 10
      compact.seen('A', 1000 + k * 10)
      reference.seen('A', 1000 + k * 10)
    }
    const forget = (ts: number) => {
      compact.forget('A', ts)
      reference.forget('A', ts)
      expect(compact.size).toBe(reference.size)
      expect(withoutObjects(compact.stats())).toEqual(reference.stats())
    }
    forget(1040)
    expect(compact.stats()).toMatchObject({ lists: 1, listValues: 4, objects: 0 })
    forget(1000)
    expect(compact.stats()).toMatchObject({ lists: 1, listValues: 3, objects: 0 })
    forget(1020)
    // 1010 and 1030: two values, evenly spaced again.
    expect(compact.stats()).toMatchObject({ lists: 1, listValues: 2, objects: 0 })
    expect(compact.seen('A', 1020)).toBe(false)
    expect(compact.seen('A', 1050)).toBe(false)
    expect(compact.stats()).toMatchObject({ lists: 1, listValues: 4, objects: 1 })
  })

  it('expires a short list value by value, down to a single value and to nothing', () => {
    const { clock, compact, reference } = pair(0)
    for (let k = 0; k < 4; k++) {
      clock.t = 2000 + k * 100
      expect(compact.seen('A', 1990 + k * 100)).toBe(reference.seen('A', 1990 + k * 100))
    }
    for (const t of [2999, 3000, 3100, 3250, 3300, 3399, 3400]) {
      clock.t = t
      for (let k = 0; k < 4; k++) expect(compact.seen('A', 1990 + k * 100), `${1990 + k * 100} at ${t}`).toBe(reference.seen('A', 1990 + k * 100))
      expect(compact.size).toBe(reference.size)
      expect(withoutObjects(compact.stats())).toEqual(reference.stats())
    }
  })
})
