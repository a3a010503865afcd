import { describe, expect, it } from 'vitest'
import { BUNDLED_RULES } from '../../config.js'
import type { Quality, Reading, Registry } from '../../domain.js'
import { loadRegistry } from '../../registry/load-registry.js'
import { indexRegistry, type RegistryIndex } from '../../registry/registry-index.js'
import type { Condition } from '../../rules/condition.js'
import { loadRules, parseRules } from '../../rules/load-rules.js'
import type { Rule } from '../../rules/rule-schema.js'
import { createRulesEngine, type RulesEngine } from '../../rules/rules-engine.js'
import { fixtureRegistry } from '../helpers/fixture-registry.js'

const MIN = 60_000
const T0 = Date.UTC(2026, 10, 27, 10, 0)

/** The fixture registry (every sensor every 60 s) with the ponding point named as in the SPEC §8 example. */
function registry(): RegistryIndex {
  const reg: Registry = fixtureRegistry()
  reg.sensors = reg.sensors.map((s) => (s.id === 'PD-1' ? { ...s, name: 'Wensan Rd' } : s))
  return indexRegistry(reg)
}

function engineWith(rules: Rule[], reg: RegistryIndex = registry()): RulesEngine {
  return createRulesEngine({ rules: parseRules({ version: 1, rules }), registry: () => reg })
}

function reading(reg: RegistryIndex, sensor: string, ts: number, fields: Record<string, number>, quality: Quality = 'good', receivedAt = ts): Reading {
  const s = reg.sensor(sensor)
  if (s === undefined) throw new Error(sensor)
  return { sensor, kind: s.kind, district: s.district, segment: s.segment, ts, fields, quality, qualityReason: quality === 'good' ? '' : 'range:depth_cm', tsSource: 'device', receivedAt }
}

/** Feeds one reading per minute from T0 and returns the level after each and every condition. */
function feed(engine: RulesEngine, reg: RegistryIndex, sensor: string, field: string, values: readonly number[], stepMs = MIN, qualities?: readonly Quality[]) {
  const conditions: Condition[] = []
  const levels: number[] = []
  let level = 0
  values.forEach((v, i) => {
    const out = engine.onReadings([reading(reg, sensor, T0 + i * stepMs, { [field]: v }, qualities?.[i] ?? 'good')])
    for (const c of out) if (c.subject === sensor) level = c.level
    conditions.push(...out)
    levels.push(level)
  })
  return { conditions, levels }
}

const ponding: Rule = {
  id: 'ponding-depth',
  type: 'threshold',
  subjects: { kinds: ['ponding_depth'] },
  field: 'depth_cm',
  label: 'Ponding',
  levels: { yellow: { raise: 15, reset: 12 }, orange: { raise: 27, reset: 23 }, red: { raise: 40, reset: 35 } },
}

