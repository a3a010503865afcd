import { INITIAL_ALERT_STATE, stepSmoothAlert, type AlertMachineState } from './indices/alert-level-machine.js'
import type { AlertLevel } from './indices/smooth-subscores.js'

/** Smooth-water evaluation cadence while it rains or an alert is active, ms (INDICES.md §4). */
export const ACTIVE_CADENCE_MS = 60_000
/** Smooth-water evaluation cadence otherwise, ms (INDICES.md §4). */
export const CALM_CADENCE_MS = 5 * 60_000
/** Longest stretch of missed evaluations caught up after a gap in a zone's data, ms; older boundaries are skipped. */
export const MAX_CATCH_UP_MS = 3 * 3_600_000

/** What one evaluation of a zone at an event time gives the machine. */
export interface ZoneEvaluation {
  /** The zone's index value, `null` when it has none. */
  value: number | null
  /** Observed rain level 0–4. */
  rainPressure: AlertLevel
  /** More than 0 mm in the last 30 min. */
  raining: boolean
}

/** Evaluates the zone as of an event time (epoch ms). */
export type EvaluateZone = (at: number) => ZoneEvaluation

/**
 * A zone's smooth-water alert machine run at the INDICES.md §4 cadence in event time. Evaluations happen at
 * boundaries (multiples of the cadence); the one at the zone's current event time stays open (`pending`) and
 * is redone from `before` while more data for that same instant arrives, so results never wait.
 */
export interface ZoneAlertState {
  /** Machine state after the evaluation at `at` (stale while `pending`). */
  after: AlertMachineState
  /** Machine state before the evaluation at `at`. */
  before: AlertMachineState
  /** Event time of the latest evaluation, epoch ms; `undefined` before the first. */
  at: number | undefined
  /** Cadence chosen by the latest evaluation, ms. */
  cadenceMs: number
  /** The evaluation at `at` is still to be (re)done with the zone's data as of `at`. */
  pending: boolean
}

/** No evaluation yet. */
export const INITIAL_ZONE_ALERT: Readonly<ZoneAlertState> = {
  after: INITIAL_ALERT_STATE,
  before: INITIAL_ALERT_STATE,
  at: undefined,
  cadenceMs: ACTIVE_CADENCE_MS,
  pending: false,
}

/** The cadence after an evaluation: 1 min while raining or an alert is active, else 5 min (INDICES.md §4). */
export function smoothCadenceMs(raining: boolean, level: AlertLevel): number {
  return raining || level > 0 ? ACTIVE_CADENCE_MS : CALM_CADENCE_MS
}

function evaluateAt(before: AlertMachineState, at: number, evaluation: ZoneEvaluation): ZoneAlertState {
  const after = stepSmoothAlert(before, { value: evaluation.value, rainPressure: evaluation.rainPressure }, at)
  return { after, before, at, cadenceMs: smoothCadenceMs(evaluation.raining, after.level), pending: false }
}

/** Does the pending evaluation, if any, with the zone as it is now (which must be its state as of `at`). */
export function resolveZoneAlert(state: ZoneAlertState, evaluate: EvaluateZone): ZoneAlertState {
  if (!state.pending || state.at === undefined) return state
  return evaluateAt(state.before, state.at, evaluate(state.at))
}

/** The first boundary not evaluated yet for a zone whose data reaches `zoneTime`. */
function firstBoundary(state: ZoneAlertState, zoneTime: number): number {
  return state.at === undefined ? Math.ceil(zoneTime / ACTIVE_CADENCE_MS) * ACTIVE_CADENCE_MS : (Math.floor(state.at / state.cadenceMs) + 1) * state.cadenceMs
}

/**
 * Whether `advanceZoneAlert` would do anything: resolve a pending evaluation or run one at a boundary before `until`.
 * Most readings cross no boundary, and the caller can then skip making the evaluator.
 */
export function zoneAlertDue(state: ZoneAlertState, zoneTime: number, until: number): boolean {
  return (state.pending && state.at !== undefined) || firstBoundary(state, zoneTime) < until
}

/**
 * Runs the evaluations due at every boundary in `[zoneTime, until)` that has not run, with the zone as it is
 * now (its data as of `zoneTime`): call it before applying a reading with `ts = until > zoneTime`.
 * `onEvaluated` sees the state after each evaluation.
 */
export function advanceZoneAlert(state: ZoneAlertState, zoneTime: number, until: number, evaluate: EvaluateZone, onEvaluated?: (state: ZoneAlertState) => void): ZoneAlertState {
  let s = resolveZoneAlert(state, evaluate)
  if (s !== state) onEvaluated?.(s)
  let b = firstBoundary(s, zoneTime)
  // A long gap is not replayed minute by minute: the last MAX_CATCH_UP_MS decide (enough for every step down).
  if (until - b > MAX_CATCH_UP_MS) b = Math.ceil((until - MAX_CATCH_UP_MS) / ACTIVE_CADENCE_MS) * ACTIVE_CADENCE_MS
  while (b < until) {
    s = evaluateAt(s.after, b, evaluate(b))
    onEvaluated?.(s)
    b = (Math.floor(b / s.cadenceMs) + 1) * s.cadenceMs
  }
  return s
}

/**
 * After data for a zone was applied: when the zone's event time is the time of the latest evaluation, that
 * evaluation is redone; when it lies on a boundary of the cadence, a new evaluation opens there. Both stay
 * pending until `resolveZoneAlert`.
 */
export function settleZoneAlert(state: ZoneAlertState, zoneTime: number): ZoneAlertState {
  if (state.at === zoneTime) return { ...state, pending: true }
  if (state.pending || (state.at !== undefined && state.at > zoneTime)) return state
  if (zoneTime % state.cadenceMs !== 0) return state
  return { ...state, before: state.after, at: zoneTime, pending: true }
}
