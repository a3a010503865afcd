import { classOfScore, type ClearParameter, type WaterClass } from './clear-subscores.js'
import { bandOfSmooth, levelOfBand, type AlertLevel } from './smooth-subscores.js'

/** Parameters of the index alert state machine (INDICES.md §4). */
export interface AlertMachineOptions {
  /** Consecutive evaluations above the level needed to raise it. */
  nUp: number
  /** Index points subtracted for the pessimistic candidate `c′`. */
  margin: number
  /** Continuous time `c′ < L` must hold before the level steps down one, ms. */
  tDownMs: number
}

/** Clear-water defaults: nUp 2, M 2, tDown 60 min (INDICES.md §4). */
export const CLEAR_ALERT_OPTIONS: Readonly<AlertMachineOptions> = { nUp: 2, margin: 2, tDownMs: 60 * 60_000 }

/** Smooth-water defaults: nUp 2, M 5, tDown 30 min (INDICES.md §4). */
export const SMOOTH_ALERT_OPTIONS: Readonly<AlertMachineOptions> = { nUp: 2, margin: 5, tDownMs: 30 * 60_000 }

/** The machine's state: a plain object, safe to store and compare. */
export interface AlertMachineState {
  /** Current level `L`, 0 none … 4 red. */
  level: AlertLevel
  /** The last `nUp` candidates, oldest first. */
  recent: AlertLevel[]
  /** Since when `c′ < L` has held, epoch ms; `null` when it does not. */
  downSince: number | null
  /** The last evaluation had no index: the level is held. */
  dataGap: boolean
}

/** No alert, no history. */
export const INITIAL_ALERT_STATE: Readonly<AlertMachineState> = { level: 0, recent: [], downSince: null, dataGap: false }

/** One evaluation: the candidate level and the pessimistic candidate `c′` (from index − M). */
export interface AlertCandidates {
  candidate: AlertLevel
  pessimistic: AlertLevel
}

/**
 * One step of the index alert state machine (INDICES.md §4): raise to the minimum of the last `nUp`
 * candidates when they all exceed `L`; step down one level when `c′ < L` has held for `tDown`, then
 * restart the timer; `null` (no index) holds the level, flags `dataGap`, and breaks both runs.
 */
export function alertLevelMachine(state: AlertMachineState, evaluation: AlertCandidates | null, now: number, options: AlertMachineOptions): AlertMachineState {
  if (evaluation === null) return { level: state.level, recent: [], downSince: null, dataGap: true }
  const recent = [...state.recent, evaluation.candidate].slice(-options.nUp)
  if (recent.length >= options.nUp && recent.every((c) => c > state.level)) {
    return { level: Math.min(...recent) as AlertLevel, recent, downSince: null, dataGap: false }
  }
  if (evaluation.pessimistic >= state.level) return { level: state.level, recent, downSince: null, dataGap: false }
  const since = state.downSince ?? now
  if (now - since >= options.tDownMs) {
    const level = (state.level - 1) as AlertLevel
    return { level, recent, downSince: evaluation.pessimistic < level ? now : null, dataGap: false }
  }
  return { level: state.level, recent, downSince: since, dataGap: false }
}

/** DO below this (mg/L) is acute, black-odorous water: level 4 (INDICES.md §4). */
export const ACUTE_DO_MGL = 2.0
/** NH3-N above this (mg/L) is acute: level 4 (INDICES.md §4). */
export const ACUTE_NH3N_MGL = 8.0
/** DO at or above this (mg/L), with NH3-N at or below `RELEASE_NH3N_MGL`, releases an acute alert. */
export const RELEASE_DO_MGL = 2.5
/** NH3-N at or below this (mg/L), with DO at or above `RELEASE_DO_MGL`, releases an acute alert. */
export const RELEASE_NH3N_MGL = 7.0
/** How long a pH-limited class 6 is capped at level 1, ms (INDICES.md §4). */
export const PH_CLASS6_GRACE_MS = 24 * 3_600_000

/** What a clear-water evaluation reads. */
export interface ClearAlertInput {
  /** The segment's index value, `null` when it has none. */
  value: number | null
  /** The limiting parameter (for the pH rule). */
  limiting?: ClearParameter
  /** GB 3838 target class 1–5. */
  targetClass: number
  /** Latest DO and NH3-N, mg/L, suspect readings included (the acute rule reads them). */
  doMgl?: number
  nh3nMgl?: number
}

