import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import type { Quality } from '../../domain.js'
import type { CompiledSensorFault } from '../../rules/compile-rules.js'
import { advanceFault, FaultColumns, FaultLog, faultReport, type FaultTally, type MutableFaultState } from '../../rules/evaluate-fault.js'

interface Step {
  ts: number
  quality: Quality
  qualityReason: string
}

/** The fault rule over a plain array of entries, recounted at every step: the reference the compact log must match. */
function reference(rule: CompiledSensorFault) {
  const entries: { ts: number; bad: boolean; reason: string }[] = []
  let level = 0
  return {
    entries,
    step(r: Step) {
      const bad = r.quality === 'bad' || (rule.countSuspect && r.quality === 'suspect')
      const at = entries.findIndex((e) => e.ts >= r.ts)
      if (at >= 0 && entries[at]?.ts === r.ts) entries[at] = { ts: r.ts, bad, reason: r.qualityReason }
      else if (at < 0) entries.push({ ts: r.ts, bad, reason: r.qualityReason })
      else entries.splice(at, 0, { ts: r.ts, bad, reason: r.qualityReason })
      const keep = Math.max(rule.consecutiveBad, rule.resetGood)
      const latest = (entries[entries.length - 1] as { ts: number }).ts
      const start = rule.badShare === undefined ? Infinity : latest - rule.badShare.windowMs
      let first = 0
      while (first < entries.length && (entries[first] as { ts: number }).ts < start) first++
      entries.splice(0, Math.min(first, Math.max(0, entries.length - keep)))
      const lastBad = (entries[entries.length - 1] as { bad: boolean }).bad
      let run = 0
      for (let i = entries.length - 1; i >= 0 && entries[i]?.bad === lastBad; i--) run++
      const inWindow = rule.badShare === undefined ? 0 : entries.filter((e) => e.ts >= start).length
      const badIn = rule.badShare === undefined ? 0 : entries.filter((e) => e.ts >= start && e.bad).length
      const share = inWindow === 0 ? 0 : badIn / inWindow
      const shareHigh = rule.badShare !== undefined && inWindow >= rule.badShare.minReadings && share >= rule.badShare.share
      const runBad = lastBad ? run : 0
      const runGood = lastBad ? 0 : run
      level = level > 0 ? (runGood >= rule.resetGood && !shareHigh ? 0 : rule.level) : runBad >= rule.consecutiveBad || shareHigh ? rule.level : 0
      return { level, runBad, runGood, share, inWindow }
    },
  }
}

const rule = (over: Partial<CompiledSensorFault> = {}): CompiledSensorFault =>
  ({ id: 'f', type: 'sensor_fault', consecutiveBad: 3, resetGood: 2, badShare: { share: 0.5, windowMs: 60_000, minReadings: 4 }, countSuspect: false, level: 1, ...over }) as CompiledSensorFault

const steps = fc.array(
  fc.record({
    // mostly forward in time, sometimes late, sometimes a re-flag of a held reading (pick: which one)
    dt: fc.oneof({ weight: 6, arbitrary: fc.integer({ min: 1, max: 20_000 }) }, { weight: 1, arbitrary: fc.integer({ min: -90_000, max: 0 }) }),
    reflag: fc.option(fc.nat(), { freq: 4 }),
    quality: fc.constantFrom<Quality>('good', 'good', 'suspect', 'bad'),
  }),
  { maxLength: 300 },
)

