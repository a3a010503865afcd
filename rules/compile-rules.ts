import type { Level, Segment, Sensor, SensorKind } from '../domain.js'
import type { AlertLevel } from './condition.js'
import { levelNumber } from './rule-messages.js'
import {
  HAZARD_KINDS,
  INDEX_RULE_DEFAULTS,
  LEVEL_NAMES,
  OVERFLOW_KINDS,
  RULE_DEFAULTS,
  type LevelSpecs,
  type Rule,
  type RuleSet,
  type RuleType,
  type SegmentSelector,
  type SensorSelector,
  type ValueRef,
} from './rule-schema.js'

type Raised = Exclude<AlertLevel, 0>

/** One configured level of a hysteresis rule, values still unresolved. */
export interface CompiledLevel<V = ValueRef> {
  level: Raised
  raise: V
  reset: V
}

interface CompiledBase {
  id: string
  type: RuleType
  /** Canonical JSON of the rule and the defaults it reads: equal keys mean an unchanged rule. */
  key: string
}

/** A rule on readings: which sensors it reads. */
interface ReadingRuleBase extends CompiledBase {
  subjects: SensorSelector | undefined
  /** Kinds read when the selector names none; undefined for every kind. */
  defaultKinds: readonly SensorKind[] | undefined
}

export interface CompiledIndex extends CompiledBase {
  type: 'index'
  index: 'clear' | 'smooth'
  subjects: SegmentSelector | undefined
  cadenceMs: number
  /** Smooth: cadence while raining or an alert is active; clear: equal to `cadenceMs`. */
  cadenceRainMs: number
  nUp: number
  margin: number
  tDownMs: number
  acute: { doBelowMgl: number; nh3nAboveMgl: number; releaseDoMgl: number; releaseNh3nMgl: number }
  phCapMs: number
  rainFloor: boolean
  /** Longest stretch of missed boundaries replayed after a gap, ms. */
  catchUpMs: number
}

export interface CompiledThreshold extends ReadingRuleBase {
  type: 'threshold'
  field: string | undefined
  index: 'clear' | 'smooth' | undefined
  segmentSubjects: SegmentSelector | undefined
  direction: 'above' | 'below'
  levels: CompiledLevel[]
  forMs: number
  label: string
  goodOnly: boolean
}

export interface CompiledRateOfRise extends ReadingRuleBase {
  type: 'rate_of_rise'
  field: string
  windowMs: number
  minPoints: number
  levels: CompiledLevel<number>[]
  forMs: number
  label: string
  goodOnly: boolean
}

export interface CompiledTimeToOverflow extends ReadingRuleBase {
  type: 'time_to_overflow'
  windowMs: number
  minPoints: number
  levels: CompiledLevel<number>[]
  forMs: number
  goodOnly: boolean
}

export interface CompiledStale extends ReadingRuleBase {
  type: 'stale'
  afterIntervals: number
  rainAfterIntervals: number
  hazardKinds: readonly SensorKind[]
  level: Raised
  rainLevel: Raised
  /** `durationScale`, applied to `intervalS`. */
  scale: number
}

export interface CompiledSensorFault extends ReadingRuleBase {
  type: 'sensor_fault'
  consecutiveBad: number
  badShare: { share: number; windowMs: number; minReadings: number } | undefined
  resetGood: number
  countSuspect: boolean
  level: Raised
}

export interface CompiledComposite extends CompiledBase {
  type: 'composite'
  scope: 'segment' | 'district'
  subjects: SegmentSelector | undefined
  match: 'all' | 'any'
  conditions: { rule: string; minLevel: Raised; minSubjects: number }[]
  level: Raised
}

export interface CompiledTunnelClosure extends ReadingRuleBase {
  type: 'tunnel_closure'
  consecutive: number
  reopenBelowCm: number
  reopenHoldMs: number
  level: Raised
}

export type CompiledRule =
  | CompiledIndex
  | CompiledThreshold
  | CompiledRateOfRise
  | CompiledTimeToOverflow
  | CompiledStale
  | CompiledSensorFault
  | CompiledComposite
  | CompiledTunnelClosure

/** The rules whose subjects are sensors (a threshold with `index` set is not one, though typed alike). */
export type ReadingRule = CompiledThreshold | CompiledRateOfRise | CompiledTimeToOverflow | CompiledStale | CompiledSensorFault | CompiledTunnelClosure

/** A rule set ready to evaluate: enabled rules in file order, durations in ms, every default filled in. */
export interface CompiledRuleSet {
  rules: CompiledRule[]
  /** Silence in intervals after which reading rules hold their level with `dataGap`. */
  staleAfterIntervals: number
  /** `durationScale` of the file. */
  scale: number
  /** A subject at level 0 idle this long in event time is forgotten, ms. */
  idleEvictMs: number
}

