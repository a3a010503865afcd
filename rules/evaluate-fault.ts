import type { Quality } from '../domain.js'
import type { AlertLevel, Report } from './condition.js'
import type { CompiledSensorFault } from './compile-rules.js'
import { formatNumber, levelName } from './rule-messages.js'

/**
 * The readings the fault rule remembers for one sensor, oldest first, sorted by ts, one per ts: their ts and whether
 * they were bad in typed arrays, the quality reason only for bad ones. A sensor reporting every second keeps an hour
 * of them (the bad-share window), so this is about 13 bytes a reading instead of an object each.
 */
export class FaultLog {
  private tsAt: Float64Array = new Float64Array(4)
  private badAt: Uint8Array = new Uint8Array(4)
  private reasons: string[] = []
  /** Index of the oldest entry in the arrays. */
  private head = 0
  /** Entries held. */
  length = 0

  ts(i: number): number {
    return this.tsAt[this.head + i] as number
  }

  bad(i: number): boolean {
    return this.badAt[this.head + i] === 1
  }

  reason(i: number): string {
    return this.reasons[this.head + i] ?? ''
  }

  /** Index of the entry with this ts, or -1. */
  indexOf(ts: number): number {
    let lo = 0
    let hi = this.length
    while (lo < hi) {
      const mid = (lo + hi) >>> 1
      if (this.ts(mid) < ts) lo = mid + 1
      else hi = mid
    }
    return lo < this.length && this.ts(lo) === ts ? lo : -1
  }

  /** Sets entry `i` (0 ≤ i < length). */
  set(i: number, ts: number, bad: boolean, reason: string): void {
    const at = this.head + i
    this.tsAt[at] = ts
    this.badAt[at] = bad ? 1 : 0
    this.reasons[at] = bad ? reason : ''
  }

  /** Inserts an entry before entry `i` (i = length appends). */
  insert(i: number, ts: number, bad: boolean, reason: string): void {
    this.reserve()
    const at = this.head + i
    const end = this.head + this.length
    if (at < end) {
      this.tsAt.copyWithin(at + 1, at, end)
      this.badAt.copyWithin(at + 1, at, end)
      this.reasons.splice(at, 0, '')
    }
    this.length++
    this.set(i, ts, bad, reason)
  }

  /** Forgets the `n` oldest entries. */
  dropFront(n: number): void {
    if (n <= 0) return
    for (let i = 0; i < n; i++) this.reasons[this.head + i] = ''
    this.head += n
    this.length -= n
  }

  /** Room for one more at the end: moves the entries to the front of the arrays, or doubles them. */
  private reserve(): void {
    const cap = this.tsAt.length
    if (this.head + this.length < cap) return
    const ts = this.length * 2 < cap ? this.tsAt : new Float64Array(cap * 2)
    const bad = ts === this.tsAt ? this.badAt : new Uint8Array(cap * 2)
    ts.set(this.tsAt.subarray(this.head, this.head + this.length))
    bad.set(this.badAt.subarray(this.head, this.head + this.length))
    this.reasons = this.reasons.slice(this.head, this.head + this.length)
    this.tsAt = ts
    this.badAt = bad
    this.head = 0
  }
}

/** A fault state its owner updates in place (see advanceFault). */
export interface MutableFaultState {
  level: AlertLevel
  entries: FaultLog
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

function trailing(entries: FaultLog, bad: boolean): number {
  let n = 0
  for (let i = entries.length - 1; i >= 0 && entries.bad(i) === bad; i--) n++
  return n
}

function countBad(entries: FaultLog): number {
  let n = 0
  for (let i = 0; i < entries.length; i++) if (entries.bad(i)) n++
  return n
}

/** The trailing run of entries alike: how many of the last are bad when the last is, else how many are not. */
function trailingRun(entries: FaultLog): number {
  return entries.length === 0 ? 0 : trailing(entries, entries.bad(entries.length - 1))
}

/**
 * One reading through the fault rule, on a state the caller owns, in place (entries stay sorted by ts): raised after
 * `consecutiveBad` bad readings in a row or a bad share at or above `badShare.share` over its window; cleared after
 * `resetGood` non-bad readings in a row with the share back below. A reading with the ts of a remembered one
 * replaces it (a spike re-flag). Returns what the report is made of.
 */
export function advanceFault(rule: CompiledSensorFault, state: MutableFaultState, reading: { ts: number; quality: Quality; qualityReason: string }): FaultTally {
  const bad = reading.quality === 'bad' || (rule.countSuspect && reading.quality === 'suspect')
  const keep = Math.max(rule.consecutiveBad, rule.resetGood)
  const entries = state.entries
  // Counts kept across steps, so a step costs the entries it adds and drops, not the whole window.
  let badCount = state.badCount ?? countBad(entries)
  let run = state.run ?? trailingRun(entries)
  const n = entries.length
  if (n === 0 || entries.ts(n - 1) < reading.ts) {
    const lastBad = n > 0 && entries.bad(n - 1)
    entries.insert(n, reading.ts, bad, reading.qualityReason)
    if (bad) badCount++
    run = n > 0 && lastBad === bad ? run + 1 : 1
  } else {
    // A re-flag replaces the reading of its ts; a late one goes to its place.
    let i = n
    while (i > 0 && entries.ts(i - 1) > reading.ts) i--
    if (i > 0 && entries.ts(i - 1) === reading.ts) {
      if (entries.bad(i - 1)) badCount--
      entries.set(i - 1, reading.ts, bad, reading.qualityReason)
    } else entries.insert(i, reading.ts, bad, reading.qualityReason)
    if (bad) badCount++
    run = trailingRun(entries)
  }
  const latest = entries.ts(entries.length - 1)
  const start = rule.badShare === undefined ? -Infinity : latest - rule.badShare.windowMs
  // Sorted by ts: the entries in the window are a suffix; the last `keep` are kept whatever their age.
  let first = 0
  while (first < entries.length && entries.ts(first) < start) first++
  const drop = Math.min(first, Math.max(0, entries.length - keep))
  for (let i = 0; i < drop; i++) if (entries.bad(i)) badCount--
  entries.dropFront(drop)
  // The trailing run lies within what is left.
  if (run > entries.length) run = entries.length
  let inWindow = 0
  let badInWindow = 0
  if (rule.badShare !== undefined) {
    const from = first - drop
    inWindow = entries.length - from
    badInWindow = badCount
    for (let i = 0; i < from; i++) if (entries.bad(i)) badInWindow--
  }
  state.badCount = badCount
  state.run = run
  const share = inWindow === 0 ? 0 : badInWindow / inWindow
  const shareHigh = rule.badShare !== undefined && inWindow >= rule.badShare.minReadings && share >= rule.badShare.share
  const lastBad = entries.bad(entries.length - 1)
  const runBad = lastBad ? run : 0
  const runGood = lastBad ? 0 : run
  const faulty = runBad >= rule.consecutiveBad || shareHigh
  const level: AlertLevel = state.level > 0 ? (runGood >= rule.resetGood && !shareHigh ? 0 : rule.level) : faulty ? rule.level : 0
  state.level = level
  return { level, runBad, runGood, share, inWindow }
}

/** The report of a sensor's fault state after advanceFault; built apart so the engine formats it only when it is news. */
export function faultReport(rule: CompiledSensorFault, entries: FaultLog, tally: FaultTally, where: string): Report {
  const { level, runBad, runGood, share, inWindow } = tally
  let reason = ''
  for (let i = entries.length - 1; i >= 0; i--) {
    if (entries.bad(i)) {
      reason = entries.reason(i)
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
