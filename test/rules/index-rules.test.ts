import { describe, expect, it } from 'vitest'
import { BUNDLED_RULES } from '../../config.js'
import type { Reading } from '../../domain.js'
import { indexRegistry } from '../../registry/registry-index.js'
import type { Condition } from '../../rules/condition.js'
import { loadRules, parseRules } from '../../rules/load-rules.js'
import type { Rule } from '../../rules/rule-schema.js'
import { createRulesEngine, type RulesEngine } from '../../rules/rules-engine.js'
import type { IndexUpdate } from '../../stream/index-json.js'
import { classOfScore } from '../../stream/indices/clear-subscores.js'
import { bandOfSmooth } from '../../stream/indices/smooth-subscores.js'
import { fixtureRegistry } from '../helpers/fixture-registry.js'

const MIN = 60_000
const HOUR = 60 * MIN
const T0 = Date.UTC(2026, 10, 27, 10, 0)
const REG = indexRegistry(fixtureRegistry())
const DEFAULTS = loadRules(BUNDLED_RULES)
const defaultRule = (id: string): Rule => DEFAULTS.rules.find((r) => r.id === id) as Rule

function engineWith(rules: Rule[]): RulesEngine {
  return createRulesEngine({ rules: parseRules({ version: 1, rules }), registry: () => REG })
}

function smoothUpdate(t: number, value: number | null): IndexUpdate {
  const smooth = value === null ? { value: null, reason: 'no fresh hazard sensor' } : { value, band: bandOfSmooth(value), limiting: 'POND' as const, confidence: 1, flags: [] }
  return { key: 'segment:zone-1', scope: 'segment', district: 'xihu', segment: 'zone-1', eventTime: t, data: { segment: 'zone-1', district: 'xihu', type: 'drainage', clear: null, smooth }, points: [], refresh: false }
}

function clearUpdate(t: number, value: number | null, limiting: 'nh3n_mgl' | 'ph' = 'nh3n_mgl', segment = 'river-1'): IndexUpdate {
  const clear = value === null ? { value: null, reason: 'no readings yet' } : { value, class: classOfScore(value), grade: 'good' as const, limiting, exceedances: [], confidence: 1, flags: [] }
  const type = segment === 'lake-1' ? 'lake' : 'river'
  return { key: `segment:${segment}`, scope: 'segment', district: 'xihu', segment, eventTime: t, data: { segment, district: 'xihu', type, clear, smooth: null }, points: [], refresh: false }
}

function reading(sensor: string, ts: number, fields: Record<string, number>): Reading {
  const s = REG.sensor(sensor)
  if (s === undefined) throw new Error(sensor)
  return { sensor, kind: s.kind, district: s.district, segment: s.segment, ts, fields, quality: 'good', qualityReason: '', tsSource: 'device', receivedAt: ts }
}

/** 0.5 mm every 5 min on the zone's gauge: raining throughout, rain pressure 0. */
function rain(engine: RulesEngine, from: number, to: number): void {
  const readings: Reading[] = []
  for (let t = from; t <= to; t += 5 * MIN) readings.push(reading('RG-1', t, { rain_mm: 0.5 }))
  engine.onReadings(readings)
}

describe('the INDICES.md §4 smooth walk-through from a sequence of IndexUpdates (default smooth-water rule)', () => {
  // t from, t to, SWI, level after
  const ROWS: [number, number, number, number][] = [
    [0, 0, 95.5, 0],
    [1, 1, 75.9, 0],
    [2, 2, 73.2, 1],
    [3, 3, 58.8, 1],
    [4, 4, 52.1, 2],
    [5, 5, 38.9, 2],
    [6, 6, 35.8, 3],
    [7, 7, 36.8, 3],
    [8, 8, 47.6, 3],
    [9, 9, 51.0, 3],
    [10, 37, 54.3, 3],
    [38, 45, 54.3, 2],
    [46, 75, 75.9, 2],
    [76, 80, 75.9, 1],
    [81, 110, 100, 1],
    [111, 111, 100, 0],
  ]
  const engine = engineWith([defaultRule('smooth-water')])
  rain(engine, T0 - HOUR, T0 + 2 * HOUR)
  const conditions: Condition[] = []
  const levels = new Map<number, number>()
  let level = 0
  for (const [from, to, swi] of ROWS) {
    for (let t = from; t <= to; t++) {
      const out = engine.onIndexUpdate(smoothUpdate(T0 + t * MIN, swi))
      conditions.push(...out)
      for (const c of out) level = c.level
      levels.set(t, level)
    }
  }

  it.each(ROWS)('t %d–%d min, SWI %d: level after %d', (from, to, _swi, expected) => {
    for (let t = from; t <= to; t++) expect([t, levels.get(t)]).toEqual([t, expected])
  })

  it('emits exactly the level changes, at their event times', () => {
    expect(conditions.map((c) => [(c.at - T0) / MIN, c.level])).toEqual([
      [2, 1],
      [4, 2],
      [6, 3],
      [38, 2],
      [76, 1],
      [111, 0],
    ])
    expect(conditions[2]).toMatchObject({ rule: 'smooth-water', type: 'index', subject: 'zone-1', district: 'xihu', segment: 'zone-1', value: 35.8, threshold: 40, dataGap: false })
    expect(conditions[2]?.message).toBe('Smooth-water index 35.8 (orange band) in Test zone (orange)')
  })
})

