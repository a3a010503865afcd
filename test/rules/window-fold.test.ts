import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import type { Quality, Reading, Registry } from '../../domain.js'
import { indexRegistry, type RegistryIndex } from '../../registry/registry-index.js'
import type { CompiledSensorFault } from '../../rules/compile-rules.js'
import type { Condition } from '../../rules/condition.js'
import { advanceFault, FaultLog, type FaultTally, type MutableFaultState } from '../../rules/evaluate-fault.js'
import { PointSeries, ratePerHour } from '../../rules/evaluate-rate.js'
import { parseRules } from '../../rules/load-rules.js'
import type { Rule } from '../../rules/rule-schema.js'
import { createRulesEngine } from '../../rules/rules-engine.js'
import { FaultTable, RateTable } from '../../rules/subject-table.js'
import { fixtureRegistry } from '../helpers/fixture-registry.js'

// A sensor reporting faster than its registry interval: its rate window and fault log hold at most one entry per
// bucket of max(1 s, intervalS / 10) of event time; readings a bucket or more apart are held one each, as before.

/** The bucket width the engine uses for a registry interval. */
const bucketOf = (intervalS: number): number => Math.max(1000, intervalS * 100)

const T0 = Date.UTC(2026, 10, 27, 10, 0)
const HOUR = 3_600_000

const faultRule = (over: Partial<CompiledSensorFault> = {}): CompiledSensorFault =>
  ({ id: 'f', type: 'sensor_fault', consecutiveBad: 3, resetGood: 2, badShare: { share: 0.5, windowMs: 60_000, minReadings: 4 }, countSuspect: false, level: 1, ...over }) as CompiledSensorFault

const isBad = (rule: CompiledSensorFault, q: Quality): boolean => q === 'bad' || (rule.countSuspect && q === 'suspect')

describe('a sensor reporting every second holds a bounded window', () => {
  it.each([60, 300])('rate window, intervalS %i: at most one point per bucket over 20,000 readings, the latest of each', (intervalS) => {
    const b = bucketOf(intervalS)
    const t = new RateTable()
    const row = t.add('WL-1', 'xihu', 'river-1')
    for (let i = 0; i < 20_000; i++) {
      t.points.push(row, T0 + i * 1000, 2 + (0.6 * i) / 3600, HOUR, b)
      expect(t.pointsHeld(row)).toBeLessThanOrEqual(HOUR / b + 1)
    }
    expect(t.pointsHeld(row)).toBe(HOUR / b + 1)
    const s = t.series(row)
    // The newest is the latest reading; every other point the last reading of its bucket.
    expect(s.ts(s.length - 1)).toBe(T0 + 19_999_000)
    for (let i = 0; i < s.length - 1; i++) expect((s.ts(i) + 1000) % b).toBe(0)
    expect(ratePerHour(s, HOUR, 3)).toBeCloseTo(0.6, 9)
  })

  it.each([60, 300])('fault log, intervalS %i: at most one entry per bucket over 20,000 readings, counts of every reading', (intervalS) => {
    const b = bucketOf(intervalS)
    const rule = faultRule({ consecutiveBad: 5, resetGood: 3, badShare: { share: 0.5, windowMs: HOUR, minReadings: 6 } })
    const t = new FaultTable()
    const row = t.add('WL-1', 'xihu', 'river-1')
    let tally: FaultTally | undefined
    for (let i = 0; i < 20_000; i++) {
      tally = advanceFault(rule, t.state(row), { ts: T0 + i * 1000, quality: i % 4 === 0 ? 'bad' : 'good', qualityReason: i % 4 === 0 ? `range:${i}` : '' }, b)
      expect(t.entriesHeld(row)).toBeLessThanOrEqual(HOUR / b + 1)
    }
    expect(t.entriesHeld(row)).toBe(HOUR / b + 1)
    // The window reaches back to the bucket of T0 + 19,999 s − 1 h: whole buckets, every reading counted.
    const from = Math.floor((T0 + 19_999_000 - HOUR) / b) * b
    const inWindow = (T0 + 19_999_000 - from) / 1000 + 1
    expect(tally?.inWindow).toBe(inWindow)
    expect(t.held[row]).toBe(inWindow)
    expect(tally?.share).toBeCloseTo(0.25, 2)
    expect(tally?.runGood).toBe(3)
  })
})

