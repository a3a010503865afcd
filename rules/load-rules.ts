import { readFileSync } from 'node:fs'
import { Ajv } from 'ajv'
import type { ErrorObject, ValidateFunction } from 'ajv'
import { decodePointer, dotted, valueAt } from '../ajv-problems.js'
import type { Level } from '../domain.js'
import { AppError } from '../errors.js'
import type { RegistryIndex } from '../registry/registry-index.js'
import {
  LEVEL_NAMES,
  INDEX_RULE_DEFAULTS,
  RULE_DEFAULTS,
  RULES_SCHEMA,
  TUNNEL_CLOSURE_ID,
  type LevelSpecs,
  type Rule,
  type RuleSet,
  type SegmentSelector,
  type SensorSelector,
  type ValueRef,
} from './rule-schema.js'

/** One entry of the `details` of a CW_ERR_RULES_INVALID error. */
export interface RulesProblem {
  /** JSON pointer into the rules file, e.g. `/rules/3/levels/orange/reset`; `''` for the whole file. */
  path: string
  /** Id of the rule the problem is in, when it is in one. */
  rule?: string
  /** What is wrong, without the location. */
  message: string
}

/** Options of parseRules. */
export interface ParseRulesOptions {
  /** Prefix of the error message, e.g. the file name. */
  source?: string
  /** When given, sensor, segment and district ids in selectors must exist in it. */
  registry?: RegistryIndex
}

/** At most this many problems are reported at once. */
export const MAX_RULES_PROBLEMS = 20

let compiled: ValidateFunction | undefined

/** Compiles RULES_SCHEMA once (strict, every error). */
function validator(): ValidateFunction {
  if (compiled === undefined) {
    const ajv = new Ajv({ allErrors: true, strict: true, strictRequired: false, allowUnionTypes: true })
    compiled = ajv.compile(RULES_SCHEMA)
  }
  return compiled
}

/** The rule a pointer lies in: its id and the rest of the path. */
function ruleAt(root: unknown, parts: readonly string[]): { rule?: string; ruleParts: string[]; rest: readonly string[] } {
  const [list, index] = parts
  if (list === 'rules' && index !== undefined && /^[0-9]+$/.test(index)) {
    const id = valueAt(root, ['rules', index, 'id'])
    return { ...(typeof id === 'string' ? { rule: id } : {}), ruleParts: ['rules', index], rest: parts.slice(2) }
  }
  return { ruleParts: [], rest: parts }
}

const SCALAR_KEYWORDS = new Set(['type', 'enum', 'const', 'pattern', 'minimum', 'maximum', 'exclusiveMinimum', 'exclusiveMaximum', 'minLength', 'maxLength', 'multipleOf'])

/** Turns one ajv error into a problem naming the rule and the property. */
function describe(root: unknown, err: ErrorObject): RulesProblem {
  const parts = decodePointer(err.instancePath)
  const { rule, ruleParts, rest } = ruleAt(root, parts)
  const params = err.params as Record<string, unknown>
  const at = (extra: string[] = []): string => dotted([...rest, ...extra]) || (ruleParts.length > 0 ? 'rule' : 'file')
  let path = err.instancePath
  let message: string
  switch (err.keyword) {
    case 'required':
      path = `${err.instancePath}/${String(params.missingProperty)}`
      message = `${at([String(params.missingProperty)])} is required`
      break
    case 'additionalProperties':
      path = `${err.instancePath}/${String(params.additionalProperty)}`
      message = `${at([String(params.additionalProperty)])} is not a known property${ruleParts.length > 0 ? ` of a ${String(valueAt(root, [...ruleParts, 'type']))} rule` : ''}`
      break
    case 'false schema': {
      const type = valueAt(root, [...ruleParts, 'type'])
      const index = valueAt(root, [...ruleParts, 'index'])
      const what = type === 'index' ? `a ${String(index)} index rule` : type === 'threshold' ? 'a threshold on an index' : 'this rule'
      message = `${at()} is not allowed on ${what}`
      break
    }
    case 'enum':
      message = `${at()} must be one of ${(params.allowedValues as unknown[]).join(', ')}`
      break
    case 'const':
      message = `${at()} must be ${JSON.stringify(params.allowedValue)}`
      break
    default:
      message = `${at()} ${err.message ?? 'is invalid'}`
  }
  if (SCALAR_KEYWORDS.has(err.keyword)) message += ` (got ${JSON.stringify(valueAt(root, parts))})`
  return { path, ...(rule === undefined ? {} : { rule }), message }
}

/** How two value refs compare when the sign of their difference is known regardless of the sensor (params are positive). */
function compare(a: ValueRef, b: ValueRef): number | undefined {
  if (typeof a === 'number' && typeof b === 'number') return a - b
  if (typeof a === 'number' || typeof b === 'number' || a.param !== b.param) return undefined
  const fa = a.factor ?? 1
  const fb = b.factor ?? 1
  const oa = a.offset ?? 0
  const ob = b.offset ?? 0
  if (fa === fb) return oa - ob
  if (oa === ob) return fa - fb
  return undefined
}