describe('smooth-water cadence in event time', () => {
  it('evaluates every 5 min while dry and calm, every minute once an alert is active', () => {
    const engine = engineWith([defaultRule('smooth-water')])
    const out: Condition[] = []
    for (let t = 0; t <= 7; t++) out.push(...engine.onIndexUpdate(smoothUpdate(T0 + t * MIN, t < 6 ? 50 : 30)))
    // boundaries 0 and 5 give yellow twice: raised at 5; then every minute: orange at 6 and 7 raises at 7
    expect(out.map((c) => [(c.at - T0) / MIN, c.level])).toEqual([
      [5, 2],
      [7, 3],
    ])
  })

  it('runs the boundaries between two results with the earlier one, and ignores older results', () => {
    const engine = engineWith([defaultRule('smooth-water')])
    engine.onIndexUpdate(smoothUpdate(T0 + 30_000, 50))
    const out = engine.onIndexUpdate(smoothUpdate(T0 + 12 * MIN, 90))
    // the first boundary is on the 1-min cadence (1), then dry and calm: 5, where yellow twice raises; then every
    // minute 6..11 with the earlier 50, and the 90 at 12 on its own boundary
    expect(out.map((c) => [(c.at - T0) / MIN, c.level])).toEqual([[5, 2]])
    expect(engine.onIndexUpdate(smoothUpdate(T0 + 5 * MIN, 10))).toEqual([])
  })

  it('a result for the same instant redoes that evaluation instead of adding one', () => {
    const engine = engineWith([defaultRule('smooth-water')])
    rain(engine, T0 - HOUR, T0 + HOUR)
    engine.onIndexUpdate(smoothUpdate(T0, 50))
    expect(engine.onIndexUpdate(smoothUpdate(T0 + MIN, 90))).toEqual([])
    // corrected result for t = 1: yellow again, which makes two in a row
    expect(engine.onIndexUpdate(smoothUpdate(T0 + MIN, 50))).toMatchObject([{ level: 2, at: T0 + MIN }])
    expect(engine.onIndexUpdate({ ...smoothUpdate(T0 + MIN, 50), refresh: true })).toEqual([])
  })

  it('at least blue under orange rain pressure (R3h >= 50 mm)', () => {
    const engine = engineWith([defaultRule('smooth-water')])
    engine.onReadings([reading('RG-1', T0 - 30 * MIN, { rain_mm: 30 }), reading('RG-1', T0 - 10 * MIN, { rain_mm: 25 })])
    engine.onIndexUpdate(smoothUpdate(T0, 95))
    expect(engine.onIndexUpdate(smoothUpdate(T0 + MIN, 95))).toMatchObject([{ level: 1, value: 95 }])
  })
})

describe('a null index holds the level (dataGap)', () => {
  it('smooth: held with dataGap, released when the index is back', () => {
    const engine = engineWith([defaultRule('smooth-water')])
    rain(engine, T0 - HOUR, T0 + HOUR)
    const at = (t: number, v: number | null) => engine.onIndexUpdate(smoothUpdate(T0 + t * MIN, v))
    at(0, 50)
    expect(at(1, 50)).toMatchObject([{ level: 2, dataGap: false }])
    const gap = at(2, null)
    expect(gap).toMatchObject([{ level: 2, dataGap: true, value: null }])
    expect(gap[0]?.message).toBe('Smooth-water index unavailable in Test zone (yellow held: data gap)')
    expect(at(40, null)).toEqual([])
    expect(at(41, 90)).toMatchObject([{ level: 2, dataGap: false, value: 90 }])
  })

  it('clear: a null index never clears, nor raises on its own', () => {
    const engine = engineWith([defaultRule('clear-water')])
    expect(engine.onIndexUpdate(clearUpdate(T0, null))).toEqual([])
    expect(engine.onIndexUpdate(clearUpdate(T0 + 5 * HOUR, null))).toEqual([])
  })
})

