import type { AlertLevel, Report } from './condition.js'
import type { CompiledTunnelClosure } from './compile-rules.js'
import { formatNumber, levelName } from './rule-messages.js'

/** An underpass's closure state (INDICES.md §4 underpass operations). */
export interface ClosureState {
  closed: boolean
  /** Consecutive readings at or above the closure depth. */
  run: number
  /** Since when (event time) the depth has stayed at or below `reopenBelowCm` while closed. */
  lowSince: number | null
}

/** Open, nothing counted; frozen: a subject that steps in place needs its own copy. */
export const INITIAL_CLOSURE: Readonly<ClosureState> = Object.freeze({ closed: false, run: 0, lowSince: null })

/** What a closure step decided: `close` (newly closed), `open` (still open), `reopen` (reopening recommended), `keep` (stays closed). */
export type ClosureOutcome = 'close' | 'open' | 'reopen' | 'keep'

/**
 * One depth reading (cm) of an underpass with closure depth `closureCm`: `consecutive` readings at or above it give
 * the closure instruction at the rule's level; once closed, a depth at or below `reopenBelowCm` held for
 * `reopenHoldS` recommends reopening, which clears the alert (level 0, instruction `reopen`).
 */
export function stepClosure(rule: CompiledTunnelClosure, state: ClosureState, depthCm: number, at: number, closureCm: number, where: string): { state: ClosureState; report: Report } {
  const next: ClosureState = { ...state }
  const outcome = advanceClosure(rule, next, depthCm, at, closureCm)
  return { state: next, report: closureReport(rule, outcome, next, depthCm, closureCm, where) }
}

/** stepClosure on a state the caller owns, in place; returns the outcome the report is made of. */
export function advanceClosure(rule: CompiledTunnelClosure, state: ClosureState, depthCm: number, at: number, closureCm: number): ClosureOutcome {
  const run = depthCm >= closureCm ? state.run + 1 : 0
  if (!state.closed) {
    state.run = run
    state.lowSince = null
    if (run >= rule.consecutive) {
      state.closed = true
      return 'close'
    }
    return 'open'
  }
  const lowSince = depthCm <= rule.reopenBelowCm ? (state.lowSince ?? at) : null
  if (lowSince !== null && at - lowSince >= rule.reopenHoldMs) {
    state.closed = false
    state.run = 0
    state.lowSince = null
    return 'reopen'
  }
  state.run = run
  state.lowSince = lowSince
  return 'keep'
}

/** The level an outcome reports. */
export function closureLevel(rule: CompiledTunnelClosure, outcome: ClosureOutcome): AlertLevel {
  return outcome === 'close' || outcome === 'keep' ? rule.level : 0
}

/** The report of a closure step (state after it); built apart so the engine formats it only when it is news. */
export function closureReport(rule: CompiledTunnelClosure, outcome: ClosureOutcome, state: ClosureState, depthCm: number, closureCm: number, where: string): Report {
  switch (outcome) {
    case 'close':
      return {
        level: rule.level,
        value: depthCm,
        threshold: closureCm,
        instruction: 'close',
        message: `Close ${where}: water ${formatNumber(depthCm, 1)} cm, at or above the closure depth ${formatNumber(closureCm, 1)} cm on ${state.run} consecutive readings (${levelName(rule.level)})`,
        dataGap: false,
      }
    case 'open':
      return { level: 0, value: depthCm, threshold: closureCm, message: `${where} open: water ${formatNumber(depthCm, 1)} cm (cleared)`, dataGap: false }
    case 'reopen':
      return {
        level: 0,
        value: depthCm,
        threshold: rule.reopenBelowCm,
        instruction: 'reopen',
        message: `Reopening ${where} recommended: water at or below ${formatNumber(rule.reopenBelowCm, 1)} cm for ${formatNumber(rule.reopenHoldMs / 60_000, 1)} min (now ${formatNumber(depthCm, 1)} cm)`,
        dataGap: false,
      }
    case 'keep':
      return {
        level: rule.level,
        value: depthCm,
        threshold: closureCm,
        instruction: 'close',
        message: `Keep ${where} closed: water ${formatNumber(depthCm, 1)} cm (${levelName(rule.level)})`,
        dataGap: false,
      }
  }
}
