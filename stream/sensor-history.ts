import type { Quality, Reading, Sensor, SensorKind } from '../domain.js'
import type { ClearParameter } from './indices/clear-subscores.js'
import type { LastValidWindow } from './indices/clear-window.js'
import { QUALITY_CODE, QUALITY_OF_CODE, type ReadingColumns } from './indices/reading-columns.js'
import type { TimedValue } from './indices/timed-value.js'

/** One reading as the index engine keeps it, materialised from the columns (`HeldReadings.at`). */
export interface HeldReading {
  /** Event time, epoch milliseconds. */
  ts: number
  quality: Quality
  /** The fields the reading has, in the order of the columns. */
  fields: Readonly<Record<string, number>>
}

/**
 * Both 32-bit words of a cell whose reading lacks the field: a quiet NaN that no arithmetic produces, so that a field
 * present with the value NaN stays apart from an absent one. It is only ever copied into a column by `set` (which
 * copies bytes), never stored as a number (which may give a NaN other bits).
 */
const ABSENT_WORD = 0x7ffcdead
const ABSENT_CELL = new Float64Array(new Uint32Array([ABSENT_WORD, ABSENT_WORD]).buffer)
const NO_DATA = new Float64Array(0)
const NO_CODES = new Uint8Array(0)

/** Column layouts (field names in order), shared by every record with the same one. */
const layouts = new Map<string, readonly string[]>()

function withField(fields: readonly string[], field: string): readonly string[] {
  const key = `${fields.join('\u0000')}\u0000${field}`
  let layout = layouts.get(key)
  if (layout === undefined) {
    layout = Object.freeze([...fields, field])
    layouts.set(key, layout)
  }
  return layout
}

/**
 * Rows of the next buffer for `n` readings and one more, when a buffer of `capacity` rows has no row free at its end:
 * half as many again when they fill more than 7/8 of it (so a sensor whose readings only grow holds at most 1.5 rows
 * per reading), 1.5 per reading when they fill a quarter of it or less, else the same (the rows move back to the
 * front). Moving the rows costs at most 7 row copies per reading added.
 */
function capacityFor(n: number, capacity: number): number {
  if (n > (capacity * 7) / 8) return Math.max(capacity + 1, Math.ceil(capacity * 1.5))
  if (n <= capacity / 4) return Math.max(n + 1, Math.ceil(n * 1.5))
  return capacity
}

const NO_FIELDS: readonly string[] = Object.freeze([])

/**
 * Width of the event-time buckets of a sensor whose registry interval is `intervalS` seconds, ms: ten per interval,
 * at least a second; 0 (no folding) without a usable interval. Every per-sensor window folds a reading later than its
 * newest entry and in that entry's bucket into it (docs/indices.md, "In the stream"): the index history here (at most
 * three rows per bucket for readings that come in order, see `HeldReadings.put`), the quality stage's flat-line rings
 * and the rules' windows and rain context, so a sensor that reports faster than its interval does not make the engine
 * hold more.
 */
export function bucketMs(intervalS: number): number {
  return Number.isFinite(intervalS) && intervalS > 0 ? Math.max(1000, (intervalS * 1000) / 10) : 0
}

/**
 * Two rain amounts folded into one (either may be absent): the sum of the positive ones, so that the rain totals,
 * which add the amounts above 0, see the same total; when neither is positive, the later one (the latest wins).
 */
export function addAmounts(earlier: number | undefined, later: number | undefined): number | undefined {
  if (later !== undefined && later > 0) return earlier !== undefined && earlier > 0 ? earlier + later : later
  return earlier !== undefined && earlier > 0 ? earlier : later
}

/** The field whose amounts add when readings of a sensor of `kind` are folded: rain. */
export function sumFieldOf(kind: SensorKind): string | undefined {
  return kind === 'rainfall' ? 'rain_mm' : undefined
}

