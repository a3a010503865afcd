import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import type { Quality } from '../../domain.js'
import type { CompiledSensorFault } from '../../rules/compile-rules.js'
import { advanceFault, FaultLog, faultReport, type MutableFaultState } from '../../rules/evaluate-fault.js'

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
      const start = rule.badShare === undefined ? -Infinity : latest - rule.badShare.windowMs
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

  it('keeps an hour of one reading a second in typed arrays, and cites the latest bad reading’s reason', () => {
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
