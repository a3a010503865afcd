import { SENSOR_KINDS, type Level, type SensorKind } from '../domain.js'

/** Every rule type of the rules file (SPEC §8). */
export const RULE_TYPES = ['index', 'threshold', 'rate_of_rise', 'time_to_overflow', 'stale', 'sensor_fault', 'composite', 'tunnel_closure'] as const

export type RuleType = (typeof RULE_TYPES)[number]

/** Alert levels lowest to highest; level number 1–4 is the position plus one (INDICES.md §4). */
export const LEVEL_NAMES = ['blue', 'yellow', 'orange', 'red'] as const satisfies readonly Level[]

/** The fixed id of the underpass closure rule (INDICES.md §4). */
export const TUNNEL_CLOSURE_ID = 'tunnel-closure'

/** Kinds `time_to_overflow` reads, with their limit: rim `depthM`, closure depth `closureCm`, guaranteed level. */
export const OVERFLOW_KINDS = ['manhole_level', 'pipe_level', 'tunnel_depth', 'ponding_depth', 'water_level'] as const satisfies readonly SensorKind[]

/** Hazard kinds of the smooth-water index (POND, WELL, PIPE, RIVER of INDICES.md §2): `stale` is shorter for them while it rains. */
export const HAZARD_KINDS = ['ponding_depth', 'tunnel_depth', 'manhole_level', 'pipe_level', 'water_level'] as const satisfies readonly SensorKind[]

/** Every default of the rules file, in one place; durations in seconds. */
export const RULE_DEFAULTS = {
  /** Multiplies every duration of every rule (event time and wall clock); below 1 shortens them for demos and tests. */
  durationScale: 1,
  /** A sensor silent this many intervals is stale: reading rules then hold their level with `dataGap` (SPEC §6). */
  staleAfterIntervals: 3,
  /** `forS` of threshold, rate_of_rise and time_to_overflow rules that omit it, seconds. */
  forS: 0,
  /** A subject at level 0 whose last input is this old (event time) is forgotten, seconds. */
  idleEvictS: 6 * 3600,
  threshold: { direction: 'above', minQuality: 'suspect' },
  rateOfRise: { windowS: 3600, minPoints: 3 },
  timeToOverflow: { windowS: 1800, minPoints: 3 },
  stale: { afterIntervals: 3, rainAfterIntervals: 2, level: 'blue', rainLevel: 'yellow' },
  sensorFault: { consecutiveBad: 5, resetGood: 3, countSuspect: false, level: 'blue' },
  composite: { minLevel: 'blue', minSubjects: 1 },
  tunnelClosure: { consecutive: 2, reopenBelowCm: 10, reopenHoldS: 600, level: 'red' },
  webhookFormat: 'json',
} as const

/** INDICES.md §4 defaults of the index rules, per index. */
export const INDEX_RULE_DEFAULTS = {
  clear: { cadenceS: 300, nUp: 2, margin: 2, tDownS: 3600, phClass6CapHours: 24, acute: { doBelowMgl: 2.0, nh3nAboveMgl: 8.0, releaseDoMgl: 2.5, releaseNh3nMgl: 7.0 } },
  smooth: { cadenceS: 300, cadenceRainS: 60, nUp: 2, margin: 5, tDownS: 1800, rainFloor: true },
} as const

/** A per-sensor value: `factor · params[param] + offset` (factor 1, offset 0 by default). */
export interface ParamRef {
  param: string
  offset?: number
  factor?: number
}

/** A raise or reset value: a number, or a reference to a sensor param. */
export type ValueRef = number | ParamRef

/** One level of a threshold rule: raise at `raise`, clear once past `reset` (on the safe side of `raise`). */
export interface LevelSpec<V = ValueRef> {
  raise: V
  reset: V
}

/** Per-level raise and reset values; at least one level. */
export type LevelSpecs<V = ValueRef> = Partial<Record<Level, LevelSpec<V>>>

/** Which sensors a reading rule applies to: a sensor must match every key given (any value within a key). */
export interface SensorSelector {
  sensors?: string[]
  kinds?: SensorKind[]
  segments?: string[]
  districts?: string[]
}

