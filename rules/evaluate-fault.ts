import type { Quality } from '../domain.js'
import { resized } from '../typed-arrays.js'
import type { AlertLevel, Report } from './condition.js'
import type { CompiledSensorFault } from './compile-rules.js'
import { formatNumber, levelName } from './rule-messages.js'

/** An array of `n` slots for numbers: exact capacity for the usual window sizes (`new Array(n)` is fast up to ~100k). */
export function numberSlots(n: number): number[] {
  if (n <= 65_536) return new Array<number>(n)
  const a: number[] = []
  for (let i = 0; i < n; i++) a.push(0)
  return a
}

/** Capacity after `cap` is full: half as much again, at least 4. */
export function grown(cap: number): number {
  return Math.max(4, cap + (cap >> 1))
}

/**
 * What the fault rule reads and writes of one sensor's remembered readings (see FaultColumns). An entry is one
 * reading, or several folded into it (see `fold`): `ts` and `bad` are those of its newest reading, `reason` that of
 * its latest bad one ('' without), `readings` and `badReadings` count what it holds.
 */
export interface FaultEntries {
  readonly length: number
  ts(i: number): number
  bad(i: number): boolean
  reason(i: number): string
  readings(i: number): number
  badReadings(i: number): number
  indexOf(ts: number): number
  set(i: number, ts: number, bad: boolean, reason: string): void
  insert(i: number, ts: number, bad: boolean, reason: string): void
  fold(ts: number, bad: boolean, reason: string): void
  dropFront(n: number): void
}

/**
 * The readings the fault rule remembers for many sensors, one row each, oldest first, sorted by ts, one per ts.
 * A row's single good reading is held in the `ts0` column, with no array of its own; from its second reading (or
 * first bad one) on, its ts are in a plain number array grown by half, and the quality reason of bad readings in
 * a parallel array made only once the row has a bad reading (`null` for a good one). Columns of all rows are
 * typed arrays, so a row costs a few bytes, not objects.
 *
 * A row whose newest entry has had a later reading folded into it (`fold`) also has a `counts` array: per entry its
 * readings, and twice its bad readings plus 1 when its newest reading is bad; `why` then holds the reason of the
 * entry's latest bad reading (`null` without). A row never folded has none: each entry is one reading.
 */
export class FaultColumns {
  /** Index of the oldest entry in the row's array. */
  head: Int32Array
  /** Entries held. */
  len: Int32Array
  /** The single good entry of a row without an array. */
  ts0: Float64Array
  tsAt: (number[] | undefined)[] = []
  /** Per entry: the reason of a bad one, `null` for a good one; undefined while the row has had no bad entry. */
  why: ((string | null)[] | undefined)[] = []
  /** Per entry, two slots: readings, and 2 × bad readings + (newest bad ? 1 : 0); undefined until the row folds. */
  counts: (number[] | undefined)[] = []

  constructor(capacity: number) {
    this.head = new Int32Array(capacity)
    this.len = new Int32Array(capacity)
    this.ts0 = new Float64Array(capacity)
  }

  /** Room for `capacity` rows. */
  resize(capacity: number): void {
    this.head = resized(this.head, capacity)
    this.len = resized(this.len, capacity)
    this.ts0 = resized(this.ts0, capacity)
  }

  /** Empties a row and lets go of its arrays. */
  clear(r: number): void {
    this.head[r] = 0
    this.len[r] = 0
    this.tsAt[r] = undefined
    this.why[r] = undefined
    this.counts[r] = undefined
  }

  ts(r: number, i: number): number {
    const a = this.tsAt[r]
    return a === undefined ? (this.ts0[r] as number) : (a[(this.head[r] as number) + i] as number)
  }

  bad(r: number, i: number): boolean {
    const c = this.counts[r]
    if (c !== undefined) return ((c[2 * ((this.head[r] as number) + i) + 1] as number) & 1) === 1
    const w = this.why[r]
    return w !== undefined && typeof w[(this.head[r] as number) + i] === 'string'
  }

  /** Readings held in entry `i`. */
  readings(r: number, i: number): number {
    const c = this.counts[r]
    return c === undefined ? 1 : (c[2 * ((this.head[r] as number) + i)] as number)
  }