/**
 * Rows of one layout for records that hold a single reading (most sensors, after their first): such a record points at
 * a row here instead of a buffer of its own (an ArrayBuffer and two views, some 300 bytes), and moves to its own
 * buffer with its second reading. Chunks of 16, 32, … 4096 rows; a chunk no record uses any more is dropped.
 */
class RowPool {
  readonly data: Float64Array
  readonly codes: Uint8Array
  /** Rows never used yet start here. */
  private top = 0
  /** Rows given back. */
  private readonly free: number[] = []
  /** Rows in use. */
  live = 0

  constructor(
    readonly layout: readonly string[],
    readonly capacity: number,
  ) {
    const columns = layout.length + 1
    const buffer = new ArrayBuffer(columns * 8 * capacity + capacity)
    this.data = new Float64Array(buffer, 0, columns * capacity)
    this.codes = new Uint8Array(buffer, columns * 8 * capacity, capacity)
  }

  get full(): boolean {
    return this.free.length === 0 && this.top === this.capacity
  }

  take(): number {
    this.live++
    return this.free.pop() ?? this.top++
  }

  give(row: number): void {
    this.live--
    this.free.push(row)
    if (this.live === 0) {
      const chunks = rowPools.get(this.layout)
      const at = chunks?.indexOf(this) ?? -1
      if (chunks !== undefined && at >= 0) chunks.splice(at, 1)
    }
  }
}

/** The chunks of each layout (layouts are shared arrays, see withField). */
const rowPools = new Map<readonly string[], RowPool[]>()

function rowPool(layout: readonly string[]): RowPool {
  let chunks = rowPools.get(layout)
  if (chunks === undefined) {
    chunks = []
    rowPools.set(layout, chunks)
  }
  for (const chunk of chunks) if (!chunk.full) return chunk
  const last = chunks[chunks.length - 1]
  const chunk = new RowPool(layout, last === undefined ? 16 : Math.min(4096, last.capacity * 2))
  chunks.push(chunk)
  return chunk
}

/**
 * One sensor's readings in event-time order, one per `ts`, column by column in one buffer: the event times, a column
 * per field any held reading had (NaN where a reading lacks it) and the quality codes. Pruned from the front by
 * moving `start`; when the end of the buffer is reached the rows move back to the front, or to a longer buffer
 * (capacityFor). A new record's first reading goes to a row of a RowPool (`data` and `codes` are the pool's, `start`
 * its row, `capacity` its capacity) until a second reading or a new field moves it to a buffer of its own.
 */
export class HeldReadings implements ReadingColumns {
  /** The fields with a column, in the order they first came. */
  fields: readonly string[] = NO_FIELDS
  /** Rows the buffer has room for. */
  capacity = 0
  /** Row of the oldest reading. */
  start = 0
  /** Readings held: rows `start` to `start + length − 1`. */
  length = 0
  /** Event time of row r at `[r]`; field k of row r at `[(k + 1)·capacity + r]`. */
  data: Float64Array = NO_DATA
  /** Quality code (QUALITY_CODE) of row r at `[r]`. */
  codes: Uint8Array = NO_CODES
  /** `data` as 32-bit words, to tell an absent cell; made when first needed, dropped with its buffer. */
  private words: Uint32Array | undefined = undefined
  /** The pool whose row `start` holds the one reading, while it does. */
  private pool: RowPool | undefined = undefined
  /**
   * The positive `sum` amount (rain) the newest row held before its latest reading was folded into it, else 0: a
   * reading that replaces the newest row (a re-flag of that latest reading) adds to it instead of losing it.
   */
  private foldBase = 0

  /** Offset of `field`'s column in `data`, −1 when no reading held has had it. */
  offsetOf(field: string): number {
    const k = this.fields.indexOf(field)
    return k < 0 ? -1 : (k + 1) * this.capacity
  }

