import { KIND_FIELDS } from '../domain.js'
import type { Segment, Sensor } from '../domain.js'
import { fieldPrecision } from './field-precision.js'
import { localTime } from './local-time.js'
import type { LocalTime } from './local-time.js'
import type { ReadingFields, Scenario, ScenarioFactory } from './scenario.js'
import type { SeededRandom } from './seeded-random.js'

const HOUR_MS = 3_600_000
const DAY_MS = 86_400_000
const TAU = 2 * Math.PI

/** One sensor's model: its reading at an event time, from the instant's local time and that reading's own noise. */
type SensorModel = (ts: number, local: LocalTime, noise: SeededRandom) => ReadingFields

/** A finite number from `params[key]`, else `fallback`. */
function num(params: Record<string, unknown>, key: string, fallback: number): number {
  const v = params[key]
  return typeof v === 'number' && Number.isFinite(v) ? v : fallback
}

/** Cosine of the daily cycle: 1 at `peakHour`, −1 twelve hours later. */
function daily(hour: number, peakHour: number): number {
  return Math.cos((TAU * (hour - peakHour)) / 24)
}

function smoothstep(edge0: number, edge1: number, x: number): number {
  const t = Math.min(1, Math.max(0, (x - edge0) / (edge1 - edge0)))
  return t * t * (3 - 2 * t)
}

/**
 * A slow random wobble in [−1, 1] with knots every `periodMs`, plus a quarter-period octave: smooth
 * enough that consecutive readings never look like a QARTOD spike (INDICES.md §3).
 */
function wobbler(stream: SeededRandom, periodMs: number): (ts: number) => number {
  const fine = periodMs / 4
  return (ts) => 0.75 * stream.smooth(ts / periodMs) + 0.25 * stream.smooth(ts / fine + 0.5)
}

/** Dissolved-oxygen saturation in fresh water at sea level, mg/L (Benson–Krause polynomial, 0–40 °C). */
function doSaturation(tempC: number): number {
  return 14.652 - 0.41022 * tempC + 0.007991 * tempC ** 2 - 0.000077774 * tempC ** 3
}

/** Dry-weather sewage cycle in [−1, 1]: morning peak near 09:00, evening near 20:00, lowest before dawn. */
function sewageCycle(hour: number): number {
  return 0.6 * daily(hour, 9.5) + 0.4 * Math.cos((2 * TAU * (hour - 8.5)) / 24)
}

/** Seasonal water temperature of Hangzhou rivers, °C: about 8.5 in late January, 28.5 in early August, 14 in late November. */
function seasonalWaterTemp(dayOfYear: number): number {
  return 18.5 + 10 * Math.cos((TAU * (dayOfYear - 213)) / 365.2425)
}

function waterLevelModel(sensor: Sensor, rng: SeededRandom): SensorModel {
  const p = sensor.params
  const normal = num(p, 'normalLevelM', 3)
  const warning = num(p, 'warningLevelM', normal + 1)
  const near = num(p, 'nearMarginM', 0.2)
  const offset = num(p, 'offsetM', 0)
  const diurnalAmp = rng.uniform(0.01, 0.025)
  const diurnalPeak = rng.uniform(0, 24)
  const slowAmp = rng.uniform(0.02, 0.04)
  const jitter = 0.002
  // Stay clear of the "near warning" band (Hw − Δ) by 5 cm even at the top of every wobble.
  const ceiling = warning - near - 0.05 - (diurnalAmp + slowAmp + jitter)
  const base = Math.min(normal + rng.uniform(-0.08, 0.02), ceiling)
  const slow = wobbler(rng.fork('level'), 12 * HOUR_MS)
  return (ts, local, noise) => {
    const h = base + diurnalAmp * daily(local.hour, diurnalPeak) + slowAmp * slow(ts) + noise.jitter(jitter)
    return { level_m: h - offset }
  }
}

function flowModel(rng: SeededRandom): SensorModel {
  const qBase = Math.exp(rng.uniform(Math.log(1.6), Math.log(24)))
  const vBase = rng.uniform(0.2, 0.85)
  const peak = rng.uniform(0, 24)
  const slow = wobbler(rng.fork('flow'), 12 * HOUR_MS)
  return (ts, local, noise) => {
    const factor = 1 + 0.05 * daily(local.hour, peak) + 0.08 * slow(ts) + noise.jitter(0.005)
    return { flow_m3s: qBase * factor, velocity_ms: vBase * factor + noise.jitter(0.003) }
  }
}

