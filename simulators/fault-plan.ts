import type { DeadLetterReason, Quality, Registry, Sensor, SensorKind } from '../domain.js'
import { AppError } from '../errors.js'
import { scenarioNormal } from './scenario-normal.js'
import { seededRandom } from './seeded-random.js'
import type { SeededRandom } from './seeded-random.js'

const MINUTE = 60_000
const HOUR = 3_600_000
const DAY = 86_400_000

/** The faults the `faults` scenario injects, each caught by one quality flag or dead-letter reason (or seen as stale). */
export type FaultType =
  | 'flat'
  | 'spike'
  | 'sentinel'
  | 'dropout'
  | 'ts_future'
  | 'ts_expired'
  | 'duplicate'
  | 'reorder'
  | 'malformed_json'
  | 'schema'
  | 'unknown_sensor'
  | 'topic_mismatch'

/** One planned fault on one registry sensor's readings. */
export interface Fault {
  type: FaultType
  /** The registry sensor whose readings carry the fault (for `unknown_sensor`: whose slot and payload it borrows). */
  sensor: string
  kind: SensorKind
  /** Event time of the first affected reading, epoch ms (a slot of the sensor's schedule). */
  ts: number
  /** Consecutive readings affected from `ts`: stuck, silent or reordered; 1 for the others. */
  count: number
  /** The sensor's interval, ms. */
  intervalMs: number
  /** The field changed (flat, spike, sentinel, schema). */
  field?: string
  /** The value sent: the stuck value (flat) or the sentinel. */
  value?: number
  /** Added to the field (spike). */
  offset?: number
  /** Added to the payload's ts (clock skew), ms. */
  shiftMs?: number
  /** Extra copies sent (duplicate). */
  copies?: number
  /** The topic used instead of the sensor's (unknown_sensor: an unregistered id; topic_mismatch: a wrong kind), without the prefix. */
  topicTail?: string
}

/** The faults of a run, in order of ts then sensor. */
export interface FaultPlan {
  start: number
  end: number
  faults: Fault[]
}

/** A reading the quality stage must flag (its final flag, after any spike re-flag). */
export interface ExpectedFlag {
  sensor: string
  ts: number
  quality: Quality
  /** The first reason of the flag, e.g. `flat:do_mgl`. */
  reasonPrefix: string
}

/** What the engine must make of a plan's faults. */
export interface ExpectedOutcomes {
  /** Dead letters by reason; reasons without any are absent. */
  deadLetters: Partial<Record<DeadLetterReason, number>>
  /** Readings dropped as duplicates. */
  duplicates: number
  /** Flagged readings, in order of ts then sensor; every other reading stays `good`. */
  flags: ExpectedFlag[]
  /** Silences longer than 3 × intervalS: the sensor is `stale` from `staleAt` until its reading at `resumeTs`. */
  stale: Array<{ sensor: string; staleAt: number; resumeTs: number }>
}

/** Faults are planned per cycle of this much event time; an endless run repeats the plan's kind of faults every cycle. */
export const FAULT_CYCLE_MS = 12 * HOUR

/** How many sensors get each fault per cycle. */
export const FAULTS_PER_CYCLE: Readonly<Record<FaultType, number>> = {
  flat: 1,
  spike: 2,
  sentinel: 2,
  dropout: 1,
  ts_future: 1,
  ts_expired: 1,
  duplicate: 2,
  reorder: 1,
  malformed_json: 1,
  schema: 1,
  unknown_sensor: 1,
  topic_mismatch: 1,
}

/** Ahead of the server clock by more than its 5 min allowance. */
export const FUTURE_SKEW_MS = 10 * MINUTE
/** Behind by more than the default 30-day raw-data retention. */
export const PAST_SKEW_MS = -31 * DAY
/** The default `CITYWATER_LATENESS_S`: a reordered burst spans no more than this, so nothing is marked late. */
const LATENESS_MS = 120_000
/** River-stage jump of a spike, m: above the 0.20 m bad threshold. */
const SPIKE_OFFSET_M = 0.5
/** Readings a drop-out swallows: a silence of 6 × intervalS, beyond the 3 × of staleness. */
const DROPOUT_READINGS = 5
const REORDER_READINGS = 3
/** Flat-line DO tests (INDICES.md §3): ±0.01 mg/L for 2 h suspect, 6 h bad. */
const DO_FLAT_TOLERANCE = 0.01
const DO_FLAT_SUSPECT_MS = 2 * HOUR
const DO_FLAT_BAD_MS = 6 * HOUR

interface Spec {
  /** Sensors that can carry the fault. */
  accepts(sensor: Sensor): boolean
  /** Readings affected. */
  count(sensor: Sensor): number
  /** Readings needed before (in-order history for the spike and flat-line tests) and after (to trigger a re-flag, end a silence). */
  before: number
  after: number
}

function measures(sensor: Sensor): readonly unknown[] | undefined {
  const m = sensor.params.measures
  return Array.isArray(m) ? m : undefined
}