function show(v: ValueRef): string {
  if (typeof v === 'number') return String(v)
  const factor = v.factor === undefined || v.factor === 1 ? '' : `${v.factor}·`
  const offset = v.offset === undefined || v.offset === 0 ? '' : v.offset > 0 ? ` + ${v.offset}` : ` − ${-v.offset}`
  return `${factor}${v.param}${offset}`
}

/** Hysteresis and order of per-level values: reset on the safe side of raise, raise values ordered by level. */
function levelProblems(levels: LevelSpecs, direction: 'above' | 'below', base: string, rule: string): RulesProblem[] {
  const out: RulesProblem[] = []
  const sign = direction === 'above' ? 1 : -1
  const safe = direction === 'above' ? 'below' : 'above'
  let previous: { level: Level; raise: ValueRef } | undefined
  for (const level of LEVEL_NAMES) {
    const spec = levels[level]
    if (spec === undefined) continue
    const side = compare(spec.reset, spec.raise)
    if (side !== undefined && sign * side >= 0) {
      out.push({
        path: `${base}/levels/${level}/reset`,
        rule,
        message: `levels.${level}.reset must be ${safe} raise (direction ${direction}): got reset ${show(spec.reset)}, raise ${show(spec.raise)}`,
      })
    }
    if (previous !== undefined) {
      const order = compare(spec.raise, previous.raise)
      if (order !== undefined && sign * order <= 0) {
        out.push({
          path: `${base}/levels/${level}/raise`,
          rule,
          message: `levels.${level}.raise must be ${direction === 'above' ? 'above' : 'below'} levels.${previous.level}.raise: got ${show(spec.raise)} and ${show(previous.raise)}`,
        })
      }
    }
    previous = { level, raise: spec.raise }
  }
  return out
}

const isUrl = (s: string): boolean => /^https?:\/\/\S+$/.test(s)

/** Checks a selector's ids against the registry. */
function selectorProblems(selector: SensorSelector | SegmentSelector | undefined, base: string, rule: string, registry: RegistryIndex): RulesProblem[] {
  if (selector === undefined) return []
  const out: RulesProblem[] = []
  const sensors = 'sensors' in selector ? selector.sensors : undefined
  sensors?.forEach((id, i) => {
    if (registry.sensor(id) === undefined) out.push({ path: `${base}/subjects/sensors/${i}`, rule, message: `sensor '${id}' is not in the registry` })
  })
  selector.segments?.forEach((id, i) => {
    if (registry.segment(id) === undefined) out.push({ path: `${base}/subjects/segments/${i}`, rule, message: `segment '${id}' is not in the registry` })
  })
  selector.districts?.forEach((id, i) => {
    if (!registry.districts.includes(id)) out.push({ path: `${base}/subjects/districts/${i}`, rule, message: `district '${id}' is not in the registry` })
  })
  return out
}