describe('the fault rule on its compact log', () => {
  it('matches the plain-array reference step by step: tallies, levels, entries and the cited reason', () => {
    fc.assert(
      fc.property(steps, fc.boolean(), fc.boolean(), (xs, withShare, countSuspect) => {
        const r = rule({ countSuspect, ...(withShare ? {} : { badShare: undefined }) })
        const ref = reference(r)
        const state: MutableFaultState = { level: 0, entries: new FaultLog() }
        let ts = 1_000_000
        for (const [i, x] of xs.entries()) {
          const held = ref.entries[x.reflag === null || ref.entries.length === 0 ? -1 : x.reflag % ref.entries.length]
          const at = held !== undefined ? held.ts : (ts = Math.max(0, ts + x.dt))
          const step = { ts: at, quality: x.quality, qualityReason: x.quality === 'good' ? '' : `why-${i}` }
          expect(advanceFault(r, state, step)).toEqual(ref.step(step))
          const kept = Array.from({ length: state.entries.length }, (_, k) => ({ ts: state.entries.ts(k), bad: state.entries.bad(k), reason: state.entries.reason(k) }))
          // Only a bad reading's reason is kept (the report cites the latest bad one).
          expect(kept).toEqual(ref.entries.map((e) => ({ ...e, reason: e.bad ? e.reason : '' })))
          ts = Math.max(ts, state.entries.ts(state.entries.length - 1))
        }
      }),
      { numRuns: 300 },
    )
  })

  it('writes into a tally it is given what it would return as a new one', () => {
    fc.assert(
      fc.property(steps, (xs) => {
        const r = rule()
        const own: MutableFaultState = { level: 0, entries: new FaultLog() }
        const reused: MutableFaultState = { level: 0, entries: new FaultLog() }
        const tally: FaultTally = { level: 0, runBad: 0, runGood: 0, share: 0, inWindow: 0 }
        let ts = 1_000_000
        for (const x of xs) {
          ts = Math.max(0, ts + x.dt)
          const step = { ts, quality: x.quality, qualityReason: x.quality }
          const fresh = advanceFault(r, own, step)
          expect(advanceFault(r, reused, step, 0, tally)).toBe(tally)
          expect(tally).toEqual(fresh)
        }
      }),
      { numRuns: 100 },
    )
  })

  it('keeps an hour of one reading a second, and cites the latest bad reading’s reason', () => {
    const r = rule({ badShare: { share: 0.5, windowMs: 3_600_000, minReadings: 6 } })
    const state: MutableFaultState = { level: 0, entries: new FaultLog() }
    for (let i = 0; i < 10_000; i++) advanceFault(r, state, { ts: i * 1000, quality: i % 3 === 0 ? 'bad' : 'good', qualityReason: i % 3 === 0 ? `range:${i}` : '' })
    expect(state.entries.length).toBe(3601)
    expect(state.entries.ts(0)).toBe(6_399_000)
    expect(state.entries.indexOf(9_000_000)).toBe(2601)
    expect(state.entries.indexOf(9_000_500)).toBe(-1)
    advanceFault(r, state, { ts: 10_000_000, quality: 'bad', qualityReason: 'range' })
    const tally = advanceFault(r, state, { ts: 10_001_000, quality: 'bad', qualityReason: 'spike' })
    expect(tally.level).toBe(1)
    expect(faultReport(r, state.entries, tally, 'WL-1').message).toBe('Sensor fault at WL-1: 3 bad readings in a row (spike) (blue)')
  })
})