interface Step {
  ts: number
  quality: Quality
  qualityReason: string
}

/**
 * The fault rule per reading, recounted at every step from every reading so far: the bad share over the readings
 * whose bucket's latest reading is within the window (the documented edge of folding), the runs over the readings
 * held (entries the rule keeps: within the window, or among the last `keep` buckets).
 */
function bruteForce(rule: CompiledSensorFault, b: number) {
  const all: { ts: number; bad: boolean }[] = []
  let level = 0
  return {
    step(r: Step): FaultTally {
      const bad = isBad(rule, r.quality)
      const last = all[all.length - 1]
      if (last !== undefined && last.ts === r.ts) last.bad = bad
      else all.push({ ts: r.ts, bad })
      const latest = r.ts
      const start = rule.badShare === undefined ? Infinity : latest - rule.badShare.windowMs
      const bucketTs = new Map<number, number>()
      for (const x of all) bucketTs.set(Math.floor(x.ts / b), x.ts)
      const buckets = [...bucketTs.keys()]
      const keep = Math.max(rule.consecutiveBad, rule.resetGood)
      const kept = new Set(buckets.slice(-keep))
      const inWin = (x: { ts: number }) => (bucketTs.get(Math.floor(x.ts / b)) as number) >= start
      const heldCount = all.filter((x) => inWin(x) || kept.has(Math.floor(x.ts / b))).length
      let run = 0
      for (let i = all.length - 1; i >= 0 && all[i]?.bad === bad; i--) run++
      run = Math.min(run, heldCount)
      const inWindow = rule.badShare === undefined ? 0 : all.filter(inWin).length
      const badIn = rule.badShare === undefined ? 0 : all.filter((x) => inWin(x) && x.bad).length
      const share = inWindow === 0 ? 0 : badIn / inWindow
      const shareHigh = rule.badShare !== undefined && inWindow >= rule.badShare.minReadings && share >= rule.badShare.share
      const runBad = bad ? run : 0
      const runGood = bad ? 0 : run
      level = level > 0 ? (runGood >= rule.resetGood && !shareHigh ? 0 : rule.level) : runBad >= rule.consecutiveBad || shareHigh ? rule.level : 0
      return { level: level as FaultTally['level'], runBad, runGood, share, inWindow }
    },
    /** Readings with ts at or after `from`. */
    since(from: number): number {
      return all.filter((x) => x.ts >= from).length
    },
  }
}

const qualities = fc.constantFrom<Quality>('good', 'good', 'suspect', 'bad', 'bad')

/** Readings mostly forward by [minDt, maxDt] ms, sometimes late by up to `lateMs`, sometimes a re-flag of a held one. */
const lateAndReflagged = (minDt: number, maxDt: number, lateMs: number) =>
  fc.array(
    fc.record({
      dt: fc.oneof({ weight: 6, arbitrary: fc.integer({ min: minDt, max: maxDt }) }, { weight: 1, arbitrary: fc.integer({ min: -lateMs, max: -1 }) }),
      reflag: fc.option(fc.nat(), { freq: 4 }),
      quality: qualities,
    }),
    { maxLength: 300, size: 'max' },
  )