  /** Bad readings held in entry `i`. */
  badReadings(r: number, i: number): number {
    const c = this.counts[r]
    if (c === undefined) return this.bad(r, i) ? 1 : 0
    return (c[2 * ((this.head[r] as number) + i) + 1] as number) >> 1
  }

  reason(r: number, i: number): string {
    const w = this.why[r]
    return w === undefined ? '' : (w[(this.head[r] as number) + i] ?? '')
  }

  indexOf(r: number, ts: number): number {
    const n = this.len[r] as number
    let lo = 0
    let hi = n
    while (lo < hi) {
      const mid = (lo + hi) >>> 1
      if (this.ts(r, mid) < ts) lo = mid + 1
      else hi = mid
    }
    return lo < n && this.ts(r, lo) === ts ? lo : -1
  }

  /**
   * Entry `i`'s newest reading becomes (ts, bad, reason): a re-flag. In a folded row the entry's other readings
   * stay; when a bad newest reading turns good the entry keeps citing the reason it had while it holds a bad one.
   */
  set(r: number, i: number, ts: number, bad: boolean, reason: string): void {
    let a = this.tsAt[r]
    if (a === undefined) {
      if (!bad) {
        this.ts0[r] = ts
        return
      }
      a = this.toArray(r)
    }
    const at = (this.head[r] as number) + i
    a[at] = ts
    let w = this.why[r]
    const c = this.counts[r]
    if (c !== undefined) {
      const code = c[2 * at + 1] as number
      const badIn = (code >> 1) - (code & 1) + (bad ? 1 : 0)
      c[2 * at + 1] = 2 * badIn + (bad ? 1 : 0)
      if (bad) {
        if (w === undefined) w = this.whyOf(r, a.length)
        w[at] = reason
      } else if (badIn === 0 && w !== undefined) w[at] = null
      return
    }
    if (bad) {
      if (w === undefined) w = this.whyOf(r, a.length)
      w[at] = reason
    } else if (w !== undefined) w[at] = null
  }

  /** Folds a reading later than the row's newest entry into it: the entry takes its ts, and counts it. */
  fold(r: number, ts: number, bad: boolean, reason: string): void {
    const a = this.tsAt[r] ?? this.toArray(r)
    const c = this.counts[r] ?? this.countsOf(r, a.length)
    const at = (this.head[r] as number) + (this.len[r] as number) - 1
    a[at] = ts
    c[2 * at] = (c[2 * at] as number) + 1
    c[2 * at + 1] = 2 * (((c[2 * at + 1] as number) >> 1) + (bad ? 1 : 0)) + (bad ? 1 : 0)
    if (bad) (this.why[r] ?? this.whyOf(r, a.length))[at] = reason
  }

  insert(r: number, i: number, ts: number, bad: boolean, reason: string): void {
    const n = this.len[r] as number
    let a = this.tsAt[r]
    if (a === undefined) {
      if (n === 0 && !bad) {
        this.ts0[r] = ts
        this.len[r] = 1
        return
      }
      a = this.toArray(r)
    }
    a = this.reserve(r, a)
    const head = this.head[r] as number
    const at = head + i
    const end = head + n
    const c = this.counts[r]
    if (at < end) {
      a.copyWithin(at + 1, at, end)
      this.why[r]?.copyWithin(at + 1, at, end)
      c?.copyWithin(2 * (at + 1), 2 * at, 2 * end)
    }
    if (c !== undefined) {
      // One good reading, then set makes it what it is.
      c[2 * at] = 1
      c[2 * at + 1] = 0
      const w = this.why[r]
      if (w !== undefined) w[at] = null
    }
    this.len[r] = n + 1
    this.set(r, i, ts, bad, reason)
  }

  dropFront(r: number, n: number): void {
    if (n <= 0) return
    const head = this.head[r] as number
    const w = this.why[r]
    if (w !== undefined) w.fill(null, head, head + n)
    if (this.tsAt[r] !== undefined) this.head[r] = head + n
    this.len[r] = (this.len[r] as number) - n
  }

