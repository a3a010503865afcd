import { KIND_FIELDS, type Quality, type Reading, type Sensor, type SensorKind } from '../domain.js'
import { systemClock, type Clock } from '../ports.js'
import type { RegistryIndex } from '../registry/registry-index.js'
import { resized } from '../typed-arrays.js'
import { bucketMs } from './sensor-history.js'
import {
  qualityHistoryMs,
  qualityLimits,
  rangeTest,
  rateOfChangeTest,
  SENTINEL_VALUES,
  sentinelTest,
  spikeTest,
  spikeValue,
  type FieldLimits,
  type QualityResult,
  type RateLimit,
  type SpikeLimits,
} from './indices/quality-tests.js'

/** Options of the quality stage; every default is here. */
export interface QualityStageOptions {
  /** The registry in force; a new object (a reload) makes every sensor's limits be recomputed at its next reading. */
  registry: () => RegistryIndex
  /** `CITYWATER_LATENESS_S`, seconds: a reading older than its sensor's latest `ts` minus this is marked `late`. */
  latenessS: number
  /** Wall clock for forgetting idle sensors; default the system clock. */
  clock?: Clock
  /** Rate-of-change limits by field, in field units per hour; default none (INDICES.md §3 has no rate column). */
  rateLimits?: Readonly<Record<string, RateLimit>>
  /** A sensor silent this long on the wall clock (ms) is forgotten, or longer when its flat-line history needs it; default 24 h. */
  idleMs?: number
  /** Least wall time between two sweeps for idle sensors, ms; default 60 000. */
  sweepMs?: number
}

/** What one `assess` call gives back; nothing given in is changed. */
export interface QualityAssessment {
  /**
   * The readings in input order with their flags: a reading whose flag differs from the input's is a new object, and
   * the input array itself comes back when no flag differs.
   */
  readings: readonly Reading[]
  /** Readings of earlier calls that the spike test has just flagged worse (same sensor and ts): to be stored again and replaced. */
  reflagged: readonly Reading[]
}

/** Counters of the quality stage. */
export interface QualityStageStats {
  /** Readings assessed. */
  assessed: number
  /** Readings marked `late`. */
  late: number
  /** Readings re-flagged by the spike test, in this call's output or in `reflagged`. */
  reflagged: number
  /** Sensors forgotten after being idle. */
  evicted: number
}

/** The quality stage of SPEC §6 and INDICES.md §3, run on every accepted reading before the write-ahead log. */
export interface QualityStage {
  /** Flags each reading (range, flat line, rate, sentinels, parking capacity, `late`) and re-flags earlier spikes. */
  assess(readings: readonly Reading[]): QualityAssessment
  /** Sensors whose history is held. */
  readonly size: number
  readonly stats: Readonly<QualityStageStats>
  /**
   * What the flat-line rings of a sensor hold, summed over its fields: entries (a point, or a bucket of folded points),
   * (ts, value) pairs (a folded bucket with two values is two) and the pairs their buffers have room for (rings are
   * trimmed only when full, so this is what they weigh). For tests and diagnostics.
   */
  flatLineHistory(sensor: string): { entries: number; pairs: number; capacity: number }
}

const MINUTE = 60_000
const HOUR = 3_600_000
/** "Raining": more than 0 mm in the last 30 min (INDICES.md §2). */
const RAIN_WINDOW_MS = 30 * MINUTE
// Same slack as flatLineTest: 3.215 vs 3.220 differ by 0.0050000000000001.
const FLAT_EPS = 1e-9
const RANK: Readonly<Record<Quality, number>> = { good: 0, suspect: 1, bad: 2 }
const QUALITY_OF_RANK: readonly Quality[] = ['good', 'suspect', 'bad']
const CAPACITY_MISMATCH: QualityResult = { quality: 'suspect', reason: 'capacity_mismatch' }
const NO_READINGS: readonly Reading[] = Object.freeze([])

/**
 * Which tests one field of a sensor gets; its numbers are in `Plan.lim`, so sensors whose fields get the same tests share
 * one FieldPlan (and one fields array). The limits objects are read again from the sensor only when a test fails.
 */
interface FieldPlan {
  name: string
  hasLimits: boolean
  perMinute: boolean
  hasFlat: boolean
  flatByCount: boolean
  flatRainOnly: boolean
  flatSuspectResult: QualityResult
  flatBadResult: QualityResult
  hasSpike: boolean
  rate: RateLimit | undefined
}

/** Shared FieldPlans (without a rate limit) by name and tests, and fields arrays by their FieldPlans; bounded by kinds × tests. */
const FIELD_PLANS = new Map<string, FieldPlan>()
const FIELD_LISTS = new Map<string, FieldPlan[]>()

function fieldKey(f: FieldPlan): string {
  return `${f.name}|${+f.hasLimits}${+f.perMinute}${+f.hasFlat}${+f.flatByCount}${+f.flatRainOnly}${+f.hasSpike}`
}

function sharedFields(fields: FieldPlan[]): FieldPlan[] {
  let listKey = ''
  for (let i = 0; i < fields.length; i++) {
    const f = fields[i] as FieldPlan
    if (f.rate !== undefined) return fields
    const key = fieldKey(f)
    let shared = FIELD_PLANS.get(key)
    if (shared === undefined) {
      shared = f
      FIELD_PLANS.set(key, f)
    }
    fields[i] = shared
    listKey += key + ';'
  }
  let list = FIELD_LISTS.get(listKey)
  if (list === undefined) {
    list = fields
    FIELD_LISTS.set(listKey, list)
  }
  return list
}

// Numbers of field i in Plan.lim at LIM * i + offset (shared by the sensors of a plan). Doubles live in packed arrays,
// where V8 stores them inline; as object properties each would be a pointer to its own heap number.
const LIM = 4
/** Flat-line tolerance plus the decimal slack. */
const FLAT_TOLERANCE = 0
const FLAT_SUSPECT = 1
const FLAT_BAD = 2
/** Spike values at or below this pass; spikeTest runs only above. Infinity without spike limits. */
const SPIKE_SUSPECT = 3

