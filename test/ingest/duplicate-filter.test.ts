import { describe, expect, it } from 'vitest'
import fc from 'fast-check'
import { duplicateFilter } from '../../ingest/duplicate-filter.js'

describe('duplicateFilter', () => {
  it('reports a (sensor, ts) seen within the horizon and forgets it after', () => {
    let now = 0
    const filter = duplicateFilter({ clock: { now: () => now }, horizonMs: 1000 })
    expect(filter.seen('A', 5)).toBe(false)
    expect(filter.seen('A', 5)).toBe(true)
    expect(filter.seen('B', 5)).toBe(false)
    expect(filter.seen('A', 6)).toBe(false)
    now = 999
    expect(filter.seen('A', 5)).toBe(true)
    now = 1000
    expect(filter.seen('A', 7)).toBe(false)
    expect(filter.seen('A', 5)).toBe(false)
  })

  it('keeps memory bounded by the horizon', () => {
    let now = 0
    const filter = duplicateFilter({ clock: { now: () => now }, horizonMs: 100 })
    for (let i = 0; i < 10_000; i++) {
      now = i
      filter.seen('A', i)
    }
    expect(filter.size).toBeLessThanOrEqual(101)
  })
})

describe('duplicateFilter.forget', () => {
  it('takes a pair back so the same reading is accepted again', () => {
    const filter = duplicateFilter({ clock: { now: () => 0 } })
    expect(filter.seen('A', 1)).toBe(false)
    filter.forget('A', 1)
    expect(filter.size).toBe(0)
    expect(filter.seen('A', 1)).toBe(false)
    expect(filter.seen('A', 1)).toBe(true)
  })
})

const HOUR = 3_600_000
const DAY = 24 * HOUR

/** A filter on a fake clock the test moves. */
function fakeFilter(horizonMs?: number, slackMs?: number) {
  const clock = { t: 1_780_000_000_000 }
  const options: Parameters<typeof duplicateFilter>[0] = { clock: { now: () => clock.t } }
  if (horizonMs !== undefined) options.horizonMs = horizonMs
  if (slackMs !== undefined) options.slackMs = slackMs
  return { clock, filter: duplicateFilter(options) }
}

