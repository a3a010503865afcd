import type { AlertLevel, Report } from './condition.js'
import type { CompiledThreshold } from './compile-rules.js'
import { stepHysteresis, thresholdOf, type HysteresisState, type ResolvedLevel } from './evaluate-hysteresis.js'
import { levelName, unitOf, withUnit } from './rule-messages.js'

/** Comparison shown in a message: the raise side while raised, the reset side once cleared. */
function op(direction: 'above' | 'below', raised: boolean): string {
  if (direction === 'above') return raised ? '>=' : '<'
  return raised ? '<=' : '>'
}

/** The unit of what a threshold rule reads: the field's, none for an index. */
export function thresholdUnit(rule: CompiledThreshold): string {
  return rule.field === undefined ? '' : unitOf(rule.field)
}

/**
 * One value of a threshold rule's subject (a reading field, or an index for index thresholds) at event time `at`:
 * per-level hysteresis with `forS`; `where` names the subject in the message ("Wensan Rd").
 */
export function stepThreshold(rule: CompiledThreshold, state: HysteresisState, value: number, at: number, levels: readonly ResolvedLevel[], where: string): { state: HysteresisState; report: Report } {
  const next = stepHysteresis(state, value, at, levels, rule.direction, rule.forMs)
  return { state: next, report: thresholdReport(rule, value, next.level, levels, where) }
}

/** The report of a threshold rule's subject at `level` for `value`; built apart so the engine formats it only when it is news. */
export function thresholdReport(rule: CompiledThreshold, value: number, level: AlertLevel, levels: readonly ResolvedLevel[], where: string): Report {
  const threshold = thresholdOf(levels, level)
  const unit = thresholdUnit(rule)
  const limit = threshold === null ? '' : `, ${op(rule.direction, level > 0)} ${withUnit(threshold, unit)}`
  return {
    level,
    value,
    threshold,
    message: `${rule.label} ${withUnit(value, unit)} ${rule.index === undefined ? 'at' : 'in'} ${where} (${levelName(level)}${limit})`,
    dataGap: false,
  }
}

/** A threshold on an index whose index is null: the level is held and flagged `dataGap`. */
export function holdThreshold(rule: CompiledThreshold, state: HysteresisState, levels: readonly ResolvedLevel[], where: string): Report {
  return {
    level: state.level,
    value: null,
    threshold: thresholdOf(levels, state.level),
    message: `${rule.label} unavailable in ${where} (${levelName(state.level)} held: data gap)`,
    dataGap: true,
  }
}
