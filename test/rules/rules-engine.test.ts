import { describe, expect, it } from 'vitest'
import { BUNDLED_RULES } from '../../config.js'
import type { Reading, Registry } from '../../domain.js'
import { indexRegistry, type RegistryIndex } from '../../registry/registry-index.js'
import { loadRules, parseRules } from '../../rules/load-rules.js'
import type { Rule, RuleSet } from '../../rules/rule-schema.js'
import { createRulesEngine } from '../../rules/rules-engine.js'
import type { IndexUpdate } from '../../stream/index-json.js'
import { bandOfSmooth } from '../../stream/indices/smooth-subscores.js'
import { fixtureRegistry } from '../helpers/fixture-registry.js'

const MIN = 60_000
const HOUR = 60 * MIN
const T0 = Date.UTC(2026, 10, 27, 10, 0)

function reading(reg: RegistryIndex, sensor: string, ts: number, fields: Record<string, number>): Reading {
  const s = reg.sensor(sensor)
  if (s === undefined) throw new Error(sensor)
  return { sensor, kind: s.kind, district: s.district, segment: s.segment, ts, fields, quality: 'good', qualityReason: '', tsSource: 'device', receivedAt: ts }
}

function smoothUpdate(t: number, value: number): IndexUpdate {
  const smooth = { value, band: bandOfSmooth(value), limiting: 'POND' as const, confidence: 1, flags: [] }
  return { key: 'segment:zone-1', scope: 'segment', district: 'xihu', segment: 'zone-1', eventTime: t, data: { segment: 'zone-1', district: 'xihu', type: 'drainage', clear: null, smooth }, points: [], refresh: false }
}

const ponding: Rule = { id: 'ponding-depth', type: 'threshold', subjects: { kinds: ['ponding_depth'] }, field: 'depth_cm', label: 'Ponding', levels: { yellow: { raise: 15, reset: 12 }, orange: { raise: 27, reset: 23 } } }
const tunnel: Rule = { id: 'tunnel-depth', type: 'threshold', subjects: { kinds: ['tunnel_depth'] }, field: 'depth_cm', levels: { orange: { raise: 27, reset: 23 } } }
const smooth: Rule = { id: 'smooth-water', type: 'index', index: 'smooth' }
const set = (...rules: Rule[]): RuleSet => parseRules({ version: 1, rules })

describe('replace (PUT /api/rules)', () => {
  const reg = indexRegistry(fixtureRegistry())

  function raised() {
    const engine = createRulesEngine({ rules: set(ponding, tunnel, smooth), registry: () => reg })
    engine.onReadings([reading(reg, 'PD-1', T0, { depth_cm: 30 }), reading(reg, 'TD-1', T0, { depth_cm: 30 })])
    engine.onIndexUpdate(smoothUpdate(T0, 50))
    engine.onIndexUpdate(smoothUpdate(T0 + 5 * MIN, 50))
    expect(engine.active().map((c) => [c.rule, c.subject, c.level])).toEqual([
      ['ponding-depth', 'PD-1', 3],
      ['tunnel-depth', 'TD-1', 3],
      ['smooth-water', 'zone-1', 2],
    ])
    return engine
  }

  it('keeps the state of unchanged rules: no condition, the level stays, hysteresis goes on', () => {
    const engine = raised()
    const extra: Rule = { id: 'sensor-stale', type: 'stale' }
    expect(engine.replace(set(ponding, tunnel, smooth, extra))).toEqual([])
    // 25 is above the orange reset: still orange, nothing to say (a fresh state would raise yellow)
    expect(engine.onReadings([reading(reg, 'PD-1', T0 + MIN, { depth_cm: 25 })])).toEqual([])
    // the index machine keeps its level and its run: nothing new at the next minute
    expect(engine.onIndexUpdate(smoothUpdate(T0 + 6 * MIN, 50))).toEqual([])
    expect(engine.rules().rules.map((r) => r.id)).toEqual(['ponding-depth', 'tunnel-depth', 'smooth-water', 'sensor-stale'])
  })

  it('resolves the active subjects of removed rules', () => {
    const engine = raised()
    const out = engine.replace(set(ponding))
    expect(out.map((c) => [c.rule, c.subject, c.level])).toEqual([
      ['tunnel-depth', 'TD-1', 0],
      ['smooth-water', 'zone-1', 0],
    ])
    expect(out[0]?.message).toBe("TD-1: rule 'tunnel-depth' was removed (cleared)")
    expect(engine.active().map((c) => c.rule)).toEqual(['ponding-depth'])
    expect(engine.onReadings([reading(reg, 'TD-1', T0 + MIN, { depth_cm: 40 })])).toEqual([])
  })

  it('a changed rule keeps its levels and evaluates the next value with the new values', () => {
    const engine = raised()
    const stricter: Rule = { ...ponding, levels: { yellow: { raise: 10, reset: 8 }, orange: { raise: 20, reset: 18 } } } as Rule
    expect(engine.replace(set(stricter, tunnel, smooth))).toEqual([])
    expect(engine.onReadings([reading(reg, 'PD-1', T0 + MIN, { depth_cm: 17 })])).toMatchObject([{ rule: 'ponding-depth', level: 2, message: 'Ponding 17 cm at Ponding 1 (yellow, >= 10 cm)' }])
  })

  it('resolves subjects a changed selector no longer selects, and restarts a rule whose type changed', () => {
    const engine = raised()
    const narrowed: Rule = { ...tunnel, subjects: { sensors: ['TD-9'] } } as Rule
    const retyped: Rule = { id: 'ponding-depth', type: 'stale' }
    const out = engine.replace(set(retyped, narrowed, smooth))
    expect(out.map((c) => [c.rule, c.subject, c.level, c.message])).toEqual([
      ['ponding-depth', 'PD-1', 0, "PD-1: rule 'ponding-depth' was replaced (cleared)"],
      ['tunnel-depth', 'TD-1', 0, "TD-1: no longer selected by rule 'tunnel-depth' (cleared)"],
    ])
  })

  it('an invalid file never reaches the engine: parseRules throws and the rules in force stay', () => {
    const engine = raised()
    expect(() => engine.replace(parseRules({ version: 1, rules: [{ id: 'x', type: 'nope' }] }))).toThrow(/Invalid rules/)
    expect(engine.rules().rules).toHaveLength(3)
    expect(engine.active()).toHaveLength(3)
  })
})