describe('duplicateFilter storage', () => {
  it('holds a sensor reporting every second for 24 hours as one run', () => {
    const { clock, filter } = fakeFilter()
    const t0 = clock.t
    for (let i = 0; i < 86_400; i++) {
      clock.t = t0 + i * 1000 + 150
      expect(filter.seen('A', t0 + i * 1000)).toBe(false)
    }
    expect(filter.size).toBe(86_400)
    expect(filter.stats()).toEqual({ sensors: 1, runs: 1, runPairs: 86_400, lists: 0, listValues: 0, objects: 0 })
    expect(filter.seen('A', t0)).toBe(true)
    expect(filter.seen('A', t0 + 43_200_000)).toBe(true)
    expect(filter.seen('A', t0 + 86_399_000)).toBe(true)
    expect(filter.seen('A', t0 + 500)).toBe(false)
    expect(filter.stats().listValues).toBe(1)
    // Another hour: the front of the run expires as its tail grows.
    for (let i = 86_400; i < 90_000; i++) {
      clock.t = t0 + i * 1000 + 150
      expect(filter.seen('A', t0 + i * 1000)).toBe(false)
    }
    expect(filter.stats().runs).toBe(1)
    expect(filter.size).toBeGreaterThanOrEqual(86_400)
    expect(filter.size).toBeLessThanOrEqual(86_400 + 60)
    expect(filter.seen('A', t0)).toBe(false)
  })

  it('takes out-of-order readings and late gap fills into the run', () => {
    const { clock, filter } = fakeFilter()
    const t0 = clock.t
    const order = [0, 1, 2, 4, 3, 5, 6, 7, 9, 10, 11, 12, 13, 14]
    for (const k of order) {
      clock.t += 1000
      expect(filter.seen('A', t0 + k * 1000)).toBe(false)
    }
    // 8 comes 20 s late (lag within the one-minute slack of the run).
    clock.t += 20_000
    expect(filter.seen('A', t0 + 8000)).toBe(false)
    expect(filter.stats()).toMatchObject({ runs: 1, runPairs: 15, lists: 0 })
    for (let k = 0; k <= 14; k++) expect(filter.seen('A', t0 + k * 1000)).toBe(true)
    expect(filter.size).toBe(15)
  })

  it('keeps a late backlog (lag beyond the slack) apart and still answers for every pair', () => {
    const { clock, filter } = fakeFilter()
    const t0 = clock.t
    for (let k = 0; k < 100; k++) {
      clock.t = t0 + k * 1000
      filter.seen('A', t0 + k * 1000)
    }
    // An hour offline, then the buffered readings arrive in a burst, then live ones.
    for (let k = 100; k < 3700; k++) {
      clock.t = t0 + 3_700_000 + (k - 100)
      expect(filter.seen('A', t0 + k * 1000)).toBe(false)
    }
    for (let k = 0; k < 3700; k++) expect(filter.seen('A', t0 + k * 1000)).toBe(true)
    expect(filter.size).toBe(3700)
    const stats = filter.stats()
    expect(stats.runPairs + stats.listValues).toBe(3700)
    // The burst's lag falls by about a second per reading: a run per minute of lag.
    expect(stats.runs).toBeLessThanOrEqual(3700 / 55 + 2)
  })

  it('stores jittered timestamps in a list and answers exactly for them', () => {
    const { clock, filter } = fakeFilter()
    const t0 = clock.t
    const jitter = [0, 3, -2, 1, -4, 2, 0, -1, 4, -3]
    const ts = Array.from({ length: 500 }, (_, k) => t0 + k * 1000 + (jitter[(k * 7) % 10] as number))
    for (const [k, v] of ts.entries()) {
      clock.t = t0 + k * 1000 + 40
      expect(filter.seen('A', v)).toBe(false)
    }
    for (const v of ts) {
      expect(filter.seen('A', v)).toBe(true)
      expect(filter.seen('A', v + 0.5)).toBe(false)
    }
    const stats = filter.stats()
    expect(stats.listValues + stats.runPairs).toBe(1000)
    expect(filter.size).toBe(1000)
  })

  it('keeps a long jittered series in one list, not in chance runs', () => {
    const { clock, filter } = fakeFilter()
    const t0 = clock.t
    for (let k = 0; k < 20_000; k++) {
      clock.t = t0 + k * 1000 + 30
      const jitter = (Math.imul(k, 0x9e3779b1) >>> 27) % 5
      expect(filter.seen('A', t0 + k * 1000 + jitter - 2)).toBe(false)
    }
    const stats = filter.stats()
    expect(stats.lists).toBe(1)
    expect(stats.runs).toBeLessThanOrEqual(3)
    expect(stats.listValues + stats.runPairs).toBe(20_000)
  })

  it('survives a restart whose timestamps jump back in time', () => {
    const { clock, filter } = fakeFilter()
    const t0 = clock.t
    for (let k = 0; k < 600; k++) {
      clock.t = t0 + k * 1000
      filter.seen('A', t0 + k * 1000)
    }
    // The device clock restarts 5 minutes back: its first 300 readings repeat accepted (sensor, ts) pairs.
    const back = t0 + 300_000
    for (let k = 0; k < 600; k++) {
      clock.t = t0 + 600_000 + k * 1000
      expect(filter.seen('A', back + k * 1000)).toBe(k < 300)
    }
    expect(filter.size).toBe(900)
    for (let k = 0; k < 900; k++) expect(filter.seen('A', t0 + k * 1000)).toBe(true)
    expect(filter.seen('A', t0 - 1000)).toBe(false)
    expect(filter.stats().runs).toBeLessThanOrEqual(3)
    expect(filter.stats().listValues).toBeLessThanOrEqual(7)
  })

  it('answers at the edges of a run and between its members', () => {
    const { clock, filter } = fakeFilter()
    const t0 = clock.t
    for (let k = 0; k < 10; k++) filter.seen('A', t0 + k * 5000)
    expect(filter.stats().runs).toBe(1)
    expect(filter.seen('A', t0)).toBe(true)
    expect(filter.seen('A', t0 + 45_000)).toBe(true)
    expect(filter.seen('A', t0 + 20_000)).toBe(true)
    expect(filter.seen('B', t0 + 20_000)).toBe(false)
    expect(filter.seen('A', t0 + 20_001)).toBe(false)
    expect(filter.seen('A', t0 + 20_000.25)).toBe(false)
    expect(filter.seen('A', t0 + 50_000)).toBe(false)
    expect(filter.seen('A', t0 - 5000)).toBe(false)
    expect(filter.stats()).toMatchObject({ sensors: 2, runs: 1, runPairs: 12, listValues: 3 })
    expect(filter.size).toBe(15)
    clock.t += 1
    expect(filter.seen('A', t0 + 50_000)).toBe(true)
    expect(filter.seen('A', t0 - 5000)).toBe(true)
  })

  it('forget removes exactly one pair, splitting a run', () => {
    const { filter } = fakeFilter()
    const base = 1_000_000
    for (let k = 0; k < 10; k++) filter.seen('A', base + k * 1000)
    filter.forget('A', base + 4000)
    expect(filter.size).toBe(9)
    expect(filter.stats()).toMatchObject({ runs: 2, runPairs: 9 })
    for (let k = 0; k < 10; k++) if (k !== 4) expect(filter.seen('A', base + k * 1000)).toBe(true)
    filter.forget('A', base)
    filter.forget('A', base + 9000)
    filter.forget('A', base + 9000)
    filter.forget('A', base + 123)
    filter.forget('Z', base)
    expect(filter.size).toBe(7)
    expect(filter.seen('A', base)).toBe(false)
    expect(filter.seen('A', base + 9000)).toBe(false)
    // The resend of the forgotten reading closes the gap again.
    expect(filter.seen('A', base + 4000)).toBe(false)
    expect(filter.seen('A', base + 4000)).toBe(true)
    expect(filter.size).toBe(10)
    expect(filter.stats()).toMatchObject({ runs: 1, runPairs: 10, lists: 0 })
  })

  it('never forgets a pair before the horizon and always within the slack after it', () => {
    const horizon = 10_000
    const slack = 100
    const t0 = 1_780_000_000_000
    // Lags between 0 and 95 ms, in one lag window: a run alone, and a run mixed with jittered values.
    const series = {
      run: Array.from({ length: 40 }, (_, k) => ({ ts: t0 + k * 100, at: t0 + k * 100 + ((k * 37) % 96) })),
      mixed: Array.from({ length: 40 }, (_, k) => {
        const ts = t0 + k * 100 + (k % 10 === 9 ? (k % 7) + 1 : 0)
        return { ts, at: ts + ((k * 37) % 96) }
      }),
    }
    for (const pairs of Object.values(series)) {
      const replay = () => {
        const f = fakeFilter(horizon, slack)
        for (const { ts, at } of pairs) {
          f.clock.t = at
          expect(f.filter.seen('A', ts)).toBe(false)
        }
        return f
      }
      expect(replay().filter.stats().runs).toBeGreaterThan(0)
      for (const { ts, at } of pairs) {
        const probe = replay()
        probe.clock.t = at + horizon - 1
        expect(probe.filter.seen('A', ts)).toBe(true)
        probe.clock.t = at + horizon + slack
        expect(probe.filter.seen('A', ts)).toBe(false)
      }
    }
  })

  it('drops a sensor that went silent once its pairs expire', () => {
    const { clock, filter } = fakeFilter(1000)
    filter.seen('B', 1)
    filter.seen('B', 2)
    expect(filter.stats().sensors).toBe(1)
    clock.t += 1010
    for (let i = 0; i < 200; i++) filter.seen('A', i)
    expect(filter.stats().sensors).toBe(1)
    expect(filter.size).toBe(200)
  })

  it('sweeps many silent sensors while the others keep their pairs', () => {
    const { clock, filter } = fakeFilter(10_000, 100)
    const t0 = clock.t
    const ids = Array.from({ length: 100 }, (_, i) => `S${i}`)
    for (let k = 0; k < 20; k++) {
      clock.t = t0 + k * 1000
      for (const id of ids) filter.seen(id, t0 + k * 1000)
    }
    // The odd sensors go silent; the even ones report for another 180 s (9,000 calls: a sweep visits one sensor in 64).
    for (let k = 20; k < 200; k++) {
      clock.t = t0 + k * 1000
      for (const [i, id] of ids.entries()) if (i % 2 === 0) expect(filter.seen(id, t0 + k * 1000)).toBe(false)
    }
    const stats = filter.stats()
    expect(stats.sensors).toBe(50)
    expect(filter.size).toBe(stats.runPairs + stats.listValues)
    for (const [i, id] of ids.entries()) {
      expect(filter.seen(id, t0 + 195_000)).toBe(i % 2 === 0)
      expect(filter.seen(id, t0 + 5000)).toBe(false)
    }
  })
})

