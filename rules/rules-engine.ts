import type { Reading, Segment, Sensor } from '../domain.js'
import type { RegistryIndex } from '../registry/registry-index.js'
import type { SegmentIndexJson, IndexUpdate } from '../stream/index-json.js'
import { indexTopology } from '../stream/index-topology.js'
import { clearWindowMs } from '../stream/indices/clear-window.js'
import { isRaining, rainPressure, rainTotals } from '../stream/indices/rain-totals.js'
import { closureCmOf } from '../stream/indices/smooth-subscores.js'
import { bucketMs } from '../stream/sensor-history.js'
import type { TimedValue } from '../stream/indices/timed-value.js'
import type { AlertLevel, Condition, Report } from './condition.js'
import {
  compileRules,
  selectsSegment,
  selectsSensor,
  type CompiledComposite,
  type CompiledRule,
  type CompiledRuleSet,
  type CompiledThreshold,
  type ReadingRule,
} from './compile-rules.js'
import { compositeReport, type CompositeMember } from './evaluate-composite.js'
import { advanceFault, faultReport, type FaultTally } from './evaluate-fault.js'
import { freshHysteresis, noTimers, resolveLevels, resolveLevelsInto, stepHysteresisInPlace, type MutableHysteresisState, type ResolvedLevel } from './evaluate-hysteresis.js'
import { advanceIndexRule, DEFAULT_TARGET_CLASS, initialIndexState, restoredIndexState, type IndexInput, type IndexRuleState, type RainView } from './evaluate-index.js'
import {
  etaMinutesOf,
  overflowLimit,
  overflowTrend,
  ratePerHour,
  rateOfRiseReport,
  timeToOverflowReport,
  type OverflowLimit,
} from './evaluate-rate.js'
import { freshReport, staleReport, staleVerdict } from './evaluate-stale.js'
import { holdThreshold, thresholdReport } from './evaluate-threshold.js'
import { advanceClosure, closureLevel, closureReport, type ClosureState } from './evaluate-tunnel-closure.js'
import { formatNumber, levelName, sensorLabel } from './rule-messages.js'
import type { RuleSet, SegmentSelector } from './rule-schema.js'
import { LiveSensors } from './live-sensors.js'
import { FaultTable, RateTable, SubjectTable, type SubjectEntry, type SubjectStore } from './subject-table.js'

const MINUTE = 60_000
const HOUR = 3_600_000
/** Rain kept per gauge: the longest rain total, R12h (INDICES.md §2), ms. */
export const RULES_RAIN_RETENTION_MS = 12 * HOUR
/** Event time between two sweeps driven by data (tick always sweeps), ms. */
const SWEEP_EVENT_MS = 10 * MINUTE
/** An active time_to_overflow alert is updated when its ETA moves by this many minutes. */
export const ETA_UPDATE_MINUTES = 5

/** Options of createRulesEngine. */
export interface RulesEngineOptions {
  /** A rule set validated by parseRules. */
  rules: RuleSet
  /** The registry in force, read on every call so that a reload takes effect. */
  registry: () => RegistryIndex
}

/** An alert that was active before a restart: its rule, subject and level 1–4. */
export interface ActiveAlertRef {
  rule: string
  subject: string
  level: AlertLevel
}

/** Counters and sizes of the rules engine. */
export interface RulesEngineStats {
  /** Subjects with state over all rules. */
  subjects: number
  /** Subjects above level 0. */
  active: number
  /** Readings older than a subject's latest: not evaluated. */
  late: number
  /** Subjects forgotten (idle at level 0, or gone from the registry). */
  evicted: number
  /** Rain entries held over all gauges (for the rain context of index rules). */
  rainEntries: number
}

/**
 * Evaluates the rules of SPEC §8 into Conditions, without I/O or a clock of its own: event time comes from readings
 * and index results, wall time from `tick`. Each call returns the conditions whose level (or data gap, instruction,
 * or ETA) changed, in the order they happened; the alert manager keeps one alert per `(rule, subject)`.
 */
export interface RulesEngine {
  /** Evaluates the reading rules (threshold, rate_of_rise, time_to_overflow, tunnel_closure, sensor_fault; stale clears). */
  onReadings(readings: readonly Reading[]): readonly Condition[]
  /** Evaluates the index rules and index thresholds on a segment's result; district results are ignored. */
  onIndexUpdate(update: IndexUpdate): readonly Condition[]
  /** Wall-clock work: `stale`, and data-gap holds of silent sensors. `raining(zoneOrDistrict)` defaults to the engine's own rain gauges. */
  tick(wallNow: number, raining?: (zoneOrDistrict: string) => boolean): Condition[]
  /** Applies a new validated rule set atomically: unchanged rules keep their state; removed rules' active subjects are resolved (level 0). */
  replace(rules: RuleSet): Condition[]
  /** Seeds the levels of alerts active before a restart, so that their clearing is reported. */
  restore(active: readonly ActiveAlertRef[]): void
  /** Forgets a subject (a person resolved its alert): the next evaluation raises it again if the condition still holds. */
  forget(rule: string, subject: string): void
  /** The rule set in force, as given. */
  rules(): RuleSet
  /** The latest condition of every subject above level 0. */
  active(): Condition[]
  stats(): RulesEngineStats
}

/** A subject kept as an object (rules whose subjects are few, or rarely kept): its state in `s`. */
interface Entry<S> extends SubjectEntry {
  s: S
}

// Subject states are private to the engine (conditions copy what they report), so they are updated in place.

interface ThresholdSubject {
  h: MutableHysteresisState
  lastTs: number
}

interface ClosureSubject extends ClosureState {
  lastTs: number
}

type AnyRuntime = { rule: CompiledRule; subjects: SubjectStore }

/**
 * Where a rule keeps its subjects: the rules whose subjects are every sensor (fault) or most of them (rates) in
 * columns, one row per subject; the others in a Map of entries.
 */
function newSubjects(rule: CompiledRule): SubjectStore {
  if (rule.type === 'sensor_fault') return new FaultTable()
  if (rule.type === 'rate_of_rise' || rule.type === 'time_to_overflow') return new RateTable()
  return new Map<string, Entry<unknown>>()
}

