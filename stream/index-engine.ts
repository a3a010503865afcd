import type { Logger } from 'pino'
import { asyncScheduler, Observable, Subject, type SchedulerLike, type Subscriber, type Subscription } from 'rxjs'
import type { Reading, Segment, Sensor } from '../domain.js'
import type { Clock } from '../ports.js'
import type { RegistryIndex } from '../registry/registry-index.js'
import { CLEAR_PARAMETERS, type ClearParameter, type ClearValues, type WaterBodyType } from './indices/clear-subscores.js'
import { clearWaterIndex, type ClearIndex } from './indices/clear-water-index.js'
import { clearConfidence, clearWindowMs, clearWindowOfColumns, stationMedian, type ClearWindow, type StationWindows } from './indices/clear-window.js'
import { CORROBORATION_SCORE, PERSISTENCE_MS } from './indices/corroboration.js'
import { districtClearIndex, type DistrictClearSegment } from './indices/district-clear-index.js'
import { districtSmoothIndex, type DistrictSmoothZone } from './indices/district-smooth-index.js'
import type { NullIndex } from './indices/null-index.js'
import { isRaining, rainTotalsOfColumns } from './indices/rain-totals.js'
import type { ReadingColumns } from './indices/reading-columns.js'
import { MEDIAN_SPAN_MS, sensorValue } from './indices/sensor-value.js'
import { levelOfBand, SMOOTH_FIELD, smoothScorer, type AlertLevel } from './indices/smooth-subscores.js'
import { smoothWaterIndex, type SensorSnapshot, type SmoothIndex } from './indices/smooth-water-index.js'
import type { TimedValue } from './indices/timed-value.js'
import {
  clearIndexJson,
  districtClearJson,
  districtSmoothJson,
  roundConfidence,
  smoothIndexJson,
  type DistrictIndexJson,
  type IndexUpdate,
  type IndicesSnapshot,
  type SegmentIndexJson,
  type WaterIndexPoint,
} from './index-json.js'
import { indexSchedule, slicedByTurn, type IndexTick } from './index-scheduler.js'
import { indexTopology, type IndexTopology } from './index-topology.js'
import { createSensorHistory, type SensorRecord } from './sensor-history.js'
import { advanceZoneAlert, INITIAL_ZONE_ALERT, resolveZoneAlert, settleZoneAlert, zoneAlertDue, type ZoneAlertState, type ZoneEvaluation } from './zone-alert.js'

const MINUTE = 60_000
const HOUR = 3_600_000

/** A sensor silent in event time this long behind the newest reading is forgotten (the longest window), ms. */
export const IDLE_EVICT_MS = 12 * HOUR
/** Rain kept per gauge: the longest rain total, R12h (INDICES.md §2), ms. */
export const RAIN_RETENTION_MS = 12 * HOUR
/** Readings kept per smooth-water sensor: the 30-min persistence run with room to spare, ms. */
export const SMOOTH_RETENTION_MS = 60 * MINUTE
/** Event time between two sweeps for idle sensors driven by readings (the refresh sweeps too), ms. */
const SWEEP_EVENT_MS = 10 * MINUTE

/** `segment` tag of a district's `water_index` points (SPEC §10). */
export const DISTRICT_SEGMENT = '_all'

/** Options of createIndexEngine; every default is here. */
export interface IndexEngineOptions {
  /** The registry in force, read on every computation so that a reload takes effect. */
  registry: () => RegistryIndex
  /** Wall clock: staleness (silent for 3 × intervalS since its last arrival). */
  clock: Clock
  /** `CITYWATER_LATENESS_S`, seconds: readings older than their sensor's latest `ts` minus this are counted as late corrections. */
  latenessS: number
  logger: Logger
  /** Least time between two recomputations of one key, ms; default 1000 (SPEC §7). */
  throttleMs?: number
  /** Period of the refresh of every key, ms; default 10 000 (SPEC §7). */
  refreshMs?: number
  /** Runs the throttle and the refresh (wall time); default asyncScheduler. */
  scheduler?: SchedulerLike
}

/** A zone's smooth-water alert level changed. */
export interface ZoneAlertChange {
  zone: string
  district: string
  level: AlertLevel
  previous: AlertLevel
  /** Event time of the evaluation that changed it, epoch ms. */
  at: number
}

/** Counters and sizes of the engine. */
export interface IndexEngineStats {
  /** Readings applied to an index input. */
  applied: number
  /** Applied readings older than their sensor's latest `ts` minus the lateness: late corrections. */
  lateCorrections: number
  /** Readings older than every window they could move: not applied. */
  tooOld: number
  /** Readings of sensors no index reads. */
  ignored: number
  /** Sensors whose history is held. */
  sensors: number
  /** Readings held over all sensors. */
  readings: number
  /** Sensors forgotten (idle or gone from the registry). */
  evicted: number
  /** Recomputations that threw (logged). */
  errors: number
  /** Segment and zone indices computed from their inputs. */
  computed: number
  /** Segment and zone indices reused because their inputs had not changed since they were computed. */
  reused: number
}