describe('restore and forget', () => {
  const reg = indexRegistry(fixtureRegistry())

  it('restored alerts are cleared past their reset value', () => {
    const engine = createRulesEngine({ rules: set(ponding, smooth), registry: () => reg })
    engine.restore([
      { rule: 'ponding-depth', subject: 'PD-1', level: 3 },
      { rule: 'smooth-water', subject: 'zone-1', level: 2 },
      { rule: 'gone', subject: 'PD-1', level: 2 },
    ])
    expect(engine.onReadings([reading(reg, 'PD-1', T0, { depth_cm: 25 })])).toEqual([])
    expect(engine.onReadings([reading(reg, 'PD-1', T0 + MIN, { depth_cm: 5 })])).toMatchObject([{ rule: 'ponding-depth', subject: 'PD-1', level: 0 }])
    // the machine steps down one level after tDown (30 min) of c′ below it
    const out = []
    for (let t = 0; t <= 40; t++) out.push(...engine.onIndexUpdate(smoothUpdate(T0 + t * MIN, 95)))
    expect(out.map((c) => [(c.at - T0) / MIN, c.level])).toEqual([[30, 1]])
  })

  it('a forgotten subject is raised again while its condition holds', () => {
    const engine = createRulesEngine({ rules: set(ponding), registry: () => reg })
    engine.onReadings([reading(reg, 'PD-1', T0, { depth_cm: 30 })])
    engine.forget('ponding-depth', 'PD-1')
    expect(engine.onReadings([reading(reg, 'PD-1', T0 + MIN, { depth_cm: 30 })])).toMatchObject([{ level: 3 }])
  })
})

