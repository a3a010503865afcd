import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import type { Reading, Registry } from '../../domain.js'
import { indexRegistry, type RegistryIndex } from '../../registry/registry-index.js'
import { LiveSensors } from '../../rules/live-sensors.js'
import { parseRules } from '../../rules/load-rules.js'
import type { Rule } from '../../rules/rule-schema.js'
import { createRulesEngine } from '../../rules/rules-engine.js'
import { fixtureRegistry } from '../helpers/fixture-registry.js'

const MIN = 60_000
const T0 = Date.UTC(2026, 10, 27, 10, 0)
const stale: Rule = { id: 'sensor-stale', type: 'stale', afterIntervals: 3, rainAfterIntervals: 2, level: 'blue', rainLevel: 'yellow' }
const ponding: Rule = { id: 'ponding-depth', type: 'threshold', subjects: { kinds: ['ponding_depth'] }, field: 'depth_cm', levels: { orange: { raise: 27, reset: 23 } } }
const IDS = ['WL-1', 'FL-1', 'MH-1', 'PD-1', 'SD-1', 'P-1']

function reading(reg: RegistryIndex, sensor: string, ts: number, receivedAt: number, fields: Record<string, number> = { x: 1 }): Reading {
  const s = reg.sensor(sensor)
  if (s === undefined) throw new Error(sensor)
  return { sensor, kind: s.kind, district: s.district, segment: s.segment, ts, fields, quality: 'good', qualityReason: '', tsSource: 'device', receivedAt }
}

function withIntervals(intervals: Record<string, number>): RegistryIndex {
  const reg: Registry = fixtureRegistry()
  reg.sensors = reg.sensors.map((s) => ({ ...s, intervalS: intervals[s.id] ?? s.intervalS }))
  return indexRegistry(reg)
}

describe('LiveSensors: the due-time heap', () => {
  it('takes exactly the rows due by then, once each, in the order they were first added', () => {
    fc.assert(
      fc.property(
        fc.array(fc.oneof(fc.record({ op: fc.constant('add' as const), id: fc.nat({ max: 30 }), key: fc.integer({ min: 0, max: 1000 }) }), fc.record({ op: fc.constant('delete' as const), id: fc.nat({ max: 30 }) }), fc.record({ op: fc.constant('take' as const), now: fc.integer({ min: 0, max: 1000 }), back: fc.integer({ min: 0, max: 500 }) })), { maxLength: 200 }),
        (ops) => {
          const live = new LiveSensors()
          // The model: rows in order of addition with their key; taken ones are put back at now + back.
          let model: { id: string; key: number }[] = []
          for (const o of ops) {
            if (o.op === 'add') {
              const id = `s${o.id}`
              if (live.rows.has(id)) continue
              live.push(live.add(id, 0), o.key)
              model.push({ id, key: o.key })
            } else if (o.op === 'delete') {
              live.delete(`s${o.id}`)
              model = model.filter((m) => m.id !== `s${o.id}`)
            } else {
              const due = live.takeDue(o.now).map((row) => live.ids[row])
              const expected = model.filter((m) => m.key <= o.now)
              expect(due).toEqual(expected.map((m) => m.id))
              for (const m of expected) {
                m.key = o.now + o.back
                live.push(live.rows.get(m.id) as number, m.key)
              }
            }
            expect([...live.keys()]).toEqual(model.map((m) => m.id))
            expect(live.pending).toBeGreaterThanOrEqual(model.length)
          }
        },
      ),
      { numRuns: 200 },
    )
  })

  it('a NaN due time is due at once, never lost', () => {
    const live = new LiveSensors()
    live.push(live.add('a', Number.NaN), Number.NaN)
    expect(live.takeDue(-1e300).map((r) => live.ids[r])).toEqual(['a'])
  })
})