/** The subjects of a rule kept as entries (every rule but those of newSubjects' tables). */
function entriesOf(rt: AnyRuntime): Map<string, Entry<unknown>> {
  return rt.subjects as Map<string, Entry<unknown>>
}

/** A reading rule as the sensors it selects share it. */
interface SensorRule {
  rt: AnyRuntime
  /** Levels resolved once when they name no sensor param; undefined: resolved per reading (threshold levels on params). */
  levels: readonly ResolvedLevel[] | undefined
  /** Where levels on sensor params are resolved, reused by every reading: no garbage per reading, no copy per sensor. */
  scratch: ResolvedLevel[] | undefined
}

/** The reading rules of a rule set that read a sensor, in rule order; shared by the sensors they select alike. */
type SensorPlan = readonly SensorRule[]

const NO_LEVELS: readonly ResolvedLevel[] = Object.freeze([])
const NO_CONDITIONS: readonly Condition[] = Object.freeze([])

/** How a rule's runtime is shared: levels resolved once if they read no sensor param. */
function sensorRule(rt: AnyRuntime, rule: ReadingRule): SensorRule {
  if (rule.type === 'threshold') {
    const constant = rule.levels.every((l) => typeof l.raise === 'number' && typeof l.reset === 'number')
    return constant ? { rt, levels: resolveLevels(rule.levels, undefined, rule.direction), scratch: undefined } : { rt, levels: undefined, scratch: [] }
  }
  if (rule.type === 'rate_of_rise') return { rt, levels: resolveLevels(rule.levels, undefined, 'above'), scratch: undefined }
  if (rule.type === 'time_to_overflow') return { rt, levels: resolveLevels(rule.levels, undefined, 'below'), scratch: undefined }
  return { rt, levels: NO_LEVELS, scratch: undefined }
}

/** The levels of a rule for a sensor, valid until the next call for the same rule (they are not kept). */
function levelsFor(sr: SensorRule, rule: CompiledThreshold, sensor: Sensor): readonly ResolvedLevel[] {
  if (sr.levels !== undefined) return sr.levels
  return resolveLevelsInto(sr.scratch as ResolvedLevel[], rule.levels, sensor, rule.direction)
}

/** The overflow limit of the reading at hand, written over by the next (it is read, never kept). */
const scratchLimit: OverflowLimit = { field: '', limit: 0, offset: 0, what: '', noun: '' }

/** Whether the reading rules select by kind alone (no sensors, segments or districts), so sensors of a kind share one plan. */
function selectsByKindOnly(runtimes: readonly AnyRuntime[]): boolean {
  for (const rt of runtimes) {
    const s = readingRuleOf(rt.rule)?.subjects
    if (s !== undefined && (s.sensors !== undefined || s.segments !== undefined || s.districts !== undefined)) return false
  }
  return true
}

/** Whether readings are already in ts order with finite ts, so sorting them would change nothing. */
function inTsOrder(readings: readonly Reading[]): boolean {
  let prev = -Infinity
  for (const r of readings) {
    if (!(r.ts >= prev) || !Number.isFinite(r.ts)) return false
    prev = r.ts
  }
  return true
}

/** The rule when its subjects are sensors (rules on readings), else undefined. */
function readingRuleOf(rule: CompiledRule): ReadingRule | undefined {
  if (rule.type === 'index' || rule.type === 'composite' || (rule.type === 'threshold' && rule.index !== undefined)) return undefined
  return rule
}

/** Whether the rule's subjects are sensors (rules on readings). */
function onReadingsRule(rule: CompiledRule): boolean {
  return readingRuleOf(rule) !== undefined
}

/** The segment selector of a rule on segments. */
function segmentSelectorOf(rule: CompiledRule): SegmentSelector | undefined {
  if (rule.type === 'threshold') return rule.segmentSubjects
  if (rule.type === 'index' || rule.type === 'composite') return rule.subjects
  return undefined
}

/** The Report a condition was made from. */
function reportOf(c: Condition): Report {
  const { rule: _rule, type: _type, subject: _subject, district: _district, segment: _segment, at: _at, ...report } = c
  return report
}

/** Whether two compilations of one rule id read the same kind of subject, so state can carry over. */
function compatible(a: CompiledRule, b: CompiledRule): boolean {
  if (a.type !== b.type) return false
  if (a.type === 'threshold' && b.type === 'threshold') return a.field === b.field && a.index === b.index
  if (a.type === 'index' && b.type === 'index') return a.index === b.index
  if (a.type === 'rate_of_rise' && b.type === 'rate_of_rise') return a.field === b.field
  if (a.type === 'composite' && b.type === 'composite') return a.scope === b.scope
  return true
}

/** A reading field in the datum rules compare it in: river `level_m` plus the gauge's `offsetM` (INDICES.md §2). */
function datumValue(sensor: Sensor, field: string, raw: number): number {
  if (sensor.kind !== 'water_level' || field !== 'level_m') return raw
  const offset = sensor.params.offsetM
  return typeof offset === 'number' && Number.isFinite(offset) ? raw + offset : raw
}

const zonesCache = new WeakMap<RegistryIndex, Map<string, string[]>>()

/** Drainage zones whose `riverGauges` list each gauge. */
function zonesOfGauges(registry: RegistryIndex): Map<string, string[]> {
  let map = zonesCache.get(registry)
  if (map === undefined) {
    map = new Map()
    for (const seg of registry.registry.segments) {
      for (const g of seg.riverGauges ?? []) {
        const list = map.get(g)
        if (list === undefined) map.set(g, [seg.id])
        else list.push(seg.id)
      }
    }
    zonesCache.set(registry, map)
  }
  return map
}

const NO_ZONES: readonly string[] = Object.freeze([])

/** The shorter of two limits, a NaN one (no limit) aside. */
function shorter(a: number, b: number): number {
  if (Number.isNaN(a)) return b
  if (Number.isNaN(b)) return a
  return Math.min(a, b)
}

/**
 * Creates the rules engine. Per-subject state is bounded: subjects at level 0 with nothing pending are dropped at
 * once or after `idleEvictS` of event time, and everything is pruned to the registry in force.
 */