describe('clear-water index rule (default clear-water rule)', () => {
  it.each([
    ['class III on target III', 'river-1', 76.6, 0],
    ['class IV on target III (worked example B)', 'river-1', 48.8, 1],
    ['class V on target III', 'river-1', 30, 2],
    ['worse than V on target III', 'river-1', 10, 3],
    ['class III on target II', 'lake-1', 76.6, 1],
    ['class IV on target II', 'lake-1', 48.8, 2],
  ])('%s: level %d after two evaluations', (_name, segment, value, level) => {
    const engine = engineWith([defaultRule('clear-water')])
    const out = [...engine.onIndexUpdate(clearUpdate(T0, value, 'nh3n_mgl', segment)), ...engine.onIndexUpdate(clearUpdate(T0 + 5 * MIN, value, 'nh3n_mgl', segment))]
    expect(out.map((c) => c.level)).toEqual(level === 0 ? [] : [level])
  })

  it('gives the class gap in the message', () => {
    const engine = engineWith([defaultRule('clear-water')])
    engine.onIndexUpdate(clearUpdate(T0, 48.8))
    const [c] = engine.onIndexUpdate(clearUpdate(T0 + 5 * MIN, 48.8))
    expect(c).toMatchObject({ level: 1, value: 48.8, threshold: 60, segment: 'river-1' })
    expect(c?.message).toBe('Clear-water index 48.8 in Test river: class IV against target III (blue)')
  })

  it('acute (DO < 2.0) gives 4; DO 2.2 does not release it; DO 3.0 does, then one level per tDown', () => {
    const engine = engineWith([defaultRule('clear-water')])
    const out: Condition[] = []
    const doAt = (t: number): number => (t < 30 ? 1.5 : t < 150 ? 2.2 : 3.0)
    for (let t = 0; t <= 300; t += 5) {
      if (t % 30 === 0) engine.onReadings([reading('WQ-1', T0 + t * MIN, { do_mgl: doAt(t), nh3n_mgl: 1 })])
      out.push(...engine.onIndexUpdate(clearUpdate(T0 + t * MIN, 48.8)))
    }
    expect(out.map((c) => [(c.at - T0) / MIN, c.level])).toEqual([
      [5, 4],
      [210, 3],
      [270, 2],
    ])
    expect(out[0]?.message).toBe('Acute black-odorous water in Test river: DO 1.5 mg/L, NH3-N 1 mg/L (red)')
    expect(out[0]?.threshold).toBe(2)
  })

  it('NH3-N > 8.0 is acute too, with a null index', () => {
    const engine = engineWith([defaultRule('clear-water')])
    engine.onReadings([reading('WQ-1', T0, { nh3n_mgl: 9.1 })])
    engine.onIndexUpdate(clearUpdate(T0, null))
    expect(engine.onIndexUpdate(clearUpdate(T0 + 5 * MIN, null))).toMatchObject([{ level: 4, threshold: 8, dataGap: false }])
  })

  it.each([
    ['pH-limited class 6 is capped at blue until it has lasted 24 h', 'ph' as const, [[5, 1], [24 * 60 + 5, 3]]],
    ['the same class 6 limited by NH3-N is orange at once', 'nh3n_mgl' as const, [[5, 3]]],
  ])('%s', (_name, limiting, expected) => {
    const engine = engineWith([defaultRule('clear-water')])
    const out: Condition[] = []
    // hourly results: the 5-min boundaries in between run with the latest one
    for (let h = 0; h <= 26; h++) out.push(...engine.onIndexUpdate(clearUpdate(T0 + h * HOUR, 15, limiting)))
    expect(out.map((c) => [(c.at - T0) / MIN, c.level])).toEqual(expected)
    if (limiting === 'ph') expect(out[0]?.message).toContain('pH-limited, capped at blue for 24 h')
  })

  it('ignores district results, results without event time, and segments of the other index', () => {
    const engine = engineWith([defaultRule('clear-water'), defaultRule('smooth-water')])
    const district: IndexUpdate = { key: 'district:xihu', scope: 'district', district: 'xihu', segment: '_all', eventTime: T0, data: { district: 'xihu', clear: null, smooth: null }, points: [], refresh: false }
    expect(engine.onIndexUpdate(district)).toEqual([])
    expect(engine.onIndexUpdate({ ...clearUpdate(T0, 10), eventTime: null })).toEqual([])
    engine.onIndexUpdate(clearUpdate(T0, 10))
    engine.onIndexUpdate(clearUpdate(T0 + 5 * MIN, 10))
    expect(engine.stats().subjects).toBe(1)
  })
})

describe('threshold on an index', () => {
  it('raises on the segment, holds on a null index with dataGap, resets past the reset value', () => {
    const engine = engineWith([{ id: 'smooth-low', type: 'threshold', index: 'smooth', direction: 'below', levels: { orange: { raise: 40, reset: 45 } } }])
    const at = (t: number, v: number | null) => engine.onIndexUpdate(smoothUpdate(T0 + t * MIN, v))
    const raised = at(0, 38)
    expect(raised).toMatchObject([{ rule: 'smooth-low', subject: 'zone-1', level: 3, value: 38, threshold: 40 }])
    expect(raised[0]?.message).toBe('Smooth-water index 38 in Test zone (orange, <= 40)')
    expect(at(1, null)).toMatchObject([{ level: 3, dataGap: true }])
    expect(at(2, 44)).toMatchObject([{ level: 3, dataGap: false }])
    expect(at(3, 46)).toMatchObject([{ level: 0, message: 'Smooth-water index 46 in Test zone (cleared, > 45)' }])
  })
})