describe('the fault rule with folding against every reading', () => {
  it('share, runs and level equal a per-reading count (window edge: whole buckets), re-flags of the newest included', () => {
    fc.assert(
      fc.property(
        fc.array(
          fc.record({
            // mostly faster than the bucket, sometimes slower; sometimes a re-flag of the newest reading
            dt: fc.oneof({ weight: 5, arbitrary: fc.integer({ min: 1, max: 3_000 }) }, { weight: 1, arbitrary: fc.integer({ min: 3_000, max: 40_000 }) }),
            reflag: fc.boolean(),
            quality: qualities,
          }),
          { maxLength: 300, size: 'max' },
        ),
        fc.integer({ min: 1000, max: 12_000 }),
        fc.boolean(),
        fc.boolean(),
        (xs, b, withShare, countSuspect) => {
          const rule = faultRule({ countSuspect, ...(withShare ? {} : { badShare: undefined }) })
          const ref = bruteForce(rule, b)
          const state: MutableFaultState = { level: 0, entries: new FaultLog() }
          let ts = T0
          let first = true
          for (const [i, x] of xs.entries()) {
            if (first || !x.reflag) ts += x.dt
            first = false
            const step = { ts, quality: x.quality, qualityReason: x.quality === 'good' ? '' : `why-${i}` }
            const got = advanceFault(rule, state, step, b)
            const want = ref.step(step)
            expect(got.level).toBe(want.level)
            expect([got.runBad, got.runGood, got.inWindow]).toEqual([want.runBad, want.runGood, want.inWindow])
            expect(got.share).toBeCloseTo(want.share, 12)
            if (rule.badShare !== undefined) {
              // The one-bucket edge: every reading of the window is counted, and none older than a bucket before it.
              expect(got.inWindow).toBeGreaterThanOrEqual(ref.since(ts - rule.badShare.windowMs))
              expect(got.inWindow).toBeLessThanOrEqual(ref.since(ts - rule.badShare.windowMs - b + 1))
            }
            // One entry per bucket: the entries' ts are in distinct buckets.
            const buckets = Array.from({ length: state.entries.length }, (_, k) => Math.floor(state.entries.ts(k) / b))
            expect(new Set(buckets).size).toBe(buckets.length)
          }
        },
      ),
      { numRuns: 300 },
    )
  })

  it('with late readings and re-flags of any held entry too, the kept counts are those of the entries', () => {
    fc.assert(
      fc.property(
        lateAndReflagged(1, 5_000, 30_000),
        fc.integer({ min: 1000, max: 12_000 }),
        (xs, b) => {
          const rule = faultRule()
          const state: MutableFaultState = { level: 0, entries: new FaultLog() }
          for (const [i, x] of xs.entries()) {
            const e = state.entries
            const n = e.length
            const ts = x.reflag !== null && n > 0 ? e.ts(x.reflag % n) : n === 0 ? T0 : e.ts(n - 1) + x.dt
            const tally = advanceFault(rule, state, { ts, quality: x.quality, qualityReason: x.quality === 'good' ? '' : `why-${i}` }, b)
            let held = 0
            let bad = 0
            let wrong = ''
            for (let k = 0; k < e.length; k++) {
              held += e.readings(k)
              bad += e.badReadings(k)
              if (e.badReadings(k) > e.readings(k)) wrong = `entry ${k}: more bad readings than readings`
              if (e.badReadings(k) > 0 !== (e.reason(k) !== '')) wrong = `entry ${k}: a reason without a bad reading or none with one`
              if (k > 0 && e.ts(k) <= e.ts(k - 1)) wrong = `entry ${k}: not after the one before`
            }
            expect(wrong).toBe('')
            expect([state.held, state.badCount]).toEqual([held, bad])
            expect(tally.runBad + tally.runGood).toBeLessThanOrEqual(held)
            expect(tally.inWindow).toBeLessThanOrEqual(held)
          }
        },
      ),
      { numRuns: 200 },
    )
  })

  it('a long bad run counts every reading, and the report cites the latest bad reason folded into an entry', () => {
    const rule = faultRule({ consecutiveBad: 20, resetGood: 3, badShare: undefined })
    const state: MutableFaultState = { level: 0, entries: new FaultLog() }
    let tally: FaultTally | undefined
    for (let i = 0; i < 19; i++) tally = advanceFault(rule, state, { ts: T0 + i * 1000, quality: 'bad', qualityReason: `range:${i}` }, 6000)
    expect([tally?.level, tally?.runBad, state.entries.length]).toEqual([0, 19, 4])
    tally = advanceFault(rule, state, { ts: T0 + 19_000, quality: 'bad', qualityReason: 'stuck' }, 6000)
    expect([tally.level, tally.runBad]).toEqual([1, 20])
    // A good reading folded after the bad ones: the entry still holds them, and cites the latest bad one.
    tally = advanceFault(rule, state, { ts: T0 + 20_000, quality: 'good', qualityReason: '' }, 6000)
    expect([tally.level, tally.runGood, state.entries.readings(3), state.entries.badReadings(3), state.entries.reason(3)]).toEqual([1, 1, 3, 2, 'stuck'])
  })
})