/**
 * The tests of the sensors of one kind under one registry, shared by every sensor that gets the same ones (same field
 * tests and thresholds): the numbers that differ from sensor to sensor (range bounds) are in the sensor's row, and
 * what the tests read from the sensor itself (segment, district, capacity, interval, limits of a failing test) is read
 * from the registry's Sensor that the row holds.
 */
interface Plan {
  kind: SensorKind
  /** The registry the plan was computed from. */
  registry: RegistryIndex
  fields: FieldPlan[]
  lim: number[]
  /** Whether "raining" is the sensor's own zone's (its segment has gauges) rather than its district's. */
  rainBySegment: boolean
  isRainGauge: boolean
  /** Whether a reported capacity is compared with the registry's (a parking lot of the registry). */
  hasCapacity: boolean
  idleMs: number
  hasRate: boolean
}

/**
 * A growable ring of (ts, value) pairs, oldest first, interleaved in one packed double array (doubles stored inline): the non-bad
 * history of one field for the flat-line test. It is trimmed only when full, so a push usually touches one cache
 * line; points older than needed only lengthen a run that already reaches the bad threshold, so they never change a flag.
 * A field's ring is made at its second point: until then its one point is the pending reading's value (see Table).
 *
 * For a time-based test, the points of one bucket of event time (`bucketMs`: a tenth of the sensor's registry interval,
 * at least 1 s) are folded into one entry: its first ts and the least and greatest value. An entry is one pair
 * (first ts, value) while its values are all equal, else two: (first ts, min) then (NaN, max). A point is folded
 * only when the next one is pushed, so the newest point (the pending reading, which the spike test may take out
 * again) is always a pair of its own. Readings at least a bucket apart are never folded: one pair each, as before.
 */
class Ring {
  // Small at first: most sensors of a large registry hold few points; it doubles as a run needs more. A packed double
  // array, not a Float64Array: as small as this, a typed array's own objects would weigh more than its data.
  buf: number[] = nans(8)
  /** Capacity in pairs − 1 (capacities are powers of 2). */
  mask = 3
  head = 0
  /** Pairs held (a folded entry with two values is two). */
  size = 0

  tsAt(i: number): number {
    return this.buf[((this.head + i) & this.mask) << 1] as number
  }

  vAt(i: number): number {
    return this.buf[(((this.head + i) & this.mask) << 1) + 1] as number
  }

  /**
   * Appends a point; first folds the newest pair into the entry before it when both are in one bucket of `bucketMs`
   * (time-based tests only; 0: never), and when full, drops what the flat-line test (`bad`, by count or ms) of a
   * point at `t` cannot reach.
   */
  push(t: number, x: number, byCount: boolean, bad: number, bucketMs: number, tolerance: number): void {
    if (!byCount && bucketMs > 0 && this.size >= 2) this.foldNewest(bucketMs)
    this.dropUnreachable(tolerance)
    if (this.size > this.mask) {
      // Keep one spare point, so a spike taken out again (popLast) leaves enough.
      if (byCount) {
        while (this.size > bad - 1) this.shift()
      } else {
        // Keep the newest entry that starts at or before the horizon: a run reaching it already lasts `bad`.
        const horizon = t - bad
        for (;;) {
          const first = Number.isNaN(this.tsAt(1)) ? 2 : 1
          if (this.size <= first || this.tsAt(first) > horizon) break
          this.head = (this.head + first) & this.mask
          this.size -= first
        }
      }
      if (this.size > this.mask) this.grow()
    }
    this.set(this.size, t, x)
    this.size++
  }

  /**
   * Drops the entries no flat-line run can reach any more. A run is walked from the newest point back and takes an entry
   * only if every value of it lies within `tolerance` of the newest value, so a run reaching past the two newest
   * entries takes both: when their values together span more than twice the tolerance, nothing older is reached again.
   * Called before a point is appended: both entries are then final (only the appended point may be taken out again, or
   * folded into later; folding only widens an entry). A noisy series keeps a few entries instead of its whole horizon.
   */
  private dropUnreachable(tolerance: number): void {
    let k = this.size - 1
    if (k < 2) return
    let lo = this.vAt(k)
    let hi = lo
    // Two entries back: a folded entry is (first ts, min) then (NaN, max).
    for (let e = 0; e < 2; e++) {
      if (Number.isNaN(this.tsAt(k))) {
        hi = Math.max(hi, this.vAt(k))
        k--
      }
      const v = this.vAt(k)
      if (v < lo) lo = v
      if (v > hi) hi = v
      if (e === 0) k--
      if (k < 0) return
    }
    // A NaN value passes every comparison of the walk; the slack covers the rounding of |value − newest| ≤ tolerance.
    if (!(hi - lo > 2 * tolerance * (1 + 1e-12)) || k === 0) return
    this.head = (this.head + k) & this.mask
    this.size -= k
  }

  /** Folds the newest pair, when it is a point (not the max of a folded entry), into the entry before it if they share a bucket. */
  private foldNewest(bucketMs: number): void {
    const last = this.size - 1
    const ts = this.tsAt(last)
    if (Number.isNaN(ts)) return
    const x = this.vAt(last)
    // The entry before: a pair (first ts, value), or (first ts, min) and (NaN, max).
    const folded = Number.isNaN(this.tsAt(last - 1))
    const first = folded ? last - 2 : last - 1
    const firstTs = this.tsAt(first)
    if (Math.floor(firstTs / bucketMs) !== Math.floor(ts / bucketMs)) return
    const lo = this.vAt(first)
    const hi = this.vAt(last - 1)
    // A NaN value passes every comparison, so it could not stand for the other values of its entry.
    if (Number.isNaN(x) || Number.isNaN(lo) || Number.isNaN(hi)) return
    if (folded) {
      if (x < lo) this.set(first, firstTs, x)
      else if (x > hi) this.set(last - 1, NaN, x)
      this.size--
    } else if (x === lo) {
      this.size--
    } else {
      this.set(first, firstTs, Math.min(lo, x))
      this.set(last, NaN, Math.max(lo, x))
    }
  }