  /** The value in cell `at` of `data` (column offset + row), `undefined` when that reading lacks the field. */
  valueAt(at: number): number | undefined {
    const value = this.data[at] as number
    if (value === value) return value
    const words = (this.words ??= new Uint32Array(this.data.buffer, this.data.byteOffset, this.data.length * 2))
    return words[2 * at] === ABSENT_WORD && words[2 * at + 1] === ABSENT_WORD ? undefined : value
  }

  /** The quality of row r. */
  qualityAt(row: number): Quality {
    return QUALITY_OF_CODE[this.codes[row] as number] as Quality
  }

  /** The i-th oldest reading as an object (for tests and inspection; the engine reads the columns). */
  at(i: number): HeldReading | undefined {
    if (i < 0 || i >= this.length) return undefined
    const row = this.start + i
    const fields: Record<string, number> = {}
    for (const [k, field] of this.fields.entries()) {
      const value = this.valueAt((k + 1) * this.capacity + row)
      if (value !== undefined) fields[field] = value
    }
    return { ts: this.data[row] as number, quality: this.qualityAt(row), fields }
  }

  /** Row of the first reading with `ts ≥ target` (or `ts > target` when `after`); `start + length` when none. */
  search(target: number, after = false): number {
    let lo = this.start
    let hi = this.start + this.length
    const data = this.data
    while (lo < hi) {
      const mid = (lo + hi) >>> 1
      const ts = data[mid] as number
      if (ts < target || (after && ts === target)) lo = mid + 1
      else hi = mid
    }
    return lo
  }

  /**
   * Adds the reading in ts order, or replaces the one with its `ts`. With a `bucket` width (ms, see `bucketMs`), a
   * reading later than the newest one held and in its bucket (`Math.floor(ts / bucket)` equal) goes into that bucket
   * without adding a row when it can (FOLD RULE):
   * - when the newest row has the reading's quality, the reading is folded into it: the row takes the reading's `ts`,
   *   quality and fields (the latest reading of a bucket wins), except the `sum` field (`rain_mm`), whose amounts add;
   * - otherwise the reading gets a row of its own, and then, among the bucket's last rows before it (at most three),
   *   the newest one with the reading's quality is merged into it (its `sum` amount added, the row removed); when there
   *   is none and the bucket now has four rows (possible only after a re-flag or a late reading gave two of its rows
   *   one quality), the older row of the newest pair with one quality is merged into the newer one likewise.
   * So readings in order keep at most one row per quality and never make a bucket hold more than three rows, the
   * latest reading of each quality in it, and no `sum` amount is lost or moved to another quality. Amounts add as
   * `addAmounts` does. A reading not later than the newest (late, a re-flag, a correction) is added or replaces as
   * without a bucket (late readings may thus add rows to a bucket, as many as before, bounded by the retention and the
   * cap); one that replaces the newest row keeps the `sum` amounts folded into that row before its latest reading, and
   * its quality applies to them too.
   * Returns 'folded' when the reading was kept without adding to the rows held.
   */
  put(ts: number, quality: Quality, fields: Readonly<Record<string, number>>, bucket = 0, sum?: string): 'added' | 'replaced' | 'folded' {
    let layout = this.fields
    for (const field in fields) if (fields[field] !== undefined && layout.indexOf(field) < 0) layout = withField(layout, field)
    const n = this.length
    let i = n
    let replace = false
    let fold = false
    let sameBucket = false
    if (n > 0) {
      const last = this.start + n - 1
      const lastTs = this.data[last] as number
      if (!(lastTs < ts)) {
        const row = this.search(ts)
        i = row - this.start
        replace = i < n && this.data[row] === ts
      } else if (bucket > 0 && Math.floor(ts / bucket) === Math.floor(lastTs / bucket)) {
        sameBucket = true
        if (this.codes[last] === QUALITY_CODE[quality]) {
          fold = true
          i = n - 1
        }
      }
    }
    if (this.capacity === 0) {
      this.takeRow(layout)
    } else {
      // A pooled record (one reading) grows as a buffer of 1 row would.
      const pooled = this.pool !== undefined
      const capacity = pooled ? n : this.capacity
      const full = !replace && !fold && (pooled || this.start + n === capacity)
      if (full || layout !== this.fields) this.relayout(full ? capacityFor(n, capacity) : capacity, layout)
    }
    const row = this.start + i
    // The amount of the `sum` field the row must hold once the reading is written, when not the reading's own.
    let amount: number | undefined
    let ownAmount = true
    if (sum !== undefined && (fold || (replace && i === n - 1 && this.foldBase > 0))) {
      const before = fold ? this.cell(sum, row) : this.foldBase
      amount = addAmounts(before, fields[sum])
      ownAmount = false
      if (fold) this.foldBase = before !== undefined && before > 0 ? before : 0
    }
    if (!replace && !fold) {
      if (i < n) this.shift(row)
      else this.foldBase = 0
      this.length++
    }
    const data = this.data
    const capacity = this.capacity
    data[row] = ts
    this.codes[row] = QUALITY_CODE[quality]
    for (let k = 0; k < layout.length; k++) {
      const field = layout[k] as string
      const value = ownAmount || field !== sum ? fields[field] : amount
      if (value === undefined) data.set(ABSENT_CELL, (k + 1) * capacity + row)
      else data[(k + 1) * capacity + row] = value
    }
    if (fold) return 'folded'
    if (replace) return 'replaced'
    return sameBucket && this.mergeBucket(bucket, sum) ? 'folded' : 'added'
  }