describe('bounded state', () => {
  it('forgets subjects idle at level 0 after idleEvictS of event time, keeps active ones', () => {
    const reg = indexRegistry(fixtureRegistry())
    const fault: Rule = { id: 'sensor-fault', type: 'sensor_fault' }
    const engine = createRulesEngine({ rules: set(fault, ponding), registry: () => reg })
    const all = reg.registry.sensors.map((s) => reading(reg, s.id, T0, s.kind === 'ponding_depth' ? { depth_cm: 30 } : { x: 1 }))
    engine.onReadings(all)
    expect(engine.stats().subjects).toBe(reg.registry.sensors.length + 1)
    engine.onReadings([reading(reg, 'WL-1', T0 + 7 * HOUR, { level_m: 3 })])
    // WL-1 (fresh) for the fault rule, PD-1 still orange for the ponding rule
    expect(engine.stats()).toMatchObject({ subjects: 2, active: 1, evicted: reg.registry.sensors.length - 1 })
  })

  it('a threshold subject back at level 0 with nothing pending keeps no state', () => {
    const reg = indexRegistry(fixtureRegistry())
    const engine = createRulesEngine({ rules: set(ponding), registry: () => reg })
    engine.onReadings([reading(reg, 'PD-1', T0, { depth_cm: 3 })])
    expect(engine.stats().subjects).toBe(0)
    engine.onReadings([reading(reg, 'PD-1', T0 + MIN, { depth_cm: 30 }), reading(reg, 'PD-1', T0 + 2 * MIN, { depth_cm: 3 })])
    expect(engine.stats().subjects).toBe(0)
  })

  it('resolves and forgets the subjects of sensors gone from the registry', () => {
    const full: Registry = fixtureRegistry()
    let reg = indexRegistry(full)
    const engine = createRulesEngine({ rules: set(ponding), registry: () => reg })
    engine.onReadings([reading(reg, 'PD-1', T0, { depth_cm: 30 })])
    reg = indexRegistry({ ...full, sensors: full.sensors.filter((s) => s.id !== 'PD-1') })
    expect(engine.tick(T0 + MIN)).toMatchObject([{ rule: 'ponding-depth', subject: 'PD-1', level: 0, message: 'PD-1: no longer in the registry (cleared)' }])
    expect(engine.stats().subjects).toBe(0)
  })
})