describe('tick visits only the sensors due', () => {
  it('asks nothing about rain while no sensor is silent long enough, and raises at the limit', () => {
    const reg = withIntervals({})
    const engine = createRulesEngine({ rules: parseRules({ version: 1, rules: [stale] }), registry: () => reg })
    engine.onReadings(IDS.map((id) => reading(reg, id, T0, T0)))
    const asked: string[] = []
    const raining = (where: string): boolean => {
      asked.push(where)
      return false
    }
    // Hazard sensors could go stale at 2 intervals (rain): not one is looked at before.
    expect(engine.tick(T0 + 2 * MIN - 1, raining)).toEqual([])
    expect(asked).toEqual([])
    expect(engine.tick(T0 + 2 * MIN, raining)).toEqual([])
    expect(asked.length).toBeGreaterThan(0)
    expect(engine.tick(T0 + 3 * MIN - 1, raining)).toEqual([])
    expect(engine.tick(T0 + 3 * MIN, raining).map((c) => c.subject)).toEqual(IDS)
  })

  it('reports in the order sensors were first heard from, whichever is due first', () => {
    // WL-1 reports every 10 min, PD-1 every minute: PD-1 is due long before WL-1.
    const reg = withIntervals({ 'WL-1': 600 })
    const engine = createRulesEngine({ rules: parseRules({ version: 1, rules: [stale] }), registry: () => reg })
    engine.onReadings([reading(reg, 'WL-1', T0, T0), reading(reg, 'PD-1', T0, T0)])
    expect(engine.tick(T0 + 3 * MIN, () => false).map((c) => c.subject)).toEqual(['PD-1'])
    expect(engine.tick(T0 + 30 * MIN, () => false).map((c) => c.subject)).toEqual(['WL-1'])
    // Both report again, PD-1 first: the order stays that of the first readings.
    expect(engine.onReadings([reading(reg, 'PD-1', T0 + 31 * MIN, T0 + 31 * MIN), reading(reg, 'WL-1', T0 + 31 * MIN, T0 + 31 * MIN)]).map((c) => [c.subject, c.level])).toEqual([
      ['PD-1', 0],
      ['WL-1', 0],
    ])
    expect(engine.tick(T0 + 24 * 60 * MIN, () => false).map((c) => c.subject)).toEqual(['WL-1', 'PD-1'])
  })

  it('looks again after a registry reload or a new rule set changes when a sensor is due', () => {
    let reg = withIntervals({ 'SD-1': 3600 })
    const engine = createRulesEngine({ rules: parseRules({ version: 1, rules: [stale] }), registry: () => reg })
    engine.onReadings([reading(reg, 'SD-1', T0, T0)])
    expect(engine.tick(T0 + 10 * MIN, () => false)).toEqual([])
    reg = withIntervals({})
    expect(engine.tick(T0 + 10 * MIN, () => false)).toMatchObject([{ subject: 'SD-1', level: 1 }])
    engine.onReadings([reading(reg, 'SD-1', T0 + 11 * MIN, T0 + 11 * MIN)])
    expect(engine.tick(T0 + 13 * MIN, () => false)).toEqual([])
    engine.replace(parseRules({ version: 1, rules: [{ ...stale, afterIntervals: 1, rainAfterIntervals: 1 }] }))
    expect(engine.tick(T0 + 13 * MIN, () => false)).toMatchObject([{ subject: 'SD-1', level: 1 }])
  })

  it('holds a silent sensor’s levels at staleAfterIntervals without a stale rule', () => {
    const reg = withIntervals({})
    const engine = createRulesEngine({ rules: parseRules({ version: 1, rules: [ponding] }), registry: () => reg })
    engine.onReadings([reading(reg, 'PD-1', T0, T0, { depth_cm: 30 })])
    expect(engine.tick(T0 + 3 * MIN - 1)).toEqual([])
    expect(engine.tick(T0 + 3 * MIN)).toMatchObject([{ subject: 'PD-1', level: 3, dataGap: true }])
  })

  it('matches a model that looks at every sensor on every tick', () => {
    const reg = withIntervals({ 'WL-1': 300, 'MH-1': 120 })
    const limit = (id: string): number => 3 * (reg.sensor(id)?.intervalS ?? 60) * 1000
    fc.assert(
      fc.property(
        fc.array(fc.oneof(fc.record({ op: fc.constant('read' as const), id: fc.constantFrom(...IDS), dt: fc.integer({ min: -MIN, max: 10 * MIN }) }), fc.record({ op: fc.constant('tick' as const), dt: fc.integer({ min: -MIN, max: 20 * MIN }) })), { maxLength: 120 }),
        (ops) => {
          const engine = createRulesEngine({ rules: parseRules({ version: 1, rules: [stale] }), registry: () => reg })
          const model = new Map<string, { receivedAt: number; raised: boolean }>()
          let wall = T0
          for (const o of ops) {
            wall += o.dt
            if (o.op === 'read') {
              const out = engine.onReadings([reading(reg, o.id, wall, wall)])
              const m = model.get(o.id)
              const expected: [string, number][] = []
              if (m === undefined) model.set(o.id, { receivedAt: wall, raised: false })
              else {
                m.receivedAt = Math.max(m.receivedAt, wall)
                if (m.raised) expected.push([o.id, 0])
                m.raised = false
              }
              expect(out.map((c) => [c.subject, c.level])).toEqual(expected)
            } else {
              const expected: [string, number][] = []
              for (const [id, m] of model) {
                if (!m.raised && wall - m.receivedAt >= limit(id)) {
                  m.raised = true
                  expected.push([id, 1])
                }
              }
              expect(engine.tick(wall, () => false).map((c) => [c.subject, c.level])).toEqual(expected)
            }
          }
        },
      ),
      { numRuns: 200 },
    )
  })
})