const FIELD_LABELS: Readonly<Record<string, string>> = {
  depth_cm: 'Depth',
  level_m: 'Level',
  flow_m3s: 'Flow',
  velocity_ms: 'Velocity',
  rain_mm: 'Rain',
  sediment_m: 'Sediment',
  do_mgl: 'DO',
  nh3n_mgl: 'NH3-N',
  codmn_mgl: 'COD_Mn',
  tp_mgl: 'TP',
  ph: 'pH',
  turbidity_ntu: 'Turbidity',
  temp_c: 'Temperature',
  cond_uscm: 'Conductivity',
}

function levelsOf<V>(levels: LevelSpecs<V>): CompiledLevel<V>[] {
  const out: CompiledLevel<V>[] = []
  for (const name of LEVEL_NAMES) {
    const spec = levels[name]
    if (spec !== undefined) out.push({ level: levelNumber(name), raise: spec.raise, reset: spec.reset })
  }
  return out
}

const lvl = (name: Level): Raised => levelNumber(name)

/** Timing both indexes share: cadence, step-up count and margin, step-down time, and how far back a long gap is replayed. */
function indexTiming(
  rule: { cadenceS?: number; nUp?: number; margin?: number; tDownS?: number },
  def: { cadenceS: number; nUp: number; margin: number; tDownS: number },
  ms: (s: number) => number,
): { cadenceMs: number; nUp: number; margin: number; tDownMs: number; catchUpMs: number } {
  const cadenceMs = ms(rule.cadenceS ?? def.cadenceS)
  const tDownMs = ms(rule.tDownS ?? def.tDownS)
  const nUp = rule.nUp ?? def.nUp
  return { cadenceMs, nUp, margin: rule.margin ?? def.margin, tDownMs, catchUpMs: 4 * tDownMs + (nUp + 1) * cadenceMs }
}

/** Compiles one enabled rule with the file's defaults; durations scaled to ms. */
function compileRule(rule: Rule, set: RuleSet): CompiledRule {
  const d = set.defaults ?? {}
  const scale = d.durationScale ?? RULE_DEFAULTS.durationScale
  const ms = (s: number) => (s === 0 ? 0 : Math.max(1, Math.round(s * 1000 * scale)))
  const forS = d.forS ?? RULE_DEFAULTS.forS
  const base = { id: rule.id, key: JSON.stringify({ rule, scale, forS, stale: d.staleAfterIntervals }) }
  switch (rule.type) {
    case 'index': {
      if (rule.index === 'clear') {
        const def = INDEX_RULE_DEFAULTS.clear
        const timing = indexTiming(rule, def, ms)
        return {
          ...base,
          type: 'index',
          index: 'clear',
          subjects: rule.subjects,
          ...timing,
          cadenceRainMs: timing.cadenceMs,
          acute: { ...def.acute, ...rule.acute },
          phCapMs: ms((rule.phClass6CapHours ?? def.phClass6CapHours) * 3600),
          rainFloor: false,
        }
      }
      const def = INDEX_RULE_DEFAULTS.smooth
      return {
        ...base,
        type: 'index',
        index: 'smooth',
        subjects: rule.subjects,
        ...indexTiming(rule, def, ms),
        cadenceRainMs: ms(rule.cadenceRainS ?? def.cadenceRainS),
        acute: { ...INDEX_RULE_DEFAULTS.clear.acute },
        phCapMs: 0,
        rainFloor: rule.rainFloor ?? def.rainFloor,
      }
    }
    case 'threshold':
      return {
        ...base,
        type: 'threshold',
        subjects: rule.index === undefined ? rule.subjects : undefined,
        segmentSubjects: rule.index === undefined ? undefined : (rule.subjects as SegmentSelector | undefined),
        defaultKinds: undefined,
        field: rule.index === undefined ? rule.field : undefined,
        index: rule.index,
        direction: rule.direction ?? RULE_DEFAULTS.threshold.direction,
        levels: levelsOf(rule.levels),
        forMs: ms(rule.forS ?? forS),
        label: rule.label ?? (rule.index === undefined ? (FIELD_LABELS[rule.field ?? ''] ?? rule.field ?? '') : rule.index === 'clear' ? 'Clear-water index' : 'Smooth-water index'),
        goodOnly: rule.minQuality === 'good',
      }
    case 'rate_of_rise':
      return {
        ...base,
        type: 'rate_of_rise',
        subjects: rule.subjects,
        defaultKinds: undefined,
        field: rule.field,
        windowMs: ms(rule.windowS ?? RULE_DEFAULTS.rateOfRise.windowS),
        minPoints: rule.minPoints ?? RULE_DEFAULTS.rateOfRise.minPoints,
        levels: levelsOf(rule.levels),
        forMs: ms(rule.forS ?? forS),
        label: rule.label ?? FIELD_LABELS[rule.field] ?? rule.field,
        goodOnly: rule.minQuality === 'good',
      }
    case 'time_to_overflow':
      return {
        ...base,
        type: 'time_to_overflow',
        subjects: rule.subjects,
        defaultKinds: OVERFLOW_KINDS,
        windowMs: ms(rule.windowS ?? RULE_DEFAULTS.timeToOverflow.windowS),
        minPoints: rule.minPoints ?? RULE_DEFAULTS.timeToOverflow.minPoints,
        levels: levelsOf(rule.levels),
        forMs: ms(rule.forS ?? forS),
        goodOnly: rule.minQuality === 'good',
      }
    case 'stale':
      return {
        ...base,
        type: 'stale',
        subjects: rule.subjects,
        defaultKinds: undefined,
        afterIntervals: rule.afterIntervals ?? RULE_DEFAULTS.stale.afterIntervals,
        rainAfterIntervals: rule.rainAfterIntervals ?? RULE_DEFAULTS.stale.rainAfterIntervals,
        hazardKinds: rule.hazardKinds ?? HAZARD_KINDS,
        level: lvl(rule.level ?? RULE_DEFAULTS.stale.level),
        rainLevel: lvl(rule.rainLevel ?? RULE_DEFAULTS.stale.rainLevel),
        scale,
      }
    case 'sensor_fault':
      return {
        ...base,
        type: 'sensor_fault',
        subjects: rule.subjects,
        defaultKinds: undefined,
        consecutiveBad: rule.consecutiveBad ?? RULE_DEFAULTS.sensorFault.consecutiveBad,
        badShare: rule.badShare === undefined ? undefined : { share: rule.badShare.share, windowMs: ms(rule.badShare.windowS), minReadings: rule.badShare.minReadings ?? 1 },
        resetGood: rule.resetGood ?? RULE_DEFAULTS.sensorFault.resetGood,
        countSuspect: rule.countSuspect ?? RULE_DEFAULTS.sensorFault.countSuspect,
        level: lvl(rule.level ?? RULE_DEFAULTS.sensorFault.level),
      }
    case 'composite':
      return {
        ...base,
        type: 'composite',
        scope: rule.scope,
        subjects: rule.subjects,
        match: rule.match,
        conditions: rule.conditions.map((c) => ({
          rule: c.rule,
          minLevel: lvl(c.minLevel ?? RULE_DEFAULTS.composite.minLevel),
          minSubjects: c.minSubjects ?? RULE_DEFAULTS.composite.minSubjects,
        })),
        level: lvl(rule.level),
      }
    case 'tunnel_closure':
      return {
        ...base,
        type: 'tunnel_closure',
        subjects: rule.subjects,
        defaultKinds: ['tunnel_depth'],
        consecutive: rule.consecutive ?? RULE_DEFAULTS.tunnelClosure.consecutive,
        reopenBelowCm: rule.reopenBelowCm ?? RULE_DEFAULTS.tunnelClosure.reopenBelowCm,
        reopenHoldMs: ms(rule.reopenHoldS ?? RULE_DEFAULTS.tunnelClosure.reopenHoldS),
        level: lvl(rule.level ?? RULE_DEFAULTS.tunnelClosure.level),
      }
  }
}