  /** The value of `field` in row `row`, `undefined` when the reading lacks it or no reading held has the field. */
  private cell(field: string, row: number): number | undefined {
    const offset = this.offsetOf(field)
    return offset < 0 ? undefined : this.valueAt(offset + row)
  }

  /**
   * After the newest row was added in the bucket of the row before it: merges the newest earlier row of its quality
   * in the bucket into it, or, when there is none and the bucket holds four rows, the older row of the newest pair
   * of one quality into the newer (see `put`). Looks at the bucket's last four rows only. Whether a row went.
   */
  private mergeBucket(bucket: number, sum: string | undefined): boolean {
    const data = this.data
    const codes = this.codes
    const newest = this.start + this.length - 1
    const b = Math.floor((data[newest] as number) / bucket)
    let first = newest
    while (first > this.start && newest - first < 3 && Math.floor((data[first - 1] as number) / bucket) === b) first--
    for (let j = newest - 1; j >= first; j--) {
      if (codes[j] === codes[newest]) {
        this.mergeRow(j, newest, sum)
        return true
      }
    }
    if (newest - first < 3) return false
    for (let k = newest - 1; k > first; k--) {
      for (let j = k - 1; j >= first; j--) {
        if (codes[j] === codes[k]) {
          this.mergeRow(j, k, sum)
          return true
        }
      }
    }
    return false
  }

  /** Merges row `from` into the later row `into` of its bucket: `into` keeps its ts, quality and fields, the `sum` amounts add; `from` goes. */
  private mergeRow(from: number, into: number, sum: string | undefined): void {
    const newest = into === this.start + this.length - 1
    if (sum !== undefined) {
      const offset = this.offsetOf(sum)
      if (offset >= 0) {
        const before = this.valueAt(offset + from)
        const amount = addAmounts(before, this.valueAt(offset + into))
        if (amount === undefined) this.data.set(ABSENT_CELL, offset + into)
        else this.data[offset + into] = amount
        if (newest) this.foldBase = before !== undefined && before > 0 ? before : 0
      }
    }
    // Rows after `from` move back one, in every column.
    const end = this.start + this.length
    for (let c = 0; c <= this.fields.length; c++) {
      const base = c * this.capacity
      this.data.copyWithin(base + from, base + from + 1, base + end)
    }
    this.codes.copyWithin(from, from + 1, end)
    this.length--
  }