describe('duplicateFilter sweep', () => {
  it('keeps its sensors in step while sensors come, go silent and are forgotten', () => {
    const op = fc.oneof(
      fc.record({ kind: fc.constant('seen' as const), sensor: fc.integer({ min: 0, max: 19 }), ts: fc.integer({ min: 0, max: 5 }) }),
      fc.record({ kind: fc.constant('forget' as const), sensor: fc.integer({ min: 0, max: 19 }), ts: fc.integer({ min: 0, max: 5 }) }),
      fc.record({ kind: fc.constant('advance' as const), ms: fc.integer({ min: 0, max: 300 }) }),
    )
    fc.assert(
      fc.property(fc.array(op, { minLength: 50, maxLength: 600, size: 'max' }), (ops) => {
        let now = 0
        const filter = duplicateFilter({ clock: { now: () => now }, horizonMs: 1000, slackMs: 0 })
        // when each pair was accepted, and how long past the horizon it may be held: with no slack, by as much as
        // its lag (acceptance time − ts) fell below the highest lag of the sensor's pairs accepted before it (drift)
        const at = new Map<string, { at: number; over: number }>()
        const highestLag = new Map<number, number>()
        for (const o of ops) {
          if (o.kind === 'advance') now += o.ms
          else if (o.kind === 'forget') {
            filter.forget(`S${o.sensor}`, o.ts)
            at.delete(`S${o.sensor}/${o.ts}`)
          } else {
            const key = `S${o.sensor}/${o.ts}`
            const prev = at.get(key)
            const seen = filter.seen(`S${o.sensor}`, o.ts)
            if (prev !== undefined && now - prev.at < 1000) expect(seen).toBe(true)
            else if (prev === undefined || now - prev.at >= 1000 + prev.over) expect(seen).toBe(false)
            if (!seen) {
              const lag = now - o.ts
              const before = highestLag.get(o.sensor) ?? lag
              at.set(key, { at: now, over: Math.max(0, before - lag) })
              highestLag.set(o.sensor, Math.max(before, lag))
            }
          }
          const stats = filter.stats()
          const held = new Set([...at].filter(([, a]) => now - a.at < 1000).map(([k]) => k.split('/')[0]))
          expect(stats.sensors).toBeGreaterThanOrEqual(held.size)
        }
      }),
      { numRuns: 100 },
    )
  })
})

