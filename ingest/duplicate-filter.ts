import type { Clock } from '../ports.js'
import { resized } from '../typed-arrays.js'

/** Options of the duplicate filter. */
export interface DuplicateFilterOptions {
  /** How long an accepted `(sensor, ts)` is remembered, in milliseconds. Default 24 h. */
  horizonMs?: number
  /**
   * How much longer than the horizon a pair may be remembered, in milliseconds. Default the smaller of one minute
   * and 1 % of the horizon (one minute at 24 h). A pair is never forgotten before the horizon. A pair accepted while
   * event time ran ahead of the clock may be remembered longer, by as much as its lag fell (see Segment).
   */
  slackMs?: number
  clock: Clock
}

/** Remembers accepted `(sensor, ts)` pairs for a horizon and answers whether a reading was seen. */
export interface DuplicateFilter {
  /** True when `(sensor, ts)` was accepted within the horizon; otherwise remembers it and returns false. */
  seen(sensor: string, ts: number): boolean
  /** Forgets an accepted pair, so a resend of a reading that could not be stored is taken again. */
  forget(sensor: string, ts: number): void
  /** Number of remembered pairs. */
  readonly size: number
}

/** What the filter holds, for tests and benchmarks. */
export interface DuplicateFilterStats {
  /** Sensors with at least one remembered pair. */
  sensors: number
  /** Runs of evenly spaced timestamps (three numbers each, whatever their length). */
  runs: number
  /** Pairs held in runs. */
  runPairs: number
  /**
   * Sorted lists of timestamps not in a run: irregular ones, and evenly spaced ones that have not become a run (a
   * regular sensor's first to seventh reading: a list becomes a run when an eighth evenly spaced value is appended),
   * which a row holds as a first value, a step and a count.
   */
  lists: number
  /** Timestamps held in those lists (eight bytes each in a Track's Float64Array; none of their own in a row). */
  listValues: number
  /**
   * Sensors held as objects (several segments, or a list of values that are not evenly spaced safe integers); the
   * others are rows of the table (40 bytes each).
   */
  objects: number
}

/**
 * A set of accepted timestamps of one sensor whose lags (acceptance time − ts) all lie in [lagMin, lagMax], with
 * lagMax − lagMin ≤ slack, except after a drift (below). Either a run (vals === null): first, first + step, …,
 * first + (count − 1)·step, integers, step > 0; or a list: the sorted timestamps vals[start..end).
 *
 * Member ts was accepted at ts + lag ≤ ts + lagMax, so it may be forgotten once now ≥ ts + lagMax + horizon; at that
 * moment its own age is at least the horizon and at most horizon + (lagMax − lag) ≤ horizon + slack. Expired members
 * are therefore always a prefix in ts order, and a run trims its front in O(1) while its tail grows.
 *
 * Drift: when event time runs ahead of the clock (a back-fill, a fast replay), each reading's lag falls below the
 * previous one's. A reading that fits no segment's window but comes after all of a segment's members (a run: its next
 * member) with a lag below lagMin extends that segment and lowers lagMin, so such a series stays one run. The expiry
 * rule is unchanged, so a member is still never forgotten before the horizon, but it may now be held up to
 * lagMax − lag ≤ lagMax − lagMin (the segment's lag spread) past it: a member is forgotten at the latest
 * horizon + max(slack, L − lag) after its acceptance, L being the highest lag of a pair of the sensor accepted before
 * it. (lagMax only rises through a reading that fits the window, to at most lagMin + slack, and lagMin ≤ lag.)
 */
class Segment {
  lagMin: number
  lagMax: number
  first = 0
  step = 0
  count = 0
  vals: Float64Array | null = null
  start = 0
  end = 0
  constructor(lagMin: number, lagMax: number) {
    this.lagMin = lagMin
    this.lagMax = lagMax
  }
}

/**
 * The segments of a sensor that needs more than the table's row (several segments, or a list of values that are not
 * evenly spaced); `cur` is the run the sensor's readings last extended (the hot path).
 */
class Track {
  readonly sensor: string
  /** Index in the sweep's array. */
  slot: number
  segs: Segment[] = []
  cur: Segment | null = null
  /** No member can expire before this time. */
  nextExpiry = Number.POSITIVE_INFINITY
  constructor(sensor: string, slot: number) {
    this.sensor = sensor
    this.slot = slot
  }
}