describe('threshold', () => {
  const reg = registry()

  it.each([
    ['raise and reset per level', [3, 16, 14, 15.5, 11.9, 27, 26, 27.5, 22.9, 41, 36, 34, 5], [0, 2, 2, 2, 0, 3, 3, 3, 2, 4, 4, 3, 0]],
    ['a value oscillating around a raise value stays raised until below its reset', [26.5, 27.5, 26.5, 27.5, 24, 27.1, 23.5, 22.9], [2, 3, 3, 3, 3, 3, 3, 2]],
    ['several levels at once', [45, 10], [4, 0]],
  ])('%s', (_name, values, levels) => {
    expect(feed(engineWith([ponding]), reg, 'PD-1', 'depth_cm', values).levels).toEqual(levels)
  })

  it('emits one condition per change, never a repeat, with the SPEC §8 message', () => {
    const { conditions } = feed(engineWith([ponding]), reg, 'PD-1', 'depth_cm', [26.5, 31.5, 26.5, 27.5, 24, 10])
    expect(conditions.map((c) => [c.level, c.message])).toEqual([
      [2, 'Ponding 26.5 cm at Wensan Rd (yellow, >= 15 cm)'],
      [3, 'Ponding 31.5 cm at Wensan Rd (orange, >= 27 cm)'],
      [0, 'Ponding 10 cm at Wensan Rd (cleared, < 12 cm)'],
    ])
    expect(conditions[1]).toMatchObject({ rule: 'ponding-depth', type: 'threshold', subject: 'PD-1', district: 'xihu', segment: 'zone-1', value: 31.5, threshold: 27, at: T0 + MIN, dataGap: false })
  })

  it.each([
    ['raises only after forS past the raise value', [28, 28, 28, 26], [0, 0, 3, 3]],
    ['a dip below the raise value restarts that level’s timer', [28, 20, 28, 28, 28], [0, 0, 2, 2, 3]],
    ['hysteresis still applies once raised', [28, 28, 28, 24, 22, 20], [0, 0, 3, 3, 2, 2]],
  ])('forS 120 s: %s', (_name, values, levels) => {
    expect(feed(engineWith([{ ...ponding, forS: 120 }]), reg, 'PD-1', 'depth_cm', values).levels).toEqual(levels)
  })

  it('reads per-sensor params: the default river-level rule against WL-1 (Hw 3.5, Hg 3.9), forS 300 s', () => {
    const rule = loadRules(BUNDLED_RULES).rules.find((r) => r.id === 'river-level') as Rule
    const { levels, conditions } = feed(engineWith([rule]), reg, 'WL-1', 'level_m', [3.2, 3.55, 3.55, 3.55, 3.55, 3.55, 3.55, 3.95, 3.95, 3.95, 3.95, 3.95, 3.95])
    expect(levels).toEqual([0, 0, 0, 0, 0, 0, 2, 2, 2, 2, 2, 2, 4])
    expect(conditions.at(-1)).toMatchObject({ level: 4, threshold: 3.9, message: 'River level 3.95 m at Gauge 1 (red, >= 3.9 m)' })
  })

  it('levels on params follow a registry reload that changes them', () => {
    const rule = loadRules(BUNDLED_RULES).rules.find((r) => r.id === 'tunnel-depth') as Rule
    const withClosure = (closureCm: number) => indexRegistry({ ...fixtureRegistry(), sensors: fixtureRegistry().sensors.map((s) => (s.id === 'TD-1' ? { ...s, params: { closureCm } } : s)) })
    let current = withClosure(27)
    const engine = createRulesEngine({ rules: parseRules({ version: 1, rules: [rule] }), registry: () => current })
    expect(engine.onReadings([reading(current, 'TD-1', T0, { depth_cm: 22 })])).toMatchObject([{ level: 2 }])
    current = withClosure(20)
    expect(engine.onReadings([reading(current, 'TD-1', T0 + MIN, { depth_cm: 23 })])).toMatchObject([{ level: 3, threshold: 20 }])
  })

  it('direction below raises at or below and resets above', () => {
    const rule: Rule = { id: 'low-do', type: 'threshold', field: 'do_mgl', direction: 'below', levels: { yellow: { raise: 3, reset: 3.5 }, orange: { raise: 2, reset: 2.5 } } }
    expect(feed(engineWith([rule]), reg, 'WQ-1', 'do_mgl', [5, 3, 3.4, 1.9, 2.4, 2.6, 3.6]).levels).toEqual([0, 2, 2, 3, 3, 2, 0])
  })

  it('ignores bad readings (and suspect ones with minQuality good), and readings older than the latest', () => {
    const engine = engineWith([ponding])
    expect(engine.onReadings([reading(reg, 'PD-1', T0, { depth_cm: 45 }, 'bad')])).toEqual([])
    expect(engine.onReadings([reading(reg, 'PD-1', T0 + MIN, { depth_cm: 30 }, 'suspect')])).toMatchObject([{ level: 3 }])
    expect(engine.onReadings([reading(reg, 'PD-1', T0, { depth_cm: 5 })])).toEqual([])
    expect(engine.stats().late).toBe(1)
    const strict = engineWith([{ ...ponding, minQuality: 'good' }])
    expect(strict.onReadings([reading(reg, 'PD-1', T0, { depth_cm: 30 }, 'suspect')])).toEqual([])
  })

  it('each call returns an array of its own: a later call leaves it as it was', () => {
    const engine = engineWith([ponding])
    const raised = engine.onReadings([reading(reg, 'PD-1', T0, { depth_cm: 30 })])
    const quiet = engine.onReadings([reading(reg, 'PD-1', T0 + MIN, { depth_cm: 31 })])
    const cleared = engine.onReadings([reading(reg, 'PD-1', T0 + 2 * MIN, { depth_cm: 5 })])
    expect(quiet).toEqual([])
    expect(raised).toMatchObject([{ level: 3, value: 30 }])
    expect(cleared).toMatchObject([{ level: 0, value: 5 }])
  })

  it('a batch is taken in event-time order', () => {
    const engine = engineWith([ponding])
    const out = engine.onReadings([reading(reg, 'PD-1', T0 + MIN, { depth_cm: 5 }), reading(reg, 'PD-1', T0, { depth_cm: 30 })])
    expect(out.map((c) => c.level)).toEqual([3, 0])
  })
})