describe('FaultColumns: many sensors’ logs in one table', () => {
  it('holds a single good reading with no array, makes the ts array at the second and the reasons only at a bad one', () => {
    const cols = new FaultColumns(2)
    const log = new FaultLog(cols, 1)
    log.insert(0, 1000, false, '')
    expect(cols.tsAt[1]).toBeUndefined()
    expect(cols.why[1]).toBeUndefined()
    expect([log.length, log.ts(0), log.bad(0), log.reason(0)]).toEqual([1, 1000, false, ''])
    log.insert(1, 2000, false, '')
    expect(cols.tsAt[1]).toBeDefined()
    expect(cols.why[1]).toBeUndefined()
    log.insert(2, 3000, true, 'range')
    expect(cols.why[1]).toBeDefined()
    expect(Array.from({ length: log.length }, (_, i) => [log.ts(i), log.bad(i), log.reason(i)])).toEqual([
      [1000, false, ''],
      [2000, false, ''],
      [3000, true, 'range'],
    ])
    // Row 0 was never touched.
    expect(cols.len[0]).toBe(0)
    cols.clear(1)
    expect([log.length, cols.tsAt[1], cols.why[1]]).toEqual([0, undefined, undefined])
  })

  it('a first bad reading goes to an array at once, and a re-flag of the single good one to bad too', () => {
    const cols = new FaultColumns(1)
    const log = new FaultLog(cols, 0)
    log.insert(0, 5, true, 'spike')
    expect([log.length, log.ts(0), log.bad(0), log.reason(0)]).toEqual([1, 5, true, 'spike'])
    const other = new FaultLog()
    other.insert(0, 7, false, '')
    other.set(0, 7, true, 'stuck')
    expect([other.length, other.ts(0), other.bad(0), other.reason(0)]).toEqual([1, 7, true, 'stuck'])
  })

  it('rows stepped in any interleaving match a FaultLog of their own each', () => {
    fc.assert(
      fc.property(fc.array(fc.record({ row: fc.nat({ max: 4 }), dt: fc.integer({ min: -30_000, max: 20_000 }), quality: fc.constantFrom<Quality>('good', 'good', 'bad'), clear: fc.boolean() }), { maxLength: 300 }), (xs) => {
        const r = rule()
        const cols = new FaultColumns(5)
        const shared = Array.from({ length: 5 }, (_, row) => ({ level: 0 as const, entries: new FaultLog(cols, row) }) as MutableFaultState)
        let own = Array.from({ length: 5 }, () => ({ level: 0 as const, entries: new FaultLog() }) as MutableFaultState)
        const ts = [0, 0, 0, 0, 0]
        for (const [i, x] of xs.entries()) {
          if (x.clear && i % 7 === 0) {
            cols.clear(x.row)
            shared[x.row] = { level: 0, entries: new FaultLog(cols, x.row) }
            own = own.map((s, k) => (k === x.row ? { level: 0, entries: new FaultLog() } : s))
            continue
          }
          ts[x.row] = Math.max(0, (ts[x.row] as number) + x.dt)
          const step = { ts: ts[x.row] as number, quality: x.quality, qualityReason: x.quality === 'bad' ? `why-${i}` : '' }
          expect(advanceFault(r, shared[x.row] as MutableFaultState, step)).toEqual(advanceFault(r, own[x.row] as MutableFaultState, step))
          const a = (shared[x.row] as MutableFaultState).entries
          const b = (own[x.row] as MutableFaultState).entries
          expect(Array.from({ length: a.length }, (_, k) => [a.ts(k), a.bad(k), a.reason(k)])).toEqual(Array.from({ length: b.length }, (_, k) => [b.ts(k), b.bad(k), b.reason(k)]))
        }
      }),
      { numRuns: 200 },
    )
  })

  it('without a share window a sensor holds only the entries its runs need, and still raises and clears', () => {
    const r = rule({ badShare: undefined, consecutiveBad: 4, resetGood: 2 })
    const state: MutableFaultState = { level: 0, entries: new FaultLog() }
    let tally = advanceFault(r, state, { ts: 0, quality: 'good', qualityReason: '' })
    for (let i = 1; i < 10_000; i++) tally = advanceFault(r, state, { ts: i * 60_000, quality: 'good', qualityReason: '' })
    expect(state.entries.length).toBe(4)
    for (let i = 0; i < 4; i++) tally = advanceFault(r, state, { ts: (10_000 + i) * 60_000, quality: 'bad', qualityReason: 'stuck' })
    expect([tally.level, tally.runBad, state.entries.length]).toEqual([1, 4, 4])
    for (let i = 0; i < 2; i++) tally = advanceFault(r, state, { ts: (10_004 + i) * 60_000, quality: 'good', qualityReason: '' })
    expect([tally.level, tally.runGood]).toEqual([0, 2])
  })
})
