import type { Quality } from '../domain.js'
import type { AlertLevel, Report } from './condition.js'
import type { CompiledSensorFault } from './compile-rules.js'
import { formatNumber, levelName } from './rule-messages.js'

/** One reading as the fault rule remembers it. */
export interface FaultEntry {
  ts: number
  bad: boolean
  reason: string
}

/** A sensor's fault state: its level and the readings the rule still needs, oldest first. */
export interface FaultState {
  level: AlertLevel
  entries: readonly FaultEntry[]
}

/** No fault, no readings; frozen: a subject that steps in place needs its own entries. */
export const INITIAL_FAULT: Readonly<FaultState> = Object.freeze({ level: 0, entries: Object.freeze([]) as readonly FaultEntry[] })

/** A fault state its owner may update in place (see advanceFault). */
export interface MutableFaultState {
  level: AlertLevel
  entries: FaultEntry[]
  /** Bad entries among `entries`, kept by advanceFault (counted when absent). */
  badCount?: number
  /** Length of the trailing run of entries alike, all bad or all not, kept by advanceFault (counted when absent). */
  run?: number
}

/** What one step of the fault rule found, besides the level: what its message and value are made of. */
export interface FaultTally {
  level: AlertLevel
  runBad: number
  runGood: number
  /** Bad share over the window, 0 without `badShare` or readings in it. */
  share: number
  /** Readings within the share window. */
  inWindow: number
}

function trailing(entries: readonly FaultEntry[], bad: boolean): number {
  let n = 0
  for (let i = entries.length - 1; i >= 0 && (entries[i] as FaultEntry).bad === bad; i--) n++
  return n
}

function countBad(entries: readonly FaultEntry[]): number {
  let n = 0
  for (const e of entries) if (e.bad) n++
  return n
}

/** The trailing run of entries alike: how many of the last are bad when the last is, else how many are not. */
function trailingRun(entries: readonly FaultEntry[]): number {
  const last = entries[entries.length - 1]
  return last === undefined ? 0 : trailing(entries, last.bad)
}

/**
 * One reading through the fault rule: raised after `consecutiveBad` bad readings in a row or a bad share at or above
 * `badShare.share` over its window; cleared after `resetGood` non-bad readings in a row with the share back below.
 * A reading with the ts of a remembered one replaces it (a spike re-flag).
 */
export function stepFault(rule: CompiledSensorFault, state: FaultState, reading: { ts: number; quality: Quality; qualityReason: string }, where: string): { state: FaultState; report: Report } {
  const next: MutableFaultState = { level: state.level, entries: [...state.entries] }
  const tally = advanceFault(rule, next, reading)
  return { state: next, report: faultReport(rule, next.entries, tally, where) }
}

/** stepFault on a state the caller owns, in place (entries stay sorted by ts); returns what the report is made of. */
export function advanceFault(rule: CompiledSensorFault, state: MutableFaultState, reading: { ts: number; quality: Quality; qualityReason: string }): FaultTally {
  const bad = reading.quality === 'bad' || (rule.countSuspect && reading.quality === 'suspect')
  const entry: FaultEntry = { ts: reading.ts, bad, reason: reading.qualityReason }
  const keep = Math.max(rule.consecutiveBad, rule.resetGood)
  const entries = state.entries
  // Counts kept across steps, so a step costs the entries it adds and drops, not the whole window.
  let badCount = state.badCount ?? countBad(entries)
  let run = state.run ?? trailingRun(entries)
  const last = entries[entries.length - 1]
  if (last === undefined || last.ts < reading.ts) {
    entries.push(entry)
    if (bad) badCount++
    run = last !== undefined && last.bad === bad ? run + 1 : 1
  } else {
    // A re-flag replaces the reading of its ts; a late one goes to its place.
    let i = entries.length
    while (i > 0 && (entries[i - 1] as FaultEntry).ts > reading.ts) i--
    const same = i > 0 ? (entries[i - 1] as FaultEntry) : undefined
    if (same !== undefined && same.ts === reading.ts) {
      if (same.bad) badCount--
      entries[i - 1] = entry
    } else entries.splice(i, 0, entry)
    if (bad) badCount++
    run = trailingRun(entries)
  }
  const latest = (entries[entries.length - 1] as FaultEntry).ts
  const start = rule.badShare === undefined ? -Infinity : latest - rule.badShare.windowMs
  // Sorted by ts: the entries in the window are a suffix; the last `keep` are kept whatever their age.
  let first = 0
  while (first < entries.length && (entries[first] as FaultEntry).ts < start) first++
  const drop = Math.min(first, Math.max(0, entries.length - keep))
  for (let i = 0; i < drop; i++) if ((entries[i] as FaultEntry).bad) badCount--
  if (drop > 0) entries.splice(0, drop)
  // The trailing run lies within what is left.
  if (run > entries.length) run = entries.length
  let inWindow = 0
  let badInWindow = 0
  if (rule.badShare !== undefined) {
    const from = first - drop
    inWindow = entries.length - from
    badInWindow = badCount
    for (let i = 0; i < from; i++) if ((entries[i] as FaultEntry).bad) badInWindow--
  }
  state.badCount = badCount
  state.run = run
  const share = inWindow === 0 ? 0 : badInWindow / inWindow
  const shareHigh = rule.badShare !== undefined && inWindow >= rule.badShare.minReadings && share >= rule.badShare.share
  const lastBad = (entries[entries.length - 1] as FaultEntry).bad
  const runBad = lastBad ? run : 0
  const runGood = lastBad ? 0 : run
  const faulty = runBad >= rule.consecutiveBad || shareHigh
  const level: AlertLevel = state.level > 0 ? (runGood >= rule.resetGood && !shareHigh ? 0 : rule.level) : faulty ? rule.level : 0
  state.level = level
  return { level, runBad, runGood, share, inWindow }
}

/** The report of a sensor's fault state after advanceFault; built apart so the engine formats it only when it is news. */
export function faultReport(rule: CompiledSensorFault, entries: readonly FaultEntry[], tally: FaultTally, where: string): Report {
  const { level, runBad, runGood, share, inWindow } = tally
  let reason = ''
  for (let i = entries.length - 1; i >= 0; i--) {
    const e = entries[i] as FaultEntry
    if (e.bad) {
      reason = e.reason
      break
    }
  }
  const because =
    runBad >= rule.consecutiveBad || rule.badShare === undefined
      ? `${runBad} bad readings in a row`
      : `${formatNumber(share * 100, 0)}% of ${inWindow} readings bad in the last ${formatNumber(rule.badShare.windowMs / 60_000, 1)} min`
  const message =
    level > 0
      ? `Sensor fault at ${where}: ${because}${reason === '' ? '' : ` (${reason})`} (${levelName(level)})`
      : `${where} reporting usable data: ${runGood} readings in a row (${levelName(level)})`
  return {
    level,
    value: rule.badShare === undefined ? runBad : Number(share.toFixed(3)),
    threshold: rule.badShare === undefined ? rule.consecutiveBad : rule.badShare.share,
    message,
    dataGap: false,
  }
}