  private set(i: number, t: number, x: number): void {
    const j = ((this.head + i) & this.mask) << 1
    this.buf[j] = t
    this.buf[j + 1] = x
  }

  /** Entries held: pairs less the second pairs of folded entries. */
  entries(): number {
    let n = 0
    for (let i = 0; i < this.size; i++) if (!Number.isNaN(this.tsAt(i))) n++
    return n
  }

  shift(): void {
    this.head = (this.head + 1) & this.mask
    this.size--
  }

  /** Takes out the newest point (never folded: see push). */
  popLast(): void {
    this.size--
  }

  private grow(): void {
    const buf = nans(4 * (this.mask + 1))
    for (let i = 0; i < this.size; i++) {
      buf[2 * i] = this.tsAt(i)
      buf[2 * i + 1] = this.vAt(i)
    }
    this.buf = buf
    this.mask = 2 * this.mask + 1
    this.head = 0
  }
}

/** A packed array of n doubles, all NaN, with no spare capacity (push over-allocates; slice copies exactly). */
function nans(n: number): number[] {
  const a: number[] = []
  for (let i = 0; i < n; i++) a.push(NaN)
  return a.slice()
}

// A row's numbers, at stride · row + offset: the latest event time seen (any quality; −Infinity before the first
// reading), the wall time of the last reading, then the two latest in-order non-bad readings x0 (older) and x1 (pending
// its spike test): their ts (NaN when absent; x1 is pending exactly when its ts is a number), x1's receivedAt and seq,
// the fields' values of x0 at X0 + i and of x1 at X0 + n + i (NaN when absent), then per field the range [lo, hi]
// whose values pass (at X0 + 2n + 2i).
const LATEST_TS = 0
const SEEN_AT = 1
const X0_TS = 2
const X1_TS = 3
const X1_RECEIVED = 4
const X1_SEQ = 5
const X0 = 6
// `meta` bits of a row: the pending reading's quality rank (2 bits), whether its tsSource is 'server', whether it has a
// seq (and where), whether it is kept as the object itself (in `exactPending`: it has another shape than ingest's).
const X1_RANK = 3
const X1_SERVER = 4
const X1_HAS_SEQ = 8
const X1_EXACT = 16
/** With X1_HAS_SEQ: `seq` comes right after `ts` (else last). */
const X1_SEQ_AFTER_TS = 32
/** Where the pending reading sits in the input of call X1_CALL, so a re-flag within the same call replaces it in the output (i32, 2 a row). */
const X1_SLOT = 0
const X1_CALL = 1
/** A reading's own keys in the order ingest makes them; `seq` may follow. */
const READING_KEYS = ['sensor', 'kind', 'district', 'segment', 'ts', 'fields', 'quality', 'qualityReason', 'tsSource', 'receivedAt'] as const
const KINDS = Object.keys(KIND_FIELDS) as SensorKind[]
/** A sensor's handle in the stage's Map: row · KIND_SLOTS + its kind's number. */
const KIND_SLOTS = 16
const INITIAL_ROWS = 16

/**
 * The per-sensor state of the sensors of one kind (n fields): a row each, its numbers in one Float64Array, and
 * references (plan, registry Sensor) in arrays. A row's flat-line rings and previous values for rates
 * are made only when needed. Freed rows are reused.
 */
class Table {
  readonly n: number
  readonly stride: number
  f64: Float64Array
  i32: Int32Array
  meta: Uint8Array
  readonly plans: Plan[] = []
  readonly sensors: (Sensor | undefined)[] = []
  /** The flat-line ring of field i of a row at n · row + i; made with the first ring. */
  rings: (Ring | undefined)[] | undefined
  /** Per row, at 4i: previous non-bad ts and value of field i, then the ones before (restored when a spike is taken out); rates only. */
  prev: (number[] | undefined)[] | undefined
  rows = 0
  readonly free: number[] = []

  constructor(n: number) {
    this.n = n
    this.stride = X0 + 4 * n
    this.f64 = new Float64Array(INITIAL_ROWS * this.stride)
    this.i32 = new Int32Array(INITIAL_ROWS * 2)
    this.meta = new Uint8Array(INITIAL_ROWS)
  }

  /** A row for a new sensor (its numbers to be set by the caller). */
  add(): number {
    const reused = this.free.pop()
    if (reused !== undefined) return reused
    if (this.rows === this.meta.length) {
      const capacity = this.rows + (this.rows >> 1)
      this.f64 = resized(this.f64, capacity * this.stride)
      this.i32 = resized(this.i32, capacity * 2)
      this.meta = resized(this.meta, capacity)
    }
    const row = this.rows++
    this.plans.push(undefined as unknown as Plan)
    this.sensors.push(undefined)
    this.prev?.push(undefined)
    if (this.rings !== undefined) for (let i = 0; i < this.n; i++) this.rings.push(undefined)
    return row
  }

  ring(row: number, i: number): Ring | undefined {
    return this.rings === undefined ? undefined : this.rings[this.n * row + i]
  }

  newRing(row: number, i: number): Ring {
    if (this.rings === undefined) this.rings = new Array<Ring | undefined>(this.n * this.rows).fill(undefined)
    const ring = new Ring()
    this.rings[this.n * row + i] = ring
    return ring
  }

  setPrev(row: number, prev: number[] | undefined): void {
    if (this.prev === undefined) {
      if (prev === undefined) return
      this.prev = new Array<number[] | undefined>(this.rows).fill(undefined)
    }
    this.prev[row] = prev
  }