describe('rate_of_rise', () => {
  const reg = registry()
  const rule: Rule = { id: 'river-rise', type: 'rate_of_rise', field: 'level_m', label: 'River level', windowS: 3600, minPoints: 3, levels: { yellow: { raise: 0.2, reset: 0.1 }, orange: { raise: 0.4, reset: 0.25 } } }

  it('needs half a window of readings, then raises on the least-squares rate in units per hour', () => {
    // 0.05 m every 10 min: 0.3 m/h
    const values = Array.from({ length: 7 }, (_, i) => 3 + 0.05 * i)
    const { levels, conditions } = feed(engineWith([rule]), reg, 'WL-1', 'level_m', values, 10 * MIN)
    expect(levels).toEqual([0, 0, 0, 2, 2, 2, 2])
    expect(conditions[0]?.value).toBeCloseTo(0.3, 6)
    expect(conditions[0]?.message).toBe('River level at Gauge 1 rising 0.3 m/h over 60 min (yellow, >= 0.2 m/h)')
  })

  it('steps up with a faster rise and clears once the rate falls below the reset', () => {
    const values = [3, 3.05, 3.1, 3.15, 3.3, 3.45, 3.6, 3.6, 3.6, 3.6, 3.6, 3.6, 3.6]
    const { levels } = feed(engineWith([rule]), reg, 'WL-1', 'level_m', values, 10 * MIN)
    // rates 0.3, 0.42, … 0.63, 0.58, 0.45, 0.257 (above the orange reset 0.25), 0.096 (below both resets)
    expect(levels).toEqual([0, 0, 0, 2, 3, 3, 3, 3, 3, 3, 3, 0, 0])
  })
})

describe('time_to_overflow', () => {
  const reg = registry()
  const rule: Rule = { id: 'overflow-eta', type: 'time_to_overflow', windowS: 900, minPoints: 3, levels: { yellow: { raise: 60, reset: 90 }, orange: { raise: 30, reset: 45 }, red: { raise: 10, reset: 15 } } }

  it('manhole MH-1 (rim depthM 3 m) rising 0.02 m/min: ETA = (rim − level) / rate on the alert', () => {
    const values = Array.from({ length: 17 }, (_, i) => 1.5 + 0.02 * i)
    const { levels, conditions } = feed(engineWith([rule]), reg, 'MH-1', 'level_m', values)
    // at t = 16 min: (3 − 1.82) / 0.02 = 59 min
    expect(levels.slice(-3)).toEqual([0, 0, 2])
    expect(conditions).toHaveLength(1)
    expect(conditions[0]?.etaMinutes).toBeCloseTo(59, 6)
    expect(conditions[0]).toMatchObject({ level: 2, value: 1.82, threshold: 3, segment: 'zone-1' })
    expect(conditions[0]?.message).toMatch(/^Manhole at Manhole 1 reaches its rim 3 m in about 59 min \(1.82 m, rising 1.2 m\/h\) \(yellow, <= 60 min\)$/)
  })

  it.each([
    ['an underpass TD-1 to its closure depth 27 cm', 'TD-1', 'depth_cm', (i: number) => 10 + i, 'Underpass at Tunnel 1 reaches the closure depth 27 cm in about 9 min'],
    ['a river gauge WL-1 to its guaranteed level 3.9 m', 'WL-1', 'level_m', (i: number) => 3.8 + 0.01 * i, 'River at Gauge 1 reaches the guaranteed level 3.9 m in about 2 min'],
  ])('%s', (_name, sensor, field, value, message) => {
    const values = Array.from({ length: 9 }, (_, i) => value(i))
    const { conditions } = feed(engineWith([{ ...rule, subjects: { sensors: [sensor] } } as Rule]), reg, sensor, field, values)
    expect(conditions.at(-1)).toMatchObject({ level: 4 })
    expect(conditions.at(-1)?.message).toContain(message)
  })

  it('updates the ETA on an active alert when it moves by 5 min or more, and clears when the level stops rising', () => {
    const values = [...Array.from({ length: 11 }, (_, i) => 2.0 + 0.05 * i), 2.5, 2.5, 2.5, 2.5, 2.5, 2.5, 2.5, 2.5, 2.5, 2.5, 2.5, 2.5, 2.5, 2.5, 2.5, 2.5, 2.5, 2.5]
    const { conditions } = feed(engineWith([rule]), reg, 'MH-1', 'level_m', values)
    // the least-squares rate over 15 min decays once the level stops: the ETA grows until past the yellow reset
    expect(conditions.map((c) => [(c.at - T0) / MIN, c.level, c.etaMinutes])).toEqual([
      [8, 3, 12],
      [10, 4, 10],
      [16, 3, 15.6],
      [18, 3, 22.1],
      [19, 3, 27.8],
      [20, 3, 36.8],
      [21, 2, 52.3],
      [22, 2, 82.9],
      [23, 0, 158.1],
    ])
  })

  it('at or above the limit the ETA is 0', () => {
    const { conditions } = feed(engineWith([rule]), reg, 'MH-1', 'level_m', [3.1])
    expect(conditions).toMatchObject([{ level: 4, etaMinutes: 0 }])
  })

  it('the limit follows a registry reload that changes the sensor’s params', () => {
    const withDepth = (depthM: number) => indexRegistry({ ...fixtureRegistry(), sensors: fixtureRegistry().sensors.map((s) => (s.id === 'MH-1' ? { ...s, params: { ...s.params, depthM } } : s)) })
    let current = withDepth(3)
    const engine = createRulesEngine({ rules: parseRules({ version: 1, rules: [rule] }), registry: () => current })
    expect(engine.onReadings([reading(current, 'MH-1', T0, { level_m: 2.1 })])).toEqual([])
    current = withDepth(2)
    expect(engine.onReadings([reading(current, 'MH-1', T0 + MIN, { level_m: 2.1 })])).toMatchObject([{ level: 4, etaMinutes: 0, threshold: 2 }])
  })
})

