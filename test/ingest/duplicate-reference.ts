// The duplicate filter as it was before sensors with one run or one value moved into a table of typed arrays (a Track,
// a Segment and a Float64Array per sensor): the plain reference the compact filter is compared with.
import type { Clock } from '../../ports.js'

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
  /** Sorted lists of irregular timestamps. */
  lists: number
  /** Timestamps held in those lists (eight bytes each). */
  listValues: number
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

/** The segments of one sensor; `cur` is the run the sensor's readings last extended (the hot path). */
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
 */
export function referenceDuplicateFilter(options: DuplicateFilterOptions): DuplicateFilter & { stats(): DuplicateFilterStats } {
  const horizonMs = options.horizonMs ?? 86_400_000
  const slack = options.slackMs ?? Math.min(60_000, horizonMs / 100)
  const { clock } = options
  const tracks = new Map<string, Track>()
  /** The same tracks in an array, which the sweep walks without allocating. */
  const all: Track[] = []
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

  /** Drops a track, keeping all[0..sweepAt) the tracks this pass of the sweep has visited. */
  function removeTrack(t: Track): void {
    tracks.delete(t.sensor)
    let hole = t.slot
    if (hole < sweepAt) {
      sweepAt -= 1
      const visited = all[sweepAt] as Track
      all[hole] = visited
      visited.slot = hole
      hole = sweepAt
    }
    const last = all.pop() as Track
    if (hole < all.length) {
      all[hole] = last
      last.slot = hole
    }
  }

  /** Expires one sensor in turn (every SWEEP_EVERY calls), dropping it when nothing is left. */
  function sweepOne(now: number): void {
    if (sweepAt >= all.length) sweepAt = 0
    const t = all[sweepAt++]
    if (t === undefined) return
    if (now >= t.nextExpiry) expire(t, now)
    if (t.segs.length === 0) removeTrack(t)
  }

  return {
    get size() {
      return size
    },
    seen(sensor, ts) {
      const now = clock.now()
      if (++calls % SWEEP_EVERY === 0) sweepOne(now)
      let t = tracks.get(sensor)
      if (t === undefined) {
        t = new Track(sensor, all.length)
        tracks.set(sensor, t)
        all.push(t)
      } else if (now >= t.nextExpiry) expire(t, now)
      const lag = now - ts
      const segs = t.segs
      const cur = t.cur
      // Hot path: the sensor's only segment is a run and ts is its next member.
      if (segs.length === 1 && cur !== null && ts === cur.first + cur.step * cur.count && fits(cur, lag)) {
        cur.count += 1
        if (lag < cur.lagMin) cur.lagMin = lag
        if (lag > cur.lagMax) cur.lagMax = lag
        size += 1
        return false
      }
      if (cur !== null && contains(cur, ts)) return true
      for (let i = 0; i < segs.length; i++) {
        const s = segs[i] as Segment
        if (s !== cur && contains(s, ts)) return true
      }
      insert(t, ts === 0 ? 0 : ts, lag)
      size += 1
      return false
    },
    forget(sensor, ts) {
      const t = tracks.get(sensor)
      if (t === undefined) return
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
        if (t.segs.length === 0) removeTrack(t)
        return
      }
    },
    stats() {
      const out: DuplicateFilterStats = { sensors: 0, runs: 0, runPairs: 0, lists: 0, listValues: 0 }
      if (all.length !== tracks.size || all.some((t, i) => t.slot !== i || tracks.get(t.sensor) !== t)) {
        throw new Error('duplicate filter: the sweep array is out of step with the sensors')
      }
      for (const t of all) {
        if (t.segs.length > 0) out.sensors += 1
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
      return out
    },
  }
}