describe('which rules read a sensor (worked out once per sensor, rule set and registry)', () => {
  const byDistrict = (districts: string[]): Rule => ({ ...ponding, id: 'ponding-district', subjects: { kinds: ['ponding_depth'], districts } }) as Rule
  const tunnelAtClosure: Rule = { id: 'tunnel-closure-depth', type: 'threshold', subjects: { kinds: ['tunnel_depth'] }, field: 'depth_cm', levels: { orange: { raise: { param: 'closureCm' }, reset: { param: 'closureCm', offset: -4 } } } }

  it('a rule added by replace reads a sensor that already reported, one removed stops reading it', () => {
    const reg = indexRegistry(fixtureRegistry())
    const engine = createRulesEngine({ rules: set(ponding), registry: () => reg })
    expect(engine.onReadings([reading(reg, 'PD-1', T0, { depth_cm: 5 })])).toEqual([])
    const low: Rule = { id: 'ponding-low', type: 'threshold', subjects: { sensors: ['PD-1'] }, field: 'depth_cm', levels: { blue: { raise: 3, reset: 2 } } }
    expect(engine.replace(set(ponding, low))).toEqual([])
    expect(engine.onReadings([reading(reg, 'PD-1', T0 + MIN, { depth_cm: 5 })]).map((c) => [c.rule, c.subject, c.level])).toEqual([['ponding-low', 'PD-1', 1]])
    expect(engine.replace(set(ponding)).map((c) => [c.rule, c.level])).toEqual([['ponding-low', 0]])
    expect(engine.onReadings([reading(reg, 'PD-1', T0 + 2 * MIN, { depth_cm: 2 }), reading(reg, 'PD-1', T0 + 3 * MIN, { depth_cm: 5 })])).toEqual([])
  })

  it('a selector widened by replace reads the sensor from its next reading', () => {
    const reg = indexRegistry(fixtureRegistry())
    const engine = createRulesEngine({ rules: set(byDistrict(['east'])), registry: () => reg })
    expect(engine.onReadings([reading(reg, 'PD-1', T0, { depth_cm: 30 })])).toEqual([])
    engine.replace(set(byDistrict(['east', 'xihu'])))
    expect(engine.onReadings([reading(reg, 'PD-1', T0 + MIN, { depth_cm: 30 })]).map((c) => [c.rule, c.subject, c.level])).toEqual([['ponding-district', 'PD-1', 3]])
  })

  it('a registry reload takes effect on the next reading: new params, name and district, and sensors added', () => {
    const full = fixtureRegistry()
    let reg = indexRegistry(full)
    const engine = createRulesEngine({ rules: set(tunnelAtClosure, byDistrict(['east'])), registry: () => reg })
    expect(engine.onReadings([reading(reg, 'TD-1', T0, { depth_cm: 25 }), reading(reg, 'PD-1', T0, { depth_cm: 30 })])).toEqual([])
    const moved: Registry = {
      ...full,
      segments: [...full.segments, { id: 'zone-2', district: 'east', type: 'drainage', name: 'East zone' }],
      sensors: [
        ...full.sensors.map((s) =>
          s.id === 'TD-1' ? { ...s, name: 'Tunnel One', params: { closureCm: 20 } } : s.id === 'PD-1' ? { ...s, district: 'east', segment: 'zone-2' } : s,
        ),
        { ...(full.sensors.find((s) => s.id === 'PD-1') as Registry['sensors'][number]), id: 'PD-9', district: 'east', segment: 'zone-2', name: 'Ponding 9' },
      ],
    }
    const before = reg
    reg = indexRegistry(moved)
    const out = engine.onReadings([
      reading(reg, 'TD-1', T0 + MIN, { depth_cm: 25 }),
      reading(reg, 'PD-1', T0 + MIN, { depth_cm: 30 }),
      reading(reg, 'PD-9', T0 + MIN, { depth_cm: 30 }),
    ])
    expect(out.map((c) => [c.rule, c.subject, c.level, c.district, c.segment])).toEqual([
      ['tunnel-closure-depth', 'TD-1', 3, 'xihu', 'zone-1'],
      ['ponding-district', 'PD-1', 3, 'east', 'zone-2'],
      ['ponding-district', 'PD-9', 3, 'east', 'zone-2'],
    ])
    expect(out[0]?.message).toBe('Depth 25 cm at Tunnel One (orange, >= 20 cm)')
    // and back: TD-1's closure depth is 27 cm again, so 22 cm is past its reset (23 cm; with 20 cm it would be 16 cm)
    reg = before
    expect(engine.onReadings([reading(reg, 'TD-1', T0 + 2 * MIN, { depth_cm: 22 })]).map((c) => [c.rule, c.subject, c.level])).toEqual([['tunnel-closure-depth', 'TD-1', 0]])
  })

  it('rules that select by kind alone follow a sensor whose kind changed in a registry reload', () => {
    const full = fixtureRegistry()
    let reg = indexRegistry(full)
    const engine = createRulesEngine({ rules: set(ponding, tunnel), registry: () => reg })
    expect(engine.onReadings([reading(reg, 'PD-1', T0, { depth_cm: 20 })]).map((c) => [c.rule, c.subject, c.level])).toEqual([['ponding-depth', 'PD-1', 2]])
    reg = indexRegistry({ ...full, sensors: full.sensors.map((s) => (s.id === 'PD-1' ? { ...s, kind: 'tunnel_depth' as const } : s)) })
    expect(engine.onReadings([reading(reg, 'PD-1', T0 + MIN, { depth_cm: 30 })]).map((c) => [c.rule, c.subject, c.level])).toEqual([['tunnel-depth', 'PD-1', 3]])
  })

  it('a reported condition never changes afterwards: later readings update the engine’s own state only', () => {
    const reg = indexRegistry(fixtureRegistry())
    const fault: Rule = { id: 'sensor-fault', type: 'sensor_fault', consecutiveBad: 2 }
    const engine = createRulesEngine({ rules: set(ponding, fault), registry: () => reg })
    const bad = (ts: number): Reading => ({ ...reading(reg, 'PD-1', ts, { depth_cm: 30 }), quality: 'bad', qualityReason: 'spike' })
    const first = [...engine.onReadings([reading(reg, 'PD-1', T0, { depth_cm: 30 })]), ...engine.onReadings([bad(T0 + MIN), bad(T0 + 2 * MIN)])]
    const copy = structuredClone(first)
    const active = engine.active()
    engine.onReadings([reading(reg, 'PD-1', T0 + 3 * MIN, { depth_cm: 35 }), bad(T0 + 4 * MIN), reading(reg, 'PD-1', T0 + 5 * MIN, { depth_cm: 50 })])
    expect(first).toEqual(copy)
    expect(active).toEqual(copy)
    expect(first.map((c) => [c.rule, c.level])).toEqual([
      ['ponding-depth', 3],
      ['sensor-fault', 1],
    ])
  })
})

describe('durationScale', () => {
  it('shortens every duration, for demos and tests', () => {
    const reg = indexRegistry(fixtureRegistry())
    const rules = loadRules(BUNDLED_RULES)
    rules.defaults = { ...rules.defaults, durationScale: 0.1 }
    const engine = createRulesEngine({ rules: parseRules(rules), registry: () => reg })
    // river-level forS 300 s becomes 30 s
    engine.onReadings([reading(reg, 'WL-1', T0, { level_m: 3.55 })])
    expect(engine.onReadings([reading(reg, 'WL-1', T0 + 30_000, { level_m: 3.55 })]).map((c) => [c.rule, c.level])).toEqual([['river-level', 2]])
    // stale after 3 × 60 s × 0.1
    expect(engine.tick(T0 + 30_000 + 18_000).map((c) => [c.rule, c.subject, c.dataGap ?? false])).toEqual([
      ['river-level', 'WL-1', true],
      ['sensor-stale', 'WL-1', false],
    ])
  })
})