describe('stale', () => {
  const reg = registry()
  const rule: Rule = { id: 'sensor-stale', type: 'stale', afterIntervals: 3, rainAfterIntervals: 2, level: 'blue', rainLevel: 'yellow' }

  it('raises nothing for a sensor that has never reported', () => {
    const engine = engineWith([rule])
    expect(engine.tick(T0 + 24 * 60 * MIN, () => true)).toEqual([])
  })

  it('raises at 3 intervals of silence on the wall clock, and clears when the sensor reports', () => {
    const engine = engineWith([rule])
    engine.onReadings([reading(reg, 'SD-1', T0 - 10 * MIN, { sediment_m: 0.1 }, 'good', T0)])
    expect(engine.tick(T0 + 179_000, () => false)).toEqual([])
    const raised = engine.tick(T0 + 180_000, () => false)
    expect(raised).toMatchObject([{ rule: 'sensor-stale', type: 'stale', subject: 'SD-1', level: 1, value: 3, threshold: 3, at: T0 + 180_000 }])
    expect(raised[0]?.message).toBe('Sediment 1 (SD-1) silent for 3 min, 3 × its 1-min interval (blue)')
    expect(engine.tick(T0 + 600_000, () => false)).toEqual([])
    expect(engine.onReadings([reading(reg, 'SD-1', T0 + 5 * MIN, { sediment_m: 0.1 }, 'good', T0 + 600_000)])).toMatchObject([{ subject: 'SD-1', level: 0 }])
  })

  it('is shorter, and higher, for hazard sensors while it rains in their zone', () => {
    const engine = engineWith([rule])
    engine.onReadings(['PD-1', 'SD-1', 'WL-1'].map((id) => reading(reg, id, T0, id === 'PD-1' ? { depth_cm: 3 } : id === 'WL-1' ? { level_m: 3 } : { sediment_m: 0.1 })))
    const asked: string[] = []
    const out = engine.tick(T0 + 120_000, (where) => {
      asked.push(where)
      return where === 'zone-1'
    })
    // PD-1 (hazard, zone-1 raining) at 2 intervals; SD-1 is no hazard kind; WL-1 sits on a river: its district decides
    expect(out).toMatchObject([{ subject: 'PD-1', level: 2 }])
    expect(out[0]?.message).toContain('while raining (it may have drowned)')
    expect(asked.sort()).toEqual(['xihu', 'zone-1'])
  })

  it('decides "raining" from its own rain gauges when no callback is given', () => {
    const engine = engineWith([rule])
    engine.onReadings([reading(reg, 'RG-1', T0, { rain_mm: 1.2 }), reading(reg, 'PD-1', T0, { depth_cm: 3 })])
    expect(engine.tick(T0 + 120_000)).toMatchObject([{ subject: 'PD-1', level: 2 }])
  })

  it('a silent sensor holds the levels of its other rules with dataGap', () => {
    const engine = engineWith([ponding])
    engine.onReadings([reading(reg, 'PD-1', T0, { depth_cm: 30 })])
    const held = engine.tick(T0 + 3 * MIN)
    expect(held).toMatchObject([{ rule: 'ponding-depth', subject: 'PD-1', level: 3, dataGap: true }])
    expect(held[0]?.message).toBe('Ponding 30 cm at Wensan Rd (orange, >= 27 cm); no data for 3 min, orange held')
    expect(engine.tick(T0 + 10 * MIN)).toEqual([])
    expect(engine.onReadings([reading(reg, 'PD-1', T0 + 11 * MIN, { depth_cm: 29 })])).toMatchObject([{ level: 3, dataGap: false }])
  })
})