/** What JSON Schema cannot check. */
function semanticProblems(set: RuleSet, registry: RegistryIndex | undefined): RulesProblem[] {
  const out: RulesProblem[] = []
  const firstIndex = new Map<string, number>()
  set.rules.forEach((rule, i) => {
    const first = firstIndex.get(rule.id)
    if (first !== undefined) out.push({ path: `/rules/${i}/id`, rule: rule.id, message: `duplicate rule id, first used by rules[${first}]` })
    else firstIndex.set(rule.id, i)
  })
  const byId = new Map(set.rules.map((r) => [r.id, r] as const))
  set.rules.forEach((rule: Rule, i) => {
    const base = `/rules/${i}`
    const id = rule.id
    if (id === TUNNEL_CLOSURE_ID && rule.type !== 'tunnel_closure') {
      out.push({ path: `${base}/type`, rule: id, message: `the rule '${TUNNEL_CLOSURE_ID}' must have type tunnel_closure` })
    }
    switch (rule.type) {
      case 'threshold':
        if (rule.field !== undefined && rule.index !== undefined) out.push({ path: `${base}/index`, rule: id, message: 'field and index are exclusive: a threshold reads a reading field or an index' })
        out.push(...levelProblems(rule.levels, rule.direction ?? RULE_DEFAULTS.threshold.direction, base, id))
        break
      case 'rate_of_rise':
        out.push(...levelProblems(rule.levels, 'above', base, id))
        break
      case 'time_to_overflow':
        out.push(...levelProblems(rule.levels, 'below', base, id))
        break
      case 'stale': {
        const after = rule.afterIntervals ?? RULE_DEFAULTS.stale.afterIntervals
        const rain = rule.rainAfterIntervals ?? RULE_DEFAULTS.stale.rainAfterIntervals
        if (rain > after) out.push({ path: `${base}/rainAfterIntervals`, rule: id, message: `rainAfterIntervals must not exceed afterIntervals: got ${rain} and ${after}` })
        break
      }
      case 'index': {
        if (rule.index === 'smooth') {
          const cadence = rule.cadenceS ?? INDEX_RULE_DEFAULTS.smooth.cadenceS
          const rain = rule.cadenceRainS ?? INDEX_RULE_DEFAULTS.smooth.cadenceRainS
          if (rain > cadence) out.push({ path: `${base}/cadenceRainS`, rule: id, message: `cadenceRainS must not exceed cadenceS: got ${rain} and ${cadence}` })
        } else {
          const a = { ...INDEX_RULE_DEFAULTS.clear.acute, ...rule.acute }
          if (a.releaseDoMgl < a.doBelowMgl) out.push({ path: `${base}/acute/releaseDoMgl`, rule: id, message: `acute.releaseDoMgl must be at least doBelowMgl: got ${a.releaseDoMgl} and ${a.doBelowMgl}` })
          if (a.releaseNh3nMgl > a.nh3nAboveMgl) out.push({ path: `${base}/acute/releaseNh3nMgl`, rule: id, message: `acute.releaseNh3nMgl must be at most nh3nAboveMgl: got ${a.releaseNh3nMgl} and ${a.nh3nAboveMgl}` })
        }
        break
      }
      case 'composite':
        rule.conditions.forEach((c, k) => {
          const target = byId.get(c.rule)
          const path = `${base}/conditions/${k}/rule`
          if (target === undefined) out.push({ path, rule: id, message: `conditions[${k}].rule '${c.rule}' is not a rule of this file` })
          else if (target.type === 'composite') out.push({ path, rule: id, message: `conditions[${k}].rule '${c.rule}' is a composite rule; composites combine other rule types only` })
        })
        break
      default:
        break
    }
    if (registry !== undefined) out.push(...selectorProblems(rule.subjects, base, id, registry))
  })
  const hooks = new Map<string, number>()
  set.webhooks?.forEach((hook, i) => {
    const first = hooks.get(hook.id)
    if (first !== undefined) out.push({ path: `/webhooks/${i}/id`, message: `duplicate webhook id, first used by webhooks[${first}]` })
    else hooks.set(hook.id, i)
  })
  set.escalation?.tiers.forEach((tier, i) => {
    tier.targets.forEach((target, k) => {
      if (!hooks.has(target) && !isUrl(target)) out.push({ path: `/escalation/tiers/${i}/targets/${k}`, message: `target '${target}' is neither a webhook id nor an http(s) URL` })
    })
  })
  return out
}

function fail(source: string | undefined, problems: readonly RulesProblem[]): AppError {
  const shown = problems.slice(0, MAX_RULES_PROBLEMS)
  const text = shown
    .map((p) => {
      const parts = decodePointer(p.path)
      const where = parts[0] === 'rules' && parts[1] !== undefined ? `rules[${parts[1]}]${p.rule === undefined ? '' : ` (${p.rule})`}: ` : ''
      return `${where}${p.message}`
    })
    .join('; ')
  const more = problems.length > shown.length ? ` (and ${problems.length - shown.length} more)` : ''
  return new AppError('CW_ERR_RULES_INVALID', [`${source === undefined ? '' : `${source}: `}${text}${more}`], shown.map((p) => ({ ...p })))
}

/**
 * Validates a parsed rules file against RULES_SCHEMA and the checks the schema cannot express; returns a deep copy.
 * Throws CW_ERR_RULES_INVALID (status 400) whose `details` are RulesProblem entries (path, rule, message).
 */
export function parseRules(json: unknown, options: ParseRulesOptions = {}): RuleSet {
  const validate = validator()
  if (!validate(json)) {
    const seen = new Set<string>()
    const problems: RulesProblem[] = []
    for (const err of validate.errors ?? []) {
      if (err.keyword === 'if') continue
      const problem = describe(json, err)
      const key = `${problem.path}|${problem.message}`
      if (seen.has(key)) continue
      seen.add(key)
      problems.push(problem)
    }
    throw fail(options.source, problems.length > 0 ? problems : [{ path: '', message: 'is invalid' }])
  }
  const set = structuredClone(json) as RuleSet
  const problems = semanticProblems(set, options.registry)
  if (problems.length > 0) throw fail(options.source, problems)
  return set
}

/** Reads and validates a rules file; throws CW_ERR_RULES_INVALID naming the file and every problem found. */
export function loadRules(path: string, registry?: RegistryIndex): RuleSet {
  let text: string
  try {
    text = readFileSync(path, 'utf8')
  } catch (err) {
    throw fail(path, [{ path: '', message: `cannot be read (${(err as Error).message})` }])
  }
  let json: unknown
  try {
    json = JSON.parse(text)
  } catch (err) {
    throw fail(path, [{ path: '', message: `is not valid JSON (${(err as Error).message})` }])
  }
  return parseRules(json, { source: path, ...(registry === undefined ? {} : { registry }) })
}
