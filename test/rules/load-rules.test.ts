import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { BUNDLED_RULES } from '../../config.js'
import type { Sensor } from '../../domain.js'
import { loadRegistry } from '../../registry/load-registry.js'
import { indexRegistry } from '../../registry/registry-index.js'
import { compileRules, selectsSensor, type ReadingRule } from '../../rules/compile-rules.js'
import { resolveLevels } from '../../rules/evaluate-hysteresis.js'
import { overflowLimit } from '../../rules/evaluate-rate.js'
import { loadRules, parseRules, type RulesProblem } from '../../rules/load-rules.js'
import type { RuleSet } from '../../rules/rule-schema.js'
import { expectAppError } from '../helpers/expect-app-error.js'
import { fixtureRegistry } from '../helpers/fixture-registry.js'

const XIHU = indexRegistry(loadRegistry(new URL('../../registry/xihu.json', import.meta.url).pathname))
const defaults = (): RuleSet => loadRules(BUNDLED_RULES)

describe('the bundled default rules', () => {
  it('validate against the schema and the Xihu registry', () => {
    const rules = defaults()
    expect(() => parseRules(rules, { registry: XIHU })).not.toThrow()
    expect(rules.rules.map((r) => r.type)).toEqual(
      expect.arrayContaining(['index', 'threshold', 'rate_of_rise', 'time_to_overflow', 'stale', 'sensor_fault', 'composite', 'tunnel_closure']),
    )
    expect(rules.rules.find((r) => r.id === 'tunnel-closure')?.type).toBe('tunnel_closure')
  })

  const reading = compileRules(defaults()).rules.filter((r): r is ReadingRule => r.type !== 'index' && r.type !== 'composite')

  it.each(reading.map((r) => [r.id, r] as const))('%s selects Xihu sensors and resolves on every one of them', (_id, rule) => {
    const sensors = XIHU.registry.sensors.filter((s) => selectsSensor(rule, s as Sensor))
    expect(sensors.length).toBeGreaterThan(0)
    for (const sensor of sensors) {
      if (rule.type === 'threshold') {
        const levels = resolveLevels(rule.levels, sensor, rule.direction)
        expect(levels.map((l) => l.level), sensor.id).toEqual(rule.levels.map((l) => l.level))
        for (const [i, l] of levels.entries()) {
          // hysteresis on the safe side, raise values increasing with the level, for this sensor's params
          expect(l.reset, `${sensor.id} level ${l.level}`).toBeLessThan(l.raise)
          if (i > 0) expect(l.raise, `${sensor.id} level ${l.level}`).toBeGreaterThan((levels[i - 1] as { raise: number }).raise)
        }
      }
      if (rule.type === 'time_to_overflow') expect(overflowLimit(sensor), sensor.id).toBeDefined()
    }
  })
})

type Mutable = Omit<RuleSet, 'rules'> & { rules: Record<string, unknown>[] }
type Mutation = (rules: Mutable) => void
const mutable = (): Mutable => defaults() as unknown as Mutable
const ruleById = (set: { rules: Record<string, unknown>[] }, id: string): Record<string, unknown> => {
  const rule = set.rules.find((r) => r.id === id)
  if (rule === undefined) throw new Error(`no rule ${id}`)
  return rule
}
const levelsOf = (set: { rules: Record<string, unknown>[] }, id: string) => ruleById(set, id).levels as Record<string, Record<string, unknown>>