describe('duplicateFilter against a reference Map', () => {
  type Op =
    | { kind: 'seen'; sensor: number; ts: number; rel: boolean }
    | { kind: 'next'; sensor: number; skip: number; jitter: number; delay: number }
    | { kind: 'forget'; sensor: number; pick: number }
    | { kind: 'resend'; sensor: number; pick: number }
    | { kind: 'edge'; sensor: number; pick: number; offset: number }
    | { kind: 'advance'; ms: number }
  const horizon = 1000
  const sensor = fc.integer({ min: 0, max: 1 })
  const op: fc.Arbitrary<Op> = fc.oneof(
    { weight: 3, arbitrary: fc.record({ kind: fc.constant('seen' as const), sensor, ts: fc.integer({ min: 0, max: 60 }), rel: fc.boolean() }) },
    {
      weight: 10,
      arbitrary: fc.record({
        kind: fc.constant('next' as const),
        sensor,
        skip: fc.oneof({ weight: 8, arbitrary: fc.constant(1) }, { weight: 2, arbitrary: fc.integer({ min: -30, max: 30 }) }),
        jitter: fc.oneof({ weight: 8, arbitrary: fc.constant(0) }, { weight: 2, arbitrary: fc.integer({ min: -3, max: 3 }) }),
        delay: fc.oneof({ weight: 6, arbitrary: fc.constant(10) }, { weight: 4, arbitrary: fc.integer({ min: 0, max: 20 }) }),
      }),
    },
    { weight: 1, arbitrary: fc.record({ kind: fc.constant('forget' as const), sensor, pick: fc.nat() }) },
    { weight: 4, arbitrary: fc.record({ kind: fc.constant('resend' as const), sensor, pick: fc.nat() }) },
    // Moves the clock to just before or after the horizon of an accepted pair.
    { weight: 2, arbitrary: fc.record({ kind: fc.constant('edge' as const), sensor, pick: fc.nat(), offset: fc.oneof(fc.constantFrom(-1, 0), fc.integer({ min: -3, max: 60 })) }) },
    {
      weight: 3,
      arbitrary: fc.record({
        kind: fc.constant('advance' as const),
        ms: fc.oneof(fc.integer({ min: 0, max: 20 }), fc.integer({ min: 940, max: 1060 }), fc.integer({ min: 0, max: 400 })),
      }),
    },
  )

  for (const slack of [10, 0, 50]) {
    it(`never lets a duplicate through, and keeps a pair at most ${slack} ms (or its lag drift) past the horizon`, () => {
      fc.assert(
        fc.property(fc.array(op, { minLength: 20, maxLength: 400, size: 'max' }), (ops) => {
          let now = 5000
          const filter = duplicateFilter({ clock: { now: () => now }, horizonMs: horizon, slackMs: slack })
          // The pairs the filter accepted (answered false), with their acceptance time.
          const accepted = new Map<string, Map<number, number>>()
          // Until when each accepted pair may be remembered: horizon + slack after its acceptance, or, when its lag was
          // below an earlier pair's of the sensor (event time running ahead), horizon + that lag difference.
          const until = new Map<string, number>()
          const maxLag = new Map<string, number>()
          const last = [0, 0, 0]
          const seen = (s: number, ts: number) => {
            const key = `S${s}`
            const at = accepted.get(key)?.get(ts)
            const got = filter.seen(key, ts)
            if (at !== undefined && now - at < horizon) expect(got, `${key} ${ts} accepted at ${at}, now ${now}`).toBe(true)
            if (got) expect(at !== undefined && now < (until.get(`${key}/${ts}`) as number), `${key} ${ts} at ${at} now ${now}`).toBe(true)
            else {
              if (!accepted.has(key)) accepted.set(key, new Map())
              accepted.get(key)?.set(ts, now)
              const lag = now - ts
              const before = maxLag.get(key) ?? lag
              until.set(`${key}/${ts}`, now + horizon + Math.max(slack, before - lag))
              maxLag.set(key, Math.max(before, lag))
            }
          }
          for (const o of ops) {
            if (o.kind === 'advance') now += o.ms
            else if (o.kind === 'seen') seen(o.sensor, o.rel ? now - o.ts * 10 : o.ts * 10)
            else if (o.kind === 'next') {
              // A sensor's own series: its clock steps 10 ms (or skips), the engine's moves about as much.
              now += o.delay
              last[o.sensor] = (last[o.sensor] as number) + o.skip * 10
              seen(o.sensor, 4800 + (last[o.sensor] as number) + o.jitter)
            } else {
              const pairs = [...(accepted.get(`S${o.sensor}`)?.keys() ?? [])]
              if (pairs.length === 0) continue
              const ts = pairs[o.pick % pairs.length] as number
              if (o.kind === 'resend') seen(o.sensor, ts)
              else if (o.kind === 'edge') {
                const at = accepted.get(`S${o.sensor}`)?.get(ts) as number
                now = Math.max(now, at + horizon + Math.min(o.offset, slack))
              } else {
                filter.forget(`S${o.sensor}`, ts)
                accepted.get(`S${o.sensor}`)?.delete(ts)
              }
            }
            let live = 0
            let held = 0
            for (const [key, m] of accepted) {
              for (const [ts, at] of m) {
                held += 1
                if (now - at < horizon) live += 1
                // Pairs about to reach the horizon must still be remembered (a true answer changes nothing).
                if (now - at < horizon && now - at >= horizon - 30) expect(filter.seen(key, ts), `${key} ${ts} at ${at} now ${now}`).toBe(true)
              }
            }
            expect(filter.size).toBeGreaterThanOrEqual(live)
            expect(filter.size).toBeLessThanOrEqual(held)
            const stats = filter.stats()
            expect(stats.runPairs + stats.listValues).toBe(filter.size)
          }
        }),
        { numRuns: 150 },
      )
    })
  }
})