describe('readings a bucket or more apart behave as without folding', () => {
  it('fault rule: same tallies and entries, with late readings and re-flags of any held reading', () => {
    fc.assert(
      fc.property(
        lateAndReflagged(0, 60_000, 90_000),
        fc.integer({ min: 1000, max: 12_000 }),
        fc.boolean(),
        fc.boolean(),
        (xs, b, withShare, countSuspect) => {
          const rule = faultRule({ countSuspect, ...(withShare ? {} : { badShare: undefined }) })
          const folded: MutableFaultState = { level: 0, entries: new FaultLog() }
          const plain: MutableFaultState = { level: 0, entries: new FaultLog() }
          for (const [i, x] of xs.entries()) {
            const n = plain.entries.length
            const newest = n === 0 ? T0 : plain.entries.ts(n - 1)
            // a re-flag of a held reading, a late reading (before the newest held), or one a bucket or more after it
            let ts: number
            if (x.reflag !== null && n > 0) ts = plain.entries.ts(x.reflag % n)
            else if (x.dt < 0 && n > 0) ts = newest + x.dt
            else ts = newest + b + Math.abs(x.dt)
            const step = { ts, quality: x.quality, qualityReason: x.quality === 'good' ? '' : `why-${i}` }
            expect(advanceFault(rule, folded, step, b)).toEqual(advanceFault(rule, plain, step))
            const entries = (s: MutableFaultState) => Array.from({ length: s.entries.length }, (_, k) => [s.entries.ts(k), s.entries.bad(k), s.entries.reason(k), s.entries.readings(k)])
            expect(entries(folded)).toEqual(entries(plain))
          }
        },
      ),
      { numRuns: 300 },
    )
  })

  it('rate window: same points and rate', () => {
    fc.assert(
      fc.property(
        fc.array(fc.record({ dt: fc.integer({ min: 0, max: 200_000 }), v: fc.double({ min: -10, max: 10, noNaN: true }) }), { maxLength: 300, size: 'max' }),
        fc.integer({ min: 1000, max: 60_000 }),
        fc.integer({ min: 60_000, max: HOUR }),
        (xs, b, windowMs) => {
          const folded = new PointSeries()
          const plain = new PointSeries()
          let ts = T0
          for (const x of xs) {
            ts += b + x.dt
            folded.push(ts, x.v, windowMs, b)
            plain.push(ts, x.v, windowMs)
            expect(Array.from({ length: folded.length }, (_, i) => [folded.ts(i), folded.v(i)])).toEqual(Array.from({ length: plain.length }, (_, i) => [plain.ts(i), plain.v(i)]))
            expect(ratePerHour(folded, windowMs, 3)).toBe(ratePerHour(plain, windowMs, 3))
          }
        },
      ),
      { numRuns: 200 },
    )
  })

  it('rate window with folding: the latest point of each bucket within the window behind the newest', () => {
    fc.assert(
      fc.property(
        fc.array(fc.record({ dt: fc.integer({ min: 1, max: 30_000 }), v: fc.double({ min: -10, max: 10, noNaN: true }) }), { maxLength: 300, size: 'max' }),
        fc.integer({ min: 1000, max: 20_000 }),
        fc.integer({ min: 30_000, max: 600_000 }),
        (xs, b, windowMs) => {
          const folded = new PointSeries()
          const latest = new Map<number, [number, number]>()
          let ts = T0
          for (const x of xs) {
            ts += x.dt
            folded.push(ts, x.v, windowMs, b)
            latest.set(Math.floor(ts / b), [ts, x.v])
            const want = [...latest.values()].filter(([t]) => t >= ts - windowMs)
            expect(Array.from({ length: folded.length }, (_, i) => [folded.ts(i), folded.v(i)])).toEqual(want)
          }
        },
      ),
      { numRuns: 200 },
    )
  })
})

