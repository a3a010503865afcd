import type { Sensor } from '../../domain.js'
import { blend, type BlendComponent } from './blend.js'
import { belowFortySince, corroboration, CORROBORATION_SCORE, RIVER_WARNING_SCORE, type CorroborationReason } from './corroboration.js'
import type { NullIndex } from './null-index.js'
import { rainAlertFloor, rainPressure, type RainTotals } from './rain-totals.js'
import { sensorValue } from './sensor-value.js'
import {
  bandOfSmooth,
  COMPONENT_OF_KIND,
  levelOfBand,
  SMOOTH_COMPONENTS,
  SMOOTH_HAZARD,
  SMOOTH_WEIGHTS,
  smoothScorer,
  smoothUpperEdge,
  type AlertLevel,
  type SmoothBand,
  type SmoothComponent,
} from './smooth-subscores.js'
import type { TimedValue } from './timed-value.js'
import { truncateIndex } from './truncate-index.js'

/** A stale sensor whose last score is below this is held, not dropped (INDICES.md §2). */
export const HOLD_BELOW_SCORE = 80

/** Confidence below which the index is flagged `degraded` (INDICES.md §2). */
export const DEGRADED_CONFIDENCE = 0.5

/** What the stream knows about one sensor of a zone (its scored field only, see `SMOOTH_FIELD`). */
export interface SensorSnapshot {
  sensor: Sensor
  /** Recent readings of the scored field, any order, covering at least the last 30 min; bad ones are ignored. */
  recent: readonly TimedValue[]
  /** Silent for 3 × `intervalS` (wall clock, decided by the caller): `recent` is not used. */
  stale: boolean
  /** The score this sensor last counted with (`SensorScore.score` of the previous evaluation); omit when never scored or cleared by an operator. */
  lastScore?: number
  /** The caller's record of since when every reading scored below 40, if `recent` does not reach back far enough. */
  belowFortySince?: number
}

/** One zone at one event time. */
export interface ZoneInput {
  /** Every scored sensor of the zone, never-heard ones included, plus the zone's `riverGauges`. */
  sensors: readonly SensorSnapshot[]
  /** Rain totals over the zone's gauges, else the district's (`rainTotals`). */
  rain: RainTotals
  /** Event time of the evaluation, epoch milliseconds. */
  now: number
}

/** How one sensor counted. */
export interface SensorScore {
  sensor: string
  component: SmoothComponent
  /** The score that counted (after corroboration); store it as the next `lastScore`. */
  score: number
  /** The score before corroboration. */
  raw: number
  /** A current value from fresh good readings. */
  fresh: boolean
  /** Silent (or without a good reading) and kept at its last score below 80. */
  held: boolean
  /** Below 40 without corroboration, counted as 40. */
  unconfirmed: boolean
  /** What corroborated a score below 40. */
  corroboratedBy?: CorroborationReason
}

/** A zone's smooth-water index (INDICES.md §2, SPEC §7). */
export interface SmoothIndex {
  /** Truncated index, 0–100. */
  value: number
  band: SmoothBand
  /** Level of the band, 0 normal … 4 red. */
  level: AlertLevel
  limiting: SmoothComponent
  /** Fresh hazard sensors / the zone's hazard sensors. */
  confidence: number
  /** `degraded`, `held`, `unconfirmed`. */
  flags: string[]
  components: Partial<Record<SmoothComponent, number>>
  sensors: SensorScore[]
  /** Observed rain level 0–4. */
  rainPressure: AlertLevel
  /** Least alert level from rain: 1 at orange pressure or above. */
  alertFloor: AlertLevel
  /** Weighted mean `S` and untruncated index. */
  mean: number
  raw: number
}

interface Entry {
  snapshot: SensorSnapshot
  component: SmoothComponent
  hazard: boolean
  score: (value: number) => number
  raw?: number
  fresh: boolean
  held: boolean
}

