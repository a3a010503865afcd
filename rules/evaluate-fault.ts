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

/** No fault, no readings. */
export const INITIAL_FAULT: Readonly<FaultState> = { level: 0, entries: [] }

function trailing(entries: readonly FaultEntry[], bad: boolean): number {
  let n = 0
  for (let i = entries.length - 1; i >= 0 && (entries[i] as FaultEntry).bad === bad; i--) n++
  return n
}

/**
 * One reading through the fault rule: raised after `consecutiveBad` bad readings in a row or a bad share at or above
 * `badShare.share` over its window; cleared after `resetGood` non-bad readings in a row with the share back below.
 * A reading with the ts of a remembered one replaces it (a spike re-flag).
 */
export function stepFault(rule: CompiledSensorFault, state: FaultState, reading: { ts: number; quality: Quality; qualityReason: string }, where: string): { state: FaultState; report: Report } {
  const bad = reading.quality === 'bad' || (rule.countSuspect && reading.quality === 'suspect')
  const entry: FaultEntry = { ts: reading.ts, bad, reason: reading.qualityReason }
  const keep = Math.max(rule.consecutiveBad, rule.resetGood)
  let entries = state.entries.filter((e) => e.ts !== reading.ts)
  entries.push(entry)
  entries.sort((a, b) => a.ts - b.ts)
  const latest = (entries[entries.length - 1] as FaultEntry).ts
  const start = rule.badShare === undefined ? -Infinity : latest - rule.badShare.windowMs
  entries = entries.filter((e, i) => e.ts >= start || i >= entries.length - keep)
  const inWindow = rule.badShare === undefined ? [] : entries.filter((e) => e.ts >= start)
  const share = inWindow.length === 0 ? 0 : inWindow.filter((e) => e.bad).length / inWindow.length
  const shareHigh = rule.badShare !== undefined && inWindow.length >= rule.badShare.minReadings && share >= rule.badShare.share
  const runBad = trailing(entries, true)
  const runGood = trailing(entries, false)
  const faulty = runBad >= rule.consecutiveBad || shareHigh
  const level: AlertLevel = state.level > 0 ? (runGood >= rule.resetGood && !shareHigh ? 0 : rule.level) : faulty ? rule.level : 0
  const reason = [...entries].reverse().find((e) => e.bad)?.reason ?? ''
  const because =
    runBad >= rule.consecutiveBad || rule.badShare === undefined
      ? `${runBad} bad readings in a row`
      : `${formatNumber(share * 100, 0)}% of ${inWindow.length} readings bad in the last ${formatNumber(rule.badShare.windowMs / 60_000, 1)} min`
  const message =
    level > 0
      ? `Sensor fault at ${where}: ${because}${reason === '' ? '' : ` (${reason})`} (${levelName(level)})`
      : `${where} reporting usable data: ${runGood} readings in a row (${levelName(level)})`
  return {
    state: { level, entries },
    report: {
      level,
      value: rule.badShare === undefined ? runBad : Number(share.toFixed(3)),
      threshold: rule.badShare === undefined ? rule.consecutiveBad : rule.badShare.share,
      message,
      dataGap: false,
    },
  }
}