describe('the engine folds by the sensor’s registry interval', () => {
  const rules: Rule[] = [
    { id: 'river-rise', type: 'rate_of_rise', field: 'level_m', label: 'River level', windowS: 3600, minPoints: 3, levels: { yellow: { raise: 0.2, reset: 0.1 }, orange: { raise: 0.4, reset: 0.25 } } },
    { id: 'river-eta', type: 'time_to_overflow', windowS: 900, minPoints: 3, levels: { yellow: { raise: 360, reset: 480 }, orange: { raise: 180, reset: 240 }, red: { raise: 60, reset: 90 } } },
    { id: 'sensor-fault', type: 'sensor_fault', consecutiveBad: 5, resetGood: 3, badShare: { share: 0.5, windowS: 600, minReadings: 6 }, level: 'blue' },
  ]

  function registryWith(intervalS: number): RegistryIndex {
    const reg: Registry = fixtureRegistry()
    reg.sensors = reg.sensors.map((s) => ({ ...s, intervalS }))
    return indexRegistry(reg)
  }

  function run(reg: RegistryIndex, readings: readonly { ts: number; level: number; quality: Quality }[]): Condition[] {
    const engine = createRulesEngine({ rules: parseRules({ version: 1, rules }), registry: () => reg })
    const out: Condition[] = []
    for (const r of readings) {
      const reading: Reading = { sensor: 'WL-1', kind: 'water_level', district: 'xihu', segment: 'river-1', ts: r.ts, fields: { level_m: r.level }, quality: r.quality, qualityReason: r.quality === 'good' ? '' : 'range:level_m', tsSource: 'device', receivedAt: r.ts }
      out.push(...engine.onReadings([reading]))
    }
    return out
  }

  it('readings 6 s or more apart from a 60 s sensor: the conditions of an engine that holds every reading', () => {
    fc.assert(
      fc.property(fc.array(fc.record({ dt: fc.integer({ min: 6_000, max: 600_000 }), rise: fc.double({ min: -0.05, max: 0.2, noNaN: true }), quality: qualities }), { maxLength: 150, size: 'max' }), (xs) => {
        let ts = T0
        let level = 3
        const readings = xs.map((x) => ({ ts: (ts += x.dt), level: (level += x.rise), quality: x.quality }))
        // A 1 s interval: buckets of 1 s, so readings at least 6 s apart are never folded there either.
        expect(run(registryWith(60), readings)).toEqual(run(registryWith(1), readings))
      }),
      { numRuns: 40 },
    )
  })

  it('a re-flag names an entry by its newest reading: one folded behind a later reading is counted late', () => {
    const engine = createRulesEngine({ rules: parseRules({ version: 1, rules: [rules[2] as Rule] }), registry: () => registryWith(60) })
    const reading = (ts: number, quality: Quality): Reading => ({ sensor: 'WL-1', kind: 'water_level', district: 'xihu', segment: 'river-1', ts, fields: { level_m: 3 }, quality, qualityReason: quality === 'good' ? '' : 'spike', tsSource: 'device', receivedAt: ts })
    engine.onReadings([reading(T0, 'good'), reading(T0 + 1000, 'good'), reading(T0 + 2000, 'good')])
    // T0 + 2 s is the newest reading of its entry: its re-flag is taken; T0 + 1 s was folded into it: late.
    engine.onReadings([reading(T0 + 2000, 'bad')])
    expect(engine.stats().late).toBe(0)
    engine.onReadings([reading(T0 + 1000, 'bad')])
    expect(engine.stats().late).toBe(1)
  })

  it('a 60 s sensor reporting every second: the rise and the fault are still raised', () => {
    const readings = Array.from({ length: 4000 }, (_, i) => ({ ts: T0 + i * 1000, level: 3 + (0.3 * i) / 3600, quality: (i >= 3000 && i % 2 === 0 ? 'bad' : 'good') as Quality }))
    const out = run(registryWith(60), readings)
    const rise = out.find((c) => c.rule === 'river-rise')
    expect(rise?.level).toBe(2)
    expect(rise?.value).toBeCloseTo(0.3, 6)
    // Half the readings bad from 3000 s: raised once the share over the last 10 min reaches 0.5.
    const fault = out.find((c) => c.rule === 'sensor-fault')
    expect(fault?.level).toBe(1)
    expect(fault?.message).toMatch(/^Sensor fault at Gauge 1 \(WL-1\): 50% of \d+ readings bad in the last 10 min/)
  })
})