/** Which segments an index rule applies to. */
export interface SegmentSelector {
  segments?: string[]
  districts?: string[]
}

interface RuleBase {
  /** Unique id; the `rule` of its alerts. */
  id: string
  description?: string
  /** Default true; a disabled rule is kept in the file but not evaluated. */
  enabled?: boolean
}

/** The index alert of INDICES.md §4 on each segment's clear- or smooth-water index. */
export interface IndexRule extends RuleBase {
  type: 'index'
  index: 'clear' | 'smooth'
  subjects?: SegmentSelector
  /** Evaluation cadence, seconds; default 300. */
  cadenceS?: number
  /** Smooth only: cadence while raining or an alert is active, seconds; default 60. */
  cadenceRainS?: number
  /** Consecutive evaluations above the level to raise it; default 2. */
  nUp?: number
  /** Index points subtracted for the pessimistic candidate; default 2 clear, 5 smooth. */
  margin?: number
  /** Continuous time before stepping down one level, seconds; default 3600 clear, 1800 smooth. */
  tDownS?: number
  /** Clear only: acute (level 4) thresholds and release, mg/L. */
  acute?: { doBelowMgl?: number; nh3nAboveMgl?: number; releaseDoMgl?: number; releaseNh3nMgl?: number }
  /** Clear only: hours a pH-limited class 6 is capped at level 1; default 24. */
  phClass6CapHours?: number
  /** Smooth only: at least level 1 under orange rain pressure; default true. */
  rainFloor?: boolean
}

/** Per-level raise and reset values on a reading field or an index, with hysteresis and `forS`. */
export interface ThresholdRule extends RuleBase {
  type: 'threshold'
  subjects?: SensorSelector
  /** The reading field (exclusive with `index`). */
  field?: string
  /** An index instead of a reading field: the subject is the segment. */
  index?: 'clear' | 'smooth'
  /** `above` (default): raise at or above; `below`: raise at or below. */
  direction?: 'above' | 'below'
  levels: LevelSpecs
  /** Continuous time past a raise value before raising, seconds (event time). */
  forS?: number
  /** Word the message starts with, e.g. "Ponding". */
  label?: string
  /** `suspect` (default) reads good and suspect readings, `good` only good ones; bad never. */
  minQuality?: 'good' | 'suspect'
}

/** Rate of rise in field units per hour over a trailing window, with hysteresis. */
export interface RateOfRiseRule extends RuleBase {
  type: 'rate_of_rise'
  subjects?: SensorSelector
  field: string
  windowS?: number
  /** Least readings in the window to compute a rate; default 3. */
  minPoints?: number
  levels: LevelSpecs<number>
  forS?: number
  label?: string
  minQuality?: 'good' | 'suspect'
}

/** Minutes until the level reaches its limit at the current rate of rise; per-level minutes (raise ≤, reset >). */
export interface TimeToOverflowRule extends RuleBase {
  type: 'time_to_overflow'
  subjects?: SensorSelector
  windowS?: number
  minPoints?: number
  levels: LevelSpecs<number>
  forS?: number
  minQuality?: 'good' | 'suspect'
}

/** A sensor silent for `afterIntervals` × its interval (wall clock); shorter for hazard kinds while it rains. */
export interface StaleRule extends RuleBase {
  type: 'stale'
  subjects?: SensorSelector
  afterIntervals?: number
  rainAfterIntervals?: number
  hazardKinds?: SensorKind[]
  level?: Level
  rainLevel?: Level
}

/** Persistent bad quality: `consecutiveBad` bad readings in a row, or a bad share over a window. */
export interface SensorFaultRule extends RuleBase {
  type: 'sensor_fault'
  subjects?: SensorSelector
  consecutiveBad?: number
  badShare?: { share: number; windowS: number; minReadings?: number }
  /** Non-bad readings in a row (and the share back below) to clear; default 3. */
  resetGood?: number
  countSuspect?: boolean
  level?: Level
}

/** One named condition of a composite rule: another rule's alerts in the scope. */
export interface CompositeCondition {
  rule: string
  minLevel?: Level
  minSubjects?: number
}