/** The live clear-water and smooth-water indices (INDICES.md §1, §2) of every segment, zone and district. */
export interface IndexEngine {
  /** Applies accepted readings (any quality); one with the `(sensor, ts)` of a held reading replaces it (re-flags, corrections). */
  update(readings: readonly Reading[]): void
  /** The `/api/indices` body without `generatedAt`, with every input applied so far. */
  current(): IndicesSnapshot
  /** Every emitted result: on change (at most once a second per key) and every key at each refresh. */
  readonly updates$: Observable<IndexUpdate>
  /** Level changes of the zones' smooth-water alert machines. */
  readonly zoneAlerts$: Observable<ZoneAlertChange>
  /** A zone's smooth-water alert level 0–4 (INDICES.md §4), 0 for an unknown zone. */
  zoneAlertLevel(zoneId: string): AlertLevel
  /** An operator clears a held score: the silent sensor drops out of its zones until it reports again. */
  clearHeld(sensorId: string): boolean
  stats(): IndexEngineStats
  /** Stops the schedule and completes the observables. */
  close(): void
}

interface ZoneRuntime {
  /** Latest event time of the zone's inputs, epoch ms. */
  eventTime: number | undefined
  /** The score each sensor last counted with (`lastScore` of INDICES.md §2 holding). */
  lastScores: Map<string, number>
  alert: ZoneAlertState
  /** Level of the latest resolved evaluation. */
  level: AlertLevel
}

interface SegmentResult {
  type: 'segment'
  segment: Segment
  json: SegmentIndexJson
  text: string
  eventTime: number | null
  points: WaterIndexPoint[]
  clear?: { index: ClearIndex | NullIndex; values: ClearValues }
  smooth?: SmoothIndex | NullIndex
}

interface DistrictResult {
  type: 'district'
  district: string
  /** The segment results it was computed from, in the district's order, and the registry they came from. */
  from: readonly SegmentResult[]
  topo: IndexTopology
  json: DistrictIndexJson
  text: string
  eventTime: number | null
  points: WaterIndexPoint[]
}

type Result = SegmentResult | DistrictResult

/**
 * What a segment's or zone's index was computed from, beyond the registry: a result is reused only while all of it is
 * unchanged, so a reuse returns exactly what a recomputation would.
 */
interface InputStamp {
  topo: IndexTopology
  segment: Segment
  /** The segment's input version (readings of its sensors, operator clears) and the engine's eviction epoch. */
  version: number
  epoch: number
  /** Wall time it was computed at, epoch ms. */
  now: number
  /** Until this wall time (inclusive) no input sensor that was fresh turns stale, epoch ms; `now` when a stale station's window end moves with the clock. */
  freshUntil: number
}

/** Whether `stamp` still describes the inputs: same registry, same readings, no staleness change on the wall clock. */
function stampHolds(stamp: InputStamp, topo: IndexTopology, segment: Segment, version: number, epoch: number, now: number): boolean {
  return stamp.topo === topo && stamp.segment === segment && stamp.version === version && stamp.epoch === epoch && (now === stamp.now || (now > stamp.now && now <= stamp.freshUntil))
}

/**
 * The last wall time at which a sensor that is fresh at `now` is still fresh (`now − lastReceivedAt ≤ 3·intervalS`),
 * one millisecond early so that rounding can never make a stale sensor look fresh.
 */
function freshUntilOf(sensor: Sensor, lastReceivedAt: number): number {
  return lastReceivedAt + 3 * sensor.intervalS * 1000 - 1
}

/** Keys a refresh recomputes in one event-loop turn; the rest follow in later turns. */
const REFRESH_KEYS_PER_TURN = 8

/** Bounds a key cache for registries reloaded with ever new ids; a cleared cache only builds its keys again. */
const KEY_CACHE_MAX = 1 << 17

/** Keys by id, each built once: every reading names its segments and district, and a string per call is garbage. */
function keyOf(cache: Map<string, string>, prefix: string, id: string): string {
  let key = cache.get(id)
  if (key === undefined) {
    if (cache.size >= KEY_CACHE_MAX) cache.clear()
    key = prefix + id
    cache.set(id, key)
  }
  return key
}
/** Appends `id` unless present: a reading touches a few segments, so a scan beats a Set made per call. */
function addOnce(list: string[], id: string): void {
  if (!list.includes(id)) list.push(id)
}
const segmentKeys = new Map<string, string>()
const districtKeys = new Map<string, string>()
const segmentKey = (id: string) => keyOf(segmentKeys, 'segment:', id)
const districtKey = (id: string) => keyOf(districtKeys, 'district:', id)

