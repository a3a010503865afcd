import { resized } from '../typed-arrays.js'
import type { AlertLevel, Condition } from './condition.js'
import { FaultColumns, FaultLog, grown, type MutableFaultState } from './evaluate-fault.js'
import type { MutableHysteresisState } from './evaluate-hysteresis.js'
import { PointColumns, PointSeries } from './evaluate-rate.js'

/** What the engine keeps of every subject, whatever its rule: the fields its generic code reads and writes. */
export interface SubjectEntry {
  district: string
  segment: string | null
  /** Latest input, event time (or wall time for stale), ms. */
  at: number
  level: AlertLevel
  dataGap: boolean
  /** The last condition reported for the subject. */
  emitted: Condition | undefined
}

/** The subjects of one rule as the engine's generic code sees them: a Map of entries, or a SubjectTable. */
export interface SubjectStore {
  get(id: string): SubjectEntry | undefined
  delete(id: string): boolean
  readonly size: number
  keys(): IterableIterator<string>
  values(): IterableIterator<SubjectEntry>
  [Symbol.iterator](): IterableIterator<[string, SubjectEntry]>
}

/** A row of a SubjectTable as a SubjectEntry; one per table, moved between rows (never hold two at once). */
class RowEntry implements SubjectEntry {
  row = 0
  constructor(private readonly t: SubjectTable) {}
  get district(): string {
    return this.t.district[this.row] as string
  }
  set district(v: string) {
    this.t.district[this.row] = v
  }
  get segment(): string | null {
    return this.t.segment[this.row] as string | null
  }
  set segment(v: string | null) {
    this.t.segment[this.row] = v
  }
  get at(): number {
    return this.t.at[this.row] as number
  }
  set at(v: number) {
    this.t.at[this.row] = v
  }
  get level(): AlertLevel {
    return this.t.level[this.row] as AlertLevel
  }
  set level(v: AlertLevel) {
    this.t.level[this.row] = v
  }
  get dataGap(): boolean {
    return this.t.dataGap[this.row] === 1
  }
  set dataGap(v: boolean) {
    this.t.dataGap[this.row] = v ? 1 : 0
  }
  get emitted(): Condition | undefined {
    return this.t.emitted[this.row]
  }
  set emitted(v: Condition | undefined) {
    this.t.emitted[this.row] = v
  }
}

/**
 * The subjects of one rule in columns, one row per subject, instead of an object (and the objects of its state) per
 * subject: the rules whose subjects are every sensor (sensor_fault, rate_of_rise, time_to_overflow) keep their
 * state here. `rows` maps subject ids to rows in insertion order, as a Map of entries would iterate; a deleted row
 * is reused. Generic code reads rows through a SubjectEntry view (`get`, iteration) that moves between rows.
 */
export class SubjectTable implements SubjectStore {
  readonly rows = new Map<string, number>()
  /** The subject of each row in use, undefined for a free row. */
  ids: (string | undefined)[] = []
  protected capacity = 0
  private used = 0
  private readonly free: number[] = []
  district: string[] = []
  segment: (string | null)[] = []
  emitted: (Condition | undefined)[] = []
  at: Float64Array = new Float64Array(0)
  level: Uint8Array = new Uint8Array(0)
  dataGap: Uint8Array = new Uint8Array(0)
  /** The view `get` and iteration return. */
  private readonly view = new RowEntry(this)

  get size(): number {
    return this.rows.size
  }

  /** The view of a row (valid until the next call that moves it). */
  entry(row: number): SubjectEntry {
    this.view.row = row
    return this.view
  }

  get(id: string): SubjectEntry | undefined {
    const row = this.rows.get(id)
    return row === undefined ? undefined : this.entry(row)
  }

  /** A new subject at level 0 with nothing held: its row. */
  add(id: string, district: string, segment: string | null): number {
    let row = this.free.pop()
    if (row === undefined) {
      if (this.used === this.capacity) this.resize(grown(this.capacity))
      row = this.used++
    }
    this.ids[row] = id
    this.district[row] = district
    this.segment[row] = segment
    this.emitted[row] = undefined
    this.at[row] = -Infinity
    this.level[row] = 0
    this.dataGap[row] = 0
    this.reset(row)
    this.rows.set(id, row)
    return row
  }

  delete(id: string): boolean {
    const row = this.rows.get(id)
    if (row === undefined) return false
    this.rows.delete(id)
    this.ids[row] = undefined
    this.emitted[row] = undefined
    this.reset(row)
    this.free.push(row)
    return true
  }

  keys(): IterableIterator<string> {
    return this.rows.keys()
  }

  /**
   * Forgets the subjects at level 0 whose latest input is more than `keepMs` before `now` (what the engine's sweep
   * does to every store), scanning the columns rather than the Map; returns how many.
   */
  evictIdle(now: number, keepMs: number): number {
    let n = 0
    for (let row = 0; row < this.used; row++) {
      if (this.level[row] !== 0 || !(now - (this.at[row] as number) > keepMs)) continue
      const id = this.ids[row]
      if (id !== undefined && this.delete(id)) n++
    }
    return n
  }

  *values(): IterableIterator<SubjectEntry> {
    for (const row of this.rows.values()) yield this.entry(row)
  }

  *[Symbol.iterator](): IterableIterator<[string, SubjectEntry]> {
    for (const [id, row] of this.rows) yield [id, this.entry(row)]
  }