describe('the sweep on every tick', () => {
  it('checks subjects against the registry again once another registry has been read, even if the first is back', () => {
    const full = fixtureRegistry()
    const without = indexRegistry({ ...full, sensors: full.sensors.filter((s) => s.id !== 'PD-1') })
    const withPd = indexRegistry(fixtureRegistry())
    let reg = without
    const engine = createRulesEngine({ rules: parseRules({ version: 1, rules: [ponding] }), registry: () => reg })
    expect(engine.tick(T0)).toEqual([])
    reg = withPd
    expect(engine.onReadings([reading(reg, 'PD-1', T0, T0, { depth_cm: 30 })])).toMatchObject([{ subject: 'PD-1', level: 3 }])
    reg = without
    expect(engine.tick(T0 + 1000)).toMatchObject([{ subject: 'PD-1', level: 0, message: 'PD-1: no longer in the registry (cleared)' }])
    expect(engine.stats()).toMatchObject({ subjects: 0, evicted: 1 })
  })

  it('forgets idle subjects of a table on the tick, as the registry stays the same', () => {
    const reg = withIntervals({})
    const fault: Rule = { id: 'sensor-fault', type: 'sensor_fault' }
    const engine = createRulesEngine({ rules: parseRules({ version: 1, defaults: { idleEvictS: 600 }, rules: [fault] }), registry: () => reg })
    engine.onReadings([reading(reg, 'SD-1', T0, T0), reading(reg, 'PD-1', T0 + 5 * MIN, T0 + 5 * MIN)])
    engine.tick(T0 + 5 * MIN)
    expect(engine.stats()).toMatchObject({ subjects: 2, evicted: 0 })
    // Event time moves on with PD-1 alone: SD-1 idle for over 10 min is forgotten at the next tick.
    engine.onReadings([reading(reg, 'PD-1', T0 + 10 * MIN + 1, T0 + 10 * MIN + 1)])
    expect(engine.stats()).toMatchObject({ subjects: 2, evicted: 0 })
    engine.tick(T0 + 10 * MIN + 1)
    expect(engine.stats()).toMatchObject({ subjects: 1, evicted: 1 })
  })
})