  release(row: number): void {
    this.plans[row] = undefined as unknown as Plan
    this.sensors[row] = undefined
    this.setPrev(row, undefined)
    if (this.rings !== undefined) for (let i = 0; i < this.n; i++) this.rings[this.n * row + i] = undefined
    this.free.push(row)
  }
}

/** A rain episode of a zone or district: wet readings less than 30 min apart, from `since` to `last` (event time). */
interface RainEpisode {
  since: number
  last: number
  /** Wall time of the last wet reading. */
  seenAt: number
}

function num(v: unknown): number | undefined {
  return typeof v === 'number' && Number.isFinite(v) ? v : undefined
}

/**
 * The plan of a sensor of `kind` (shared through `plans`, by its content), with the sensor's own range bounds written
 * to `range` (two numbers a field).
 */
function buildPlan(
  sensor: Sensor | undefined,
  kind: SensorKind,
  registry: RegistryIndex,
  hasGauges: (segment: string) => boolean,
  rateLimits: Readonly<Record<string, RateLimit>> | undefined,
  idleMs: number,
  plans: Map<string, Plan>,
  range: number[],
): Plan {
  const spec = KIND_FIELDS[kind]
  const fields: FieldPlan[] = []
  const lim: number[] = []
  let rainOnly = false
  let hasRate = false
  let key = kind
  range.length = 0
  for (const name of [...spec.required, ...spec.optional]) {
    // A sensor missing from the registry (never after ingest) gets only the sentinel test.
    const limits = sensor === undefined ? undefined : qualityLimits(sensor, name)
    const rate = sensor === undefined ? undefined : rateLimits?.[name]
    const flat = limits?.flat
    if (flat?.rainOnly === true) rainOnly = true
    if (rate !== undefined) hasRate = true
    const f: FieldPlan = {
      name,
      hasLimits: limits !== undefined,
      perMinute: limits?.perMinute === true,
      hasFlat: flat !== undefined,
      flatByCount: flat?.by === 'count',
      flatRainOnly: flat?.rainOnly === true,
      flatSuspectResult: { quality: 'suspect', reason: `flat:${name}` },
      flatBadResult: { quality: 'bad', reason: `flat:${name}` },
      hasSpike: limits?.spike !== undefined,
      rate,
    }
    fields.push(f)
    key += `;${fieldKey(f)}${rate === undefined ? '' : '|rate'}`
    // Finite bounds, so that ±Infinity still goes to rangeTest, which flags it bad. Values in [lo, hi] pass both
    // ranges: rangeTest runs only outside (it is the authority on failures).
    range.push(
      Math.max(limits?.bad?.min ?? -Number.MAX_VALUE, limits?.suspect?.min ?? -Number.MAX_VALUE, -Number.MAX_VALUE),
      Math.min(limits?.bad?.max ?? Number.MAX_VALUE, limits?.suspect?.max ?? Number.MAX_VALUE, Number.MAX_VALUE),
    )
    lim.push((flat?.tolerance ?? 0) + FLAT_EPS, flat?.suspect ?? Infinity, flat?.bad ?? Infinity, limits?.spike?.suspect ?? Infinity)
  }
  const rainBySegment = rainOnly && hasGauges(sensor?.segment ?? '')
  const hasCapacity = kind === 'parking' && sensor !== undefined
  const planIdleMs = sensor === undefined ? idleMs : Math.max(idleMs, qualityHistoryMs(sensor))
  key += `|${lim.join(',')}|${+rainBySegment}|${+hasCapacity}|${planIdleMs}`
  let plan = plans.get(key)
  if (plan === undefined) {
    plan = {
      kind,
      registry,
      fields: sharedFields(fields),
      // Exactly sized (push leaves spare capacity).
      lim: lim.slice(),
      rainBySegment,
      isRainGauge: kind === 'rainfall',
      hasCapacity,
      idleMs: planIdleMs,
      hasRate,
    }
    plans.set(key, plan)
  }
  return plan
}


/** Width (ms of event time) of the buckets a time-based flat-line ring folds points into; 0 (no folding) without a sensor. */
function flatBucketMs(sensor: Sensor | undefined): number {
  return sensor === undefined ? 0 : bucketMs(sensor.intervalS)
}

/** The limits of a field that has some (so its row has a sensor): computed again, only for a failing test. */
function limitsOf(sensor: Sensor | undefined, f: FieldPlan): FieldLimits {
  return qualityLimits(sensor as Sensor, f.name) as FieldLimits
}

/**
 * Whether `reading` (in-order, non-bad, of this row's plan) has the shape ingest gives a reading (or the benchmarks':
 * `seq` after `ts`), so the row's numbers rebuild it: -1 when not, else the `meta` bits of its shape.
 */
function shapeOf(reading: Reading, plan: Plan, sensor: Sensor | undefined): number {
  let j = 0
  let shape = 0
  for (const key in reading) {
    if (key === 'seq' && shape === 0 && (j === 5 || j === READING_KEYS.length)) {
      shape = j === 5 ? X1_HAS_SEQ | X1_SEQ_AFTER_TS : X1_HAS_SEQ
      continue
    }
    if (key !== READING_KEYS[j]) return -1
    j++
  }
  if (
    j !== READING_KEYS.length ||
    reading.kind !== plan.kind ||
    reading.district !== (sensor?.district ?? '') ||
    reading.segment !== (sensor?.segment ?? '') ||
    typeof reading.receivedAt !== 'number' ||
    typeof reading.qualityReason !== 'string' ||
    (reading.tsSource !== 'device' && reading.tsSource !== 'server') ||
    (shape !== 0 && typeof reading.seq !== 'number')
  ) {
    return -1
  }
  const fields = reading.fields
  const planFields = plan.fields
  let i = 0
  for (const name in fields) {
    while (i < planFields.length && (planFields[i] as FieldPlan).name !== name) i++
    const value = fields[name]
    if (i === planFields.length || typeof value !== 'number' || Number.isNaN(value)) return -1
    i++
  }
  return shape
}