  /** Room for `capacity` rows in every column. */
  protected resize(capacity: number): void {
    this.capacity = capacity
    this.at = resized(this.at, capacity)
    this.level = resized(this.level, capacity)
    this.dataGap = resized(this.dataGap, capacity)
  }

  /** The rule's state of a row back to that of a new subject, letting go of what it held. */
  protected reset(_row: number): void {}
}

/** A row of a FaultTable as the MutableFaultState advanceFault steps; one per table, moved between rows. */
class FaultRow implements MutableFaultState {
  row = 0
  readonly entries: FaultLog
  constructor(private readonly t: FaultTable) {
    this.entries = new FaultLog(t.log)
  }
  get level(): AlertLevel {
    return this.t.faultLevel[this.row] as AlertLevel
  }
  set level(v: AlertLevel) {
    this.t.faultLevel[this.row] = v
  }
  get badCount(): number {
    return this.t.badCount[this.row] as number
  }
  set badCount(v: number) {
    this.t.badCount[this.row] = v
  }
  get run(): number {
    return this.t.run[this.row] as number
  }
  set run(v: number) {
    this.t.run[this.row] = v
  }
  get held(): number {
    return this.t.held[this.row] as number
  }
  set held(v: number) {
    this.t.held[this.row] = v
  }
  get prior(): number {
    return this.t.prior[this.row] as number
  }
  set prior(v: number) {
    this.t.prior[this.row] = v
  }
}

/** The subjects of a sensor_fault rule: its level, counts and remembered readings per row. */
export class FaultTable extends SubjectTable {
  faultLevel: Uint8Array = new Uint8Array(0)
  /** Latest reading ts, ms. */
  lastTs: Float64Array = new Float64Array(0)
  badCount: Int32Array = new Int32Array(0)
  /** Readings held in the row's log (more than its entries once readings are folded). */
  held: Int32Array = new Int32Array(0)
  run: Int32Array = new Int32Array(0)
  /** MutableFaultState.prior: the run before the newest reading, negative when bad. */
  prior: Int32Array = new Int32Array(0)
  readonly log = new FaultColumns(0)
  private readonly stateView = new FaultRow(this)

  /** Entries the row's log holds (at most one per bucket of a sensor reporting faster than its interval). */
  entriesHeld(row: number): number {
    return this.log.len[row] as number
  }

  /** The fault state of a row (valid until the next call that moves it). */
  state(row: number): MutableFaultState {
    this.stateView.row = row
    this.stateView.entries.row = row
    return this.stateView
  }

  protected override resize(capacity: number): void {
    super.resize(capacity)
    this.faultLevel = resized(this.faultLevel, capacity)
    this.lastTs = resized(this.lastTs, capacity)
    this.badCount = resized(this.badCount, capacity)
    this.held = resized(this.held, capacity)
    this.run = resized(this.run, capacity)
    this.prior = resized(this.prior, capacity)
    this.log.resize(capacity)
  }

  protected override reset(row: number): void {
    this.faultLevel[row] = 0
    this.lastTs[row] = -Infinity
    this.badCount[row] = 0
    this.held[row] = 0
    this.run[row] = 0
    this.prior[row] = 0
    this.log.clear(row)
  }
}

/** The subjects of a rate_of_rise or time_to_overflow rule: hysteresis and the window's points per row. */
export class RateTable extends SubjectTable {
  hLevel: Uint8Array = new Uint8Array(0)
  /** Per row: the hysteresis timers while one runs, undefined while none does. */
  since: ((number | null)[] | undefined)[] = []
  /** Latest point ts, ms. */
  lastTs: Float64Array = new Float64Array(0)
  readonly points = new PointColumns(0)
  private readonly seriesView = new PointSeries(this.points)

  /** Points the row's window holds (at most one per bucket of a sensor reporting faster than its interval). */
  pointsHeld(row: number): number {
    return this.points.len[row] as number
  }

  /** The points of a row (valid until the next call that moves it). */
  series(row: number): PointSeries {
    this.seriesView.row = row
    return this.seriesView
  }

  /** Copies a row's hysteresis into `h`. */
  loadHysteresis(row: number, h: MutableHysteresisState): void {
    h.level = this.hLevel[row] as AlertLevel
    const since = this.since[row]
    for (let k = 0; k < 4; k++) h.since[k] = since === undefined ? null : (since[k] ?? null)
  }

  /** Stores `h` as a row's hysteresis; timers only while one runs. */
  storeHysteresis(row: number, h: MutableHysteresisState): void {
    this.hLevel[row] = h.level
    let running = false
    for (let k = 0; k < 4; k++) if (h.since[k] !== null) running = true
    const since = this.since[row]
    if (!running) this.since[row] = undefined
    else if (since === undefined) this.since[row] = [h.since[0] ?? null, h.since[1] ?? null, h.since[2] ?? null, h.since[3] ?? null]
    else for (let k = 0; k < 4; k++) since[k] = h.since[k] ?? null
  }

  protected override resize(capacity: number): void {
    super.resize(capacity)
    this.hLevel = resized(this.hLevel, capacity)
    this.lastTs = resized(this.lastTs, capacity)
    this.points.resize(capacity)
  }

  protected override reset(row: number): void {
    this.hLevel[row] = 0
    this.since[row] = undefined
    this.lastTs[row] = -Infinity
    this.points.clear(row)
  }
}