function waterQualityModel(sensor: Sensor, segment: Segment | undefined, rng: SeededRandom): SensorModel {
  const known = KIND_FIELDS.water_quality.optional
  const listed = Array.isArray(sensor.params.measures) ? (sensor.params.measures as unknown[]) : []
  const measures = known.filter((f) => listed.includes(f))
  const fields = measures.length > 0 ? measures : known
  const lake = segment?.type === 'lake'

  const tempOffset = rng.uniform(-0.6, 0.6) + (lake ? 0.3 : 0)
  const tempAmp = lake ? 0.7 : 0.5
  const tempSlow = wobbler(rng.fork('temp_c'), DAY_MS)
  const doRatio = lake ? rng.uniform(0.72, 0.78) : rng.uniform(0.68, 0.75)
  const doAmp = lake ? rng.uniform(0.8, 1.0) : rng.uniform(0.6, 0.85)
  const doSlow = wobbler(rng.fork('do_mgl'), 8 * HOUR_MS)
  const phBase = lake ? rng.uniform(7.55, 7.75) : rng.uniform(7.45, 7.7)
  const phAmp = rng.uniform(0.2, 0.3)
  const phSlow = wobbler(rng.fork('ph'), 8 * HOUR_MS)
  const nh3nBase = lake ? rng.uniform(0.34, 0.45) : rng.uniform(0.36, 0.58)
  const nh3nSlow = wobbler(rng.fork('nh3n_mgl'), 6 * HOUR_MS)
  const codBase = rng.uniform(3.2, lake ? 3.9 : 4.2)
  const codSlow = wobbler(rng.fork('codmn_mgl'), 8 * HOUR_MS)
  const tpBase = lake ? rng.uniform(0.033, 0.045) : rng.uniform(0.08, 0.11)
  const tpAmp = lake ? 0.01 : 0.025
  const tpSlow = wobbler(rng.fork('tp_mgl'), 8 * HOUR_MS)
  const turbBase = lake ? rng.uniform(3, 6) : rng.uniform(8, 18)
  const turbSlow = wobbler(rng.fork('turbidity_ntu'), 6 * HOUR_MS)
  const condBase = lake ? rng.uniform(220, 300) : rng.uniform(280, 420)
  const condSlow = wobbler(rng.fork('cond_uscm'), 12 * HOUR_MS)

  return (ts, local, noise) => {
    const h = local.hour
    const temp = seasonalWaterTemp(local.dayOfYear) + tempOffset + tempAmp * daily(h, 16) + 0.4 * tempSlow(ts) + noise.jitter(0.02)
    // Photosynthesis: oxygen and pH peak in the afternoon, lowest before dawn.
    const values: Record<string, number> = {
      do_mgl: doSaturation(temp) * doRatio + doAmp * daily(h, 15) + 0.2 * doSlow(ts) + noise.jitter(0.03),
      nh3n_mgl: nh3nBase + 0.04 * daily(h, 8) + 0.1 * nh3nSlow(ts) + noise.jitter(0.008),
      codmn_mgl: codBase + 0.15 * daily(h, 9) + 0.45 * codSlow(ts) + noise.jitter(0.03),
      tp_mgl: tpBase + (lake ? 0.002 : 0.005) * daily(h, 9) + tpAmp * tpSlow(ts) + noise.jitter(lake ? 0.001 : 0.002),
      ph: phBase + phAmp * daily(h, 15) + 0.1 * phSlow(ts) + noise.jitter(0.01),
      turbidity_ntu: turbBase * (1 + 0.25 * turbSlow(ts)) + noise.jitter(0.2),
      temp_c: temp,
      cond_uscm: condBase + 20 * condSlow(ts) + 5 * daily(h, 14) + noise.jitter(2),
    }
    const out: ReadingFields = {}
    for (const f of fields) out[f] = values[f] ?? 0
    return out
  }
}

function sewerModel(sensor: Sensor, rng: SeededRandom): SensorModel {
  const p = sensor.params
  const diameter = num(p, 'pipeDiameterM', 0.6)
  // For pipe_level the level is measured from the pipe invert (INDICES.md §2).
  const invert = sensor.kind === 'pipe_level' ? 0 : num(p, 'invertM', 0)
  const fillBase = rng.uniform(0.29, 0.36)
  const slow = wobbler(rng.fork('fill'), 4 * HOUR_MS)
  const slope = rng.uniform(0.001, 0.004)
  const withFlow = sensor.kind === 'pipe_level'
  return (ts, local, noise): ReadingFields => {
    const fill = fillBase + 0.05 * sewageCycle(local.hour) + 0.03 * slow(ts) + noise.jitter(0.004)
    const level = invert + fill * diameter
    if (!withFlow) return { level_m: level }
    return { level_m: level, flow_m3s: manningFlow(diameter, fill, slope) }
  }
}