describe('parseRules rejects bad files with details', () => {
  it.each<[string, Mutation, Omit<Partial<RulesProblem>, 'message'> & { message: RegExp }]>([
    [
      'a reset on the wrong side of its raise',
      (s) => {
        levelsOf(s, 'ponding-depth').orange = { raise: 27, reset: 30 }
      },
      { path: '/rules/2/levels/orange/reset', rule: 'ponding-depth', message: /reset must be below raise .*got reset 30, raise 27/ },
    ],
    [
      'a reset equal to its raise (no hysteresis)',
      (s) => {
        levelsOf(s, 'ponding-depth').yellow = { raise: 15, reset: 15 }
      },
      { path: '/rules/2/levels/yellow/reset', rule: 'ponding-depth', message: /must be below raise/ },
    ],
    [
      'a param reset on the wrong side',
      (s) => {
        levelsOf(s, 'river-level').yellow = { raise: { param: 'warningLevelM' }, reset: { param: 'warningLevelM', offset: 0.1 } }
      },
      { path: '/rules/4/levels/yellow/reset', rule: 'river-level', message: /got reset warningLevelM \+ 0.1, raise warningLevelM/ },
    ],
    [
      'a below-threshold reset under its raise',
      (s) => {
        s.rules.push({ id: 'low-do', type: 'threshold', field: 'do_mgl', direction: 'below', levels: { yellow: { raise: 3, reset: 2.5 } } })
      },
      { path: '/rules/13/levels/yellow/reset', rule: 'low-do', message: /must be above raise \(direction below\)/ },
    ],
    [
      'time_to_overflow minutes with reset under raise',
      (s) => {
        levelsOf(s, 'overflow-eta').red = { raise: 10, reset: 5 }
      },
      { path: '/rules/7/levels/red/reset', rule: 'overflow-eta', message: /must be above raise/ },
    ],
    [
      'raise values not increasing with the level',
      (s) => {
        levelsOf(s, 'ponding-depth').red = { raise: 20, reset: 18 }
      },
      { path: '/rules/2/levels/red/raise', rule: 'ponding-depth', message: /levels.red.raise must be above levels.orange.raise: got 20 and 27/ },
    ],
    [
      'an unknown rule type',
      (s) => {
        ruleById(s, 'sensor-fault').type = 'treshold'
      },
      { path: '/rules/10/type', rule: 'sensor-fault', message: /type must be one of index, threshold, .* \(got "treshold"\)/ },
    ],
    [
      'a negative forS',
      (s) => {
        ruleById(s, 'ponding-depth').forS = -5
      },
      { path: '/rules/2/forS', rule: 'ponding-depth', message: /forS must be >= 0 \(got -5\)/ },
    ],
    [
      'a threshold without field or index',
      (s) => {
        delete ruleById(s, 'ponding-depth').field
      },
      { path: '/rules/2/field', rule: 'ponding-depth', message: /field is required/ },
    ],
    [
      'a threshold without levels',
      (s) => {
        delete ruleById(s, 'tunnel-depth').levels
      },
      { path: '/rules/3/levels', rule: 'tunnel-depth', message: /levels is required/ },
    ],
    [
      'an unknown property',
      (s) => {
        ruleById(s, 'ponding-depth').for = 60
      },
      { path: '/rules/2/for', rule: 'ponding-depth', message: /for is not a known property of a threshold rule/ },
    ],
    [
      'field and index together',
      (s) => {
        ruleById(s, 'ponding-depth').index = 'smooth'
        delete ruleById(s, 'ponding-depth').subjects
      },
      { path: '/rules/2/index', rule: 'ponding-depth', message: /exclusive/ },
    ],
    [
      'a clear-only option on a smooth index rule',
      (s) => {
        ruleById(s, 'smooth-water').acute = { doBelowMgl: 2 }
      },
      { path: '/rules/1/acute', rule: 'smooth-water', message: /acute is not allowed on a smooth index rule/ },
    ],
    [
      'a composite naming an unknown rule',
      (s) => {
        ruleById(s, 'flood-risk').conditions = [{ rule: 'no-such-rule' }]
      },
      { path: '/rules/11/conditions/0/rule', rule: 'flood-risk', message: /'no-such-rule' is not a rule of this file/ },
    ],
    [
      'a composite of a composite',
      (s) => {
        ruleById(s, 'flood-risk').conditions = [{ rule: 'flood-risk' }]
      },
      { path: '/rules/11/conditions/0/rule', rule: 'flood-risk', message: /is a composite rule/ },
    ],
    [
      'a tunnel_closure rule under another id',
      (s) => {
        ruleById(s, 'tunnel-closure').id = 'closure'
      },
      { path: '/rules/12/id', rule: 'closure', message: /id must be "tunnel-closure"/ },
    ],
    [
      'the tunnel-closure id on another type',
      (s) => {
        s.rules = s.rules.filter((r) => r.id !== 'tunnel-closure')
        s.rules.push({ ...ruleById(s, 'ponding-depth'), id: 'tunnel-closure' })
      },
      { path: '/rules/12/type', rule: 'tunnel-closure', message: /must have type tunnel_closure/ },
    ],
    [
      'a duplicate rule id',
      (s) => {
        s.rules.push({ ...ruleById(s, 'ponding-depth') })
      },
      { path: '/rules/13/id', rule: 'ponding-depth', message: /duplicate rule id, first used by rules\[2\]/ },
    ],
    [
      'a stale rule longer in the rain than dry',
      (s) => {
        ruleById(s, 'sensor-stale').rainAfterIntervals = 4
      },
      { path: '/rules/9/rainAfterIntervals', rule: 'sensor-stale', message: /must not exceed afterIntervals/ },
    ],
    [
      'time_to_overflow on a kind without a limit',
      (s) => {
        ruleById(s, 'overflow-eta').subjects = { kinds: ['flow'] }
      },
      { path: '/rules/7/subjects/kinds/0', rule: 'overflow-eta', message: /must be one of manhole_level/ },
    ],
    [
      'an escalation target that is no webhook',
      (s) => {
        ;(s.escalation as { tiers: { targets: string[] }[] }).tiers[0] = { name: 'x', targets: ['pager'] } as never
      },
      { path: '/escalation/tiers/0/targets/0', message: /neither a webhook id nor an http\(s\) URL/ },
    ],
    [
      'a webhook URL that is not http(s)',
      (s) => {
        s.webhooks = [{ id: 'ops', url: 'ftp://example.org/hook', format: 'json' }]
      },
      { path: '/webhooks/0/url', message: /must match pattern/ },
    ],
    [
      'another file version',
      (s) => {
        ;(s as { version: number }).version = 2
      },
      { path: '/version', message: /version must be 1/ },
    ],
  ])('%s', (_name, mutate, expected) => {
    const set = mutable()
    mutate(set)
    const err = expectAppError(() => parseRules(set))
    expect(err.code).toBe('CW_ERR_RULES_INVALID')
    expect(err.statusCode).toBe(400)
    expect(err.message).toMatch(/^Invalid rules: /)
    const { message, ...rest } = expected
    expect(err.details).toContainEqual(expect.objectContaining({ ...rest, message: expect.stringMatching(message) }))
  })

  it('reports every problem at once, naming the rule in the message', () => {
    const set = mutable()
    ruleById(set, 'ponding-depth').forS = -1
    ruleById(set, 'tunnel-depth').forS = 'soon'
    const err = expectAppError(() => parseRules(set))
    expect(err.details).toHaveLength(2)
    expect(err.message).toContain('rules[2] (ponding-depth): forS must be >= 0 (got -1)')
    expect(err.message).toContain('rules[3] (tunnel-depth): forS must be number (got "soon")')
  })

  it('checks selector ids against the registry when one is given', () => {
    const set = defaults()
    set.rules.push({ id: 'one-gauge', type: 'threshold', subjects: { sensors: ['WL-9999'] }, field: 'level_m', levels: { red: { raise: 5, reset: 4.8 } } })
    expect(() => parseRules(set)).not.toThrow()
    const err = expectAppError(() => parseRules(set, { registry: indexRegistry(fixtureRegistry()) }))
    expect(err.details).toContainEqual({ path: '/rules/13/subjects/sensors/0', rule: 'one-gauge', message: "sensor 'WL-9999' is not in the registry" })
  })

  it('names the file when it is missing or not JSON', () => {
    const dir = mkdtempSync(join(tmpdir(), 'cw-rules-'))
    const bad = join(dir, 'bad.json')
    writeFileSync(bad, '{ "version": 1, ')
    expect(expectAppError(() => loadRules(bad)).message).toMatch(/^Invalid rules: .*bad\.json: is not valid JSON/)
    expect(expectAppError(() => loadRules(join(dir, 'missing.json'))).message).toMatch(/missing\.json: cannot be read/)
  })

  it('returns a copy: later changes to the input do not leak in', () => {
    const input = defaults()
    const parsed = parseRules(input)
    input.rules.length = 0
    expect(parsed.rules.length).toBeGreaterThan(0)
  })
})
