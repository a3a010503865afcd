import type { Sensor } from '../domain.js'
import { AppError } from '../errors.js'

/** One scheduled reading: which sensor, its event time and its per-sensor counter. */
export interface Tick {
  sensor: Sensor
  /** Event time, epoch milliseconds. */
  ts: number
  /** Per-sensor counter, 1 for the reading at `start`. */
  seq: number
}

/** The event-time window of a run. */
export interface ScheduleWindow {
  /** First event time, epoch milliseconds (integer); every sensor reads first at this instant. */
  start: number
  /** Exclusive end, epoch milliseconds; Infinity for an open-ended run. */
  end: number
}

interface Entry {
  sensor: Sensor
  intervalMs: number
  seq: number
  ts: number
  /** The sensor id's place in code-unit order (equal ids share one): compared instead of the strings. */
  rank: number
}

/** Heap order: event time, then sensor id (code-unit order, not locale-dependent). */
function before(a: Entry, b: Entry): boolean {
  return a.ts < b.ts || (a.ts === b.ts && a.rank < b.rank)
}

/**
 * Each sensor's rank by id. Every sensor shares its `ts` with all the others of its interval, so each heap step
 * broke ties by comparing id strings: a tenth of a flat-out publisher's CPU.
 */
function idRanks(sensors: readonly Sensor[]): number[] {
  const order = sensors.map((_, i) => i).sort((a, b) => {
    const x = (sensors[a] as Sensor).id
    const y = (sensors[b] as Sensor).id
    return x < y ? -1 : x > y ? 1 : 0
  })
  const ranks = new Array<number>(sensors.length)
  let rank = 0
  for (let k = 0; k < order.length; k++) {
    const i = order[k] as number
    if (k > 0 && (sensors[order[k - 1] as number] as Sensor).id !== (sensors[i] as Sensor).id) rank++
    ranks[i] = rank
  }
  return ranks
}

function siftDown(heap: Entry[], i: number): void {
  const n = heap.length
  const item = heap[i] as Entry
  for (;;) {
    const l = 2 * i + 1
    if (l >= n) break
    const r = l + 1
    let c = l
    if (r < n && before(heap[r] as Entry, heap[l] as Entry)) c = r
    const child = heap[c] as Entry
    if (!before(child, item)) break
    heap[i] = child
    i = c
  }
  heap[i] = item
}

/**
 * The deterministic timeline: every sensor reads at `start` and then every `intervalS` seconds of
 * event time, while `ts < end`; yields all sensors merged in ts order, ties broken by sensor id.
 * Lazy, with a binary heap of one entry per sensor, so memory stays O(sensors) for any duration.
 */
export function* schedule(sensors: readonly Sensor[], window: ScheduleWindow): Generator<Tick> {
  const { start, end } = window
  if (!Number.isSafeInteger(start)) throw new AppError('CW_ERR_CONFIG_INVALID', [`start must be an integer epoch in milliseconds, got ${start}`])
  if (Number.isNaN(end)) throw new AppError('CW_ERR_CONFIG_INVALID', ['end must be a number, got NaN'])
  if (!(start < end)) return
  const ranks = idRanks(sensors)
  const heap: Entry[] = sensors.map((sensor, i) => {
    if (!(Number.isFinite(sensor.intervalS) && sensor.intervalS > 0)) {
      throw new AppError('CW_ERR_CONFIG_INVALID', [`sensor ${sensor.id} has intervalS ${sensor.intervalS}; it must be > 0`])
    }
    return { sensor, intervalMs: sensor.intervalS * 1000, seq: 1, ts: start, rank: ranks[i] as number }
  })
  for (let i = (heap.length >> 1) - 1; i >= 0; i--) siftDown(heap, i)
  while (heap.length > 0) {
    const top = heap[0] as Entry
    yield { sensor: top.sensor, ts: top.ts, seq: top.seq }
    top.seq += 1
    // From start each time, so fractional intervals never accumulate rounding drift.
    top.ts = start + Math.round((top.seq - 1) * top.intervalMs)
    if (top.ts >= end) {
      const last = heap.pop() as Entry
      if (heap.length === 0) break
      heap[0] = last
    }
    siftDown(heap, 0)
  }
}