  /** Forgets the `count` oldest readings. */
  dropOldest(count: number): void {
    this.length -= count
    if (this.length === 0) this.foldBase = 0
    if (this.length === 0 && this.pool !== undefined) this.release()
    this.start = this.length === 0 ? 0 : this.start + count
  }

  /** Forgets every reading and gives back a pooled row (an evicted record): the record is empty and holds no buffer. */
  release(): void {
    this.leavePool()
    this.data = NO_DATA
    this.codes = NO_CODES
    this.words = undefined
    this.capacity = 0
    this.start = 0
    this.length = 0
    this.foldBase = 0
  }

  /** Points this empty record, which has no buffer, at a free row of the pool of `layout`. */
  private takeRow(layout: readonly string[]): void {
    const pool = rowPool(layout)
    this.pool = pool
    this.start = pool.take()
    this.data = pool.data
    this.codes = pool.codes
    this.words = undefined
    this.capacity = pool.capacity
    this.fields = layout
  }

  private leavePool(): void {
    if (this.pool === undefined) return
    this.pool.give(this.start)
    this.pool = undefined
  }

  /** Moves rows `row` … end one row on (room for an insertion), in every column; the row after the end is free. */
  private shift(row: number): void {
    const end = this.start + this.length
    for (let c = 0; c <= this.fields.length; c++) {
      const base = c * this.capacity
      this.data.copyWithin(base + row + 1, base + row, base + end)
    }
    this.codes.copyWithin(row + 1, row, end)
  }

  /** Moves the rows to the front of a buffer of `capacity` rows with a column per field of `layout` (new ones absent). */
  private relayout(capacity: number, layout: readonly string[]): void {
    const from = this.start
    const to = from + this.length
    const old = this.capacity
    if (this.pool === undefined && capacity === old && layout === this.fields) {
      for (let c = 0; c <= layout.length; c++) this.data.copyWithin(c * old, c * old + from, c * old + to)
      this.codes.copyWithin(0, from, to)
      this.start = 0
      return
    }
    const columns = layout.length + 1
    const buffer = new ArrayBuffer(columns * 8 * capacity + capacity)
    const data = new Float64Array(buffer, 0, columns * capacity)
    const codes = new Uint8Array(buffer, columns * 8 * capacity, capacity)
    // Same-type `set` copies bytes, so an absent cell stays one.
    for (let c = 0; c <= this.fields.length; c++) data.set(this.data.subarray(c * old + from, c * old + to), c * capacity)
    for (let c = this.fields.length + 1; c < columns; c++) new Uint32Array(buffer, c * 8 * capacity, 2 * this.length).fill(ABSENT_WORD)
    codes.set(this.codes.subarray(from, to))
    this.leavePool()
    this.data = data
    this.codes = codes
    this.words = undefined
    this.capacity = capacity
    this.fields = layout
    this.start = 0
  }
}

/** What is kept of one sensor: its recent readings in event-time order and its window memory. */
export interface SensorRecord {
  /** Latest event time of any reading, any quality, epoch milliseconds. */
  latestTs: number
  /** Latest arrival on the wall clock, epoch milliseconds (staleness). */
  lastReceivedAt: number
  /** Readings newer than `latestTs − retention`, sorted by `ts`, one per `ts`, readings of one bucket folded (`HeldReadings.put`). */
  readings: HeldReadings
  /** The last valid clear-water window per parameter, for the `held` rule (INDICES.md §1); created by its first. */
  lastValid: Partial<Record<ClearParameter, LastValidWindow>> | undefined
  /** Readings added or replaced so far: a caller's result over `readings` holds while this is unchanged. */
  changes: number
}

/** Options of createSensorHistory. */
export interface SensorHistoryOptions {
  /** How far behind its latest reading a sensor's readings are kept, ms. */
  retentionMs: (sensor: Sensor) => number
  /** How long a sensor may stay silent in event time (behind the latest reading of any sensor) before it is forgotten, ms. */
  idleMs: (sensor: Sensor) => number
  /** Hard cap of readings kept per sensor, whatever the retention; default 20 000. */
  maxReadings?: number
}