/** All or any of other rules' conditions on one segment or district. */
export interface CompositeRule extends RuleBase {
  type: 'composite'
  scope: 'segment' | 'district'
  subjects?: SegmentSelector
  match: 'all' | 'any'
  conditions: CompositeCondition[]
  level: Level
}

/** The underpass closure instruction of INDICES.md §4; its id is always `tunnel-closure`. */
export interface TunnelClosureRule extends RuleBase {
  type: 'tunnel_closure'
  subjects?: SensorSelector
  consecutive?: number
  reopenBelowCm?: number
  reopenHoldS?: number
  level?: Level
}

export type Rule = IndexRule | ThresholdRule | RateOfRiseRule | TimeToOverflowRule | StaleRule | SensorFaultRule | CompositeRule | TunnelClosureRule

/** A notification target: a JSON webhook signed with HMAC-SHA256, or a DingTalk or WeCom robot. */
export interface WebhookSpec {
  id: string
  url: string
  secret?: string
  format?: 'json' | 'dingtalk' | 'wecom'
  minLevel?: Level
}

/** The rules file (SPEC §8). */
export interface RuleSet {
  version: 1
  defaults?: { durationScale?: number; staleAfterIntervals?: number; forS?: number; idleEvictS?: number }
  escalation?: { tiers: { name: string; targets: string[] }[]; timeoutsS: Record<Level, number> }
  noise?: { flap?: { transitions: number; windowS: number }; incident?: { windowS: number; minAlerts: number } }
  webhooks?: WebhookSpec[]
  rules: Rule[]
}

const ID_PATTERN = '^[A-Za-z0-9_.-]+$'
const seconds = (description: string) => ({ type: 'number', minimum: 0, description: `${description}, seconds` }) as const
const positiveSeconds = (description: string) => ({ type: 'number', exclusiveMinimum: 0, description: `${description}, seconds` }) as const
const level = (description: string) => ({ enum: [...LEVEL_NAMES], description }) as const
const ids = (description: string) => ({ type: 'array', minItems: 1, uniqueItems: true, items: { $ref: '#/definitions/id' }, description }) as const
const common = {
  id: { $ref: '#/definitions/id' },
  description: { type: 'string' },
  enabled: { type: 'boolean', default: true },
} as const
const minQuality = { enum: ['good', 'suspect'], default: RULE_DEFAULTS.threshold.minQuality, description: 'lowest quality read; bad readings never count' } as const
const levelsOf = (spec: string, description: string) =>
  ({
    type: 'object',
    additionalProperties: false,
    minProperties: 1,
    properties: Object.fromEntries(LEVEL_NAMES.map((l) => [l, { $ref: `#/definitions/${spec}` }])) as Record<Level, { $ref: string }>,
    description,
  }) as const
const ruleOf = (type: RuleType, required: readonly string[], properties: Record<string, unknown>, extra: Record<string, unknown> = {}) =>
  ({
    type: 'object',
    additionalProperties: false,
    required: ['id', 'type', ...required],
    properties: { ...common, type: { const: type }, ...properties },
    ...extra,
  }) as const

/**
 * JSON Schema (draft-07, ajv 8) of the rules file (SPEC §8). What it cannot say is checked by `parseRules`:
 * unique ids, hysteresis sides and level order, composite references, escalation targets.
 */
