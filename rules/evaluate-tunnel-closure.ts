import type { Report } from './condition.js'
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

/** Open, nothing counted. */
export const INITIAL_CLOSURE: Readonly<ClosureState> = { closed: false, run: 0, lowSince: null }

/**
 * One depth reading (cm) of an underpass with closure depth `closureCm`: `consecutive` readings at or above it give
 * the closure instruction at the rule's level; once closed, a depth at or below `reopenBelowCm` held for
 * `reopenHoldS` recommends reopening, which clears the alert (level 0, instruction `reopen`).
 */
export function stepClosure(rule: CompiledTunnelClosure, state: ClosureState, depthCm: number, at: number, closureCm: number, where: string): { state: ClosureState; report: Report } {
  const run = depthCm >= closureCm ? state.run + 1 : 0
  if (!state.closed) {
    if (run >= rule.consecutive) {
      return {
        state: { closed: true, run, lowSince: null },
        report: {
          level: rule.level,
          value: depthCm,
          threshold: closureCm,
          instruction: 'close',
          message: `Close ${where}: water ${formatNumber(depthCm, 1)} cm, at or above the closure depth ${formatNumber(closureCm, 1)} cm on ${run} consecutive readings (${levelName(rule.level)})`,
          dataGap: false,
        },
      }
    }
    return { state: { closed: false, run, lowSince: null }, report: { level: 0, value: depthCm, threshold: closureCm, message: `${where} open: water ${formatNumber(depthCm, 1)} cm (cleared)`, dataGap: false } }
  }
  const lowSince = depthCm <= rule.reopenBelowCm ? (state.lowSince ?? at) : null
  if (lowSince !== null && at - lowSince >= rule.reopenHoldMs) {
    return {
      state: { closed: false, run: 0, lowSince: null },
      report: {
        level: 0,
        value: depthCm,
        threshold: rule.reopenBelowCm,
        instruction: 'reopen',
        message: `Reopening ${where} recommended: water at or below ${formatNumber(rule.reopenBelowCm, 1)} cm for ${formatNumber(rule.reopenHoldMs / 60_000, 1)} min (now ${formatNumber(depthCm, 1)} cm)`,
        dataGap: false,
      },
    }
  }
  return {
    state: { closed: true, run, lowSince },
    report: {
      level: rule.level,
      value: depthCm,
      threshold: closureCm,
      instruction: 'close',
      message: `Keep ${where} closed: water ${formatNumber(depthCm, 1)} cm (${levelName(rule.level)})`,
      dataGap: false,
    },
  }
}