const SWEEP_EVERY = 64
/**
 * Evenly spaced values at the end of a list that become a run. Eight, so that jittered timestamps (a few ms off a
 * grid) almost never line up by chance (of the order of 11^-7 per value at ±5 ms), which would leave short runs.
 */
const PROMOTE = 8

// Row states of the table.
/** No segment (all expired): the sensor stays until the sweep or its next reading. */
const EMPTY = 0
/** One list holding a single value: FIRST, LAG_MIN, LAG_MAX. */
const SINGLE = 1
/** One run, which is the track's `cur`: FIRST, STEP, COUNT, LAG_MIN, LAG_MAX. */
const RUN = 2
/** One run that is not `cur` (cur is null); the same numbers. */
const RUN_IDLE = 3
/** Anything else: the sensor's Track object, in `big`. */
const BIG = 4
/**
 * One list of two or more evenly spaced safe integers, FIRST + k·STEP for k < COUNT, with LAG_MIN and LAG_MAX. It is
 * the list a Track would hold (and the stats count it as one), only without the objects: a value that continues it at
 * either end is taken in place, the one appended as the PROMOTE-th makes it a run (RUN) as `promote` does, and any
 * other value turns it into that Track's list. A regular sensor is thus a row from its first reading on.
 */
const SPACED = 5
/** Numbers of a row, at STRIDE · slot + offset (STEP and COUNT only in RUN, RUN_IDLE and SPACED). */
const STRIDE = 5
const FIRST = 0
const STEP = 1
const COUNT = 2
const LAG_MIN = 3
const LAG_MAX = 4
/** Rows of a new filter's table; it grows by half. */
const INITIAL_ROWS = 16

/**
 * Per sensor, the accepted timestamps as runs of evenly spaced values (a sensor reporting at a fixed interval costs
 * one run whatever its rate) and sorted Float64Array lists for the irregular rest (jittered clocks, stray values),
 * grouped by lag window so that expiry by acceptance time needs no per-pair time (see Segment).
 *
 * `seen` appending to the current run of a sensor with one segment is O(1) and allocation-free; otherwise it is
 * O(s + log n) for a sensor with s segments and n listed values, plus a memmove when a late value lands inside a
 * list. A sensor gets a new segment only when its lag moves by more than the slack (an outage's backlog, a clock
 * step), unless it falls at a segment's end (event time running ahead: see Segment), or its timestamps break their
 * interval; old segments drain within the horizon. Every 64 calls one sensor in
 * turn is expired too, so a sensor that went silent is dropped within one pass (64 calls per sensor held) after its
 * horizon and slack.
 *
 * A sensor whose only segment is a run, a one-value list or an evenly spaced list (every sensor after its first
 * reading, and a regular one throughout) is a row of a table of typed arrays (five doubles and a state byte) rather
 * than objects: a Track object, with its Segments and lists, exists only while the sensor needs more, and it turns
 * back into a row as soon as it fits again. The answers are those of the Track: a row is the same single segment,
 * and its next possible expiry is computed from it rather than stored.
 */