describe('sensor_fault', () => {
  const reg = registry()

  it.each<[string, Rule, Quality[], number[]]>([
    [
      'consecutive bad readings raise, non-bad ones in a row clear',
      { id: 'sensor-fault', type: 'sensor_fault', consecutiveBad: 3, resetGood: 2, level: 'blue' },
      ['good', 'bad', 'bad', 'bad', 'bad', 'good', 'bad', 'good', 'good', 'bad'],
      [0, 0, 0, 1, 1, 1, 1, 1, 0, 0],
    ],
    [
      'suspect readings do not count unless countSuspect',
      { id: 'sensor-fault', type: 'sensor_fault', consecutiveBad: 2, level: 'yellow' },
      ['suspect', 'suspect', 'bad', 'bad'],
      [0, 0, 0, 2],
    ],
    [
      'a bad share over a window',
      { id: 'sensor-fault', type: 'sensor_fault', consecutiveBad: 10, resetGood: 3, badShare: { share: 0.5, windowS: 600, minReadings: 4 }, level: 'blue' },
      ['bad', 'good', 'bad', 'good', 'good', 'bad', 'good', 'good', 'good'],
      // share 2/4 at the 4th reading; 3/6 at the 6th keeps it; 3 good in a row with 3/9 clears
      [0, 0, 0, 1, 1, 1, 1, 1, 0],
    ],
  ])('%s', (_name, rule, qualities, levels) => {
    const values = qualities.map(() => 5)
    expect(feed(engineWith([rule]), reg, 'PD-1', 'depth_cm', values, MIN, qualities).levels).toEqual(levels)
  })

  it('a spike re-flag of an earlier reading (same ts) replaces it', () => {
    const engine = engineWith([{ id: 'sensor-fault', type: 'sensor_fault', consecutiveBad: 2, level: 'blue' }])
    engine.onReadings([reading(reg, 'PD-1', T0, { depth_cm: 5 }, 'bad'), reading(reg, 'PD-1', T0 + MIN, { depth_cm: 5 })])
    expect(engine.onReadings([reading(reg, 'PD-1', T0 + MIN, { depth_cm: 5 }, 'bad')])).toMatchObject([{ level: 1, message: 'Sensor fault at Wensan Rd (PD-1): 2 bad readings in a row (range:depth_cm) (blue)' }])
  })
})

describe('tunnel-closure (INDICES.md §4 underpass operations)', () => {
  const reg = registry()
  const rule: Rule = { id: 'tunnel-closure', type: 'tunnel_closure', consecutive: 2, reopenBelowCm: 10, reopenHoldS: 600, level: 'red' }

  it('two consecutive readings at or above Dc close; depth <= 10 cm held for 10 min recommends reopening', () => {
    const depths = [26, 27, 20, 27, 28, 31, 12, 10, 9, 11, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 5]
    const { levels, conditions } = feed(engineWith([rule]), reg, 'TD-1', 'depth_cm', depths)
    // closes at the second of 27, 28; low from t = 10 (8 cm; 11 cm at t = 9 broke the run from t = 7); reopens at t = 20
    expect(levels).toEqual([0, 0, 0, 0, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 0, 0])
    expect(conditions).toEqual([
      expect.objectContaining({ rule: 'tunnel-closure', type: 'tunnel_closure', subject: 'TD-1', level: 4, instruction: 'close', value: 28, threshold: 27, at: T0 + 4 * MIN, message: 'Close Tunnel 1: water 28 cm, at or above the closure depth 27 cm on 2 consecutive readings (red)' }),
      expect.objectContaining({ level: 0, instruction: 'reopen', value: 8, threshold: 10, at: T0 + 20 * MIN, message: 'Reopening Tunnel 1 recommended: water at or below 10 cm for 10 min (now 8 cm)' }),
    ])
  })

  it('reads only tunnel sensors by default, and the sensor’s own closureCm', () => {
    const reg2 = indexRegistry({ ...fixtureRegistry(), sensors: fixtureRegistry().sensors.map((s) => (s.id === 'TD-1' ? { ...s, params: { closureCm: 20 } } : s)) })
    const engine = engineWith([rule], reg2)
    expect(feed(engine, reg2, 'PD-1', 'depth_cm', [30, 30, 30]).conditions).toEqual([])
    expect(feed(engine, reg2, 'TD-1', 'depth_cm', [21, 22]).levels).toEqual([0, 4])
  })
})