export const RULES_SCHEMA = {
  $schema: 'http://json-schema.org/draft-07/schema#',
  title: 'citywater alert rules',
  $comment:
    'Generated from rules/rule-schema.ts. Durations are seconds. parseRules (rules/load-rules.ts) also checks: unique rule and webhook ids; reset on the safe side of raise and raise values ordered by level where comparable; composite conditions name existing non-composite rules; escalation targets are webhook ids or URLs; threshold has exactly one of field and index; the tunnel_closure rule has the id tunnel-closure and no other rule does.',
  type: 'object',
  additionalProperties: false,
  required: ['version', 'rules'],
  properties: {
    $schema: { type: 'string' },
    version: { const: 1 },
    defaults: {
      type: 'object',
      additionalProperties: false,
      properties: {
        durationScale: { type: 'number', exclusiveMinimum: 0, default: RULE_DEFAULTS.durationScale, description: 'multiplies every duration of every rule (e.g. 0.05 for a demo)' },
        staleAfterIntervals: { type: 'number', exclusiveMinimum: 0, default: RULE_DEFAULTS.staleAfterIntervals, description: 'silence in intervals after which reading rules flag dataGap' },
        forS: { ...seconds('default forS'), default: RULE_DEFAULTS.forS },
        idleEvictS: { ...positiveSeconds('a subject at level 0 idle this long in event time is forgotten'), default: RULE_DEFAULTS.idleEvictS },
      },
    },
    escalation: {
      type: 'object',
      additionalProperties: false,
      required: ['tiers', 'timeoutsS'],
      properties: {
        tiers: {
          type: 'array',
          minItems: 1,
          items: {
            type: 'object',
            additionalProperties: false,
            required: ['name', 'targets'],
            properties: {
              name: { type: 'string', minLength: 1 },
              targets: { type: 'array', uniqueItems: true, items: { type: 'string', minLength: 1 }, description: 'webhook ids or URLs' },
            },
          },
        },
        timeoutsS: {
          type: 'object',
          additionalProperties: false,
          required: [...LEVEL_NAMES],
          properties: Object.fromEntries(LEVEL_NAMES.map((l) => [l, positiveSeconds(`unacknowledged ${l} alerts escalate after`)])) as Record<Level, unknown>,
        },
      },
    },
    noise: {
      type: 'object',
      additionalProperties: false,
      properties: {
        flap: {
          type: 'object',
          additionalProperties: false,
          required: ['transitions', 'windowS'],
          properties: { transitions: { type: 'integer', minimum: 2 }, windowS: positiveSeconds('flap window') },
        },
        incident: {
          type: 'object',
          additionalProperties: false,
          required: ['windowS', 'minAlerts'],
          properties: { windowS: positiveSeconds('incident grouping window'), minAlerts: { type: 'integer', minimum: 2 } },
        },
      },
    },
    webhooks: {
      type: 'array',
      items: {
        type: 'object',
        additionalProperties: false,
        required: ['id', 'url'],
        properties: {
          id: { $ref: '#/definitions/id' },
          url: { type: 'string', pattern: '^https?://\\S+$' },
          secret: { type: 'string', minLength: 1, description: 'HMAC-SHA256 key of X-Citywater-Signature (json) or the robot signing secret' },
          format: { enum: ['json', 'dingtalk', 'wecom'], default: RULE_DEFAULTS.webhookFormat },
          minLevel: level('lowest level sent to this webhook'),
        },
      },
    },
    rules: { type: 'array', items: { $ref: '#/definitions/rule' } },
  },
  definitions: {
    id: { type: 'string', minLength: 1, maxLength: 64, pattern: ID_PATTERN },
    kind: { enum: [...SENSOR_KINDS] },
    field: { type: 'string', pattern: '^[a-z][a-z0-9_]*$', description: 'a reading field of SPEC §4, e.g. depth_cm' },
    sensorSelector: {
      type: 'object',
      additionalProperties: false,
      minProperties: 1,
      properties: {
        sensors: ids('sensor ids'),
        kinds: { type: 'array', minItems: 1, uniqueItems: true, items: { $ref: '#/definitions/kind' } },
        segments: ids('segments or drainage zones'),
        districts: ids('districts'),
      },
      description: 'a sensor must match every key given; omitted: every sensor the rule can read',
    },
    segmentSelector: {
      type: 'object',
      additionalProperties: false,
      minProperties: 1,
      properties: { segments: ids('segments or drainage zones'), districts: ids('districts') },
    },
    valueRef: {
      type: ['number', 'object'],
      additionalProperties: false,
      required: ['param'],
      properties: {
        param: { type: 'string', minLength: 1, description: 'a numeric param of the sensor, e.g. warningLevelM' },
        offset: { type: 'number', default: 0 },
        factor: { type: 'number', default: 1 },
      },
      description: 'a number, or factor · params[param] + offset of each sensor',
    },
    levelSpec: {
      type: 'object',
      additionalProperties: false,
      required: ['raise', 'reset'],
      properties: { raise: { $ref: '#/definitions/valueRef' }, reset: { $ref: '#/definitions/valueRef' } },
    },
    numericLevelSpec: {
      type: 'object',
      additionalProperties: false,
      required: ['raise', 'reset'],
      properties: { raise: { type: 'number' }, reset: { type: 'number' } },
    },
    rule: {
      type: 'object',
      required: ['id', 'type'],
      properties: { id: { $ref: '#/definitions/id' }, type: { enum: [...RULE_TYPES] } },
      allOf: RULE_TYPES.map((type) => ({
        if: { type: 'object', required: ['type'], properties: { type: { const: type } } },
        then: { $ref: `#/definitions/${type}Rule` },
      })),
    },
    indexRule: ruleOf(
      'index',
      ['index'],
      {
        index: { enum: ['clear', 'smooth'] },
        subjects: { $ref: '#/definitions/segmentSelector' },
        cadenceS: positiveSeconds('evaluation cadence (default 300)'),
        cadenceRainS: positiveSeconds('smooth: cadence while raining or an alert is active (default 60)'),
        nUp: { type: 'integer', minimum: 1, maximum: 10, default: 2, description: 'consecutive evaluations above the level to raise it' },
        margin: { type: 'number', minimum: 0, description: 'index points M for stepping down (default 2 clear, 5 smooth)' },
        tDownS: positiveSeconds('continuous time before stepping down one level (default 3600 clear, 1800 smooth)'),
        acute: {
          type: 'object',
          additionalProperties: false,
          properties: {
            doBelowMgl: { type: 'number', minimum: 0, default: 2.0 },
            nh3nAboveMgl: { type: 'number', minimum: 0, default: 8.0 },
            releaseDoMgl: { type: 'number', minimum: 0, default: 2.5 },
            releaseNh3nMgl: { type: 'number', minimum: 0, default: 7.0 },
          },
          description: 'clear: level 4 when DO < doBelowMgl or NH3-N > nh3nAboveMgl, held until DO >= releaseDoMgl and NH3-N <= releaseNh3nMgl',
        },
        phClass6CapHours: { type: 'number', minimum: 0, default: 24, description: 'clear: a pH-limited class 6 gives at most 1 for this long' },
        rainFloor: { type: 'boolean', default: true, description: 'smooth: at least 1 under orange rain pressure' },
      },
      {
        allOf: [
          { if: { type: 'object', required: ['index'], properties: { index: { const: 'smooth' } } }, then: { type: 'object', properties: { acute: false, phClass6CapHours: false } } },
          { if: { type: 'object', required: ['index'], properties: { index: { const: 'clear' } } }, then: { type: 'object', properties: { cadenceRainS: false, rainFloor: false } } },
        ],
      },
    ),
    thresholdRule: ruleOf(
      'threshold',
      ['levels'],
      {
        subjects: { $ref: '#/definitions/sensorSelector' },
        field: { $ref: '#/definitions/field' },
        index: { enum: ['clear', 'smooth'], description: 'threshold on a segment index instead of a reading field' },
        direction: { enum: ['above', 'below'], default: RULE_DEFAULTS.threshold.direction },
        levels: levelsOf('levelSpec', 'per-level raise and reset values; reset on the safe side of raise'),
        forS: seconds('continuous time past the raise value before raising'),
        label: { type: 'string', minLength: 1 },
        minQuality,
      },
      {
        if: { type: 'object', required: ['index'] },
        then: { type: 'object', properties: { subjects: { $ref: '#/definitions/segmentSelector' }, minQuality: false } },
        else: { type: 'object', required: ['field'] },
      },
    ),
    rate_of_riseRule: ruleOf('rate_of_rise', ['field', 'levels'], {
      subjects: { $ref: '#/definitions/sensorSelector' },
      field: { $ref: '#/definitions/field' },
      windowS: { ...positiveSeconds('trailing window of the rate'), default: RULE_DEFAULTS.rateOfRise.windowS },
      minPoints: { type: 'integer', minimum: 2, default: RULE_DEFAULTS.rateOfRise.minPoints },
      levels: levelsOf('numericLevelSpec', 'per-level rates in field units per hour'),
      forS: seconds('continuous time past the raise value before raising'),
      label: { type: 'string', minLength: 1 },
      minQuality,
    }),
    time_to_overflowRule: ruleOf('time_to_overflow', ['levels'], {
      subjects: {
        allOf: [
          { $ref: '#/definitions/sensorSelector' },
          { type: 'object', properties: { kinds: { type: 'array', items: { enum: [...OVERFLOW_KINDS] } } } },
        ],
      },
      windowS: { ...positiveSeconds('trailing window of the rate of rise'), default: RULE_DEFAULTS.timeToOverflow.windowS },
      minPoints: { type: 'integer', minimum: 2, default: RULE_DEFAULTS.timeToOverflow.minPoints },
      levels: levelsOf('numericLevelSpec', 'per-level minutes: raise at or below, reset above'),
      forS: seconds('continuous time past the raise value before raising'),
      minQuality,
    }),
    staleRule: ruleOf('stale', [], {
      subjects: { $ref: '#/definitions/sensorSelector' },
      afterIntervals: { type: 'number', exclusiveMinimum: 0, default: RULE_DEFAULTS.stale.afterIntervals },
      rainAfterIntervals: { type: 'number', exclusiveMinimum: 0, default: RULE_DEFAULTS.stale.rainAfterIntervals, description: 'for hazard kinds while raining' },
      hazardKinds: { type: 'array', uniqueItems: true, items: { $ref: '#/definitions/kind' }, default: [...HAZARD_KINDS] },
      level: { ...level('level of a stale sensor'), default: RULE_DEFAULTS.stale.level },
      rainLevel: { ...level('level of a hazard sensor gone stale while raining'), default: RULE_DEFAULTS.stale.rainLevel },
    }),
    sensor_faultRule: ruleOf('sensor_fault', [], {
      subjects: { $ref: '#/definitions/sensorSelector' },
      consecutiveBad: { type: 'integer', minimum: 1, default: RULE_DEFAULTS.sensorFault.consecutiveBad },
      badShare: {
        type: 'object',
        additionalProperties: false,
        required: ['share', 'windowS'],
        properties: {
          share: { type: 'number', exclusiveMinimum: 0, maximum: 1 },
          windowS: positiveSeconds('window of the bad share'),
          minReadings: { type: 'integer', minimum: 1, default: 1 },
        },
      },
      resetGood: { type: 'integer', minimum: 1, default: RULE_DEFAULTS.sensorFault.resetGood },
      countSuspect: { type: 'boolean', default: RULE_DEFAULTS.sensorFault.countSuspect },
      level: { ...level('level of a faulty sensor'), default: RULE_DEFAULTS.sensorFault.level },
    }),
    compositeRule: ruleOf('composite', ['scope', 'match', 'conditions', 'level'], {
      scope: { enum: ['segment', 'district'] },
      subjects: { $ref: '#/definitions/segmentSelector' },
      match: { enum: ['all', 'any'] },
      conditions: {
        type: 'array',
        minItems: 1,
        items: {
          type: 'object',
          additionalProperties: false,
          required: ['rule'],
          properties: {
            rule: { $ref: '#/definitions/id' },
            minLevel: { ...level('least level of that rule'), default: RULE_DEFAULTS.composite.minLevel },
            minSubjects: { type: 'integer', minimum: 1, default: RULE_DEFAULTS.composite.minSubjects },
          },
        },
      },
      level: level('level while the combination holds'),
    }),
    tunnel_closureRule: ruleOf('tunnel_closure', [], {
      id: { const: TUNNEL_CLOSURE_ID },
      subjects: { $ref: '#/definitions/sensorSelector' },
      consecutive: { type: 'integer', minimum: 1, default: RULE_DEFAULTS.tunnelClosure.consecutive, description: 'consecutive readings at or above closureCm' },
      reopenBelowCm: { type: 'number', minimum: 0, default: RULE_DEFAULTS.tunnelClosure.reopenBelowCm },
      reopenHoldS: { ...seconds('time the depth must stay at or below reopenBelowCm'), default: RULE_DEFAULTS.tunnelClosure.reopenHoldS },
      level: { ...level('level of the closure instruction'), default: RULE_DEFAULTS.tunnelClosure.level },
    }),
  },
} as const