  /** Moves a row's inline entry (if any) into an array of its own. */
  private toArray(r: number): number[] {
    const a = numberSlots(4)
    if (this.len[r] === 1) a[0] = this.ts0[r] as number
    this.tsAt[r] = a
    this.head[r] = 0
    return a
  }

  private whyOf(r: number, cap: number): (string | null)[] {
    const w = new Array<string | null>(cap).fill(null)
    this.why[r] = w
    return w
  }

  /** The row's counts array, made from its entries of one reading each (at the first fold). */
  private countsOf(r: number, cap: number): number[] {
    const c = numberSlots(2 * cap)
    const head = this.head[r] as number
    const n = this.len[r] as number
    for (let i = 0; i < n; i++) {
      const b = this.bad(r, i) ? 1 : 0
      c[2 * (head + i)] = 1
      c[2 * (head + i) + 1] = 3 * b
    }
    this.counts[r] = c
    return c
  }

  /** Room for one more entry at the end: moves the entries to the front of the arrays, or grows them by half. */
  private reserve(r: number, a: number[]): number[] {
    const cap = a.length
    const head = this.head[r] as number
    const n = this.len[r] as number
    if (head + n < cap) return a
    const w = this.why[r]
    const c = this.counts[r]
    if (n * 2 < cap) {
      a.copyWithin(0, head, head + n)
      if (w !== undefined) {
        w.copyWithin(0, head, head + n)
        w.fill(null, n, cap)
      }
      c?.copyWithin(0, 2 * head, 2 * (head + n))
    } else {
      const next = grown(cap)
      const b = numberSlots(next)
      for (let k = 0; k < n; k++) b[k] = a[head + k] as number
      this.tsAt[r] = a = b
      if (w !== undefined) {
        const v = new Array<string | null>(next).fill(null)
        for (let k = 0; k < n; k++) v[k] = w[head + k] ?? null
        this.why[r] = v
      }
      if (c !== undefined) {
        const d = numberSlots(2 * next)
        for (let k = 0; k < 2 * n; k++) d[k] = c[2 * head + k] as number
        this.counts[r] = d
      }
    }
    this.head[r] = 0
    return a
  }
}

/** One row of FaultColumns as FaultEntries: standalone (a table of one row) or a view the owner moves between rows. */
export class FaultLog implements FaultEntries {
  constructor(
    private readonly cols: FaultColumns = new FaultColumns(1),
    public row = 0,
  ) {}

  get length(): number {
    return this.cols.len[this.row] as number
  }

  ts(i: number): number {
    return this.cols.ts(this.row, i)
  }

  bad(i: number): boolean {
    return this.cols.bad(this.row, i)
  }

  reason(i: number): string {
    return this.cols.reason(this.row, i)
  }

  readings(i: number): number {
    return this.cols.readings(this.row, i)
  }

  badReadings(i: number): number {
    return this.cols.badReadings(this.row, i)
  }

  /** Index of the entry with this ts, or -1. */
  indexOf(ts: number): number {
    return this.cols.indexOf(this.row, ts)
  }

  /** Sets entry `i` (0 ≤ i < length). */
  set(i: number, ts: number, bad: boolean, reason: string): void {
    this.cols.set(this.row, i, ts, bad, reason)
  }

  /** Inserts an entry before entry `i` (i = length appends). */
  insert(i: number, ts: number, bad: boolean, reason: string): void {
    this.cols.insert(this.row, i, ts, bad, reason)
  }

  /** Folds a reading later than every held one into the newest entry (there must be one). */
  fold(ts: number, bad: boolean, reason: string): void {
    this.cols.fold(this.row, ts, bad, reason)
  }

  /** Forgets the `n` oldest entries. */
  dropFront(n: number): void {
    this.cols.dropFront(this.row, n)
  }
}