/** Compiles a validated rule set (see parseRules): enabled rules only, every default applied. */
export function compileRules(set: RuleSet): CompiledRuleSet {
  const d = set.defaults ?? {}
  const scale = d.durationScale ?? RULE_DEFAULTS.durationScale
  return {
    rules: set.rules.filter((r) => r.enabled !== false).map((r) => compileRule(r, set)),
    staleAfterIntervals: d.staleAfterIntervals ?? RULE_DEFAULTS.staleAfterIntervals,
    scale,
    idleEvictMs: Math.round((d.idleEvictS ?? RULE_DEFAULTS.idleEvictS) * 1000 * scale),
  }
}

/** Whether a reading rule reads this sensor: every key of the selector matches, and the default kinds when it names none. */
export function selectsSensor(rule: { subjects: SensorSelector | undefined; defaultKinds: readonly SensorKind[] | undefined }, sensor: Sensor): boolean {
  const s = rule.subjects
  const kinds = s?.kinds ?? rule.defaultKinds
  if (kinds !== undefined && !kinds.includes(sensor.kind)) return false
  if (s === undefined) return true
  if (s.sensors !== undefined && !s.sensors.includes(sensor.id)) return false
  if (s.segments !== undefined && !s.segments.includes(sensor.segment)) return false
  if (s.districts !== undefined && !s.districts.includes(sensor.district)) return false
  return true
}

/** Whether a segment selector (absent: every segment) selects this segment. */
export function selectsSegment(selector: SegmentSelector | undefined, segment: Pick<Segment, 'id' | 'district'>): boolean {
  if (selector === undefined) return true
  if (selector.segments !== undefined && !selector.segments.includes(segment.id)) return false
  if (selector.districts !== undefined && !selector.districts.includes(segment.district)) return false
  return true
}