/** Clear-water machine state: the generic state plus the start of a pH-limited class 6. */
export interface ClearAlertState extends AlertMachineState {
  phClass6Since: number | null
}

/** Initial clear-water machine state. */
export const INITIAL_CLEAR_ALERT_STATE: Readonly<ClearAlertState> = { ...INITIAL_ALERT_STATE, phClass6Since: null }

/** Level from the class gap to the target (INDICES.md §4): 0 not worse, 1, 2, 3 for three or more or class 6. */
export function classGapLevel(cls: WaterClass, targetClass: number): AlertLevel {
  if (cls === 6) return 3
  const gap = cls - targetClass
  if (gap <= 0) return 0
  return Math.min(3, gap) as AlertLevel
}

/**
 * The clear-water candidates (INDICES.md §4): class gap, capped at 1 for a pH-limited class 6 younger
 * than 24 h (`phClass6Since`), 4 when acute; `c′` from index − M and the release thresholds.
 * `null` when there is no index and nothing acute.
 */
export function clearAlertCandidates(input: ClearAlertInput, phClass6Since: number | null, now: number, margin: number): AlertCandidates | null {
  const acute = (input.doMgl !== undefined && input.doMgl < ACUTE_DO_MGL) || (input.nh3nMgl !== undefined && input.nh3nMgl > ACUTE_NH3N_MGL)
  const unreleased = (input.doMgl !== undefined && input.doMgl < RELEASE_DO_MGL) || (input.nh3nMgl !== undefined && input.nh3nMgl > RELEASE_NH3N_MGL)
  if (input.value === null) return acute ? { candidate: 4, pessimistic: 4 } : null
  const cls = classOfScore(input.value)
  const capped = cls === 6 && input.limiting === 'ph' && (phClass6Since === null || now - phClass6Since < PH_CLASS6_GRACE_MS)
  const cap = (level: AlertLevel): AlertLevel => (capped ? (Math.min(level, 1) as AlertLevel) : level)
  return {
    candidate: acute ? 4 : cap(classGapLevel(cls, input.targetClass)),
    pessimistic: unreleased ? 4 : cap(classGapLevel(classOfScore(input.value - margin), input.targetClass)),
  }
}

/** One clear-water evaluation through the machine, tracking how long a pH-limited class 6 has lasted. */
export function stepClearAlert(state: ClearAlertState, input: ClearAlertInput, now: number, options: AlertMachineOptions = CLEAR_ALERT_OPTIONS): ClearAlertState {
  const phLimited6 = input.value !== null && classOfScore(input.value) === 6 && input.limiting === 'ph'
  const phClass6Since = phLimited6 ? (state.phClass6Since ?? now) : null
  const next = alertLevelMachine(state, clearAlertCandidates(input, phClass6Since, now, options.margin), now, options)
  return { ...next, phClass6Since }
}

/** What a smooth-water evaluation reads. */
export interface SmoothAlertInput {
  /** The zone's index value, `null` when it has none. */
  value: number | null
  /** Observed rain level 0–4 (`rainPressure`). */
  rainPressure: AlertLevel
}

/** The smooth-water candidates (INDICES.md §4): the band's level, at least 1 under orange rain pressure; `c′` from index − M. */
export function smoothAlertCandidates(input: SmoothAlertInput, margin: number): AlertCandidates | null {
  if (input.value === null) return null
  const floor: AlertLevel = input.rainPressure >= 3 ? 1 : 0
  const level = (v: number): AlertLevel => Math.max(floor, levelOfBand(bandOfSmooth(v))) as AlertLevel
  return { candidate: level(input.value), pessimistic: level(input.value - margin) }
}

/** One smooth-water evaluation through the machine. */
export function stepSmoothAlert(state: AlertMachineState, input: SmoothAlertInput, now: number, options: AlertMachineOptions = SMOOTH_ALERT_OPTIONS): AlertMachineState {
  return alertLevelMachine(state, smoothAlertCandidates(input, options.margin), now, options)
}