/**
 * The smooth-water index of a drainage zone (INDICES.md §2): sensor values, staleness and holding,
 * corroboration, component minima, then the blend with `s_min` over hazard components only.
 * `null` when no hazard sensor is fresh or held.
 */
export function smoothWaterIndex(input: ZoneInput): SmoothIndex | NullIndex {
  const entries: Entry[] = []
  for (const snapshot of input.sensors) {
    const component = COMPONENT_OF_KIND[snapshot.sensor.kind]
    const score = smoothScorer(snapshot.sensor)
    // A kind that is not scored, or a sensor without geometry, is left out entirely.
    if (component === undefined || score === undefined) continue
    const entry: Entry = { snapshot, component, hazard: SMOOTH_HAZARD[component], score, fresh: false, held: false }
    const value = snapshot.stale ? undefined : sensorValue(snapshot.recent)
    if (value !== undefined) {
      entry.raw = score(value.value)
      entry.fresh = true
    } else if (snapshot.lastScore !== undefined && snapshot.lastScore < HOLD_BELOW_SCORE) {
      entry.raw = snapshot.lastScore
      entry.held = true
    }
    entries.push(entry)
  }

  const hazardTotal = entries.filter((e) => e.hazard).length
  const scored = entries.filter((e): e is Entry & { raw: number } => e.raw !== undefined)
  const riverAtWarning = scored.some((e) => e.component === 'RIVER' && e.raw <= RIVER_WARNING_SCORE)
  const sensors: SensorScore[] = scored.map((e) => {
    const out: SensorScore = { sensor: e.snapshot.sensor.id, component: e.component, score: e.raw, raw: e.raw, fresh: e.fresh, held: e.held, unconfirmed: false }
    // A held score already went through corroboration when it was last counted.
    if (!e.hazard || !e.fresh || e.raw >= CORROBORATION_SCORE) return out
    const reason = corroboration({
      rain: input.rain,
      otherHazardScores: scored.filter((o) => o !== e && o.hazard).map((o) => o.raw),
      riverAtWarning,
      belowFortySince: belowFortySince(e.snapshot.recent, e.score, e.snapshot.belowFortySince),
      now: input.now,
    })
    if (reason !== undefined) out.corroboratedBy = reason
    else {
      out.score = CORROBORATION_SCORE
      out.unconfirmed = true
    }
    return out
  })

  const components: Partial<Record<SmoothComponent, number>> = {}
  for (const s of sensors) components[s.component] = Math.min(components[s.component] ?? Infinity, s.score)
  const blendInput: BlendComponent<SmoothComponent>[] = []
  for (const c of SMOOTH_COMPONENTS) {
    const score = components[c]
    if (score !== undefined) blendInput.push({ key: c, weight: SMOOTH_WEIGHTS[c], score, hazard: SMOOTH_HAZARD[c] })
  }
  const result = blend(blendInput, smoothUpperEdge)
  if (result === undefined) return { value: null, reason: hazardTotal === 0 ? 'no hazard sensor in the zone' : 'no fresh or held hazard sensor' }

  const freshHazard = scored.filter((e) => e.hazard && e.fresh).length
  const confidence = hazardTotal === 0 ? 0 : freshHazard / hazardTotal
  const flags: string[] = []
  if (confidence < DEGRADED_CONFIDENCE) flags.push('degraded')
  if (sensors.some((s) => s.held)) flags.push('held')
  if (sensors.some((s) => s.unconfirmed)) flags.push('unconfirmed')
  const value = truncateIndex(result.index, result.upper)
  const band = bandOfSmooth(result.sMin)
  const pressure = rainPressure(input.rain)
  return {
    value,
    band,
    level: levelOfBand(band),
    limiting: result.limiting,
    confidence,
    flags,
    components,
    sensors,
    rainPressure: pressure,
    alertFloor: rainAlertFloor(pressure),
    mean: result.mean,
    raw: result.index,
  }
}