export function duplicateFilter(options: DuplicateFilterOptions): DuplicateFilter & { stats(): DuplicateFilterStats } {
  const horizonMs = options.horizonMs ?? 86_400_000
  const slack = options.slackMs ?? Math.min(60_000, horizonMs / 100)
  const { clock } = options
  /** Per sensor, its slot in the table, or its Track while it has one (state BIG). */
  const tracks = new Map<string, number | Track>()
  // The table: a row per sensor, in slots 0..rows-1, which the sweep walks without allocating.
  let nums = new Float64Array(INITIAL_ROWS * STRIDE)
  let states = new Uint8Array(INITIAL_ROWS)
  const names: string[] = []
  let rows = 0
  let size = 0
  let calls = 0
  let sweepAt = 0

  function fits(s: Segment, lag: number): boolean {
    return lag <= s.lagMin + slack && lag >= s.lagMax - slack
  }

  function fitsWindow(s: Segment, lagMin: number, lagMax: number): boolean {
    return Math.max(s.lagMax, lagMax) - Math.min(s.lagMin, lagMin) <= slack
  }

  function widen(s: Segment, lagMin: number, lagMax: number): void {
    if (lagMin < s.lagMin) s.lagMin = lagMin
    if (lagMax > s.lagMax) s.lagMax = lagMax
  }

  /** First index in vals[from..to) whose value is ≥ x (or > x when `after`). */
  function search(vals: Float64Array, from: number, to: number, x: number, after: boolean): number {
    let lo = from
    let hi = to
    while (lo < hi) {
      const mid = (lo + hi) >>> 1
      const v = vals[mid] as number
      if (v < x || (after && v === x)) lo = mid + 1
      else hi = mid
    }
    return lo
  }

  function contains(s: Segment, ts: number): boolean {
    const vals = s.vals
    if (vals === null) {
      const d = ts - s.first
      return d >= 0 && d <= s.step * (s.count - 1) && d % s.step === 0
    }
    const i = search(vals, s.start, s.end, ts, false)
    return i < s.end && vals[i] === ts
  }

  function length(s: Segment): number {
    return s.vals === null ? s.count : s.end - s.start
  }

  function lowest(s: Segment): number {
    return s.vals === null ? s.first : (s.vals[s.start] as number)
  }

  function drop(t: Track, s: Segment): void {
    t.segs.splice(t.segs.indexOf(s), 1)
    if (t.cur === s) t.cur = null
  }

  function noteMember(t: Track, s: Segment, ts: number): void {
    const at = ts + s.lagMax + horizonMs
    if (at < t.nextExpiry) t.nextExpiry = at
  }

  /** Forgets every member whose horizon (plus at most the slack) has passed. */
  function expire(t: Track, now: number): void {
    let next = Number.POSITIVE_INFINITY
    let kept = 0
    const segs = t.segs
    for (let i = 0; i < segs.length; i++) {
      const s = segs[i] as Segment
      const cut = now - horizonMs - s.lagMax
      const vals = s.vals
      if (vals === null) {
        if (s.first <= cut) {
          const k = Math.floor((cut - s.first) / s.step) + 1
          if (k >= s.count) {
            size -= s.count
            s.count = 0
          } else {
            size -= k
            s.count -= k
            s.first += k * s.step
          }
        }
      } else if ((vals[s.start] as number) <= cut) {
        const j = search(vals, s.start, s.end, cut, true)
        size -= j - s.start
        s.start = j
        const n = s.end - j
        if (n > 0 && n * 4 < vals.length && vals.length > 16) {
          const smaller = new Float64Array(Math.max(16, n * 2))
          smaller.set(vals.subarray(s.start, s.end))
          s.vals = smaller
          s.start = 0
          s.end = n
        }
      }
      if (length(s) === 0) {
        if (t.cur === s) t.cur = null
        continue
      }
      segs[kept++] = s
      const at = lowest(s) + s.lagMax + horizonMs
      if (at < next) next = at
    }
    segs.length = kept
    t.nextExpiry = next
  }

  /** Run `s` just grew or was made: takes in the runs and listed values that continue it at either end. */
  function coalesce(t: Track, s: Segment): void {
    let merged = true
    while (merged && t.segs.length > 1) {
      merged = false
      const next = s.first + s.step * s.count
      for (const r of t.segs) {
        if (r === s || !fitsWindow(s, r.lagMin, r.lagMax)) continue
        if (r.vals === null) {
          if (r.step === s.step && r.first === next) {
            s.count += r.count
            widen(s, r.lagMin, r.lagMax)
            if (t.cur === r) t.cur = s
            drop(t, r)
            merged = true
            break
          }
          if (r.step === s.step && r.first + r.step * r.count === s.first) {
            r.count += s.count
            widen(r, s.lagMin, s.lagMax)
            if (t.cur === s) t.cur = r
            drop(t, s)
            s = r
            merged = true
            break
          }
        } else if (contains(r, next)) {
          removeListed(t, r, next)
          s.count += 1
          widen(s, r.lagMin, r.lagMax)
          merged = true
          break
        } else if (contains(r, s.first - s.step)) {
          removeListed(t, r, s.first - s.step)
          s.first -= s.step
          s.count += 1
          widen(s, r.lagMin, r.lagMax)
          noteMember(t, s, s.first)
          merged = true
          break
        }
      }
    }
  }

  function removeListed(t: Track, s: Segment, ts: number): void {
    const vals = s.vals as Float64Array
    const i = search(vals, s.start, s.end, ts, false)
    if (i === s.start) s.start += 1
    else {
      vals.copyWithin(i, i + 1, s.end)
      s.end -= 1
    }
    if (s.end === s.start) drop(t, s)
  }

  /** Inserts ts into list `s` in order; returns true when it went to the end. */
  function insertListed(s: Segment, ts: number): boolean {
    let vals = s.vals as Float64Array
    if (s.start > 0 && ts < (vals[s.start] as number)) {
      s.start -= 1
      vals[s.start] = ts
      return s.end - s.start === 1
    }
    if (s.end === vals.length) {
      const n = s.end - s.start
      if (s.start * 4 >= vals.length) vals.copyWithin(0, s.start, s.end)
      else {
        const bigger = new Float64Array(Math.max(8, Math.ceil(vals.length * 1.5)))
        bigger.set(vals.subarray(s.start, s.end))
        s.vals = vals = bigger
      }
      s.start = 0
      s.end = n
    }
    const i = search(vals, s.start, s.end, ts, false)
    if (i < s.end) vals.copyWithin(i + 1, i, s.end)
    vals[i] = ts
    s.end += 1
    return i === s.end - 1
  }

  /** When the last PROMOTE values of list `s` are evenly spaced integers, moves them into a new run. */
  function promote(t: Track, s: Segment): void {
    const vals = s.vals as Float64Array
    const e = s.end
    if (e - s.start < PROMOTE) return
    const last = vals[e - 1] as number
    const step = last - (vals[e - 2] as number)
    if (!(step > 0) || !Number.isSafeInteger(step)) return
    for (let i = e - 2; i > e - PROMOTE; i--) if ((vals[i] as number) - (vals[i - 1] as number) !== step) return
    const first = vals[e - PROMOTE] as number
    if (!Number.isSafeInteger(first)) return
    const run = new Segment(s.lagMin, s.lagMax)
    run.first = first
    run.step = step
    run.count = PROMOTE
    s.end -= PROMOTE
    if (s.end === s.start) drop(t, s)
    t.segs.push(run)
    t.cur = run
    coalesce(t, run)
  }

  /** Remembers ts (not yet a member) accepted with lag `lag`. */
  function insert(t: Track, ts: number, lag: number): void {
    const segs = t.segs
    if (Number.isSafeInteger(ts)) {
      const cur = t.cur
      if (cur !== null && ts === cur.first + cur.step * cur.count && fits(cur, lag)) {
        cur.count += 1
        widen(cur, lag, lag)
        coalesce(t, cur)
        return
      }
      for (const s of segs) {
        if (s.vals !== null || !fits(s, lag)) continue
        if (ts === s.first + s.step * s.count) {
          s.count += 1
          widen(s, lag, lag)
          t.cur = s
          coalesce(t, s)
          return
        }
        if (ts === s.first - s.step) {
          s.first = ts
          s.count += 1
          widen(s, lag, lag)
          noteMember(t, s, ts)
          coalesce(t, s)
          return
        }
      }
    }
    let list: Segment | null = null
    for (let i = segs.length - 1; i >= 0; i--) {
      const s = segs[i] as Segment
      if (s.vals !== null && fits(s, lag)) {
        list = s
        break
      }
    }
    if (list === null) {
      // Nothing fits. Event time running ahead of the clock (a back-fill, a fast replay): a reading after all of a
      // segment's members with a lag below all of theirs extends it at its end, lowering lagMin past the slack.
      if (Number.isSafeInteger(ts)) {
        for (const s of segs) {
          if (s.vals === null && ts === s.first + s.step * s.count && lag < s.lagMin) {
            s.count += 1
            s.lagMin = lag
            t.cur = s
            coalesce(t, s)
            return
          }
        }
      }
      for (let i = segs.length - 1; i >= 0; i--) {
        const s = segs[i] as Segment
        if (s.vals !== null && lag < s.lagMin && ts > (s.vals[s.end - 1] as number)) {
          list = s
          break
        }
      }
    }
    if (list === null) {
      list = new Segment(lag, lag)
      list.vals = new Float64Array(8)
      segs.push(list)
    } else widen(list, lag, lag)
    noteMember(t, list, ts)
    if (insertListed(list, ts) && Number.isSafeInteger(ts)) promote(t, list)
  }

  /** A new row (state EMPTY) for a sensor not held. */
  function addRow(sensor: string): number {
    if (rows === states.length) {
      const capacity = rows + (rows >> 1)
      nums = resized(nums, capacity * STRIDE)
      states = resized(states, capacity)
    }
    const slot = rows++
    states[slot] = EMPTY
    names.push(sensor)
    tracks.set(sensor, slot)
    return slot
  }

  /** The Track of row `slot` (not BIG), which becomes BIG. */
  function inflate(slot: number): Track {
    const sensor = names[slot] as string
    const t = new Track(sensor, slot)
    const state = states[slot] as number
    if (state !== EMPTY) {
      const at = slot * STRIDE
      const s = new Segment(nums[at + LAG_MIN] as number, nums[at + LAG_MAX] as number)
      const first = nums[at + FIRST] as number
      if (state === SINGLE) {
        s.vals = new Float64Array(8)
        s.vals[0] = first
        s.end = 1
      } else if (state === SPACED) {
        const step = nums[at + STEP] as number
        const count = nums[at + COUNT] as number
        const vals = new Float64Array(Math.max(8, count + (count >> 1)))
        for (let k = 0; k < count; k++) vals[k] = first + k * step
        s.vals = vals
        s.end = count
      } else {
        s.first = first
        s.step = nums[at + STEP] as number
        s.count = nums[at + COUNT] as number
        if (state === RUN) t.cur = s
      }
      t.segs.push(s)
      t.nextExpiry = first + s.lagMax + horizonMs
    }
    states[slot] = BIG
    tracks.set(sensor, t)
    return t
  }

  /** True when vals[from..to) (sorted, two or more) are evenly spaced safe integers, as a SPACED row holds them. */
  function spaced(vals: Float64Array, from: number, to: number): boolean {
    const step = (vals[from + 1] as number) - (vals[from] as number)
    if (!Number.isSafeInteger(step) || !Number.isSafeInteger(vals[from])) return false
    for (let i = from + 1; i < to; i++) {
      const v = vals[i] as number
      if (!Number.isSafeInteger(v) || v - (vals[i - 1] as number) !== step) return false
    }
    return true
  }

  /**
   * Turns a Track with no segment, one run, a one-value list or a short evenly spaced list back into its row; true when
   * it did.
   */
  function deflate(t: Track): boolean {
    const segs = t.segs
    const slot = t.slot
    if (segs.length === 0) states[slot] = EMPTY
    else {
      if (segs.length > 1) return false
      const s = segs[0] as Segment
      const at = slot * STRIDE
      if (s.vals === null) {
        nums[at + FIRST] = s.first
        nums[at + STEP] = s.step
        nums[at + COUNT] = s.count
        states[slot] = t.cur === s ? RUN : RUN_IDLE
      } else {
        const n = s.end - s.start
        if (n === 1) states[slot] = SINGLE
        else if (n <= PROMOTE && spaced(s.vals, s.start, s.end)) {
          nums[at + STEP] = (s.vals[s.start + 1] as number) - (s.vals[s.start] as number)
          nums[at + COUNT] = n
          states[slot] = SPACED
        } else return false
        nums[at + FIRST] = s.vals[s.start] as number
      }
      nums[at + LAG_MIN] = s.lagMin
      nums[at + LAG_MAX] = s.lagMax
    }
    tracks.set(t.sensor, slot)
    return true
  }

  /** Expires row `slot` (not BIG, not EMPTY) as `expire` does its one segment, when its first member is due. */
  function expireRow(slot: number, now: number): void {
    const at = slot * STRIDE
    const first = nums[at + FIRST] as number
    const cut = now - horizonMs - (nums[at + LAG_MAX] as number)
    if (!(first <= cut)) return
    if (states[slot] === SINGLE) {
      size -= 1
      states[slot] = EMPTY
      return
    }
    const count = nums[at + COUNT] as number
    const step = nums[at + STEP] as number
    let k: number
    if (states[slot] === SPACED) {
      // A list: its members compared one by one, as `expire` searches them, and one left is a one-value list.
      k = 1
      while (k < count && first + k * step <= cut) k++
      if (k === count - 1) {
        size -= k
        nums[at + FIRST] = first + k * step
        states[slot] = SINGLE
        return
      }
    } else k = Math.floor((cut - first) / step) + 1
    if (k >= count) {
      size -= count
      states[slot] = EMPTY
    } else {
      size -= k
      nums[at + COUNT] = count - k
      nums[at + FIRST] = first + k * step
    }
  }

  /** Drops the sensor of row `slot`, keeping rows 0..sweepAt-1 the ones this pass of the sweep has visited. */
  function removeRow(slot: number): void {
    tracks.delete(names[slot] as string)
    let hole = slot
    if (hole < sweepAt) {
      sweepAt -= 1
      if (sweepAt !== hole) move(sweepAt, hole)
      hole = sweepAt
    }
    rows -= 1
    if (hole < rows) move(rows, hole)
    names.pop()
  }

  /** Moves row `from` to slot `to`. */
  function move(from: number, to: number): void {
    const sensor = names[from] as string
    names[to] = sensor
    const state = states[from] as number
    states[to] = state
    if (state === BIG) (tracks.get(sensor) as Track).slot = to
    else {
      nums.copyWithin(to * STRIDE, from * STRIDE, from * STRIDE + STRIDE)
      tracks.set(sensor, to)
    }
  }

  /** Expires one sensor in turn (every SWEEP_EVERY calls), dropping it when nothing is left. */
  function sweepOne(now: number): void {
    if (sweepAt >= rows) sweepAt = 0
    const slot = sweepAt++
    if (slot >= rows) return
    const state = states[slot] as number
    if (state === BIG) {
      const t = tracks.get(names[slot] as string) as Track
      if (now >= t.nextExpiry) expire(t, now)
      if (t.segs.length === 0) removeRow(slot)
      else deflate(t)
      return
    }
    if (state !== EMPTY && now >= (nums[slot * STRIDE + FIRST] as number) + (nums[slot * STRIDE + LAG_MAX] as number) + horizonMs) expireRow(slot, now)
    if (states[slot] === EMPTY) removeRow(slot)
  }

  /** `seen` of a sensor held as a Track, after its expiry. */
  function seenTrack(t: Track, ts: number, now: number): boolean {
    const lag = now - ts
    const segs = t.segs
    const cur = t.cur
    if (cur !== null && contains(cur, ts)) return true
    for (let i = 0; i < segs.length; i++) {
      const s = segs[i] as Segment
      if (s !== cur && contains(s, ts)) return true
    }
    insert(t, ts === 0 ? 0 : ts, lag)
    size += 1
    deflate(t)
    return false
  }

  function forgetTrack(t: Track, ts: number): void {
    for (const s of t.segs) {
      if (!contains(s, ts)) continue
      size -= 1
      if (s.vals !== null) removeListed(t, s, ts)
      else {
        const i = (ts - s.first) / s.step
        if (i === 0) s.first += s.step
        if (i === 0 || i === s.count - 1) s.count -= 1
        else {
          const tail = new Segment(s.lagMin, s.lagMax)
          tail.first = ts + s.step
          tail.step = s.step
          tail.count = s.count - i - 1
          s.count = i
          t.segs.splice(t.segs.indexOf(s) + 1, 0, tail)
          if (t.cur === s) t.cur = tail
        }
        if (s.count === 0) drop(t, s)
      }
      if (t.segs.length === 0) removeRow(t.slot)
      else deflate(t)
      return
    }
  }

  return {
    get size() {
      return size
    },
    seen(sensor, ts) {
      const now = clock.now()
      if (++calls % SWEEP_EVERY === 0) sweepOne(now)
      const held = tracks.get(sensor)
      let slot: number
      if (held === undefined) slot = addRow(sensor)
      else if (typeof held === 'number') slot = held
      else {
        if (now < held.nextExpiry) return seenTrack(held, ts, now)
        expire(held, now)
        if (!deflate(held)) return seenTrack(held, ts, now)
        slot = held.slot
      }
      const at = slot * STRIDE
      let first = nums[at + FIRST] as number
      const lagMax = nums[at + LAG_MAX] as number
      if (states[slot] !== EMPTY && now >= first + lagMax + horizonMs) {
        expireRow(slot, now)
        first = nums[at + FIRST] as number
      }
      const state = states[slot] as number
      if (state === EMPTY) {
        // A list of this one value, as insert makes it.
        nums[at + FIRST] = ts === 0 ? 0 : ts
        nums[at + LAG_MIN] = now - ts
        nums[at + LAG_MAX] = now - ts
        states[slot] = SINGLE
        size += 1
        return false
      }
      const lag = now - ts
      const lagMin = nums[at + LAG_MIN] as number
      // ts would join the row's segment (insert's `fits`).
      const fits = lag <= lagMin + slack && lag >= lagMax - slack
      if (state === SINGLE) {
        if (ts === first) return true
        // A second value in the list's lag window: two safe integers are an evenly spaced list (SPACED).
        const step = ts > first ? ts - first : first - ts
        // Or, fitting no window, after it with a lower lag (insert's rule for event time running ahead).
        if ((fits || (ts > first && lag < lagMin)) && Number.isSafeInteger(ts) && Number.isSafeInteger(first) && Number.isSafeInteger(step)) {
          if (ts < first) nums[at + FIRST] = ts === 0 ? 0 : ts
          nums[at + STEP] = step
          nums[at + COUNT] = 2
          if (lag < lagMin) nums[at + LAG_MIN] = lag
          if (lag > lagMax) nums[at + LAG_MAX] = lag
          states[slot] = SPACED
          size += 1
          return false
        }
        return seenTrack(inflate(slot), ts, now)
      }
      const step = nums[at + STEP] as number
      const count = nums[at + COUNT] as number
      const next = first + step * count
      // Hot path: ts is the run's next member (insert takes it only as a safe integer when the run is not cur); a list
      // appended its PROMOTE-th evenly spaced value becomes a run (promote, and coalesce taking in the values before).
      // Fitting no window, a safe integer below the lags of all its members is taken too (insert's rule for event time
      // running ahead).
      if (ts === next && (fits ? state === RUN || Number.isSafeInteger(ts) : lag < lagMin && Number.isSafeInteger(ts))) {
        nums[at + COUNT] = count + 1
        if (lag < lagMin) nums[at + LAG_MIN] = lag
        if (lag > lagMax) nums[at + LAG_MAX] = lag
        if (state !== SPACED || count + 1 >= PROMOTE) states[slot] = RUN
        size += 1
        return false
      }
      const d = ts - first
      if (d >= 0 && d <= step * (count - 1) && d % step === 0) return true
      // A list takes a value before its first too (a run does as well, but only while it is a Track's segment).
      if (state === SPACED && fits && ts === first - step && Number.isSafeInteger(ts)) {
        nums[at + FIRST] = ts === 0 ? 0 : ts
        nums[at + COUNT] = count + 1
        if (lag < lagMin) nums[at + LAG_MIN] = lag
        if (lag > lagMax) nums[at + LAG_MAX] = lag
        size += 1
        return false
      }
      return seenTrack(inflate(slot), ts, now)
    },
    forget(sensor, ts) {
      const held = tracks.get(sensor)
      if (held === undefined) return
      if (typeof held !== 'number') {
        forgetTrack(held, ts)
        return
      }
      const state = states[held] as number
      if (state === EMPTY) return
      const at = held * STRIDE
      const first = nums[at + FIRST] as number
      if (state === SINGLE) {
        if (ts !== first) return
        size -= 1
        removeRow(held)
        return
      }
      const step = nums[at + STEP] as number
      const d = ts - first
      if (d >= 0 && d <= step * ((nums[at + COUNT] as number) - 1) && d % step === 0) forgetTrack(inflate(held), ts)
    },
    stats() {
      const out: DuplicateFilterStats = { sensors: 0, runs: 0, runPairs: 0, lists: 0, listValues: 0, objects: 0 }
      if (names.length !== rows || tracks.size !== rows) throw new Error('duplicate filter: the table is out of step with the sensors')
      for (let slot = 0; slot < rows; slot++) {
        const held = tracks.get(names[slot] as string)
        const state = states[slot] as number
        if (state === BIG ? typeof held !== 'object' || held.slot !== slot : held !== slot) {
          throw new Error('duplicate filter: the table is out of step with the sensors')
        }
        if (state === EMPTY) continue
        out.sensors += 1
        if (state === SINGLE) {
          out.lists += 1
          out.listValues += 1
        } else if (state === SPACED) {
          out.lists += 1
          out.listValues += nums[slot * STRIDE + COUNT] as number
        } else if (state !== BIG) {
          out.runs += 1
          out.runPairs += nums[slot * STRIDE + COUNT] as number
        } else {
          const t = held as Track
          out.objects += 1
          if (t.segs.length === 0) out.sensors -= 1
          for (const s of t.segs) {
            if (s.vals === null) {
              out.runs += 1
              out.runPairs += s.count
            } else {
              out.lists += 1
              out.listValues += s.end - s.start
            }
          }
        }
      }
      return out
    },
  }
}