describe('composite', () => {
  const reg = registry()
  const river: Rule = { id: 'river-level', type: 'threshold', field: 'level_m', subjects: { kinds: ['water_level'] }, levels: { yellow: { raise: { param: 'warningLevelM' }, reset: { param: 'warningLevelM', offset: -0.1 } } } }
  const flood: Rule = { id: 'flood-risk', type: 'composite', scope: 'segment', match: 'all', conditions: [{ rule: 'ponding-depth', minLevel: 'yellow' }, { rule: 'river-level', minLevel: 'yellow' }], level: 'orange' }

  it('all of: ponding in a zone while the river it drains into (its riverGauges) is at warning', () => {
    const engine = engineWith([ponding, river, flood])
    expect(engine.onReadings([reading(reg, 'PD-1', T0, { depth_cm: 20 })]).map((c) => c.rule)).toEqual(['ponding-depth'])
    const out = engine.onReadings([reading(reg, 'WL-1', T0 + MIN, { level_m: 3.6 })])
    expect(out.map((c) => [c.rule, c.subject, c.level])).toEqual([
      ['river-level', 'WL-1', 2],
      ['flood-risk', 'zone-1', 3],
    ])
    expect(out[1]).toMatchObject({ type: 'composite', district: 'xihu', segment: 'zone-1', value: 2, threshold: 2 })
    expect(out[1]?.message).toBe('flood-risk in Test zone: ponding-depth >= yellow: PD-1; and river-level >= yellow: WL-1 (orange)')
    expect(engine.onReadings([reading(reg, 'PD-1', T0 + 2 * MIN, { depth_cm: 2 })]).map((c) => [c.rule, c.level])).toEqual([
      ['ponding-depth', 0],
      ['flood-risk', 0],
    ])
  })

  it('any of, over a district, with minSubjects', () => {
    const anyRule: Rule = { id: 'district-wet', type: 'composite', scope: 'district', match: 'any', conditions: [{ rule: 'ponding-depth', minLevel: 'orange', minSubjects: 1 }], level: 'yellow' }
    const engine = engineWith([ponding, anyRule])
    expect(engine.onReadings([reading(reg, 'PD-1', T0, { depth_cm: 20 })]).map((c) => c.rule)).toEqual(['ponding-depth'])
    expect(engine.onReadings([reading(reg, 'PD-1', T0 + MIN, { depth_cm: 30 })]).map((c) => [c.rule, c.subject, c.level, c.segment])).toEqual([
      ['ponding-depth', 'PD-1', 3, 'zone-1'],
      ['district-wet', 'xihu', 2, null],
    ])
  })
})

describe('the default rules on the Xihu sample', () => {
  const xihu = indexRegistry(loadRegistry(new URL('../../registry/xihu.json', import.meta.url).pathname))
  const engine = createRulesEngine({ rules: loadRules(BUNDLED_RULES), registry: () => xihu })

  it('a ponding point at 31.5 cm gives the SPEC §8 alert, and overflow-eta says it has reached the closure depth', () => {
    const out = engine.onReadings([reading(xihu, 'PD-0001', T0, { depth_cm: 31.5 })])
    expect(out).toEqual([
      expect.objectContaining({
        rule: 'ponding-depth',
        subject: 'PD-0001',
        district: 'xihu',
        segment: 'zone-1',
        level: 3,
        value: 31.5,
        threshold: 27,
        message: 'Ponding 31.5 cm at Wensan Rd at Wenyi West Rd ponding point (orange, >= 27 cm)',
      }),
      expect.objectContaining({ rule: 'overflow-eta', subject: 'PD-0001', level: 4, etaMinutes: 0, message: 'Road at Wensan Rd at Wenyi West Rd ponding point has reached the closure depth 27 cm (31.5 cm) (red, <= 10 min)' }),
    ])
  })
})