export function createRulesEngine(options: RulesEngineOptions): RulesEngine {
  let ruleSet: RuleSet = structuredClone(options.rules)
  let compiled: CompiledRuleSet = compileRules(ruleSet)
  let runtimes: AnyRuntime[] = compiled.rules.map((rule) => ({ rule, subjects: newSubjects(rule) }))
  let byId = new Map(runtimes.map((rt) => [rt.rule.id, rt] as const))
  // The sensors heard from, and when each one's silence can next matter to tick (see dueAt).
  const live = new LiveSensors()
  let dueRegistry: RegistryIndex | undefined
  // The registry the last sweep checked every subject against, and whether another one has been read since: while
  // not, every subject but a district composite's was made from that registry and is still in it.
  let sweptRegistry: RegistryIndex | undefined
  let otherRegistrySeen = true

  /** The registry in force (options.registry), noting one the last sweep did not check the subjects against. */
  function registryNow(): RegistryIndex {
    const registry = options.registry()
    if (registry !== sweptRegistry) otherRegistrySeen = true
    return registry
  }
  let dueRules: CompiledRuleSet | undefined
  const rain = new Map<string, TimedValue[]>()
  const stations = new Map<string, { do?: { ts: number; v: number }; nh3n?: { ts: number; v: number } }>()
  const stats = { late: 0, evicted: 0 }
  let eventNow: number | undefined
  let lastSweepAt: number | undefined
  // The reading rules that select each sensor, valid for one rule set (cleared by replace) and one registry: keyed
  // by kind when the rules select by kind alone, else by sensor id; equal plans are one array, rules one object.
  let plans = new Map<string, SensorPlan>()
  let plansRegistry: RegistryIndex | undefined
  let plansByKind = selectsByKindOnly(runtimes)
  let sharedPlans = new Map<string, SensorPlan>()
  let sharedRules = new Map<AnyRuntime, SensorRule>()
  // Where a new subject is stepped first, so that one with nothing to keep is never stored.
  const scratchH = freshHysteresis()
  const scratchClosure: ClosureState = { closed: false, run: 0, lowSince: null }
  const scratchTally: FaultTally = { level: 0, runBad: 0, runGood: 0, share: 0, inWindow: 0 }

  /** The plan of a sensor of `registry`; a registry reload drops every plan. */
  function planOf(registry: RegistryIndex, sensor: Sensor): SensorPlan {
    if (registry !== plansRegistry) {
      plans = new Map()
      plansRegistry = registry
    }
    const key = plansByKind ? sensor.kind : sensor.id
    let plan = plans.get(key)
    if (plan === undefined) {
      const rules: SensorRule[] = []
      let shape = ''
      for (let i = 0; i < runtimes.length; i++) {
        const rt = runtimes[i] as AnyRuntime
        const rule = readingRuleOf(rt.rule)
        if (rule === undefined || !selectsSensor(rule, sensor)) continue
        // A rule that can never read anything: a threshold without a field.
        if (rule.type === 'threshold' && rule.field === undefined) continue
        let sr = sharedRules.get(rt)
        if (sr === undefined) sharedRules.set(rt, (sr = sensorRule(rt, rule)))
        rules.push(sr)
        shape += `${i},`
      }
      plan = sharedPlans.get(shape)
      if (plan === undefined) sharedPlans.set(shape, (plan = rules))
      plans.set(key, plan)
    }
    return plan
  }

  function resetPlans(): void {
    plans = new Map()
    plansByKind = selectsByKindOnly(runtimes)
    sharedPlans = new Map()
    sharedRules = new Map()
  }

  /**
   * A wall time at or before the first at which tick can do anything about a sensor last heard from at
   * `receivedAt`: hold its levels (silent for staleAfterIntervals) or raise a stale rule's level (its dry or rain
   * limit, whichever is shorter, as it may rain by then). A little early rather than late: tick looks again.
   */
  function dueAt(sensor: Sensor | undefined, receivedAt: number): number {
    if (sensor === undefined) return Infinity
    const limit = silenceLimit(sensor)
    const at = receivedAt + limit
    return Number.isFinite(at) ? at - (Math.abs(receivedAt) + Math.abs(limit)) * 1e-14 : at
  }

  // Silence limits by kind and interval while the stale rules select by kind alone (see silenceLimit).
  let limitsFor: CompiledRuleSet | undefined
  let limitsByKind: Map<string, Map<number, number>> | undefined

  /** The shortest silence after which tick can do anything about a sensor (see dueAt). */
  function silenceLimit(sensor: Sensor): number {
    if (limitsFor !== compiled) {
      limitsFor = compiled
      const byKind = runtimes.every((rt) => rt.rule.type !== 'stale' || rt.rule.subjects === undefined || (rt.rule.subjects.sensors === undefined && rt.rule.subjects.segments === undefined && rt.rule.subjects.districts === undefined))
      limitsByKind = byKind ? new Map() : undefined
    }
    if (limitsByKind === undefined) return computeSilenceLimit(sensor)
    let byInterval = limitsByKind.get(sensor.kind)
    if (byInterval === undefined) limitsByKind.set(sensor.kind, (byInterval = new Map()))
    let limit = byInterval.get(sensor.intervalS)
    if (limit === undefined) byInterval.set(sensor.intervalS, (limit = computeSilenceLimit(sensor)))
    return limit
  }

  function computeSilenceLimit(sensor: Sensor): number {
    const interval = sensor.intervalS * 1000
    let limit = compiled.staleAfterIntervals * interval * compiled.scale
    for (const rt of runtimes) {
      const rule = rt.rule
      if (rule.type !== 'stale' || !selectsSensor(rule, sensor)) continue
      limit = shorter(limit, rule.afterIntervals * interval * rule.scale)
      if (rule.hazardKinds.includes(sensor.kind)) limit = shorter(limit, rule.rainAfterIntervals * interval * rule.scale)
    }
    return limit
  }

  // Emission

  /**
   * Records a subject's level (and data gap) and says whether it is news against the last condition reported: a
   * level or data-gap change, or an ETA moved by ETA_UPDATE_MINUTES (`etaMinutes` undefined: the rule has none).
   */
  function noteLevel(entry: SubjectEntry, level: AlertLevel, dataGap: boolean, etaMinutes: number | null | undefined): boolean {
    const prev = entry.emitted
    let changed = prev === undefined ? level > 0 : level !== prev.level || (level > 0 && dataGap !== (prev.dataGap ?? false))
    if (!changed && prev !== undefined && level > 0 && etaMinutes !== undefined) {
      const a = etaMinutes
      const b = prev.etaMinutes ?? null
      changed = (a === null) !== (b === null) || (a !== null && b !== null && Math.abs(a - b) >= ETA_UPDATE_MINUTES)
    }
    entry.level = level
    entry.dataGap = dataGap
    return changed
  }

  /** Reports a condition that noteLevel found to be news. */
  function report(out: Condition[], rt: AnyRuntime, subject: string, entry: SubjectEntry, r: Report, at: number): void {
    const condition: Condition = { rule: rt.rule.id, type: rt.rule.type, subject, district: entry.district, segment: entry.segment, at, ...r, dataGap: r.dataGap ?? false }
    entry.emitted = condition
    out.push(condition)
  }

  function emit(out: Condition[], rt: AnyRuntime, subject: string, entry: SubjectEntry, r: Report, at: number): void {
    if (noteLevel(entry, r.level, r.dataGap ?? false, r.etaMinutes)) report(out, rt, subject, entry, r, at)
  }

  function entryOf<S>(rt: AnyRuntime, subject: string, place: { district: string; segment: string | null }, init: () => S): Entry<S> {
    return (entriesOf(rt).get(subject) as Entry<S> | undefined) ?? addEntry(rt, subject, place, init())
  }

  /** Stores a new subject with state `s`. */
  function addEntry<S>(rt: AnyRuntime, subject: string, place: { district: string; segment: string | null }, s: S): Entry<S> {
    const e: Entry<S> = { district: place.district, segment: place.segment, at: -Infinity, level: 0, dataGap: false, emitted: undefined, s }
    entriesOf(rt).set(subject, e as Entry<unknown>)
    return e
  }

  function resolveEntry(out: Condition[], rt: AnyRuntime, subject: string, entry: SubjectEntry, why: string, at: number): void {
    if (entry.level === 0) return
    emit(out, rt, subject, entry, { level: 0, value: null, threshold: null, message: `${subject}: ${why} (cleared)`, dataGap: false }, at)
  }

  // Context the index rules read: rain gauges and water-quality stations

  function recordContext(sensor: Sensor, r: Reading): void {
    if (r.quality === 'bad') {
      // A re-flag to bad takes back the rain it had counted.
      // A loop, not findIndex: a closure would capture the reading, and every call would allocate a context for it.
      const list = sensor.kind === 'rainfall' ? rain.get(sensor.id) : undefined
      if (list === undefined) return
      for (let i = 0; i < list.length; i++) {
        if ((list[i] as TimedValue).ts === r.ts) {
          list.splice(i, 1)
          break
        }
      }
      return
    }
    if (sensor.kind === 'rainfall') {
      const mm = r.fields.rain_mm
      if (mm === undefined || !Number.isFinite(mm)) return
      const list = rain.get(sensor.id) ?? []
      const last = list[list.length - 1]
      const b = bucketMs(sensor.intervalS)
      if (last !== undefined && last.ts < r.ts && b > 0 && Math.floor(last.ts / b) === Math.floor(r.ts / b) && last.quality === r.quality) {
        // A gauge reporting faster than a tenth of its interval: the bucket's amounts add up in one entry, stamped
        // with its latest reading, so the totals see all its rain while the list holds ten entries per interval.
        // Entries are the engine's own (rainTotals keeps none), so they are updated in place.
        last.ts = r.ts
        last.value += mm
      } else {
        // Usually the newest: look from the end.
        let i = list.length - 1
        while (i >= 0 && (list[i] as TimedValue).ts > r.ts) i--
        const same = i >= 0 ? (list[i] as TimedValue) : undefined
        if (same !== undefined && same.ts === r.ts) {
          same.value = mm
          same.quality = r.quality
        } else list.splice(i + 1, 0, { ts: r.ts, value: mm, quality: r.quality })
      }
      const horizon = (eventNow ?? r.ts) - RULES_RAIN_RETENTION_MS
      while (list.length > 0 && (list[0] as TimedValue).ts <= horizon) list.shift()
      rain.set(sensor.id, list)
    } else if (sensor.kind === 'water_quality') {
      const st = stations.get(sensor.id) ?? {}
      const d = r.fields.do_mgl
      const n = r.fields.nh3n_mgl
      // The latest values are the engine's own (acuteInputs copies them out), so they are updated in place.
      if (d !== undefined && Number.isFinite(d)) {
        if (st.do === undefined) st.do = { ts: r.ts, v: d }
        else if (r.ts >= st.do.ts) {
          st.do.ts = r.ts
          st.do.v = d
        }
      }
      if (n !== undefined && Number.isFinite(n)) {
        if (st.nh3n === undefined) st.nh3n = { ts: r.ts, v: n }
        else if (r.ts >= st.nh3n.ts) {
          st.nh3n.ts = r.ts
          st.nh3n.v = n
        }
      }
      stations.set(sensor.id, st)
    }
  }

  function rainOf(gauges: readonly Sensor[], at: number): RainView {
    const totals = rainTotals(gauges.map((g) => rain.get(g.id) ?? []), at)
    return { pressure: rainPressure(totals), raining: isRaining(totals) }
  }

  function zoneRain(zoneId: string): (at: number) => RainView {
    const gauges = indexTopology(registryNow()).rainGauges(zoneId)
    return (at) => rainOf(gauges, at)
  }

  function defaultRaining(zoneOrDistrict: string): boolean {
    if (eventNow === undefined) return false
    const registry = registryNow()
    const gauges = registry.segment(zoneOrDistrict)?.type === 'drainage'
      ? indexTopology(registry).rainGauges(zoneOrDistrict)
      : registry.sensorsOfDistrict(zoneOrDistrict).filter((s) => s.kind === 'rainfall')
    return rainOf(gauges, eventNow).raining
  }

  /** The worst latest DO (lowest) and NH3-N (highest) of a segment's stations within their clear-water window. */
  function acuteInputs(segmentId: string, at: number): Pick<IndexInput, 'doMgl' | 'nh3nMgl'> {
    let doMgl: number | undefined
    let nh3nMgl: number | undefined
    for (const station of indexTopology(registryNow()).stations(segmentId)) {
      const st = stations.get(station.id)
      if (st === undefined) continue
      const horizon = at - clearWindowMs(station.intervalS)
      if (st.do !== undefined && st.do.ts >= horizon && st.do.ts <= at) doMgl = Math.min(doMgl ?? Infinity, st.do.v)
      if (st.nh3n !== undefined && st.nh3n.ts >= horizon && st.nh3n.ts <= at) nh3nMgl = Math.max(nh3nMgl ?? -Infinity, st.nh3n.v)
    }
    return { ...(doMgl === undefined ? {} : { doMgl }), ...(nh3nMgl === undefined ? {} : { nh3nMgl }) }
  }

  // Rules on readings

  function usable(r: Reading, goodOnly: boolean): boolean {
    return r.quality === 'good' || (!goodOnly && r.quality === 'suspect')
  }

  // Messages are built only when noteLevel says the report is news: most readings change nothing. New subjects are
  // stored with addEntry, not entryOf: an init closure here would capture the reading, and every call would then
  // allocate a context for it, closure made or not.
  function onReading(out: Condition[], sr: SensorRule, sensor: Sensor, r: Reading): void {
    const rt = sr.rt
    const rule = rt.rule
    const id = sensor.id
    switch (rule.type) {
      case 'threshold': {
        const field = rule.field as string
        const raw = r.fields[field]
        if (raw === undefined || !Number.isFinite(raw) || !usable(r, rule.goodOnly)) return
        const existing = entriesOf(rt).get(id) as Entry<ThresholdSubject> | undefined
        if (existing !== undefined && r.ts <= existing.s.lastTs) {
          if (r.ts < existing.s.lastTs) stats.late++
          return
        }
        const levels = levelsFor(sr, rule, sensor)
        if (levels.length === 0) return
        const value = datumValue(sensor, field, raw)
        let e = existing
        if (e === undefined) {
          scratchH.level = 0
          scratchH.since.fill(null)
          stepHysteresisInPlace(scratchH, value, r.ts, levels, rule.direction, rule.forMs)
          // A new subject at level 0 with no timer would report nothing and be dropped at once: keep none.
          if (scratchH.level === 0 && noTimers(scratchH)) return
          e = addEntry<ThresholdSubject>(rt, id, sensor, { h: { level: scratchH.level, since: [...scratchH.since] }, lastTs: r.ts })
        } else stepHysteresisInPlace(e.s.h, value, r.ts, levels, rule.direction, rule.forMs)
        e.s.lastTs = r.ts
        e.at = r.ts
        const level = e.s.h.level
        if (noteLevel(e, level, false, undefined)) report(out, rt, id, e, thresholdReport(rule, value, level, levels, sensorLabel(sensor, id)), r.ts)
        // Nothing pending at level 0: a fresh state is the same, so keep none.
        if (e.level === 0 && noTimers(e.s.h)) rt.subjects.delete(id)
        return
      }
      case 'rate_of_rise':
      case 'time_to_overflow': {
        const limit = rule.type === 'time_to_overflow' ? overflowLimit(sensor, scratchLimit) : undefined
        if (rule.type === 'time_to_overflow' && limit === undefined) return
        const field = rule.type === 'rate_of_rise' ? rule.field : (limit as OverflowLimit).field
        const levels = sr.levels as readonly ResolvedLevel[]
        const raw = r.fields[field]
        if (raw === undefined || !Number.isFinite(raw) || !usable(r, rule.goodOnly)) return
        const t = rt.subjects as RateTable
        const row = t.rows.get(id) ?? t.add(id, sensor.district, sensor.segment)
        if (r.ts <= (t.lastTs[row] as number)) {
          if (r.ts < (t.lastTs[row] as number)) stats.late++
          return
        }
        const v = limit === undefined ? datumValue(sensor, field, raw) : raw + limit.offset
        t.points.push(row, r.ts, v, rule.windowMs, bucketMs(sensor.intervalS))
        t.lastTs[row] = r.ts
        t.at[row] = r.ts
        const points = t.series(row)
        if (rule.type === 'rate_of_rise') {
          const rate = ratePerHour(points, rule.windowMs, rule.minPoints)
          if (rate === undefined) return
          t.loadHysteresis(row, scratchH)
          stepHysteresisInPlace(scratchH, rate, r.ts, levels, 'above', rule.forMs)
          t.storeHysteresis(row, scratchH)
          const level = scratchH.level
          const e = t.entry(row)
          if (noteLevel(e, level, false, undefined)) report(out, rt, id, e, rateOfRiseReport(rule, rate, level, levels, sensorLabel(sensor, id)), r.ts)
        } else if (limit !== undefined) {
          const trend = overflowTrend(points, rule, limit)
          if (trend === undefined) return
          t.loadHysteresis(row, scratchH)
          stepHysteresisInPlace(scratchH, trend.eta, r.ts, levels, 'below', rule.forMs)
          t.storeHysteresis(row, scratchH)
          const level = scratchH.level
          const e = t.entry(row)
          // The ETA only counts while raised (see noteLevel), so it is rounded only then.
          if (noteLevel(e, level, false, level > 0 ? etaMinutesOf(trend.eta) : undefined)) {
            report(out, rt, id, e, timeToOverflowReport(trend, level, levels, limit, sensorLabel(sensor, id)), r.ts)
          }
        }
        return
      }
      case 'sensor_fault': {
        const t = rt.subjects as FaultTable
        const row = t.rows.get(id) ?? t.add(id, sensor.district, sensor.segment)
        if (r.ts < (t.lastTs[row] as number) && t.log.indexOf(row, r.ts) < 0) {
          stats.late++
          return
        }
        const state = t.state(row)
        const tally = advanceFault(rule, state, r, bucketMs(sensor.intervalS), scratchTally)
        t.lastTs[row] = Math.max(t.lastTs[row] as number, r.ts)
        t.at[row] = Math.max(t.at[row] as number, r.ts)
        const e = t.entry(row)
        if (noteLevel(e, tally.level, false, undefined)) report(out, rt, id, e, faultReport(rule, state.entries, tally, `${sensorLabel(sensor, id)} (${id})`), r.ts)
        return
      }
      case 'tunnel_closure': {
        const depth = r.fields.depth_cm
        if (depth === undefined || !Number.isFinite(depth) || r.quality === 'bad') return
        const existing = entriesOf(rt).get(id) as Entry<ClosureSubject> | undefined
        if (existing !== undefined && r.ts <= existing.s.lastTs) {
          if (r.ts < existing.s.lastTs) stats.late++
          return
        }
        const closureCm = closureCmOf(sensor)
        let e = existing
        let outcome
        if (e === undefined) {
          scratchClosure.closed = false
          scratchClosure.run = 0
          scratchClosure.lowSince = null
          outcome = advanceClosure(rule, scratchClosure, depth, r.ts, closureCm)
          // Open with nothing counted: a new subject would report nothing and be dropped at once, so keep none.
          if (!scratchClosure.closed && scratchClosure.run === 0) return
          e = addEntry<ClosureSubject>(rt, id, sensor, { ...scratchClosure, lastTs: r.ts })
        } else outcome = advanceClosure(rule, e.s, depth, r.ts, closureCm)
        e.s.lastTs = r.ts
        e.at = r.ts
        const level = closureLevel(rule, outcome)
        if (noteLevel(e, level, false, undefined)) report(out, rt, id, e, closureReport(rule, outcome, e.s, depth, closureCm, sensorLabel(sensor, id)), r.ts)
        if (!e.s.closed && e.s.run === 0) rt.subjects.delete(id)
        return
      }
      case 'stale': {
        const e = rt.subjects.get(id)
        if (e === undefined) return
        if (e.level > 0) emit(out, rt, id, e, freshReport(sensor), r.ts)
        rt.subjects.delete(id)
        return
      }
      default:
        return
    }
  }

  // Index rules

  function onIndex(out: Condition[], rt: AnyRuntime, segment: Segment, data: SegmentIndexJson, eventTime: number): void {
    const rule = rt.rule
    const place = { district: segment.district, segment: segment.id }
    if (rule.type === 'index') {
      const idx = data[rule.index]
      if (idx === null || !selectsSegment(rule.subjects, segment)) return
      const input: IndexInput =
        rule.index === 'clear'
          ? {
              value: idx.value,
              ...('limiting' in idx ? { limiting: idx.limiting } : {}),
              targetClass: segment.targetClass ?? DEFAULT_TARGET_CLASS,
              ...acuteInputs(segment.id, eventTime),
            }
          : { value: idx.value }
      const e = entryOf<IndexRuleState>(rt, segment.id, place, () => initialIndexState(rule))
      const { state, evaluations } = advanceIndexRule(rule, e.s, eventTime, input, zoneRain(segment.id), segment.name)
      e.s = state
      e.at = Math.max(e.at, eventTime)
      for (const ev of evaluations) emit(out, rt, segment.id, e, ev.report, ev.at)
      return
    }
    if (rule.type === 'threshold' && rule.index !== undefined) {
      const idx = data[rule.index]
      if (idx === null || !selectsSegment(rule.segmentSubjects, segment)) return
      const levels = resolveLevels(rule.levels, undefined, rule.direction)
      const e = entryOf<ThresholdSubject>(rt, segment.id, place, () => ({ h: freshHysteresis(), lastTs: -Infinity }))
      if (eventTime < e.s.lastTs) return
      e.at = Math.max(e.at, eventTime)
      if (idx.value === null) {
        emit(out, rt, segment.id, e, holdThreshold(rule, e.s.h, levels, segment.name), eventTime)
        return
      }
      stepHysteresisInPlace(e.s.h, idx.value, eventTime, levels, rule.direction, rule.forMs)
      e.s.lastTs = eventTime
      emit(out, rt, segment.id, e, thresholdReport(rule, idx.value, e.s.h.level, levels, segment.name), eventTime)
    }
  }

  // Composites

  function runComposites(out: Condition[], at: number): void {
    const composites = runtimes.filter((rt) => rt.rule.type === 'composite')
    if (composites.length === 0) return
    const registry = registryNow()
    const zones = zonesOfGauges(registry)
    const cache = new Map<string, CompositeMember[]>()
    const members = (ruleId: string): CompositeMember[] => {
      let list = cache.get(ruleId)
      if (list === undefined) {
        list = []
        const rt = byId.get(ruleId)
        if (rt !== undefined) {
          for (const [subject, e] of rt.subjects) {
            if (e.level > 0) list.push({ subject, level: e.level, segment: e.segment, district: e.district, zones: zones.get(subject) ?? NO_ZONES })
          }
        }
        cache.set(ruleId, list)
      }
      return list
    }
    for (const rt of composites) {
      const rule = rt.rule as CompiledComposite
      const keys = new Set(rt.subjects.keys())
      for (const c of rule.conditions) {
        for (const m of members(c.rule)) {
          if (rule.scope === 'district') keys.add(m.district)
          else {
            if (m.segment !== null) keys.add(m.segment)
            for (const z of m.zones) keys.add(z)
          }
        }
      }
      for (const key of keys) {
        let place: { district: string; segment: string | null }
        let where: string
        if (rule.scope === 'segment') {
          const seg = registry.segment(key)
          if (seg === undefined || !selectsSegment(rule.subjects, seg)) continue
          place = { district: seg.district, segment: seg.id }
          where = seg.name
        } else {
          if (rule.subjects?.districts !== undefined && !rule.subjects.districts.includes(key)) continue
          place = { district: key, segment: null }
          where = `district ${key}`
        }
        const e = entryOf<null>(rt, key, place, () => null)
        e.at = at
        emit(out, rt, key, e, compositeReport(rule, key, members, where), at)
        if (e.level === 0) rt.subjects.delete(key)
      }
    }
  }

  // Bounds

  function subjectExists(rule: CompiledRule, id: string, registry: RegistryIndex): boolean {
    if (onReadingsRule(rule)) return registry.sensor(id) !== undefined
    if (rule.type === 'composite' && rule.scope === 'district') return registry.districts.includes(id)
    return registry.segment(id) !== undefined
  }

  function retentionMs(rule: CompiledRule): number {
    switch (rule.type) {
      case 'rate_of_rise':
      case 'time_to_overflow':
        return Math.max(compiled.idleEvictMs, rule.windowMs)
      case 'sensor_fault':
        return Math.max(compiled.idleEvictMs, rule.badShare?.windowMs ?? 0)
      case 'threshold':
        return Math.max(compiled.idleEvictMs, rule.forMs)
      case 'tunnel_closure':
        return Math.max(compiled.idleEvictMs, rule.reopenHoldMs)
      default:
        return compiled.idleEvictMs
    }
  }

  function sweep(out: Condition[], at: number): void {
    const registry = registryNow()
    lastSweepAt = eventNow
    // Subjects gone from the registry only after another registry was read (or for district composites, whose
    // subjects come from sensors' districts); else only idle ones to forget, found in the columns of a table.
    const checkAll = otherRegistrySeen
    for (const rt of runtimes) {
      const keep = retentionMs(rt.rule)
      if (!checkAll && !(rt.rule.type === 'composite' && rt.rule.scope === 'district')) {
        if (eventNow === undefined) continue
        if (rt.subjects instanceof SubjectTable) {
          stats.evicted += rt.subjects.evictIdle(eventNow, keep)
          continue
        }
        for (const [id, e] of rt.subjects) {
          if (e.level === 0 && eventNow - e.at > keep) {
            rt.subjects.delete(id)
            stats.evicted++
          }
        }
        continue
      }
      for (const [id, e] of rt.subjects) {
        if (!subjectExists(rt.rule, id, registry)) {
          resolveEntry(out, rt, id, e, 'no longer in the registry', at)
          rt.subjects.delete(id)
          stats.evicted++
        } else if (e.level === 0 && eventNow !== undefined && eventNow - e.at > keep) {
          rt.subjects.delete(id)
          stats.evicted++
        }
      }
    }
    if (checkAll) for (const id of live.keys()) if (registry.sensor(id) === undefined) live.delete(id)
    sweptRegistry = registry
    otherRegistrySeen = false
    const horizon = (eventNow ?? 0) - RULES_RAIN_RETENTION_MS
    for (const [id, list] of rain) {
      while (list.length > 0 && (list[0] as TimedValue).ts <= horizon) list.shift()
      if (list.length === 0 || registry.sensor(id) === undefined) rain.delete(id)
    }
    for (const [id, st] of stations) {
      const newest = Math.max(st.do?.ts ?? -Infinity, st.nh3n?.ts ?? -Infinity)
      if (registry.sensor(id) === undefined || newest < (eventNow ?? 0) - 2 * RULES_RAIN_RETENTION_MS) stations.delete(id)
    }
  }

  function sweepIfDue(out: Condition[], at: number): void {
    if (eventNow !== undefined && (lastSweepAt === undefined || eventNow - lastSweepAt >= SWEEP_EVENT_MS)) sweep(out, at)
  }

  function finish(out: Condition[], at: number): Condition[] {
    if (out.length > 0) runComposites(out, Math.max(at, ...out.map((c) => c.at)))
    sweepIfDue(out, at)
    return out
  }

  // Where onReadings and onIndexUpdate collect their conditions (emptied first, so a call that threw leaves none):
  // most calls change nothing and return NO_CONDITIONS, allocating no array.
  const pending: Condition[] = []

  /** The conditions collected in `pending`, as an array of the caller's own. */
  function taken(out: Condition[]): readonly Condition[] {
    if (out.length === 0) return NO_CONDITIONS
    const conditions = out.slice()
    out.length = 0
    return conditions
  }

  // Seeding

  function seededState(rule: CompiledRule, level: AlertLevel): unknown {
    const h = freshHysteresis(level)
    switch (rule.type) {
      case 'index':
        return restoredIndexState(rule, level)
      case 'threshold':
        return { h, lastTs: -Infinity } satisfies ThresholdSubject
      case 'tunnel_closure':
        return { closed: true, run: 0, lowSince: null, lastTs: -Infinity } satisfies ClosureSubject
      default:
        return null
    }
  }

  function placeOf(rule: CompiledRule, subject: string, registry: RegistryIndex): { district: string; segment: string | null } | undefined {
    if (onReadingsRule(rule)) {
      const sensor = registry.sensor(subject)
      return sensor === undefined ? undefined : { district: sensor.district, segment: sensor.segment }
    }
    if (rule.type === 'composite' && rule.scope === 'district') return registry.districts.includes(subject) ? { district: subject, segment: null } : undefined
    const seg = registry.segment(subject)
    return seg === undefined ? undefined : { district: seg.district, segment: seg.id }
  }

  return {
    onReadings(readings) {
      const out = pending
      out.length = 0
      const registry = registryNow()
      // Ingest hands batches in ts order; only others are copied and sorted.
      const sorted = inTsOrder(readings) ? readings : [...readings].sort((a, b) => a.ts - b.ts)
      let at = eventNow ?? -Infinity
      for (const r of sorted) {
        const sensor = registry.sensor(r.sensor)
        if (sensor === undefined || !Number.isFinite(r.ts)) continue
        // Stored only when it moves: a number stored in the engine's closure is a new heap object each time.
        if (eventNow === undefined || r.ts > eventNow) eventNow = r.ts
        at = Math.max(at, r.ts)
        const row = live.rows.get(sensor.id)
        if (row === undefined) live.push(live.add(sensor.id, r.receivedAt), dueAt(sensor, r.receivedAt))
        else live.receivedAt[row] = Math.max(live.receivedAt[row] as number, r.receivedAt)
        recordContext(sensor, r)
        for (const sr of planOf(registry, sensor)) onReading(out, sr, sensor, r)
      }
      return taken(finish(out, at))
    },

    onIndexUpdate(update) {
      if (update.scope !== 'segment' || update.eventTime === null) return NO_CONDITIONS
      const segment = registryNow().segment(update.segment)
      if (segment === undefined) return NO_CONDITIONS
      const out = pending
      out.length = 0
      eventNow = Math.max(eventNow ?? update.eventTime, update.eventTime)
      for (const rt of runtimes) onIndex(out, rt, segment, update.data as SegmentIndexJson, update.eventTime)
      return taken(finish(out, update.eventTime))
    },

    tick(wallNow, raining) {
      const out: Condition[] = []
      const registry = registryNow()
      const wet = new Map<string, boolean>()
      const isWet = (sensor: Sensor): boolean => {
        const key = registry.segment(sensor.segment)?.type === 'drainage' ? sensor.segment : sensor.district
        let w = wet.get(key)
        if (w === undefined) {
          w = (raining ?? defaultRaining)(key)
          wet.set(key, w)
        }
        return w
      }
      // Only the sensors whose silence can matter by now, in the order they were first heard from: the others
      // would hold nothing and raise no stale alert.
      if (registry !== dueRegistry || compiled !== dueRules) {
        live.rebuild((row) => dueAt(registry.sensor(live.ids[row] as string), live.receivedAt[row] as number))
        dueRegistry = registry
        dueRules = compiled
      }
      const due = live.takeDue(wallNow)
      for (const row of due) {
        const id = live.ids[row] as string
        const sensor = registry.sensor(id)
        if (sensor === undefined) continue
        const silentMs = wallNow - (live.receivedAt[row] as number)
        if (silentMs >= compiled.staleAfterIntervals * sensor.intervalS * 1000 * compiled.scale) {
          // A silent sensor holds its level (dataGap); absence itself is the stale rule's business.
          for (const rt of runtimes) {
            if (rt.rule.type === 'stale' || !onReadingsRule(rt.rule)) continue
            const e = rt.subjects.get(id)
            if (e === undefined || e.level === 0 || e.dataGap || e.emitted === undefined) continue
            const last = reportOf(e.emitted)
            emit(out, rt, id, e, { ...last, dataGap: true, message: `${last.message}; no data for ${formatNumber(silentMs / MINUTE, 0)} min, ${levelName(e.level)} held` }, wallNow)
          }
        }
        for (const rt of runtimes) {
          if (rt.rule.type !== 'stale' || !selectsSensor(rt.rule, sensor)) continue
          const verdict = staleVerdict(rt.rule, sensor, silentMs, rt.rule.hazardKinds.includes(sensor.kind) && isWet(sensor))
          const e = rt.subjects.get(id)
          if (verdict.level <= (e?.level ?? 0)) continue
          const entry = e ?? entryOf<null>(rt, id, { district: sensor.district, segment: sensor.segment }, () => null)
          entry.at = wallNow
          emit(out, rt, id, entry, staleReport(rt.rule, sensor, silentMs, verdict, verdict.level), wallNow)
        }
      }
      for (const row of due) live.push(row, dueAt(registry.sensor(live.ids[row] as string), live.receivedAt[row] as number))
      if (out.length > 0) runComposites(out, wallNow)
      sweep(out, wallNow)
      return out
    },

    replace(rules) {
      const out: Condition[] = []
      const next = compileRules(rules)
      const registry = registryNow()
      const at = eventNow ?? 0
      const old = new Map(runtimes.map((rt) => [rt.rule.id, rt] as const))
      const fresh: AnyRuntime[] = []
      for (const rule of next.rules) {
        const prev = old.get(rule.id)
        old.delete(rule.id)
        if (prev !== undefined && prev.rule.key === rule.key) {
          fresh.push({ rule, subjects: prev.subjects })
        } else if (prev !== undefined && compatible(prev.rule, rule)) {
          const rt: AnyRuntime = { rule, subjects: prev.subjects }
          for (const [id, e] of rt.subjects) {
            const sensor = registry.sensor(id)
            const segment = registry.segment(id)
            const reading = readingRuleOf(rule)
            const selected = reading !== undefined ? sensor !== undefined && selectsSensor(reading, sensor) : rule.type === 'composite' || (segment !== undefined && selectsSegment(segmentSelectorOf(rule), segment))
            if (selected) continue
            resolveEntry(out, rt, id, e, `no longer selected by rule '${rule.id}'`, at)
            rt.subjects.delete(id)
          }
          fresh.push(rt)
        } else {
          if (prev !== undefined) for (const [id, e] of prev.subjects) resolveEntry(out, prev, id, e, `rule '${rule.id}' was replaced`, at)
          fresh.push({ rule, subjects: newSubjects(rule) })
        }
      }
      for (const prev of old.values()) for (const [id, e] of prev.subjects) resolveEntry(out, prev, id, e, `rule '${prev.rule.id}' was removed`, at)
      ruleSet = structuredClone(rules)
      compiled = next
      runtimes = fresh
      byId = new Map(runtimes.map((rt) => [rt.rule.id, rt] as const))
      resetPlans()
      runComposites(out, at)
      return out
    },

    restore(active) {
      const registry = registryNow()
      for (const a of active) {
        const rt = byId.get(a.rule)
        if (rt === undefined || a.level <= 0 || a.level > 4) continue
        const place = placeOf(rt.rule, a.subject, registry)
        if (place === undefined) continue
        const level = a.level
        const subjects = rt.subjects
        let e: SubjectEntry
        if (subjects instanceof FaultTable || subjects instanceof RateTable) {
          // A seeded subject of a table: its rule's level (fault) or hysteresis level (rates), nothing held.
          let row = subjects.rows.get(a.subject)
          if (row === undefined) {
            row = subjects.add(a.subject, place.district, place.segment)
            if (subjects instanceof FaultTable) subjects.faultLevel[row] = level
            else subjects.hLevel[row] = level
          }
          e = subjects.entry(row)
        } else e = entryOf<unknown>(rt, a.subject, place, () => seededState(rt.rule, level))
        e.level = level
        e.at = eventNow ?? -Infinity
        e.emitted = { rule: rt.rule.id, type: rt.rule.type, subject: a.subject, ...place, level, value: null, threshold: null, message: 'restored', at: e.at, dataGap: false }
      }
    },

    forget(rule, subject) {
      byId.get(rule)?.subjects.delete(subject)
    },

    rules() {
      return structuredClone(ruleSet)
    },

    active() {
      const out: Condition[] = []
      for (const rt of runtimes) for (const e of rt.subjects.values()) if (e.level > 0 && e.emitted !== undefined) out.push(e.emitted)
      return out
    },

    stats() {
      let subjects = 0
      let active = 0
      for (const rt of runtimes) {
        subjects += rt.subjects.size
        for (const e of rt.subjects.values()) if (e.level > 0) active++
      }
      let rainEntries = 0
      for (const list of rain.values()) rainEntries += list.length
      return { subjects, active, late: stats.late, evicted: stats.evicted, rainEntries }
    },
  }
}
