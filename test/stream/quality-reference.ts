// The quality stage as it was before its per-sensor state moved into per-kind tables (one object per sensor, a Ring per
// flat-line field from the first reading): the plain reference the compact stage is compared with.
import { KIND_FIELDS, type Quality, type Reading, type Sensor, type SensorKind } from '../../domain.js'
import { systemClock, type Clock } from '../../ports.js'
import type { RegistryIndex } from '../../registry/registry-index.js'
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
} from '../../stream/indices/quality-tests.js'

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

function sharedFields(fields: FieldPlan[]): FieldPlan[] {
  let listKey = ''
  for (let i = 0; i < fields.length; i++) {
    const f = fields[i] as FieldPlan
    if (f.rate !== undefined) return fields
    const key = `${f.name}|${+f.hasLimits}${+f.perMinute}${+f.hasFlat}${+f.flatByCount}${+f.flatRainOnly}${+f.hasSpike}`
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

// Numbers of field i in Plan.lim at LIM * i + offset. Doubles live in packed arrays, where V8 stores them inline;
// as object properties each would be a pointer to its own heap number.
const LIM = 6
/** Values in [OK_MIN, OK_MAX] pass both ranges: rangeTest runs only outside (it is the authority on failures). */
const OK_MIN = 0
const OK_MAX = 1
/** Flat-line tolerance plus the decimal slack. */
const FLAT_TOLERANCE = 2
const FLAT_SUSPECT = 3
const FLAT_BAD = 4
/** Spike values at or below this pass; spikeTest runs only above. Infinity without spike limits. */
const SPIKE_SUSPECT = 5

/** A sensor's precomputed tests. */
interface Plan {
  kind: SensorKind
  /** The registry's sensor, whose limits the failing tests read; undefined for a sensor missing from it. */
  sensor: Sensor | undefined
  fields: FieldPlan[]
  lim: number[]
  /** The zone whose gauges decide "raining", or undefined for the district's. */
  rainZone: string | undefined
  district: string
  /** The segment a rain gauge reports for. */
  segment: string
  isRainGauge: boolean
  /** The registry capacity of a parking lot, to flag a differing reported capacity. */
  capacity: number | undefined
  /** First reading of a rain gauge: minutes it covers (intervalS / 60). */
  intervalMin: number
  idleMs: number
  hasRate: boolean
}

/**
 * A growable ring of (ts, value) pairs, oldest first, interleaved in one packed double array (doubles stored inline): the non-bad
 * history of one field for the flat-line test. It is trimmed only when full, so a push usually touches one cache
 * line; points older than needed only lengthen a run that already reaches the bad threshold, so they never change a flag.
 */
class Ring {
  // Small at first: most sensors of a large registry hold few points; it doubles as a run needs more. A packed double
  // array, not a Float64Array: as small as this, a typed array's own objects would weigh more than its data.
  buf: number[] = nans(8)
  /** Capacity in pairs − 1 (capacities are powers of 2). */
  mask = 3
  head = 0
  size = 0

  tsAt(i: number): number {
    return this.buf[((this.head + i) & this.mask) << 1] as number
  }

  vAt(i: number): number {
    return this.buf[(((this.head + i) & this.mask) << 1) + 1] as number
  }

  /** Appends a point; when full, first drops what the flat-line test (`bad`, by count or ms) of a point at `t` cannot reach. */
  push(t: number, x: number, byCount: boolean, bad: number): void {
    if (this.size > this.mask) {
      // Keep one spare point, so a spike taken out again (popLast) leaves enough.
      if (byCount) {
        while (this.size > bad - 1) this.shift()
      } else {
        const horizon = t - bad
        while (this.size >= 2 && this.tsAt(1) <= horizon) this.shift()
      }
      if (this.size > this.mask) this.grow()
    }
    const j = ((this.head + this.size) & this.mask) << 1
    this.buf[j] = t
    this.buf[j + 1] = x
    this.size++
  }

  shift(): void {
    this.head = (this.head + 1) & this.mask
    this.size--
  }

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

// Track.num: the latest event time seen (any quality; −Infinity before the first reading), the wall time of the last
// reading, then the two latest in-order non-bad readings x0 (older) and x1 (pending its spike test): their ts (NaN
// when absent) and field values (NaN when absent): x0's at X0 + i, x1's at X0 + n + i.
const LATEST_TS = 0
const SEEN_AT = 1
const X0_TS = 2
const X1_TS = 3
const X0 = 4

/** Per-sensor state: watermark, the spike pair, flat-line rings and the previous values per field for rates. */
interface Track {
  plan: Plan
  /** The registry the plan was computed from. */
  registry: RegistryIndex
  num: number[]
  x1: Reading | undefined
  /** Where x1 sits in the input of call `x1Call`, so a re-flag within the same call replaces it in the output. */
  x1Slot: number
  x1Call: number
  rings: (Ring | undefined)[]
  /** Per field i at 4i: previous non-bad ts and value, then the ones before (restored when a spike is taken out); rates only. */
  prev: number[] | undefined
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

function buildPlan(sensor: Sensor | undefined, kind: SensorKind, hasGauges: (segment: string) => boolean, rateLimits: Readonly<Record<string, RateLimit>> | undefined, idleMs: number): Plan {
  const spec = KIND_FIELDS[kind]
  const fields: FieldPlan[] = []
  const lim: number[] = []
  let rainOnly = false
  let hasRate = false
  for (const name of [...spec.required, ...spec.optional]) {
    // A sensor missing from the registry (never after ingest) gets only the sentinel test.
    const limits = sensor === undefined ? undefined : qualityLimits(sensor, name)
    const rate = sensor === undefined ? undefined : rateLimits?.[name]
    const flat = limits?.flat
    if (flat?.rainOnly === true) rainOnly = true
    if (rate !== undefined) hasRate = true
    fields.push({
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
    })
    // Finite bounds, so that ±Infinity still goes to rangeTest, which flags it bad.
    lim.push(
      Math.max(limits?.bad?.min ?? -Number.MAX_VALUE, limits?.suspect?.min ?? -Number.MAX_VALUE, -Number.MAX_VALUE),
      Math.min(limits?.bad?.max ?? Number.MAX_VALUE, limits?.suspect?.max ?? Number.MAX_VALUE, Number.MAX_VALUE),
      (flat?.tolerance ?? 0) + FLAT_EPS,
      flat?.suspect ?? Infinity,
      flat?.bad ?? Infinity,
      limits?.spike?.suspect ?? Infinity,
    )
  }
  const segment = sensor?.segment ?? ''
  return {
    kind,
    sensor,
    fields: sharedFields(fields),
    // Exactly sized (push leaves spare capacity).
    lim: lim.slice(),
    rainZone: rainOnly && hasGauges(segment) ? segment : undefined,
    district: sensor?.district ?? '',
    segment,
    isRainGauge: kind === 'rainfall',
    capacity: kind === 'parking' && sensor !== undefined ? num(sensor.params.capacity) : undefined,
    intervalMin: (sensor?.intervalS ?? 60) / 60,
    idleMs: sensor === undefined ? idleMs : Math.max(idleMs, qualityHistoryMs(sensor)),
    hasRate,
  }
}

/** The limits of a field that has some (so its plan has a sensor): computed again, only for a failing test. */
function limitsOf(plan: Plan, f: FieldPlan): FieldLimits {
  return qualityLimits(plan.sensor as Sensor, f.name) as FieldLimits
}

function newTrack(plan: Plan, registry: RegistryIndex, now: number): Track {
  const n = plan.fields.length
  const rings: (Ring | undefined)[] = new Array<Ring | undefined>(n).fill(undefined)
  const values = nans(X0 + 2 * n)
  values[LATEST_TS] = -Infinity
  values[SEEN_AT] = now
  return { plan, registry, num: values, x1: undefined, x1Slot: -1, x1Call: -1, rings, prev: plan.hasRate ? nans(4 * n) : undefined }
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
 */
export function referenceQualityStage(options: QualityStageOptions): QualityStage {
  const clock = options.clock ?? systemClock
  const latenessMs = options.latenessS * 1000
  const idleMs = options.idleMs ?? 24 * HOUR
  const sweepMs = options.sweepMs ?? 60_000
  const rateLimits = options.rateLimits
  const tracks = new Map<string, Track>()
  const zoneRain = new Map<string, RainEpisode>()
  const districtRain = new Map<string, RainEpisode>()
  const stats: QualityStageStats = { assessed: 0, late: 0, reflagged: 0, evicted: 0 }
  let lastSweep = clock.now()
  let call = 0
  let gaugesOf: RegistryIndex | undefined
  const gauged = new Map<string, boolean>()

  function planOf(reading: Reading, registry: RegistryIndex): Plan {
    return buildPlan(registry.sensor(reading.sensor), reading.kind, (segment) => hasGauges(registry, segment), rateLimits, idleMs)
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

  function rainingSince(plan: Plan, ts: number): number | null {
    const e = plan.rainZone !== undefined ? zoneRain.get(plan.rainZone) : districtRain.get(plan.district)
    return e !== undefined && ts >= e.since && ts - e.last < RAIN_WINDOW_MS ? e.since : null
  }

  /** Runs the tests of one reading into the accumulator; history-based tests only for in-order readings. */
  function fieldTests(reading: Reading, track: Track, inOrder: boolean): void {
    accRank = 0
    accReason = ''
    const plan = track.plan
    const lim = plan.lim
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
        const latestTs = track.num[LATEST_TS] as number
        const gapMin = inOrder && latestTs !== -Infinity ? (ts - latestTs) / MINUTE : 0
        tested = value / (gapMin > 0 ? gapMin : plan.intervalMin)
      }
      const at = LIM * i
      if (!(tested >= (lim[at + OK_MIN] as number) && tested <= (lim[at + OK_MAX] as number))) add(rangeTest(f.name, tested, limitsOf(plan, f)))
      if (!inOrder) continue
      if (f.hasFlat) {
        let from = -Infinity
        if (f.flatRainOnly) {
          if (since === undefined) since = rainingSince(plan, ts)
          from = since ?? Infinity
        }
        if (from !== Infinity) {
          const tolerance = lim[at + FLAT_TOLERANCE] as number
          let count = 1
          let startTs = ts
          const ring = track.rings[i]
          if (ring !== undefined) {
            for (let k = ring.size - 1; k >= 0; k--) {
              const t = ring.tsAt(k)
              if (t < from || Math.abs(ring.vAt(k) - value) > tolerance) break
              count++
              startTs = t
            }
          }
          const measure = f.flatByCount ? count : ts - startTs
          if (measure >= (lim[at + FLAT_BAD] as number)) add(f.flatBadResult)
          else if (measure >= (lim[at + FLAT_SUSPECT] as number)) add(f.flatSuspectResult)
        }
      }
      const prev = track.prev
      if (f.rate !== undefined && prev !== undefined) {
        const prevTs = prev[4 * i] as number
        if (!Number.isNaN(prevTs)) add(rateOfChangeTest(f.name, { ts: prevTs, value: prev[4 * i + 1] as number }, { ts, value }, f.rate))
      }
    }
    if (plan.capacity !== undefined) {
      const reported = fields.capacity
      if (reported !== undefined && reported !== plan.capacity) add(CAPACITY_MISMATCH)
    }
  }

  /** Spike test of the pending x1 against x0 and the new reading, into the accumulator. */
  function spikeOfPending(reading: Reading, track: Track): void {
    accRank = 0
    accReason = ''
    const plan = track.plan
    const n = plan.fields.length
    const values = track.num
    for (let i = 0; i < n; i++) {
      const f = plan.fields[i] as FieldPlan
      if (!f.hasSpike) continue
      const v0 = values[X0 + i] as number
      const v1 = values[X0 + n + i] as number
      const v2 = reading.fields[f.name]
      if (v2 === undefined || Number.isNaN(v0) || Number.isNaN(v1)) continue
      if (spikeValue(v0, v1, v2) > (plan.lim[LIM * i + SPIKE_SUSPECT] as number)) add(spikeTest(f.name, v0, v1, v2, limitsOf(plan, f).spike as SpikeLimits))
    }
  }

  /** Takes the pending x1 (re-flagged bad) out of the history: it is no neighbour and no flat-line point. */
  function dropPending(track: Track): void {
    const values = track.num
    const x1Ts = values[X1_TS] as number
    const n = track.plan.fields.length
    for (let i = 0; i < n; i++) {
      const ring = track.rings[i]
      if (ring !== undefined && ring.size > 0 && ring.tsAt(ring.size - 1) === x1Ts) ring.popLast()
      values[X0 + n + i] = NaN
    }
    const prev = track.prev
    if (prev !== undefined) {
      for (let i = 0; i < n; i++) {
        if (prev[4 * i] !== x1Ts) continue
        prev[4 * i] = prev[4 * i + 2] as number
        prev[4 * i + 1] = prev[4 * i + 3] as number
        prev[4 * i + 2] = NaN
      }
    }
    values[X1_TS] = NaN
    track.x1 = undefined
  }

  /** Adds an in-order non-bad reading to the history; it becomes the pending x1. */
  function push(out: Reading, track: Track, slot: number): void {
    const plan = track.plan
    const n = plan.fields.length
    const ts = out.ts
    const fields = out.fields
    const values = track.num
    const shift = !Number.isNaN(values[X1_TS] as number)
    if (shift) values[X0_TS] = values[X1_TS] as number
    values[X1_TS] = ts
    track.x1 = out
    track.x1Slot = slot
    track.x1Call = call
    const prev = track.prev
    for (let i = 0; i < n; i++) {
      const f = plan.fields[i] as FieldPlan
      const value = fields[f.name]
      // x1 becomes x0.
      if (shift) values[X0 + i] = values[X0 + n + i] as number
      values[X0 + n + i] = value === undefined ? NaN : value
      if (value === undefined) continue
      if (f.hasFlat) {
        let ring = track.rings[i]
        if (ring === undefined) {
          ring = new Ring()
          track.rings[i] = ring
        }
        ring.push(ts, value, f.flatByCount, plan.lim[LIM * i + FLAT_BAD] as number)
      }
      if (f.rate !== undefined && prev !== undefined) {
        prev[4 * i + 2] = prev[4 * i] as number
        prev[4 * i + 3] = prev[4 * i + 1] as number
        prev[4 * i] = ts
        prev[4 * i + 1] = value
      }
    }
  }

  function trackOf(reading: Reading, registry: RegistryIndex, now: number): Track {
    let track = tracks.get(reading.sensor)
    if (track === undefined) {
      track = newTrack(planOf(reading, registry), registry, now)
      tracks.set(reading.sensor, track)
    } else if (track.registry !== registry) {
      const plan = planOf(reading, registry)
      // A sensor that changed kind starts over; otherwise its history stays valid under the new limits.
      if (plan.kind !== track.plan.kind) {
        track = newTrack(plan, registry, now)
        tracks.set(reading.sensor, track)
      } else {
        track.plan = plan
        track.registry = registry
      }
    }
    track.num[SEEN_AT] = now
    return track
  }

  function sweep(now: number, registry: RegistryIndex): void {
    lastSweep = now
    for (const [id, track] of tracks) {
      if (now - (track.num[SEEN_AT] as number) > track.plan.idleMs || (track.registry !== registry && registry.sensor(id) === undefined)) {
        tracks.delete(id)
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
      const track = trackOf(reading, registry, now)
      const ts = reading.ts
      const latestTs = track.num[LATEST_TS] as number
      const inOrder = ts > latestTs
      const late = ts < latestTs - latenessMs
      fieldTests(reading, track, inOrder)
      if (inOrder && accRank < 2 && track.x1 !== undefined && !Number.isNaN(track.num[X0_TS] as number)) {
        const rank = accRank
        const reason = accReason
        spikeOfPending(reading, track)
        const pending = track.x1
        if (accRank > RANK[pending.quality]) {
          const corrected: Reading = { ...pending, quality: QUALITY_OF_RANK[accRank] as Quality, qualityReason: accReason }
          stats.reflagged++
          if (track.x1Call === call) (out ??= readings.slice())[track.x1Slot] = corrected
          else (reflagged ??= []).push(corrected)
          if (accRank === 2) {
            dropPending(track)
            // The history changed under the new reading: test it again.
            fieldTests(reading, track, inOrder)
          } else {
            track.x1 = corrected
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
        track.num[LATEST_TS] = ts
        if (accRank < 2) push(result, track, n)
      }
      if (track.plan.isRainGauge && accRank < 2 && (reading.fields.rain_mm ?? 0) > 0) {
        if (track.plan.segment !== '') wet(zoneRain, track.plan.segment, ts, now)
        wet(districtRain, reading.district, ts, now)
      }
    }
    stats.assessed += readings.length
    return { readings: out ?? readings, reflagged: reflagged ?? NO_READINGS }
  }

  return {
    assess,
    get size() {
      return tracks.size
    },
    stats,
  }
}