/** Marks a wet reading at event time `ts` in a zone's or district's rain episode. */
function wet(episodes: Map<string, RainEpisode>, key: string, ts: number, now: number): void {
  const e = episodes.get(key)
  if (e === undefined) {
    episodes.set(key, { since: ts, last: ts, seenAt: now })
    return
  }
  e.seenAt = now
  if (ts > e.last) {
    // Dry for 30 min or more in between: a new rain.
    if (ts - e.last >= RAIN_WINDOW_MS) e.since = ts
    e.last = ts
  } else if (ts < e.since && e.since - ts < RAIN_WINDOW_MS) {
    e.since = ts
  }
}

/**
 * Builds the quality stage: INDICES.md §3 tests with per-sensor history, merged with the parking capacity
 * checks; `late` against each sensor's watermark (SPEC §6); spike re-flags of the previous reading.
 *
 * Per sensor it holds a row of its kind's Table (about 15 numbers for a one-field kind) and a Map entry, no object:
 * plans are shared, a flat-line ring is made at a field's second point, and the pending reading is kept as numbers in
 * the row and rebuilt (an equal object) only when a spike re-flags it.
 */
export function createQualityStage(options: QualityStageOptions): QualityStage {
  const clock = options.clock ?? systemClock
  const latenessMs = options.latenessS * 1000
  const idleMs = options.idleMs ?? 24 * HOUR
  const sweepMs = options.sweepMs ?? 60_000
  const rateLimits = options.rateLimits
  /** Per sensor, its handle: row · KIND_SLOTS + kind number. */
  const tracks = new Map<string, number>()
  const tables: (Table | undefined)[] = []
  /** Pending readings kept as objects (X1_EXACT), by handle. */
  const exactPending = new Map<number, Reading>()
  /** The qualityReason of a pending reading kept as numbers, by handle, when not empty (rare: a suspect reading). */
  const pendingReasons = new Map<number, string>()
  const zoneRain = new Map<string, RainEpisode>()
  const districtRain = new Map<string, RainEpisode>()
  const stats: QualityStageStats = { assessed: 0, late: 0, reflagged: 0, evicted: 0 }
  let lastSweep = clock.now()
  let call = 0
  let gaugesOf: RegistryIndex | undefined
  const gauged = new Map<string, boolean>()
  /** Plans of `plansOf` by content. */
  let plansOf: RegistryIndex | undefined
  const plans = new Map<string, Plan>()
  const range: number[] = []

  function tableOf(kind: SensorKind): { table: Table; no: number } {
    const no = KINDS.indexOf(kind)
    let table = tables[no]
    if (table === undefined) {
      const spec = KIND_FIELDS[kind]
      table = new Table(spec.required.length + spec.optional.length)
      tables[no] = table
    }
    return { table, no }
  }

  function planOf(reading: Reading, registry: RegistryIndex): Plan {
    if (plansOf !== registry) {
      plans.clear()
      plansOf = registry
    }
    return buildPlan(registry.sensor(reading.sensor), reading.kind, registry, (segment) => hasGauges(registry, segment), rateLimits, idleMs, plans, range)
  }

  /** Whether a segment of `registry` has rain gauges, cached per registry version. */
  function hasGauges(registry: RegistryIndex, segment: string): boolean {
    if (gaugesOf !== registry) {
      gauged.clear()
      gaugesOf = registry
    }
    let has = gauged.get(segment)
    if (has === undefined) {
      has = registry.sensorsOfSegment(segment).some((s) => s.kind === 'rainfall')
      gauged.set(segment, has)
    }
    return has
  }

  // The accumulator of one reading's results: worst rank and the reasons at that rank.
  let accRank = 0
  let accReason = ''
  function add(res: QualityResult): void {
    if (res.quality === 'good') return
    const rank = RANK[res.quality]
    if (rank > accRank) {
      accRank = rank
      accReason = res.reason
    } else if (rank === accRank) {
      accReason += ';' + res.reason
    }
  }

  function rainingSince(plan: Plan, sensor: Sensor | undefined, ts: number): number | null {
    const e = plan.rainBySegment ? zoneRain.get(sensor?.segment ?? '') : districtRain.get(sensor?.district ?? '')
    return e !== undefined && ts >= e.since && ts - e.last < RAIN_WINDOW_MS ? e.since : null
  }

  /** Runs the tests of one reading into the accumulator; history-based tests only for in-order readings. */
  function fieldTests(reading: Reading, t: Table, row: number, inOrder: boolean): void {
    accRank = 0
    accReason = ''
    const plan = t.plans[row] as Plan
    const sensor = t.sensors[row]
    const lim = plan.lim
    const f64 = t.f64
    const n = t.n
    const base = row * t.stride
    const fields = reading.fields
    const ts = reading.ts
    let since: number | null | undefined
    for (let i = 0; i < plan.fields.length; i++) {
      const f = plan.fields[i] as FieldPlan
      const value = fields[f.name]
      if (value === undefined) continue
      if (SENTINEL_VALUES.has(value)) {
        add(sentinelTest(f.name, value))
        continue
      }
      if (!f.hasLimits) continue
      let tested = value
      if (f.perMinute) {
        const latestTs = f64[base + LATEST_TS] as number
        const gapMin = inOrder && latestTs !== -Infinity ? (ts - latestTs) / MINUTE : 0
        tested = value / (gapMin > 0 ? gapMin : (sensor?.intervalS ?? 60) / 60)
      }
      const at = LIM * i
      const r = base + X0 + 2 * n + 2 * i
      if (!(tested >= (f64[r] as number) && tested <= (f64[r + 1] as number))) add(rangeTest(f.name, tested, limitsOf(sensor, f)))
      if (!inOrder) continue
      if (f.hasFlat) {
        let from = -Infinity
        if (f.flatRainOnly) {
          if (since === undefined) since = rainingSince(plan, sensor, ts)
          from = since ?? Infinity
        }
        if (from !== Infinity) {
          const tolerance = lim[at + FLAT_TOLERANCE] as number
          let count = 1
          let startTs = ts
          const ring = t.ring(row, i)
          if (ring !== undefined) {
            for (let k = ring.size - 1; k >= 0; k--) {
              let pt = ring.tsAt(k)
              // The max of a folded entry (time-based tests only, so `count` is not read): the entry extends the run
              // only if its max and its min do.
              if (Number.isNaN(pt)) {
                if (Math.abs(ring.vAt(k) - value) > tolerance) break
                pt = ring.tsAt(--k)
              }
              if (pt < from || Math.abs(ring.vAt(k) - value) > tolerance) break
              count++
              startTs = pt
            }
          } else {
            // No ring yet: its only point, if any, is the pending reading's value.
            const v1 = f64[base + X0 + n + i] as number
            const pt = f64[base + X1_TS] as number
            if (!Number.isNaN(v1) && !(pt < from || Math.abs(v1 - value) > tolerance)) {
              count++
              startTs = pt
            }
          }
          const measure = f.flatByCount ? count : ts - startTs
          if (measure >= (lim[at + FLAT_BAD] as number)) add(f.flatBadResult)
          else if (measure >= (lim[at + FLAT_SUSPECT] as number)) add(f.flatSuspectResult)
        }
      }
      const prev = t.prev?.[row]
      if (f.rate !== undefined && prev !== undefined) {
        const prevTs = prev[4 * i] as number
        if (!Number.isNaN(prevTs)) add(rateOfChangeTest(f.name, { ts: prevTs, value: prev[4 * i + 1] as number }, { ts, value }, f.rate))
      }
    }
    if (plan.hasCapacity) {
      const capacity = num((sensor as Sensor).params.capacity)
      const reported = fields.capacity
      if (capacity !== undefined && reported !== undefined && reported !== capacity) add(CAPACITY_MISMATCH)
    }
  }

  /** Spike test of the pending x1 against x0 and the new reading, into the accumulator. */
  function spikeOfPending(reading: Reading, t: Table, row: number): void {
    accRank = 0
    accReason = ''
    const plan = t.plans[row] as Plan
    const n = t.n
    const f64 = t.f64
    const base = row * t.stride
    for (let i = 0; i < n; i++) {
      const f = plan.fields[i] as FieldPlan
      if (!f.hasSpike) continue
      const v0 = f64[base + X0 + i] as number
      const v1 = f64[base + X0 + n + i] as number
      const v2 = reading.fields[f.name]
      if (v2 === undefined || Number.isNaN(v0) || Number.isNaN(v1)) continue
      if (spikeValue(v0, v1, v2) > (plan.lim[LIM * i + SPIKE_SUSPECT] as number)) add(spikeTest(f.name, v0, v1, v2, limitsOf(t.sensors[row], f).spike as SpikeLimits))
    }
  }

  /** The pending reading of a row: the object kept, or one rebuilt from the row (equal to the one pushed). */
  function pendingOf(t: Table, row: number, handle: number, sensorId: string): Reading {
    const meta = t.meta[row] as number
    if ((meta & X1_EXACT) !== 0) return exactPending.get(handle) as Reading
    const plan = t.plans[row] as Plan
    const sensor = t.sensors[row]
    const f64 = t.f64
    const base = row * t.stride
    const n = t.n
    const fields: Record<string, number> = {}
    for (let i = 0; i < n; i++) {
      const v = f64[base + X0 + n + i] as number
      if (!Number.isNaN(v)) fields[(plan.fields[i] as FieldPlan).name] = v
    }
    const district = sensor?.district ?? ''
    const segment = sensor?.segment ?? ''
    const ts = f64[base + X1_TS] as number
    const quality = QUALITY_OF_RANK[meta & X1_RANK] as Quality
    const qualityReason = pendingReasons.get(handle) ?? ''
    const tsSource = (meta & X1_SERVER) !== 0 ? 'server' : 'device'
    const receivedAt = f64[base + X1_RECEIVED] as number
    if ((meta & X1_SEQ_AFTER_TS) !== 0) {
      const seq = f64[base + X1_SEQ] as number
      return { sensor: sensorId, kind: plan.kind, district, segment, ts, seq, fields, quality, qualityReason, tsSource, receivedAt }
    }
    const pending: Reading = { sensor: sensorId, kind: plan.kind, district, segment, ts, fields, quality, qualityReason, tsSource, receivedAt }
    if ((meta & X1_HAS_SEQ) !== 0) pending.seq = f64[base + X1_SEQ] as number
    return pending
  }

  /**
   * Keeps `pending` (the row's pending reading, or a re-flagged copy of it) as the row's numbers with the `shape` bits
   * shapeOf gave, or as the object (shape -1).
   */
  function keepPending(t: Table, row: number, handle: number, pending: Reading, shape: number): void {
    const f64 = t.f64
    const base = row * t.stride
    let meta = RANK[pending.quality] | (pending.tsSource === 'server' ? X1_SERVER : 0)
    const reason = shape < 0 ? '' : pending.qualityReason
    if (reason !== '') pendingReasons.set(handle, reason)
    else if (pendingReasons.size > 0) pendingReasons.delete(handle)
    if (shape < 0) {
      meta |= X1_EXACT
      exactPending.set(handle, pending)
    } else {
      if (((t.meta[row] as number) & X1_EXACT) !== 0) exactPending.delete(handle)
      meta |= shape
      f64[base + X1_RECEIVED] = pending.receivedAt
      if (pending.seq !== undefined) f64[base + X1_SEQ] = pending.seq
    }
    t.meta[row] = meta
  }

  /** Takes the pending x1 (re-flagged bad) out of the history: it is no neighbour and no flat-line point. */
  function dropPending(t: Table, row: number, handle: number): void {
    const f64 = t.f64
    const base = row * t.stride
    const x1Ts = f64[base + X1_TS] as number
    const n = t.n
    for (let i = 0; i < n; i++) {
      const ring = t.ring(row, i)
      if (ring !== undefined && ring.size > 0 && ring.tsAt(ring.size - 1) === x1Ts) ring.popLast()
      f64[base + X0 + n + i] = NaN
    }
    const prev = t.prev?.[row]
    if (prev !== undefined) {
      for (let i = 0; i < n; i++) {
        if (prev[4 * i] !== x1Ts) continue
        prev[4 * i] = prev[4 * i + 2] as number
        prev[4 * i + 1] = prev[4 * i + 3] as number
        prev[4 * i + 2] = NaN
      }
    }
    f64[base + X1_TS] = NaN
    if (((t.meta[row] as number) & X1_EXACT) !== 0) exactPending.delete(handle)
    if (pendingReasons.size > 0) pendingReasons.delete(handle)
    t.meta[row] = 0
  }

  /** Adds an in-order non-bad reading to the history; it becomes the pending x1. */
  function push(out: Reading, t: Table, row: number, handle: number, slot: number): void {
    const plan = t.plans[row] as Plan
    const n = t.n
    const ts = out.ts
    const fields = out.fields
    const f64 = t.f64
    const base = row * t.stride
    const x1Ts = f64[base + X1_TS] as number
    const shift = !Number.isNaN(x1Ts)
    if (shift) f64[base + X0_TS] = x1Ts
    f64[base + X1_TS] = ts
    t.i32[2 * row + X1_SLOT] = slot
    t.i32[2 * row + X1_CALL] = call
    const prev = t.prev?.[row]
    let bucket: number | undefined
    for (let i = 0; i < n; i++) {
      const f = plan.fields[i] as FieldPlan
      const value = fields[f.name]
      const v1 = f64[base + X0 + n + i] as number
      // x1 becomes x0.
      if (shift) f64[base + X0 + i] = v1
      f64[base + X0 + n + i] = value === undefined ? NaN : value
      if (f.hasFlat) {
        let ring = t.ring(row, i)
        if (ring === undefined && (!Number.isNaN(v1) || (value !== undefined && Number.isNaN(value)))) {
          // The ring's one point (the previous x1's value) is about to be overwritten, or a NaN cannot stand for a point.
          ring = t.newRing(row, i)
          if (!Number.isNaN(v1)) ring.push(x1Ts, v1, f.flatByCount, plan.lim[LIM * i + FLAT_BAD] as number, 0, plan.lim[LIM * i + FLAT_TOLERANCE] as number)
        }
        if (ring !== undefined && value !== undefined) {
          ring.push(ts, value, f.flatByCount, plan.lim[LIM * i + FLAT_BAD] as number, (bucket ??= flatBucketMs(t.sensors[row])), plan.lim[LIM * i + FLAT_TOLERANCE] as number)
        }
      }
      if (value === undefined) continue
      if (f.rate !== undefined && prev !== undefined) {
        prev[4 * i + 2] = prev[4 * i] as number
        prev[4 * i + 3] = prev[4 * i + 1] as number
        prev[4 * i] = ts
        prev[4 * i + 1] = value
      }
    }
    keepPending(t, row, handle, out, shapeOf(out, plan, t.sensors[row]))
  }

  /** A new row for a sensor, as a sensor without history. */
  function newTrack(id: string, plan: Plan, sensor: Sensor | undefined, now: number): number {
    const { table: t, no } = tableOf(plan.kind)
    const row = t.add()
    const handle = row * KIND_SLOTS + no
    const f64 = t.f64
    const base = row * t.stride
    f64.fill(NaN, base, base + X0 + 2 * t.n)
    f64[base + LATEST_TS] = -Infinity
    f64[base + SEEN_AT] = now
    for (let i = 0; i < 2 * t.n; i++) f64[base + X0 + 2 * t.n + i] = range[i] as number
    t.i32[2 * row + X1_SLOT] = -1
    t.i32[2 * row + X1_CALL] = -1
    t.meta[row] = 0
    t.plans[row] = plan
    t.sensors[row] = sensor
    t.setPrev(row, plan.hasRate ? nans(4 * t.n) : undefined)
    tracks.set(id, handle)
    return handle
  }

  /** Frees a sensor's row (its Map entry is the caller's). */
  function release(handle: number): void {
    const t = tables[handle % KIND_SLOTS] as Table
    const row = Math.floor(handle / KIND_SLOTS)
    if (((t.meta[row] as number) & X1_EXACT) !== 0) exactPending.delete(handle)
    if (pendingReasons.size > 0) pendingReasons.delete(handle)
    t.release(row)
  }

  /**
   * A plan of another registry for a row (same kind): the pending reading is kept as an object (the row's sensor, whose
   * strings rebuild it, changes), and a flat-line field's ring is made when the plans disagree on its flat-line test.
   */
  function replan(t: Table, row: number, handle: number, plan: Plan, sensor: Sensor | undefined, id: string): void {
    const old = t.plans[row] as Plan
    const f64 = t.f64
    const base = row * t.stride
    const n = t.n
    if (!Number.isNaN(f64[base + X1_TS] as number) && ((t.meta[row] as number) & X1_EXACT) === 0) {
      keepPending(t, row, handle, pendingOf(t, row, handle, id), -1)
    }
    for (let i = 0; i < n; i++) {
      if (t.ring(row, i) !== undefined) continue
      const before = (old.fields[i] as FieldPlan).hasFlat
      if (before === (plan.fields[i] as FieldPlan).hasFlat) continue
      const v1 = f64[base + X0 + n + i] as number
      if (Number.isNaN(v1)) continue
      // The ring as the old plan had it: the pending value when it was a flat-line field, empty when it was not.
      const ring = t.newRing(row, i)
      if (before) ring.push(f64[base + X1_TS] as number, v1, (old.fields[i] as FieldPlan).flatByCount, old.lim[LIM * i + FLAT_BAD] as number, 0, Infinity)
    }
    t.plans[row] = plan
    t.sensors[row] = sensor
    for (let i = 0; i < 2 * n; i++) f64[base + X0 + 2 * n + i] = range[i] as number
  }

  function trackOf(reading: Reading, registry: RegistryIndex, now: number): number {
    const id = reading.sensor
    let handle = tracks.get(id)
    if (handle === undefined) {
      const plan = planOf(reading, registry)
      handle = newTrack(id, plan, registry.sensor(id), now)
    } else {
      const t = tables[handle % KIND_SLOTS] as Table
      const row = Math.floor(handle / KIND_SLOTS)
      const current = t.plans[row] as Plan
      if (current.registry !== registry) {
        const plan = planOf(reading, registry)
        // A sensor that changed kind starts over; otherwise its history stays valid under the new limits.
        if (plan.kind !== current.kind) {
          release(handle)
          handle = newTrack(id, plan, registry.sensor(id), now)
        } else replan(t, row, handle, plan, registry.sensor(id), id)
      }
    }
    const t = tables[handle % KIND_SLOTS] as Table
    t.f64[Math.floor(handle / KIND_SLOTS) * t.stride + SEEN_AT] = now
    return handle
  }

  function sweep(now: number, registry: RegistryIndex): void {
    lastSweep = now
    for (const [id, handle] of tracks) {
      const t = tables[handle % KIND_SLOTS] as Table
      const row = Math.floor(handle / KIND_SLOTS)
      const plan = t.plans[row] as Plan
      if (now - (t.f64[row * t.stride + SEEN_AT] as number) > plan.idleMs || (plan.registry !== registry && registry.sensor(id) === undefined)) {
        tracks.delete(id)
        release(handle)
        stats.evicted++
      }
    }
    for (const episodes of [zoneRain, districtRain]) {
      for (const [key, e] of episodes) if (now - e.seenAt > idleMs) episodes.delete(key)
    }
  }

  function assess(readings: readonly Reading[]): QualityAssessment {
    const registry = options.registry()
    const now = clock.now()
    if (now - lastSweep >= sweepMs) sweep(now, registry)
    // Kept a small integer: the slot of a pending reading is only compared with the current call.
    call = (call + 1) & 0x3fffffff
    // Copied on the first changed flag only: the common all-good call allocates nothing but its result.
    let out: Reading[] | undefined
    let reflagged: Reading[] | undefined
    for (let n = 0; n < readings.length; n++) {
      const reading = readings[n] as Reading
      const handle = trackOf(reading, registry, now)
      const t = tables[handle % KIND_SLOTS] as Table
      const row = Math.floor(handle / KIND_SLOTS)
      const base = row * t.stride
      const ts = reading.ts
      const latestTs = t.f64[base + LATEST_TS] as number
      const inOrder = ts > latestTs
      const late = ts < latestTs - latenessMs
      fieldTests(reading, t, row, inOrder)
      if (inOrder && accRank < 2 && !Number.isNaN(t.f64[base + X1_TS] as number) && !Number.isNaN(t.f64[base + X0_TS] as number)) {
        const rank = accRank
        const reason = accReason
        spikeOfPending(reading, t, row)
        if (accRank > ((t.meta[row] as number) & X1_RANK)) {
          const pending = pendingOf(t, row, handle, reading.sensor)
          const corrected: Reading = { ...pending, quality: QUALITY_OF_RANK[accRank] as Quality, qualityReason: accReason }
          stats.reflagged++
          if (t.i32[2 * row + X1_CALL] === call) (out ??= readings.slice())[t.i32[2 * row + X1_SLOT] as number] = corrected
          else (reflagged ??= []).push(corrected)
          if (accRank === 2) {
            dropPending(t, row, handle)
            // The history changed under the new reading: test it again.
            fieldTests(reading, t, row, inOrder)
          } else {
            const meta = t.meta[row] as number
            keepPending(t, row, handle, corrected, (meta & X1_EXACT) !== 0 ? -1 : meta & (X1_HAS_SEQ | X1_SEQ_AFTER_TS))
            accRank = rank
            accReason = reason
          }
        } else {
          accRank = rank
          accReason = reason
        }
      }
      const quality = QUALITY_OF_RANK[accRank] as Quality
      let reason = accReason
      if (late) {
        stats.late++
        reason = reason === '' ? 'late' : 'late;' + reason
      }
      const result = quality === reading.quality && reason === reading.qualityReason ? reading : { ...reading, quality, qualityReason: reason }
      if (result !== reading) (out ??= readings.slice())[n] = result
      if (inOrder) {
        t.f64[base + LATEST_TS] = ts
        if (accRank < 2) push(result, t, row, handle, n)
      }
      const plan = t.plans[row] as Plan
      if (plan.isRainGauge && accRank < 2 && (reading.fields.rain_mm ?? 0) > 0) {
        const segment = t.sensors[row]?.segment ?? ''
        if (segment !== '') wet(zoneRain, segment, ts, now)
        wet(districtRain, reading.district, ts, now)
      }
    }
    stats.assessed += readings.length
    return { readings: out ?? readings, reflagged: reflagged ?? NO_READINGS }
  }

  function flatLineHistory(sensor: string): { entries: number; pairs: number; capacity: number } {
    let entries = 0
    let pairs = 0
    let capacity = 0
    const handle = tracks.get(sensor)
    if (handle === undefined) return { entries, pairs, capacity }
    const t = tables[handle % KIND_SLOTS] as Table
    const row = Math.floor(handle / KIND_SLOTS)
    for (let i = 0; i < t.n; i++) {
      const ring = t.ring(row, i)
      if (ring === undefined) continue
      entries += ring.entries()
      pairs += ring.size
      capacity += ring.mask + 1
    }
    return { entries, pairs, capacity }
  }

  return {
    assess,
    get size() {
      return tracks.size
    },
    stats,
    flatLineHistory,
  }
}