/** What `insert` did with a reading: `folded` when it went into its bucket without adding a reading held (`HeldReadings.put`). */
export type InsertOutcome = 'added' | 'replaced' | 'folded' | 'too_old'

/** Bounded per-sensor reading history of the index engine. */
export interface SensorHistory {
  /**
   * Adds a reading; one with the `ts` of a kept reading replaces it (a re-flag). Older than the retention: not kept.
   * A reading later than the sensor's newest and in its bucket of `bucketMs(sensor.intervalS)` is folded into it
   * (`HeldReadings.put`; rain amounts add), so a sensor reporting faster than its interval does not make it hold more.
   */
  insert(sensor: Sensor, reading: Reading): InsertOutcome
  get(sensorId: string): SensorRecord | undefined
  /** The kept readings that carry `field`, oldest first. */
  values(sensorId: string, field: string): TimedValue[]
  /** Forgets sensors `lookup` does not know and sensors idle longer than their `idleMs`; returns how many went. */
  evict(lookup: (sensorId: string) => Sensor | undefined): number
  /** Latest event time over every reading inserted, epoch ms; `undefined` before the first. */
  readonly eventTime: number | undefined
  /** Sensors held. */
  readonly size: number
  /** Readings held over all sensors. */
  readonly readingCount: number
}

/** Creates an empty history; every sensor's readings are bounded by its retention and the hard cap. */
export function createSensorHistory(options: SensorHistoryOptions): SensorHistory {
  const records = new Map<string, SensorRecord>()
  const maxReadings = options.maxReadings ?? 20_000
  let eventTime: number | undefined
  let readingCount = 0

  return {
    insert(sensor, reading) {
      eventTime = eventTime === undefined ? reading.ts : Math.max(eventTime, reading.ts)
      let rec = records.get(sensor.id)
      if (rec === undefined) {
        rec = { latestTs: reading.ts, lastReceivedAt: reading.receivedAt, readings: new HeldReadings(), lastValid: undefined, changes: 0 }
        records.set(sensor.id, rec)
      }
      // Any data resets staleness, even a reading too old to keep (SPEC §6).
      rec.lastReceivedAt = Math.max(rec.lastReceivedAt, reading.receivedAt)
      const latest = Math.max(rec.latestTs, reading.ts)
      const horizon = latest - options.retentionMs(sensor)
      if (reading.ts <= horizon) return 'too_old'
      rec.latestTs = latest
      rec.changes++
      const held = rec.readings
      const before = held.length
      const outcome = held.put(reading.ts, reading.quality, reading.fields, bucketMs(sensor.intervalS), sumFieldOf(sensor.kind))
      readingCount += held.length - before
      const drop = Math.max(held.search(horizon, true) - held.start, held.length - maxReadings)
      if (drop > 0) {
        held.dropOldest(drop)
        readingCount -= drop
      }
      return outcome
    },
    get(id) {
      return records.get(id)
    },
    values(id, field) {
      const out: TimedValue[] = []
      const held = records.get(id)?.readings
      const offset = held?.offsetOf(field) ?? -1
      if (held === undefined || offset < 0) return out
      for (let row = held.start, end = held.start + held.length; row < end; row++) {
        const value = held.valueAt(offset + row)
        if (value !== undefined) out.push({ ts: held.data[row] as number, value, quality: held.qualityAt(row) })
      }
      return out
    },
    evict(lookup) {
      let evicted = 0
      for (const [id, rec] of records) {
        const sensor = lookup(id)
        if (sensor !== undefined && eventTime !== undefined && eventTime - rec.latestTs <= options.idleMs(sensor)) continue
        records.delete(id)
        readingCount -= rec.readings.length
        rec.readings.release()
        evicted++
      }
      return evicted
    },
    get eventTime() {
      return eventTime
    },
    get size() {
      return records.size
    },
    get readingCount() {
      return readingCount
    },
  }
}