/** Part-full circular pipe flow by Manning (n = 0.013, concrete), m³/s, for fill 0 < f < 1. */
function manningFlow(diameter: number, fill: number, slope: number): number {
  const theta = 2 * Math.acos(1 - 2 * fill)
  const area = ((diameter * diameter) / 8) * (theta - Math.sin(theta))
  const perimeter = (diameter * theta) / 2
  return (1 / 0.013) * area * (area / perimeter) ** (2 / 3) * Math.sqrt(slope)
}

function depthModel(rng: SeededRandom): SensorModel {
  const slow = wobbler(rng.fork('depth'), 3 * HOUR_MS)
  // A dry road reads 0 with the odd few millimetres of sensor noise; never negative.
  return (ts, _local, noise) => ({ depth_cm: Math.max(0, 0.6 * slow(ts) - 0.25 + noise.jitter(0.15)) })
}

function sedimentModel(sensor: Sensor, rng: SeededRandom): SensorModel {
  const diameter = num(sensor.params, 'pipeDiameterM', 0.8)
  const kBase = rng.uniform(0.08, 0.14)
  const slow = wobbler(rng.fork('sediment'), 5 * DAY_MS)
  return (ts, _local, noise) => ({ sediment_m: (kBase + 0.03 * slow(ts) + noise.jitter(0.0015)) * diameter })
}

function parkingModel(sensor: Sensor, rng: SeededRandom): SensorModel {
  const capacity = Math.max(0, Math.round(num(sensor.params, 'capacity', 100)))
  const underground = sensor.params.underground === true
  const night = underground ? rng.uniform(0.15, 0.25) : rng.uniform(0.06, 0.15)
  const peak = rng.uniform(0.7, 0.9)
  const evening = rng.uniform(0.3, 0.45)
  const slow = wobbler(rng.fork('occupancy'), HOUR_MS)
  return (ts, local, noise) => {
    // West Lake draws visitors: weekends start an hour later, fill more and stay later.
    const weekend = local.weekday === 0 || local.weekday === 6
    const h = local.hour - (weekend ? 1 : 0)
    const top = weekend ? Math.min(0.95, peak * 1.08) : peak
    const day = smoothstep(7, 9.5, h) * (1 - smoothstep(17.5, 20, h))
    const eve = smoothstep(17, 19, h) * (1 - smoothstep(21, 23.5, h))
    const share = night + (top - night) * day + (evening - night) * eve * (1 - day) + 0.04 * slow(ts)
    const occupied = Math.round(capacity * share + noise.jitter(2))
    return { occupied: Math.min(capacity, Math.max(0, occupied)), capacity }
  }
}

function buildModel(sensor: Sensor, segment: Segment | undefined, rng: SeededRandom): SensorModel {
  switch (sensor.kind) {
    case 'water_level':
      return waterLevelModel(sensor, rng)
    case 'flow':
      return flowModel(rng)
    case 'water_quality':
      return waterQualityModel(sensor, segment, rng)
    case 'manhole_level':
    case 'pipe_level':
      return sewerModel(sensor, rng)
    case 'ponding_depth':
    case 'tunnel_depth':
      return depthModel(rng)
    case 'sediment':
      return sedimentModel(sensor, rng)
    case 'rainfall':
      // Dry weather: exactly 0, since any rain would switch on the rain-only flat-line tests (INDICES.md §3).
      return () => ({ rain_mm: 0 })
    case 'parking':
      return parkingModel(sensor, rng)
  }
}

/**
 * Dry weather in late-autumn Hangzhou: river stages near normal, diurnal oxygen, pH and temperature
 * cycles, low sewer fill, dry roads and underpasses, no rain, parking following the working day.
 * Every value is a pure function of (seed, sensor, ts): independent of the start and of other sensors.
 */
export const scenarioNormal: ScenarioFactory = (context): Scenario => {
  const segments = new Map(context.registry.segments.map((s) => [s.id, s]))
  const models = new Map<string, { model: SensorModel; rng: SeededRandom }>()
  return {
    name: 'normal',
    reading(sensor, ts) {
      let entry = models.get(sensor.id)
      if (entry === undefined) {
        const rng = context.rng.fork(sensor.id)
        entry = { model: buildModel(sensor, segments.get(sensor.segment), rng.fork('model')), rng }
        models.set(sensor.id, entry)
      }
      const raw = entry.model(ts, localTime(ts), entry.rng.fork(ts))
      const out: ReadingFields = {}
      for (const [field, value] of Object.entries(raw)) out[field] = fieldPrecision(sensor.kind, field, value)
      return out
    },
  }
}
