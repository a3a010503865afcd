import { resized } from '../typed-arrays.js'

/** Capacity after `cap` is full: half as much again, at least 16. */
function grownRows(cap: number): number {
  return Math.max(16, cap + (cap >> 1))
}

/**
 * The sensors the rules engine has heard from, in the order it first heard from them (as a Map would iterate
 * them), with when their latest reading arrived (wall time): one row each in columns. A min-heap of due times says
 * which of them `tick` has to look at: every row is in it once, under a time at or before the first wall time at
 * which its silence can matter (`dueAt` of the owner), so a tick visits only the rows due by then, not all.
 */
export class LiveSensors {
  readonly rows = new Map<string, number>()
  ids: string[] = []
  /** Latest arrival (wall time) of a reading, ms. */
  receivedAt: Float64Array = new Float64Array(0)
  /** Order of arrival among rows: a row made later has a larger one (reused rows get a new one). */
  seq: Float64Array = new Float64Array(0)
  private capacity = 0
  private used = 0
  private nextSeq = 0
  private readonly free: number[] = []
  // The heap: due time, row, and the row's seq when pushed (a row freed since no longer matches).
  private hKey: Float64Array = new Float64Array(0)
  private hRow: Int32Array = new Int32Array(0)
  private hSeq: Float64Array = new Float64Array(0)
  private hSize = 0

  get size(): number {
    return this.rows.size
  }

  keys(): IterableIterator<string> {
    return this.rows.keys()
  }

  /** A new row for `id` (not held yet). */
  add(id: string, receivedAt: number): number {
    let row = this.free.pop()
    if (row === undefined) {
      if (this.used === this.capacity) {
        this.capacity = grownRows(this.capacity)
        this.receivedAt = resized(this.receivedAt, this.capacity)
        this.seq = resized(this.seq, this.capacity)
      }
      row = this.used++
    }
    this.ids[row] = id
    this.receivedAt[row] = receivedAt
    this.seq[row] = this.nextSeq++
    this.rows.set(id, row)
    return row
  }

  delete(id: string): boolean {
    const row = this.rows.get(id)
    if (row === undefined) return false
    this.rows.delete(id)
    this.ids[row] = ''
    // Heap entries of the row no longer match its seq.
    this.seq[row] = -1
    this.free.push(row)
    return true
  }

  /** Puts a row of the table (once: it must not be in the heap already) in the heap under `key` (NaN: due at once). */
  push(row: number, key: number): void {
    if (this.hSize === this.hKey.length) {
      const cap = grownRows(this.hKey.length)
      this.hKey = resized(this.hKey, cap)
      this.hRow = resized(this.hRow, cap)
      this.hSeq = resized(this.hSeq, cap)
    }
    const k = Number.isNaN(key) ? -Infinity : key
    let i = this.hSize++
    while (i > 0) {
      const parent = (i - 1) >> 1
      if ((this.hKey[parent] as number) <= k) break
      this.move(parent, i)
      i = parent
    }
    this.hKey[i] = k
    this.hRow[i] = row
    this.hSeq[i] = this.seq[row] as number
  }

  /**
   * Takes out of the heap the rows due at or before `now`, each once, in arrival order (their seq). The caller
   * puts each back under its next due time.
   */
  takeDue(now: number): number[] {
    const due: number[] = []
    while (this.hSize > 0 && (this.hKey[0] as number) <= now) {
      const row = this.hRow[0] as number
      const seq = this.hSeq[0] as number
      this.popTop()
      if (this.seq[row] === seq) due.push(row)
    }
    if (due.length < 2) return due
    if (due.length * 8 < this.rows.size) return due.sort((a, b) => (this.seq[a] as number) - (this.seq[b] as number))
    // Many due (sensors silent): one pass over the rows in order beats sorting them.
    const marked = new Uint8Array(this.used)
    for (const row of due) marked[row] = 1
    let n = 0
    for (const row of this.rows.values()) if (marked[row] === 1) due[n++] = row
    return due
  }

  /** Empties the heap and puts every row back under `keyOf(row)`. */
  rebuild(keyOf: (row: number) => number): void {
    this.hSize = 0
    for (const row of this.rows.values()) this.push(row, keyOf(row))
  }

  /** Rows in the heap (tests). */
  get pending(): number {
    return this.hSize
  }

  private move(from: number, to: number): void {
    this.hKey[to] = this.hKey[from] as number
    this.hRow[to] = this.hRow[from] as number
    this.hSeq[to] = this.hSeq[from] as number
  }

  private popTop(): void {
    const last = --this.hSize
    if (last === 0) return
    const k = this.hKey[last] as number
    const row = this.hRow[last] as number
    const seq = this.hSeq[last] as number
    let i = 0
    for (;;) {
      const l = 2 * i + 1
      if (l >= last) break
      const r = l + 1
      const c = r < last && (this.hKey[r] as number) < (this.hKey[l] as number) ? r : l
      if ((this.hKey[c] as number) >= k) break
      this.move(c, i)
      i = c
    }
    this.hKey[i] = k
    this.hRow[i] = row
    this.hSeq[i] = seq
  }
}