/** Readings kept per sensor, by what the indices read of it. */
function retentionOf(topology: () => IndexTopology, sensor: Sensor): number {
  switch (topology().role(sensor.id)) {
    case 'station':
      return clearWindowMs(sensor.intervalS)
    case 'rain':
      return RAIN_RETENTION_MS
    default:
      return Math.max(SMOOTH_RETENTION_MS, PERSISTENCE_MS + 3 * sensor.intervalS * 1000)
  }
}

/** Event time a sensor may stay silent before it is forgotten: 12 h, or a clear-water window plus its hold. */
function idleOf(topology: () => IndexTopology, sensor: Sensor): number {
  return topology().role(sensor.id) === 'station' ? Math.max(IDLE_EVICT_MS, 2 * clearWindowMs(sensor.intervalS)) : IDLE_EVICT_MS
}

/** A good reading older than this behind its sensor's latest reading is no current value (INDICES.md §2 value rule). */
function valueHorizonMs(sensor: Sensor): number {
  return Math.max(MEDIAN_SPAN_MS, 3 * sensor.intervalS * 1000)
}

/** A sensor's snapshot; `lastScore` is present only when there is one. */
function snapshotWith(sensor: Sensor, lastScore: number | undefined, recent: TimedValue[], stale: boolean): SensorSnapshot {
  return lastScore !== undefined ? { sensor, lastScore, recent, stale } : { sensor, recent, stale }
}

const mean = (xs: readonly number[]): number => (xs.length === 0 ? 0 : xs.reduce((a, b) => a + b, 0) / xs.length)

/**
 * Creates the index engine. Inputs are kept per sensor, bounded by the windows the indices read (clear-water
 * window W, 60 min for smooth-water sensors, 12 h of rain) and forgotten after 12 h idle in event time. Results
 * are computed over windows ending at the latest event time of their inputs, as soon as readings are applied;
 * emitted on change at most once a second per key, and all of them every 10 s.
 */
