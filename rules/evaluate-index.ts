import { alertLevelMachine, INITIAL_ALERT_STATE, smoothAlertCandidates, classGapLevel, type AlertCandidates, type AlertMachineState } from '../stream/indices/alert-level-machine.js'
import { classOfScore } from '../stream/indices/clear-subscores.js'
import { bandOfSmooth } from '../stream/indices/smooth-subscores.js'
import type { AlertLevel, Report } from './condition.js'
import type { CompiledIndex } from './compile-rules.js'
import { className, formatNumber, levelName } from './rule-messages.js'

/** Target class assumed for a segment without one (GB 3838 class III, the usual urban target). */
export const DEFAULT_TARGET_CLASS = 3

/** Lower score bound of GB 3838 classes I..V (INDICES.md §1). */
const CLASS_LOWER = [90, 80, 60, 40, 20] as const
/** Upper edge of the smooth-water band of levels 1..4 (INDICES.md §2). */
const SMOOTH_EDGE = [80, 60, 40, 20] as const

/** What one index result gives an index rule. */
export interface IndexInput {
  /** The segment's index value, `null` when it has none. */
  value: number | null
  /** Clear: the limiting parameter (for the pH rule). */
  limiting?: string
  /** Clear: the segment's target class 1–5. */
  targetClass?: number
  /** Clear: the worst latest DO and NH3-N of the segment's stations, mg/L, suspect readings included. */
  doMgl?: number
  nh3nMgl?: number
}

/** Rain as seen by a zone at an event time. */
export interface RainView {
  /** Observed rain level 0–4 (INDICES.md §2 rain pressure). */
  pressure: AlertLevel
  /** More than 0 mm in the last 30 min. */
  raining: boolean
}

interface MachinePart {
  machine: AlertMachineState
  /** Start of a pH-limited class 6 (clear), epoch ms. */
  phClass6Since: number | null
}

/**
 * An index rule's state for one segment: the INDICES.md §4 machine run at the rule's cadence in event time.
 * Evaluations happen at boundaries (multiples of the cadence); the one at the latest result's event time is redone
 * from `before` when another result for that same instant arrives.
 */
export interface IndexRuleState extends MachinePart {
  /** Machine state before the evaluation at `evalAt`. */
  before: MachinePart | undefined
  /** Event time of the latest evaluation. */
  evalAt: number | undefined
  /** Cadence chosen by the latest evaluation, ms. */
  cadenceMs: number
  /** The latest result: the index as of every boundary until the next one. */
  last: { eventTime: number; input: IndexInput } | undefined
}

/** One evaluation and what it reported. */
export interface IndexEvaluation {
  at: number
  report: Report
}

/** No evaluation yet; the first boundary is on the shorter cadence. */
export function initialIndexState(rule: CompiledIndex): IndexRuleState {
  return { machine: INITIAL_ALERT_STATE, phClass6Since: null, before: undefined, evalAt: undefined, cadenceMs: rule.cadenceRainMs, last: undefined }
}

/** INDICES.md §4 clear-water candidates with the rule's acute thresholds, release and pH cap. */
export function clearCandidates(rule: CompiledIndex, input: IndexInput, phClass6Since: number | null, at: number): AlertCandidates | null {
  const a = rule.acute
  const acute = (input.doMgl !== undefined && input.doMgl < a.doBelowMgl) || (input.nh3nMgl !== undefined && input.nh3nMgl > a.nh3nAboveMgl)
  const unreleased = (input.doMgl !== undefined && input.doMgl < a.releaseDoMgl) || (input.nh3nMgl !== undefined && input.nh3nMgl > a.releaseNh3nMgl)
  if (input.value === null) return acute ? { candidate: 4, pessimistic: 4 } : null
  const target = input.targetClass ?? DEFAULT_TARGET_CLASS
  const cls = classOfScore(input.value)
  const capped = cls === 6 && input.limiting === 'ph' && (phClass6Since === null || at - phClass6Since < rule.phCapMs)
  const cap = (level: AlertLevel): AlertLevel => (capped ? (Math.min(level, 1) as AlertLevel) : level)
  return {
    candidate: acute ? 4 : cap(classGapLevel(cls, target)),
    pessimistic: unreleased ? 4 : cap(classGapLevel(classOfScore(input.value - rule.margin), target)),
  }
}