const one = (): number => 1
const kindIs = (...kinds: SensorKind[]) => (s: Sensor): boolean => kinds.includes(s.kind)

const SPECS: Readonly<Record<FaultType, Spec>> = {
  // DO stuck for 6 h and one more reading: suspect from 2 h, bad at 6 h. Hourly or faster stations only.
  flat: {
    accepts: (s) => s.kind === 'water_quality' && s.intervalS <= 3600 && (measures(s)?.includes('do_mgl') ?? true),
    count: (s) => Math.ceil(DO_FLAT_BAD_MS / (s.intervalS * 1000)) + 1,
    before: 2,
    after: 1,
  },
  spike: { accepts: kindIs('water_level'), count: one, before: 2, after: 1 },
  sentinel: { accepts: kindIs('manhole_level', 'pipe_level'), count: one, before: 2, after: 1 },
  dropout: { accepts: kindIs('ponding_depth', 'manhole_level', 'pipe_level'), count: () => DROPOUT_READINGS, before: 1, after: 1 },
  ts_future: { accepts: kindIs('flow'), count: one, before: 0, after: 0 },
  ts_expired: { accepts: kindIs('flow'), count: one, before: 0, after: 0 },
  duplicate: { accepts: kindIs('pipe_level', 'manhole_level'), count: one, before: 0, after: 0 },
  reorder: {
    accepts: (s) => kindIs('tunnel_depth', 'parking')(s) && (REORDER_READINGS - 1) * s.intervalS * 1000 <= LATENESS_MS,
    count: () => REORDER_READINGS,
    before: 2,
    after: 1,
  },
  malformed_json: { accepts: kindIs('water_level', 'flow'), count: one, before: 0, after: 0 },
  schema: { accepts: kindIs('flow', 'water_level'), count: one, before: 0, after: 0 },
  unknown_sensor: { accepts: kindIs('water_level', 'manhole_level'), count: one, before: 0, after: 0 },
  topic_mismatch: { accepts: kindIs('water_level', 'manhole_level'), count: one, before: 0, after: 0 },
}

const FAULT_TYPES = Object.keys(FAULTS_PER_CYCLE) as FaultType[]

/** Index of `sensor`'s first reading at or after `ts` (readings at start + k × interval). */
function firstIndexFrom(start: number, intervalMs: number, ts: number): number {
  return Math.max(0, Math.ceil((ts - start) / intervalMs))
}

/** The faults of one cycle, `cycle` counted from 0 at `start`; `end` bounds every affected reading. */
export function cycleFaults(registry: Registry, seed: number | string, start: number, end: number, cycle: number): Fault[] {
  const root = seededRandom(seed)
  const rng = root.fork('faults').fork(`cycle/${cycle}`)
  const from = start + cycle * FAULT_CYCLE_MS
  const to = Math.min(end, from + FAULT_CYCLE_MS)
  const sensors = [...registry.sensors].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0))
  const ids = new Set(sensors.map((s) => s.id))
  const used = new Set<string>()
  const normal = scenarioNormal({ registry, rng: root, start, end })
  const faults: Fault[] = []
  for (const type of FAULT_TYPES) {
    const spec = SPECS[type]
    const stream = rng.fork(type)
    for (let n = 0; n < FAULTS_PER_CYCLE[type]; n++) {
      const candidates = sensors.filter((s) => spec.accepts(s) && !used.has(s.id))
      // A few tries: a flat line also needs a quiet stretch of its station (see flatValue).
      for (let attempt = 0; attempt < 8 && candidates.length > 0; attempt++) {
        const sensor = candidates[stream.int(0, candidates.length - 1)] as Sensor
        const intervalMs = sensor.intervalS * 1000
        const count = spec.count(sensor)
        const lo = Math.max(firstIndexFrom(start, intervalMs, from), spec.before)
        // Every affected reading and the `after` ones lie in [from, to).
        const hi = firstIndexFrom(start, intervalMs, to) - count - spec.after
        if (hi < lo) continue
        const k = stream.int(lo, hi)
        const ts = start + k * intervalMs
        const fault: Fault = { type, sensor: sensor.id, kind: sensor.kind, ts, count, intervalMs }
        if (!fillFault(fault, sensor, stream, normal.reading.bind(normal), ids)) continue
        used.add(sensor.id)
        faults.push(fault)
        break
      }
    }
  }
  return faults.sort((a, b) => a.ts - b.ts || (a.sensor < b.sensor ? -1 : a.sensor > b.sensor ? 1 : 0))
}

type Normal = (sensor: Sensor, ts: number) => Record<string, number> | null