/** A fault state its owner updates in place (see advanceFault). */
export interface MutableFaultState {
  level: AlertLevel
  entries: FaultEntries
  /** Bad readings among `entries`, kept by advanceFault (counted when absent). */
  badCount?: number
  /** Readings among `entries`, kept by advanceFault (counted when absent). */
  held?: number
  /** Length of the trailing run of readings alike, all bad or all not, kept by advanceFault (counted when absent). */
  run?: number
  /**
   * The run that ended with the reading before the newest one, kept by advanceFault so that a re-flag of the newest
   * reading recounts its run without the readings folded away: its length, negative when they are bad, 0 for none.
   */
  prior?: number
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

function countBad(entries: FaultEntries): number {
  let n = 0
  for (let i = 0; i < entries.length; i++) n += entries.badReadings(i)
  return n
}

function countReadings(entries: FaultEntries): number {
  let n = 0
  for (let i = 0; i < entries.length; i++) n += entries.readings(i)
  return n
}

/**
 * The readings of the run alike `bad` that ends with entry `j`'s newest reading, walking back over the entries: exact
 * over entries of one reading or of readings all alike; an entry of mixed readings ends the walk counting its newest.
 */
function runBack(entries: FaultEntries, j: number, bad: boolean): number {
  let n = 0
  for (; j >= 0 && entries.bad(j) === bad; j--) {
    const c = entries.readings(j)
    if (entries.badReadings(j) !== (bad ? c : 0)) return n + 1
    n += c
  }
  return n
}

/** The trailing run of readings alike: how many of the last are bad when the last is, else how many are not. */
function trailingRun(entries: FaultEntries): number {
  const j = entries.length - 1
  return j < 0 ? 0 : runBack(entries, j, entries.bad(j))
}

/** The run ending with the reading before the newest (see MutableFaultState.prior); `unknown` when the entries cannot tell. */
function priorRun(entries: FaultEntries, unknown: number): number {
  const j = entries.length - 1
  if (j < 0) return 0
  const c = entries.readings(j)
  let bad: boolean
  let n = 0
  if (c === 1) {
    if (j === 0) return 0
    bad = entries.bad(j - 1)
  } else {
    // The entry's readings before its newest: all alike, or the entries cannot tell.
    const k = entries.badReadings(j) - (entries.bad(j) ? 1 : 0)
    if (k !== 0 && k !== c - 1) return unknown
    bad = k > 0
    n = c - 1
  }
  n += runBack(entries, j - 1, bad)
  return bad ? -n : n
}

/**
 * One reading through the fault rule, on a state the caller owns, in place (entries stay sorted by ts): raised after
 * `consecutiveBad` bad readings in a row or a bad share at or above `badShare.share` over its window; cleared after
 * `resetGood` non-bad readings in a row with the share back below. A reading with the ts of a remembered entry
 * replaces its newest reading (a spike re-flag). Returns what the report is made of: written into `tally` when given
 * (the engine reuses one rather than allocate one per reading), else a new object.
 *
 * With `bucketMs` > 0 (the engine passes max(1 s, the sensor's registry interval / 10)), a reading later than the
 * newest entry and in its bucket (`Math.floor(ts / bucketMs)` equal) is folded into it: the entry takes its ts and
 * counts it, so a sensor reporting faster than its interval holds at most one entry per bucket. The counts stay
 * those of every reading: the bad share counts each folded reading, and the consecutive runs are counters. What
 * folding changes: entries leave the share window by the ts of their newest reading, so the window may reach back
 * up to one bucket further than `badShare.windowMs` (the readings of an entry come and go together); a re-flag names
 * an entry by its newest reading, so a reading folded behind a later one can no longer be re-flagged (the engine
 * counts it late); and a re-flag of a reading older than the newest recounts the run from the entries, taking an
 * entry of mixed readings as a run of its newest one. Readings a bucket or more apart are never folded.
 */
export function advanceFault(
  rule: CompiledSensorFault,
  state: MutableFaultState,
  reading: { ts: number; quality: Quality; qualityReason: string },
  bucketMs = 0,
  tally?: FaultTally,
): FaultTally {
  const bad = reading.quality === 'bad' || (rule.countSuspect && reading.quality === 'suspect')
  const keep = Math.max(rule.consecutiveBad, rule.resetGood)
  const entries = state.entries
  // Counts kept across steps, so a step costs the entries it adds and drops, not the whole window.
  let badCount = state.badCount ?? countBad(entries)
  let held = state.held ?? countReadings(entries)
  let run = state.run ?? trailingRun(entries)
  let prior = state.prior ?? priorRun(entries, 0)
  const n = entries.length
  if (n === 0 || entries.ts(n - 1) < reading.ts) {
    const lastBad = n > 0 && entries.bad(n - 1)
    if (n > 0 && bucketMs > 0 && Math.floor(reading.ts / bucketMs) === Math.floor(entries.ts(n - 1) / bucketMs)) {
      entries.fold(reading.ts, bad, reading.qualityReason)
    } else entries.insert(n, reading.ts, bad, reading.qualityReason)
    if (bad) badCount++
    held++
    prior = n === 0 ? 0 : lastBad ? -run : run
    run = n > 0 && lastBad === bad ? run + 1 : 1
  } else {
    // A re-flag replaces the newest reading of the entry of its ts; a late one goes to its place.
    let i = n
    while (i > 0 && entries.ts(i - 1) > reading.ts) i--
    if (i > 0 && entries.ts(i - 1) === reading.ts) {
      const wasBad = entries.bad(i - 1)
      if (wasBad) badCount--
      entries.set(i - 1, reading.ts, bad, reading.qualityReason)
      if (bad) badCount++
      if (i < n) {
        run = trailingRun(entries)
        prior = priorRun(entries, prior)
      } else if (wasBad !== bad) {
        // The newest reading: its run is the one before it, continued or not.
        run = prior !== 0 && (prior < 0) === bad ? Math.abs(prior) + 1 : 1
      }
    } else {
      entries.insert(i, reading.ts, bad, reading.qualityReason)
      if (bad) badCount++
      held++
      run = trailingRun(entries)
      prior = priorRun(entries, prior)
    }
  }
  const latest = entries.ts(entries.length - 1)
  // Without a share window only the runs matter: every entry but the last `keep` may go (they hold runs long enough
  // for any level change), so a sensor reporting for months holds `keep` entries, not all it ever sent.
  const start = rule.badShare === undefined ? Infinity : latest - rule.badShare.windowMs
  // Sorted by ts: the entries in the window are a suffix; the last `keep` are kept whatever their age.
  let first = 0
  while (first < entries.length && entries.ts(first) < start) first++
  const drop = Math.min(first, Math.max(0, entries.length - keep))
  for (let i = 0; i < drop; i++) {
    badCount -= entries.badReadings(i)
    held -= entries.readings(i)
  }
  entries.dropFront(drop)
  // The trailing run lies within what is left.
  if (run > held) run = held
  let inWindow = 0
  let badInWindow = 0
  if (rule.badShare !== undefined) {
    const from = first - drop
    inWindow = held
    badInWindow = badCount
    for (let i = 0; i < from; i++) {
      inWindow -= entries.readings(i)
      badInWindow -= entries.badReadings(i)
    }
  }
  state.badCount = badCount
  state.held = held
  state.run = run
  state.prior = prior
  const share = inWindow === 0 ? 0 : badInWindow / inWindow
  const shareHigh = rule.badShare !== undefined && inWindow >= rule.badShare.minReadings && share >= rule.badShare.share
  const lastBad = entries.bad(entries.length - 1)
  const runBad = lastBad ? run : 0
  const runGood = lastBad ? 0 : run
  const faulty = runBad >= rule.consecutiveBad || shareHigh
  const level: AlertLevel = state.level > 0 ? (runGood >= rule.resetGood && !shareHigh ? 0 : rule.level) : faulty ? rule.level : 0
  state.level = level
  if (tally === undefined) return { level, runBad, runGood, share, inWindow }
  tally.level = level
  tally.runBad = runBad
  tally.runGood = runGood
  tally.share = share
  tally.inWindow = inWindow
  return tally
}

/** The report of a sensor's fault state after advanceFault; built apart so the engine formats it only when it is news. */
export function faultReport(rule: CompiledSensorFault, entries: FaultEntries, tally: FaultTally, where: string): Report {
  const { level, runBad, runGood, share, inWindow } = tally
  let reason = ''
  for (let i = entries.length - 1; i >= 0; i--) {
    if (entries.badReadings(i) > 0) {
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