function report(rule: CompiledIndex, part: MachinePart, input: IndexInput, candidates: AlertCandidates | null, at: number, where: string): Report {
  const level = part.machine.level
  const dataGap = part.machine.dataGap
  const held = `${levelName(level)}${level > 0 ? ' held' : ''}: data gap`
  if (rule.index === 'smooth') {
    const threshold = level > 0 ? SMOOTH_EDGE[level - 1] : SMOOTH_EDGE[0]
    const message =
      input.value === null
        ? `Smooth-water index unavailable in ${where} (${held})`
        : `Smooth-water index ${formatNumber(input.value, 1)} (${bandOfSmooth(input.value)} band) in ${where} (${levelName(level)})`
    return { level, value: input.value, threshold: threshold ?? null, message, dataGap }
  }
  const target = input.targetClass ?? DEFAULT_TARGET_CLASS
  const acuteNow = candidates?.candidate === 4
  if (level === 4) {
    const doAcute = input.doMgl !== undefined && input.doMgl < rule.acute.releaseDoMgl
    const readings = [input.doMgl === undefined ? '' : `DO ${formatNumber(input.doMgl)} mg/L`, input.nh3nMgl === undefined ? '' : `NH3-N ${formatNumber(input.nh3nMgl)} mg/L`].filter((s) => s !== '').join(', ')
    return {
      level,
      value: input.value,
      threshold: doAcute ? rule.acute.doBelowMgl : rule.acute.nh3nAboveMgl,
      message: `Acute black-odorous water in ${where}: ${readings}${acuteNow ? '' : ' (not yet released)'} (${levelName(level)})`,
      dataGap,
    }
  }
  const threshold = CLASS_LOWER[Math.min(target + Math.max(level, 1) - 1, 5) - 1] ?? null
  if (input.value === null) return { level, value: null, threshold, message: `Clear-water index unavailable in ${where} (${held})`, dataGap }
  const cls = classOfScore(input.value)
  const capped = cls === 6 && input.limiting === 'ph' && part.phClass6Since !== null && at - part.phClass6Since < rule.phCapMs
  const cap = capped ? `; pH-limited, capped at blue for ${formatNumber(rule.phCapMs / 3_600_000, 1)} h` : ''
  return {
    level,
    value: input.value,
    threshold,
    message: `Clear-water index ${formatNumber(input.value, 1)} in ${where}: class ${className(cls)} against target ${className(target)}${cap} (${levelName(level)})`,
    dataGap,
  }
}

/** One evaluation at boundary `at` from the machine state `from`. */
function evaluate(rule: CompiledIndex, from: MachinePart, at: number, input: IndexInput, rain: (at: number) => RainView, where: string): { part: MachinePart; cadenceMs: number; report: Report } {
  const options = { nUp: rule.nUp, margin: rule.margin, tDownMs: rule.tDownMs }
  if (rule.index === 'clear') {
    const phLimited6 = input.value !== null && classOfScore(input.value) === 6 && input.limiting === 'ph'
    const phClass6Since = phLimited6 ? (from.phClass6Since ?? at) : null
    const candidates = clearCandidates(rule, input, phClass6Since, at)
    const part = { machine: alertLevelMachine(from.machine, candidates, at, options), phClass6Since }
    return { part, cadenceMs: rule.cadenceMs, report: report(rule, part, input, candidates, at, where) }
  }
  const r = rain(at)
  const candidates = input.value === null ? null : smoothAlertCandidates({ value: input.value, rainPressure: rule.rainFloor ? r.pressure : 0 }, rule.margin)
  const part = { machine: alertLevelMachine(from.machine, candidates, at, options), phClass6Since: null }
  const cadenceMs = r.raining || part.machine.level > 0 ? rule.cadenceRainMs : rule.cadenceMs
  return { part, cadenceMs, report: report(rule, part, input, candidates, at, where) }
}

function evaluateInto(rule: CompiledIndex, s: IndexRuleState, from: MachinePart, at: number, input: IndexInput, rain: (at: number) => RainView, where: string, out: IndexEvaluation[]): IndexRuleState {
  const base: MachinePart = { machine: from.machine, phClass6Since: from.phClass6Since }
  const e = evaluate(rule, base, at, input, rain, where)
  out.push({ at, report: e.report })
  return { ...s, ...e.part, before: base, evalAt: at, cadenceMs: e.cadenceMs }
}

/**
 * Applies one index result with event time `eventTime`: first the boundaries since the latest evaluation and before
 * `eventTime` run with the previous result (the index as it was; at most `catchUpMs` of them after a long gap), then
 * a boundary at `eventTime` itself runs with this result, or is redone with it when it already ran. An older result
 * is ignored. Returns the new state and every evaluation made, oldest first.
 */
export function advanceIndexRule(rule: CompiledIndex, state: IndexRuleState, eventTime: number, input: IndexInput, rain: (at: number) => RainView, where: string): { state: IndexRuleState; evaluations: IndexEvaluation[] } {
  const evaluations: IndexEvaluation[] = []
  let s = state
  if (s.last !== undefined && eventTime < s.last.eventTime) return { state: s, evaluations }
  if (s.last !== undefined && eventTime > s.last.eventTime) {
    const held = s.last.input
    let b = s.evalAt === undefined ? Math.ceil(s.last.eventTime / s.cadenceMs) * s.cadenceMs : (Math.floor(s.evalAt / s.cadenceMs) + 1) * s.cadenceMs
    // A long gap is not replayed boundary by boundary: the last catchUpMs decide (enough for every step down).
    if (eventTime - b > rule.catchUpMs) b = Math.ceil((eventTime - rule.catchUpMs) / rule.cadenceRainMs) * rule.cadenceRainMs
    while (b < eventTime) {
      s = evaluateInto(rule, s, s, b, held, rain, where, evaluations)
      b = (Math.floor(b / s.cadenceMs) + 1) * s.cadenceMs
    }
  }
  s = { ...s, last: { eventTime, input } }
  if (s.evalAt === eventTime && s.before !== undefined) s = evaluateInto(rule, s, s.before, eventTime, input, rain, where, evaluations)
  else if (eventTime % s.cadenceMs === 0 && (s.evalAt === undefined || eventTime > s.evalAt)) s = evaluateInto(rule, s, s, eventTime, input, rain, where, evaluations)
  return { state: s, evaluations }
}

/** A state holding `level` as if raised earlier (an alert restored after a restart). */
export function restoredIndexState(rule: CompiledIndex, level: AlertLevel): IndexRuleState {
  return { ...initialIndexState(rule), machine: { ...INITIAL_ALERT_STATE, level } }
}