/** Fills in a fault's particulars; false when this placement does not work (try another). */
function fillFault(fault: Fault, sensor: Sensor, stream: SeededRandom, normal: Normal, ids: ReadonlySet<string>): boolean {
  switch (fault.type) {
    case 'flat': {
      const value = flatValue(sensor, fault, normal)
      if (value === undefined) return false
      fault.field = 'do_mgl'
      fault.value = value
      return true
    }
    case 'spike':
      fault.field = 'level_m'
      fault.offset = SPIKE_OFFSET_M
      return true
    case 'sentinel':
      fault.field = 'level_m'
      fault.value = -9999
      return true
    case 'ts_future':
      fault.shiftMs = FUTURE_SKEW_MS
      return true
    case 'ts_expired':
      fault.shiftMs = PAST_SKEW_MS
      return true
    case 'duplicate':
      fault.copies = 1
      return true
    case 'schema':
      fault.field = sensor.kind === 'flow' ? 'flow_m3s' : 'level_m'
      return true
    case 'unknown_sensor': {
      let id: string
      do id = `ZZ-${stream.int(1000, 9999)}`
      while (ids.has(id))
      fault.topicTail = `${sensor.district}/${sensor.kind}/${id}`
      return true
    }
    case 'topic_mismatch':
      fault.topicTail = `${sensor.district}/${sensor.kind === 'flow' ? 'water_level' : 'flow'}/${sensor.id}`
      return true
    default:
      return true
  }
}

/**
 * The value a DO sensor sticks at: its reading at the fault's start, nudged by 0.02 mg/L steps until it differs by
 * more than the tolerance from the readings just before and after the flat line (so the run is exactly the planned
 * one); undefined when the station drifts so much meanwhile that its recovery could look like a spike.
 */
function flatValue(sensor: Sensor, fault: Fault, normal: Normal): number | undefined {
  const at = (k: number): number | undefined => normal(sensor, fault.ts + k * fault.intervalMs)?.do_mgl
  const first = at(0)
  const before = at(-1)
  const after = at(fault.count)
  if (first === undefined || before === undefined || after === undefined) return undefined
  if (Math.abs(after - first) >= 1) return undefined
  for (const nudge of [0, 0.02, -0.02, 0.04, -0.04, 0.06, -0.06]) {
    const v = Math.round((first + nudge) * 100) / 100
    if (Math.abs(v - before) > DO_FLAT_TOLERANCE + 0.005 && Math.abs(v - after) > DO_FLAT_TOLERANCE + 0.005) return v
  }
  return undefined
}

/** Every fault of a finite run `start ≤ ts < end`, from the seed: what the `faults` scenario injects. */
export function faultPlan(registry: Registry, seed: number | string, start: number, end: number): FaultPlan {
  if (!Number.isFinite(end)) throw new AppError('CW_ERR_CONFIG_INVALID', ['a fault plan needs a finite end; the scenario plans an endless run cycle by cycle'])
  const faults: Fault[] = []
  for (let c = 0; start + c * FAULT_CYCLE_MS < end; c++) faults.push(...cycleFaults(registry, seed, start, end, c))
  return { start, end, faults }
}

/** The dead letters, duplicates, flags and stale spells the engine must report for a plan's faults (INDICES.md §3, SPEC §4). */
export function expectedOutcomes(plan: FaultPlan): ExpectedOutcomes {
  const deadLetters: Partial<Record<DeadLetterReason, number>> = {}
  const count = (reason: DeadLetterReason): void => {
    deadLetters[reason] = (deadLetters[reason] ?? 0) + 1
  }
  let duplicates = 0
  const flags: ExpectedFlag[] = []
  const stale: ExpectedOutcomes['stale'] = []
  for (const f of plan.faults) {
    switch (f.type) {
      case 'flat':
        for (let k = 0; k < f.count; k++) {
          const span = k * f.intervalMs
          if (span >= DO_FLAT_BAD_MS) flags.push({ sensor: f.sensor, ts: f.ts + span, quality: 'bad', reasonPrefix: 'flat:do_mgl' })
          else if (span >= DO_FLAT_SUSPECT_MS) flags.push({ sensor: f.sensor, ts: f.ts + span, quality: 'suspect', reasonPrefix: 'flat:do_mgl' })
        }
        break
      case 'spike':
        flags.push({ sensor: f.sensor, ts: f.ts, quality: 'bad', reasonPrefix: `spike:${f.field ?? ''}` })
        break
      case 'sentinel':
        flags.push({ sensor: f.sensor, ts: f.ts, quality: 'bad', reasonPrefix: `sentinel:${f.field ?? ''}` })
        break
      case 'dropout': {
        const lastHeard = f.ts - f.intervalMs
        stale.push({ sensor: f.sensor, staleAt: lastHeard + 3 * f.intervalMs + 1, resumeTs: f.ts + f.count * f.intervalMs })
        break
      }
      case 'duplicate':
        duplicates += f.copies ?? 1
        break
      case 'reorder':
        break
      case 'ts_future':
      case 'ts_expired':
      case 'malformed_json':
      case 'schema':
      case 'unknown_sensor':
      case 'topic_mismatch':
        count(f.type)
        break
    }
  }
  flags.sort((a, b) => a.ts - b.ts || (a.sensor < b.sensor ? -1 : a.sensor > b.sensor ? 1 : 0))
  return { deadLetters, duplicates, flags, stale }
}