describe('rain context of index rules from a gauge reporting faster than its interval', () => {
  const smooth = { id: 'smooth-water', type: 'index', index: 'smooth', cadenceS: 300, cadenceRainS: 60, nUp: 2, margin: 5, tDownS: 1800, rainFloor: true }
  const zoneUpdate = (t: number) => ({
    key: 'segment:zone-1',
    scope: 'segment' as const,
    district: 'xihu',
    segment: 'zone-1',
    eventTime: t,
    data: { segment: 'zone-1', district: 'xihu', type: 'drainage' as const, clear: null, smooth: { value: 95, band: 'normal' as const, limiting: 'POND' as const, confidence: 1, flags: [] } },
    points: [],
    refresh: false,
  })

  /** Three hours of one reading a second from RG-1 (intervalS 60: 6 s buckets), then a dry zone index. */
  function run(mmPerS: number) {
    const reg: Registry = fixtureRegistry()
    reg.sensors = reg.sensors.map((s) => (s.id === 'RG-1' ? { ...s, intervalS: 60 } : s))
    const index = indexRegistry(reg)
    const engine = createRulesEngine({ rules: parseRules({ version: 1, rules: [smooth as unknown as Rule] }), registry: () => index })
    const end = T0 + 3 * HOUR
    for (let t = T0 + 1000; t <= end; t += 1000) {
      engine.onReadings([{ sensor: 'RG-1', kind: 'rainfall', district: 'xihu', segment: 'zone-1', ts: t, fields: { rain_mm: mmPerS }, quality: 'good', qualityReason: '', tsSource: 'device', receivedAt: t }])
    }
    engine.onIndexUpdate(zoneUpdate(end))
    return { conditions: engine.onIndexUpdate(zoneUpdate(end + 60_000)), entries: engine.stats().rainEntries }
  }

  it('sums every amount of a bucket, so the 3 h total decides the rain pressure, in ten entries per interval', () => {
    // 0.005 mm/s over 3 h is 54 mm: orange pressure (R3h ≥ 50), so a dry zone is at least blue.
    const wet = run(0.005)
    expect(wet.conditions).toMatchObject([{ level: 1 }])
    expect(wet.entries).toBeLessThanOrEqual((3 * HOUR) / 6000 + 1)
    // 0.0045 mm/s is 48.6 mm: below orange pressure.
    expect(run(0.0045).conditions).toEqual([])
  })
})