export function createIndexEngine(options: IndexEngineOptions): IndexEngine {
  const log = options.logger.child({ module: 'index-engine' })
  const scheduler = options.scheduler ?? asyncScheduler
  const latenessMs = options.latenessS * 1000
  const topology = (): IndexTopology => indexTopology(options.registry())
  const history = createSensorHistory({
    retentionMs: (sensor) => retentionOf(topology, sensor),
    idleMs: (sensor) => idleOf(topology, sensor),
  })
  // All bounded by the registry: pruned to its segments, zones and sensors at every sweep.
  const zones = new Map<string, ZoneRuntime>()
  const results = new Map<string, Result>()
  const emitted = new Map<string, string>()
  const pending = new Set<string>()
  const stats = { applied: 0, lateCorrections: 0, tooOld: 0, ignored: 0, evicted: 0, errors: 0, computed: 0, reused: 0 }
  /** Input version per segment and zone: bumped by every reading of one of its sensors and by an operator's clear. */
  const versions = new Map<string, number>()
  /** Bumped whenever sensors are forgotten, which changes the inputs of their segments. */
  let epoch = 0
  const versionOf = (id: string): number => versions.get(id) ?? 0
  const bump = (id: string): void => void versions.set(id, versionOf(id) + 1)
  let lastSweepAt: number | undefined

  const updates = new Subject<IndexUpdate>()
  const zoneAlerts = new Subject<ZoneAlertChange>()
  /**
   * Keys whose inputs changed, into the schedule. Not a Subject: its `next` costs a closure and an iterator per
   * call, and this one is called for a segment and a district on every reading; the schedule is its only subscriber.
   */
  let dirtySink: Subscriber<string> | undefined
  const dirty$ = new Observable<string>((subscriber) => {
    dirtySink = subscriber
    return () => {
      if (dirtySink === subscriber) dirtySink = undefined
    }
  })
  const dirty = {
    next: (key: string): void => dirtySink?.next(key),
    complete: (): void => dirtySink?.complete(),
  }

  function zoneRuntime(id: string): ZoneRuntime {
    let z = zones.get(id)
    if (z === undefined) {
      z = { eventTime: undefined, lastScores: new Map(), alert: INITIAL_ZONE_ALERT, level: 0 }
      zones.set(id, z)
    }
    return z
  }

  // Clear water (INDICES.md §1)

  /** A station's windows end at its latest reading; once stale on the wall clock, its silence moves the end on. */
  function stationWindowEnd(sensor: Sensor, rec: SensorRecord, now: number): number {
    const silentMs = now - rec.lastReceivedAt
    return silentMs > 3 * sensor.intervalS * 1000 ? rec.latestTs + silentMs : rec.latestTs
  }

  /**
   * Valid windows of a station by parameter, while its readings, the window end and the sensor are those they were
   * computed from: a recomputation of the segment then reads them instead of copying the readings again. Invalid
   * windows are not kept, as they depend on the last valid one.
   */
  const validWindows = new WeakMap<SensorRecord, { sensor: Sensor; changes: number; end: number; windows: Partial<Record<ClearParameter, ClearWindow>> }>()

  function stationWindow(sensor: Sensor, rec: SensorRecord, parameter: ClearParameter, end: number): ClearWindow {
    let cache = validWindows.get(rec)
    if (cache === undefined || cache.changes !== rec.changes || cache.end !== end || cache.sensor !== sensor) {
      cache = { sensor, changes: rec.changes, end, windows: {} }
      validWindows.set(rec, cache)
    }
    const cached = cache.windows[parameter]
    if (cached !== undefined) {
      const last = rec.lastValid?.[parameter]
      if (last === undefined || last.ts !== end || last.value !== cached.value) (rec.lastValid ??= {})[parameter] = { value: cached.value as number, ts: end }
      return cached
    }
    const lastValid = rec.lastValid?.[parameter]
    const w = clearWindowOfColumns({
      parameter,
      readings: rec.readings,
      latestTs: end,
      intervalS: sensor.intervalS,
      ...(lastValid !== undefined ? { lastValid } : {}),
    })
    if (w.valid && w.value !== null) {
      ;(rec.lastValid ??= {})[parameter] = { value: w.value, ts: end }
      cache.windows[parameter] = w
    }
    return w
  }

  type ClearResult = { index: ClearIndex | NullIndex; values: ClearValues; eventTime: number | null }
  const clearMemo = new Map<string, { stamp: InputStamp; result: ClearResult }>()

  /** computeClear, or its last result while the segment's inputs are those it was computed from. */
  function clearOf(segment: Segment, topo: IndexTopology, now: number): ClearResult {
    const memo = clearMemo.get(segment.id)
    const version = versionOf(segment.id)
    if (memo !== undefined && stampHolds(memo.stamp, topo, segment, version, epoch, now)) {
      stats.reused++
      return memo.result
    }
    stats.computed++
    const stamp: InputStamp = { topo, segment, version, epoch, now, freshUntil: Infinity }
    const result = computeClear(segment, topo, now, stamp)
    clearMemo.set(segment.id, { stamp, result })
    return result
  }

  function computeClear(segment: Segment, topo: IndexTopology, now: number, stamp: InputStamp): ClearResult {
    const stations = topo.stations(segment.id)
    if (stations.length === 0) return { index: { value: null, reason: 'no water-quality station on the segment' }, values: {}, eventTime: null }
    let eventTime: number | null = null
    let held = false
    const perParameter: Partial<Record<ClearParameter, number[]>> = {}
    const windows: StationWindows[] = []
    for (const sensor of stations) {
      const valid = new Set<ClearParameter>()
      windows.push({ sensor, valid })
      const rec = history.get(sensor.id)
      if (rec === undefined) continue
      eventTime = Math.max(eventTime ?? rec.latestTs, rec.latestTs)
      const end = stationWindowEnd(sensor, rec, now)
      // A stale station's windows end later with every millisecond of silence; a fresh one's hold until it goes stale.
      stamp.freshUntil = end === rec.latestTs ? Math.min(stamp.freshUntil, freshUntilOf(sensor, rec.lastReceivedAt)) : now
      for (const p of CLEAR_PARAMETERS) {
        const w = stationWindow(sensor, rec, p, end)
        if (w.valid) valid.add(p)
        if (w.value === null) continue
        ;(perParameter[p] ??= []).push(w.value)
        if (w.held) held = true
      }
    }
    const values: ClearValues = {}
    for (const p of CLEAR_PARAMETERS) {
      const median = stationMedian(p, perParameter[p] ?? [])
      if (median !== undefined) values[p] = median
    }
    if (eventTime === null) return { index: { value: null, reason: 'no readings yet' }, values, eventTime }
    const index = clearWaterIndex(values, {
      waterType: segment.type as WaterBodyType,
      ...(segment.targetClass !== undefined ? { targetClass: segment.targetClass } : {}),
      confidence: clearConfidence(windows),
      flags: held ? ['held'] : [],
    })
    return { index, values, eventTime }
  }

  // Smooth water (INDICES.md §2)

  /** smoothScorer per registry sensor object, so a snapshot can tell whether the index reads past the sensor's value. */
  const scorers = new WeakMap<Sensor, ((value: number) => number) | null>()
  function scorerOf(sensor: Sensor): ((value: number) => number) | undefined {
    let score = scorers.get(sensor)
    if (score === undefined) {
      score = smoothScorer(sensor) ?? null
      scorers.set(sensor, score)
    }
    return score ?? undefined
  }

  function snapshotOf(sensor: Sensor, zone: ZoneRuntime, now: number, stamp: InputStamp): SensorSnapshot {
    const lastScore = zone.lastScores.get(sensor.id)
    const rec = history.get(sensor.id)
    const field = SMOOTH_FIELD[sensor.kind]
    if (rec === undefined || field === undefined) return snapshotWith(sensor, lastScore, [], false)
    const stale = now - rec.lastReceivedAt > 3 * sensor.intervalS * 1000
    // A stale sensor's readings are not read (smoothWaterIndex).
    if (stale) return snapshotWith(sensor, lastScore, [], stale)
    stamp.freshUntil = Math.min(stamp.freshUntil, freshUntilOf(sensor, rec.lastReceivedAt))
    const horizon = rec.latestTs - valueHorizonMs(sensor)
    const readings = rec.readings
    const { data } = readings
    const offset = readings.offsetOf(field)
    const first = readings.start
    const end = first + readings.length
    // The sensor's value reads only its last 3 good readings newer than the horizon: the tail back to the third.
    const tail: TimedValue[] = []
    let good = 0
    /** The earliest row the tail read. */
    let tailFrom = end
    for (let row = end - 1; offset >= 0 && row >= first && good < 3; row--) {
      const ts = data[row] as number
      if (ts <= horizon) break
      tailFrom = row
      const value = readings.valueAt(offset + row)
      if (value === undefined) continue
      const quality = readings.qualityAt(row)
      tail.push({ ts, value, quality })
      if (quality === 'good' && Number.isFinite(value)) good++
    }
    tail.reverse()
    // Only a value scoring below 40 makes the index look back further, for the persistence run (corroboration).
    const value = sensorValue(tail)
    const score = value === undefined ? undefined : scorerOf(sensor)
    if (score === undefined || score(value?.value as number) >= CORROBORATION_SCORE) return snapshotWith(sensor, lastScore, tail, stale)
    // The persistence run (belowFortySince) goes back from the latest usable reading (not bad, finite) while each
    // scores below 40, and stops at the first one scoring 40 or more: rows before that one, and before the tail the
    // value reads, change neither the run nor the value, so they are not copied (a full window is thousands).
    let from = first
    for (let row = end - 1; offset >= 0 && row >= first; row--) {
      const value = readings.valueAt(offset + row)
      if (value === undefined || !Number.isFinite(value) || readings.qualityAt(row) === 'bad') continue
      if (score(value) >= CORROBORATION_SCORE) {
        from = row
        break
      }
    }
    from = Math.min(from, tailFrom)
    const recent: TimedValue[] = []
    for (let row = from; offset >= 0 && row < end; row++) {
      const value = readings.valueAt(offset + row)
      if (value === undefined) continue
      const ts = data[row] as number
      const quality = readings.qualityAt(row)
      // An old good reading still counts for the persistence run, but is no current value of a sensor sending only suspect ones.
      recent.push({ ts, value, quality: quality === 'good' && ts <= horizon ? 'suspect' : quality })
    }
    return snapshotWith(sensor, lastScore, recent, stale)
  }

  type ZoneResult = { index: SmoothIndex | NullIndex; evaluation: ZoneEvaluation }
  /** The last computation per zone, with its event time. */
  const zoneMemo = new Map<string, { stamp: InputStamp; at: number; result: ZoneResult }>()

  /**
   * A zone's index at event time `at`, reused while its inputs and `at` are those it was computed from. The last
   * scores it stores are an input too, but storing them is idempotent: a sensor's last score is read only while it
   * has no current value, and then the score stored is that last score. So a reuse stores them again, as a
   * recomputation would, and returns what it would return.
   */
  function computeZone(segment: Segment, topo: IndexTopology, at: number): ZoneResult {
    const zone = zoneRuntime(segment.id)
    const now = options.clock.now()
    const version = versionOf(segment.id)
    const memo = zoneMemo.get(segment.id)
    let result: ZoneResult
    if (memo !== undefined && memo.at === at && stampHolds(memo.stamp, topo, segment, version, epoch, now)) {
      stats.reused++
      result = memo.result
    } else {
      stats.computed++
      const stamp: InputStamp = { topo, segment, version, epoch, now, freshUntil: Infinity }
      const sensors = topo.zoneSensors(segment.id).map((s) => snapshotOf(s, zone, now, stamp))
      const gauges: ReadingColumns[] = []
      for (const g of topo.rainGauges(segment.id)) {
        const held = history.get(g.id)?.readings
        if (held !== undefined) gauges.push(held)
      }
      const rain = rainTotalsOfColumns(gauges, at)
      const index = smoothWaterIndex({ sensors, rain, now: at })
      const evaluation: ZoneEvaluation = index.value === null
        ? { value: null, rainPressure: 0, raining: isRaining(rain) }
        : { value: index.value, rainPressure: index.rainPressure, raining: isRaining(rain) }
      result = { index, evaluation }
      zoneMemo.set(segment.id, { stamp, at, result })
    }
    const { index } = result
    if (index.value !== null) for (const s of index.sensors) zone.lastScores.set(s.sensor, s.score)
    return result
  }

  function setAlert(zoneId: string, zone: ZoneRuntime, next: ZoneAlertState): void {
    zone.alert = next
    if (next.pending || next.at === undefined || next.after.level === zone.level) return
    const change: ZoneAlertChange = { zone: zoneId, district: options.registry().segment(zoneId)?.district ?? '', level: next.after.level, previous: zone.level, at: next.at }
    zone.level = next.after.level
    zoneAlerts.next(change)
  }

  function evaluator(zoneId: string): (at: number) => ZoneEvaluation {
    return (at) => {
      const topo = topology()
      const segment = options.registry().segment(zoneId)
      if (segment === undefined) return { value: null, rainPressure: 0, raining: false }
      return computeZone(segment, topo, at).evaluation
    }
  }

  // Results

  function computeSegment(segment: Segment, topo: IndexTopology): SegmentResult {
    const key = segmentKey(segment.id)
    pending.delete(key)
    const previous = results.get(key)
    const points: WaterIndexPoint[] = []
    let result: SegmentResult
    if (segment.type === 'drainage') {
      const zone = zoneRuntime(segment.id)
      const at = zone.eventTime ?? 0
      const { index, evaluation } = computeZone(segment, topo, at)
      // The open evaluation at the zone's event time reads exactly this result.
      if (zone.alert.pending && zone.alert.at === zone.eventTime) setAlert(segment.id, zone, resolveZoneAlert(zone.alert, () => evaluation))
      // The same index at the same event time: the same JSON and points.
      if (previous?.type === 'segment' && previous.segment === segment && previous.smooth === index && previous.eventTime === (zone.eventTime ?? null)) return previous
      const smooth = smoothIndexJson(index)
      if (index.value !== null) points.push({ index: 'smooth', value: index.value, level: index.level, confidence: roundConfidence(index.confidence) })
      const json: SegmentIndexJson = { segment: segment.id, district: segment.district, type: segment.type, clear: null, smooth }
      result = { type: 'segment', segment, json, text: JSON.stringify(json), eventTime: zone.eventTime ?? null, points, smooth: index }
    } else {
      const clear = clearOf(segment, topo, options.clock.now())
      if (previous?.type === 'segment' && previous.segment === segment && previous.clear?.index === clear.index) return previous
      const { index, values, eventTime } = clear
      if (index.value !== null) points.push({ index: 'clear', value: index.value, level: index.class, confidence: roundConfidence(index.confidence) })
      const json: SegmentIndexJson = { segment: segment.id, district: segment.district, type: segment.type, clear: clearIndexJson(index), smooth: null }
      result = { type: 'segment', segment, json, text: JSON.stringify(json), eventTime, points, clear: { index, values } }
    }
    results.set(key, result)
    return result
  }

  function freshSegment(segment: Segment, topo: IndexTopology): SegmentResult {
    const key = segmentKey(segment.id)
    const cached = results.get(key)
    return cached?.type === 'segment' && !pending.has(key) && cached.segment === segment ? cached : computeSegment(segment, topo)
  }

  function computeDistrict(district: string, topo: IndexTopology): DistrictResult {
    const key = districtKey(district)
    pending.delete(key)
    const clearSegments: DistrictClearSegment[] = []
    const clearConfidences: number[] = []
    const zonesOf: DistrictSmoothZone[] = []
    const smoothConfidences: number[] = []
    let eventTime: number | null = null
    const segments = topo.segmentsOfDistrict(district)
    const from = segments.map((segment) => freshSegment(segment, topo))
    // The same segment results as last time: the same district result (it reads nothing else).
    const previous = results.get(key)
    if (previous?.type === 'district' && previous.topo === topo && previous.from.length === from.length && previous.from.every((r, i) => r === from[i])) return previous
    for (const [i, segment] of segments.entries()) {
      const r = from[i] as SegmentResult
      if (r.eventTime !== null) eventTime = Math.max(eventTime ?? r.eventTime, r.eventTime)
      if (r.clear !== undefined && segment.type !== 'drainage') {
        clearSegments.push({ segment: segment.id, type: segment.type, values: r.clear.values, index: r.clear.index })
        clearConfidences.push(r.clear.index.value === null ? 0 : r.clear.index.confidence)
      }
      if (r.smooth !== undefined) {
        zonesOf.push({ zone: segment.id, index: r.smooth })
        smoothConfidences.push(r.smooth.value === null ? 0 : r.smooth.confidence)
      }
    }
    const clear = clearSegments.length === 0 ? null : districtClearIndex(clearSegments)
    const smooth = zonesOf.length === 0 ? null : districtSmoothIndex(zonesOf)
    const points: WaterIndexPoint[] = []
    if (clear !== null && clear.value !== null) points.push({ index: 'clear', value: clear.value, level: clear.class, confidence: roundConfidence(mean(clearConfidences)) })
    if (smooth !== null && smooth.value !== null) points.push({ index: 'smooth', value: smooth.value, level: levelOfBand(smooth.band), confidence: roundConfidence(mean(smoothConfidences)) })
    const json: DistrictIndexJson = {
      district,
      clear: clear === null ? null : districtClearJson(clear),
      smooth: smooth === null ? null : districtSmoothJson(smooth),
    }
    const result: DistrictResult = { type: 'district', district, from, topo, json, text: JSON.stringify(json), eventTime, points }
    results.set(key, result)
    return result
  }

  function freshDistrict(district: string, topo: IndexTopology): DistrictResult {
    const key = districtKey(district)
    const cached = results.get(key)
    return cached?.type === 'district' && !pending.has(key) ? cached : computeDistrict(district, topo)
  }

  /** Recomputes one key and emits it when it changed since its last emission, or always on a refresh. */
  function publish(key: string, refresh: boolean): void {
    const topo = topology()
    let result: Result | undefined
    if (key.startsWith('segment:')) {
      const segment = options.registry().segment(key.slice('segment:'.length))
      if (segment !== undefined) result = computeSegment(segment, topo)
    } else if (key.startsWith('district:')) {
      const district = key.slice('district:'.length)
      if (topo.segmentsOfDistrict(district).length > 0) result = computeDistrict(district, topo)
    }
    if (result === undefined) return
    if (!refresh && emitted.get(key) === result.text) return
    emitted.set(key, result.text)
    const scoped = result.type === 'segment'
      ? { scope: 'segment' as const, district: result.segment.district, segment: result.segment.id }
      : { scope: 'district' as const, district: result.district, segment: DISTRICT_SEGMENT }
    updates.next({ key, ...scoped, eventTime: result.eventTime, data: result.json, points: result.points, refresh })
  }

  function safely(what: string, fn: () => void): void {
    try {
      fn()
    } catch (err) {
      stats.errors++
      log.error({ err, what }, 'index computation failed')
    }
  }

  function sweep(): void {
    const registry = options.registry()
    const topo = indexTopology(registry)
    const evicted = history.evict((id) => (topo.role(id) === undefined ? undefined : registry.sensor(id)))
    stats.evicted += evicted
    if (evicted > 0) epoch++
    lastSweepAt = history.eventTime
    for (const [id, zone] of zones) {
      if (registry.segment(id)?.type !== 'drainage') {
        zones.delete(id)
        continue
      }
      const ids = new Set(topo.zoneSensors(id).map((s) => s.id))
      for (const sensor of zone.lastScores.keys()) if (!ids.has(sensor)) zone.lastScores.delete(sensor)
    }
    const known = new Set([...topo.segments.map((s) => segmentKey(s.id)), ...topo.districts.map(districtKey)])
    for (const map of [results, emitted]) for (const key of map.keys()) if (!known.has(key)) map.delete(key)
    for (const map of [versions, clearMemo, zoneMemo]) for (const id of map.keys()) if (!known.has(segmentKey(id))) map.delete(id)
    for (const key of pending) if (!known.has(key)) pending.delete(key)
  }

  // A refresh recomputes every key: hundreds of segments at once would hold the event loop for tens of
  // milliseconds, so its keys go out a few per turn, as the throttled ones do (index-scheduler.ts).
  const refreshKeys = new Subject<string>()
  const refreshing = refreshKeys.pipe(slicedByTurn<string>(REFRESH_KEYS_PER_TURN, scheduler)).subscribe((key) => safely(key, () => publish(key, true)))

  function refresh(): void {
    safely('sweep', sweep)
    const topo = topology()
    for (const segment of topo.segments) refreshKeys.next(segmentKey(segment.id))
    for (const district of topo.districts) refreshKeys.next(districtKey(district))
  }

  const subscription: Subscription = dirty$.pipe(indexSchedule({ throttleMs: options.throttleMs ?? 1000, refreshMs: options.refreshMs ?? 10_000 }, scheduler)).subscribe((tick: IndexTick) => {
    if (tick.type === 'refresh') refresh()
    else safely(tick.key, () => publish(tick.key, false))
  })

  function apply(reading: Reading, topo: IndexTopology, touched: string[], touchedZones: string[]): void {
    const sensor = options.registry().sensor(reading.sensor)
    if (sensor === undefined || topo.role(sensor.id) === undefined || !Number.isFinite(reading.ts)) {
      stats.ignored++
      return
    }
    const segments = topo.segmentsOf(sensor.id)
    for (const id of segments) {
      const zone = zones.get(id)
      // Evaluations due before this reading's event time read the zone as it was before it.
      if (zone?.eventTime !== undefined && reading.ts > zone.eventTime && zoneAlertDue(zone.alert, zone.eventTime, reading.ts)) {
        setAlert(id, zone, advanceZoneAlert(zone.alert, zone.eventTime, reading.ts, evaluator(id), (step) => setAlert(id, zone, step)))
      }
    }
    const previousTs = history.get(sensor.id)?.latestTs
    const outcome = history.insert(sensor, reading)
    // Even a reading too old to keep resets its sensor's staleness.
    for (const id of segments) bump(id)
    if (outcome === 'too_old') {
      stats.tooOld++
      return
    }
    stats.applied++
    if (previousTs !== undefined && reading.ts < previousTs - latenessMs) stats.lateCorrections++
    const rec = history.get(sensor.id)
    if (topo.role(sensor.id) === 'station' && rec !== undefined) {
      // Remember every valid window as it happens, so the `held` rule does not depend on when results are computed.
      for (const p of CLEAR_PARAMETERS) stationWindow(sensor, rec, p, rec.latestTs)
    }
    for (const id of segments) {
      addOnce(touched, id)
      if (options.registry().segment(id)?.type !== 'drainage') continue
      const zone = zoneRuntime(id)
      zone.eventTime = zone.eventTime === undefined ? reading.ts : Math.max(zone.eventTime, reading.ts)
      addOnce(touchedZones, id)
    }
  }

  /**
   * What one `update` touched, in first-touched order, kept between calls so a reading costs no new collections. A
   * call made while another runs (nothing does so today: what `update` emits never feeds readings back) gets its own.
   */
  const scratch = { touched: [] as string[], zones: [] as string[], districts: [] as string[] }
  let updating = false

  return {
    update(readings) {
      const topo = topology()
      const nested = updating
      const touched = nested ? [] : scratch.touched
      const touchedZones = nested ? [] : scratch.zones
      const districts = nested ? [] : scratch.districts
      updating = true
      try {
        for (const reading of readings) {
          // As `safely`, without a closure per reading.
          try {
            apply(reading, topo, touched, touchedZones)
          } catch (err) {
            stats.errors++
            log.error({ err, what: reading.sensor }, 'index computation failed')
          }
        }
        for (const id of touchedZones) {
          const zone = zones.get(id)
          if (zone?.eventTime !== undefined) setAlert(id, zone, settleZoneAlert(zone.alert, zone.eventTime))
        }
        const eventTime = history.eventTime
        if (eventTime !== undefined && (lastSweepAt === undefined || eventTime - lastSweepAt >= SWEEP_EVENT_MS)) safely('sweep', sweep)
        for (const id of touched) {
          pending.add(segmentKey(id))
          const district = options.registry().segment(id)?.district
          if (district !== undefined) addOnce(districts, district)
        }
        for (const d of districts) pending.add(districtKey(d))
        for (const id of touched) dirty.next(segmentKey(id))
        for (const d of districts) dirty.next(districtKey(d))
      } finally {
        if (!nested) {
          updating = false
          touched.length = 0
          touchedZones.length = 0
          districts.length = 0
        }
      }
    },
    current() {
      const topo = topology()
      return {
        segments: topo.segments.map((s) => freshSegment(s, topo).json),
        districts: topo.districts.map((d) => freshDistrict(d, topo).json),
      }
    },
    updates$: updates.asObservable(),
    zoneAlerts$: zoneAlerts.asObservable(),
    zoneAlertLevel(zoneId) {
      const zone = zones.get(zoneId)
      if (zone === undefined) return 0
      if (zone.alert.pending) setAlert(zoneId, zone, resolveZoneAlert(zone.alert, evaluator(zoneId)))
      return zone.alert.after.level
    },
    clearHeld(sensorId) {
      let cleared = false
      for (const id of topology().segmentsOf(sensorId)) {
        const zone = zones.get(id)
        if (zone?.lastScores.delete(sensorId)) {
          cleared = true
          bump(id)
          const district = options.registry().segment(id)?.district
          pending.add(segmentKey(id))
          dirty.next(segmentKey(id))
          if (district !== undefined) {
            pending.add(districtKey(district))
            dirty.next(districtKey(district))
          }
        }
      }
      return cleared
    },
    stats() {
      return { ...stats, sensors: history.size, readings: history.readingCount }
    },
    close() {
      subscription.unsubscribe()
      refreshing.unsubscribe()
      refreshKeys.complete()
      dirty.complete()
      updates.complete()
      zoneAlerts.complete()
    },
  }
}
