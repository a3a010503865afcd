/**
 * The timeline of a scenario file: phases over event time, in seconds after `--start`. Everything
 * here is a pure function of the timeline and a time, so a backfill and a live run agree.
 */

import type { Segment, Sensor } from '../domain.js'
import { AppError } from '../errors.js'
import { fieldPrecision } from './field-precision.js'
import { distanceM, manningFlow, pondingDepthCm, riverRiseM, routedRain, sewerRiseM } from './hydrology.js'
import type { RainDepth } from './hydrology.js'
import type { ReadingFields, Scenario, ScenarioFactory } from './scenario.js'
import { scenarioNormal } from './scenario-normal.js'
import type { SeededRandom } from './seeded-random.js'

/** Rain over drainage zones: intensity ramps linearly from `fromMmH` to `toMmH` across the phase. */
export interface RainPhase {
  /** Seconds after the start. */
  startS: number
  /** Length of the phase, seconds (> 0). */
  durationS: number
  /** Intensity at the start of the phase, mm/h. */
  fromMmH: number
  /** Intensity at the end of the phase, mm/h; default `fromMmH` (constant rain). */
  toMmH: number
  /** Drainage zones it rains on; with neither `zones` nor `districts`, every zone. */
  zones?: string[]
  /** Districts whose every drainage zone it rains on. */
  districts?: string[]
  /** Multiplier per zone id (default 1): a storm cell is heavier over some zones than others. */
  factors?: Record<string, number>
}

/** A pollution source: a plume released at the upstream end of a river segment, moving downstream. */
export interface PollutionSource {
  /** River or lake segment id. */
  segment: string
  /** Water-quality field it adds to, such as `nh3n_mgl`. */
  parameter: string
  /** Concentration added at the source station at full release, in the field's unit. */
  concentration: number
  /** Seconds after the start when the release begins at the source. */
  startS: number
  /** Seconds the release stays at full strength (the plateau at the source). */
  durationS: number
  /** Speed of the plume along the river, m/s (> 0). */
  speedMs: number
  /** Seconds to rise to full strength and to fall back; default 7200. */
  rampS: number
  /** Dilution length, metres: the added concentration falls by e at this distance downstream; default 10000. */
  decayM: number
  /** Drop of dissolved oxygen at full strength at the source, mg/L (nitrification); default 0. */
  doDropMgl: number
}

/** Parking demand: occupancy multiplied by `multiplier` during the phase, eased in and out over `rampS`. */
export interface ParkingPhase {
  startS: number
  durationS: number
  /** Demand multiplier at full strength (> 0): 1.5 brings 50 % more cars. */
  multiplier: number
  /** Seconds to ease in and out; default 1800. */
  rampS: number
  /** Parking lot sensor ids; with none of `lots`, `zones`, `districts`, every lot. */
  lots?: string[]
  zones?: string[]
  districts?: string[]
}

/**
 * A sensor fault (flat line, spikes, drop-outs, duplicates, ...). Parsed and validated here for its
 * shape only; applying it is the faults hook's business (generate-messages.ts).
 */
export interface FaultPhase {
  /** What goes wrong: `flatline`, `spike`, `dropout`, `stuck`, `drift`, `duplicate`, `out-of-order`, `malformed`, `sentinel`. */
  type: string
  startS: number
  durationS: number
  /** Sensor ids it hits; with none of `sensors`, `kinds`, `zones`, `districts`, the fault hook chooses. */
  sensors?: string[]
  kinds?: string[]
  zones?: string[]
  districts?: string[]
  /** Further fault-specific settings (probability, magnitude, ...). */
  [setting: string]: unknown
}

/** Everything a scenario file describes, normalised (defaults filled in). */
export interface Timeline {
  name: string
  description?: string
  rain: RainPhase[]
  pollution: PollutionSource[]
  parking: ParkingPhase[]
  faults: FaultPhase[]
}

/** A timeline with nothing happening: the `normal` dynamics alone. */
export const EMPTY_TIMELINE: Timeline = { name: 'normal', rain: [], pollution: [], parking: [], faults: [] }

function smoothstep(edge0: number, edge1: number, x: number): number {
  if (edge1 <= edge0) return x < edge0 ? 0 : 1
  const t = Math.min(1, Math.max(0, (x - edge0) / (edge1 - edge0)))
  return t * t * (3 - 2 * t)
}

/** Whether a phase targeting `zones`/`districts` (and optionally `ids`) covers the subject. */
function covers(phase: { zones?: string[]; districts?: string[]; ids?: string[] }, id: string | undefined, zone: string, district: string): boolean {
  if (phase.zones === undefined && phase.districts === undefined && phase.ids === undefined) return true
  return (
    (phase.ids?.includes(id ?? '') ?? false) || (phase.zones?.includes(zone) ?? false) || (phase.districts?.includes(district) ?? false)
  )
}

/** The rain phases that fall on `zone` (of `district`), each with its zone factor applied. */
export function rainPhasesFor(timeline: Timeline, zone: string, district: string): RainPhase[] {
  const out: RainPhase[] = []
  for (const p of timeline.rain) {
    if (!covers(p, undefined, zone, district)) continue
    const f = p.factors?.[zone] ?? 1
    if (f > 0) out.push({ ...p, fromMmH: p.fromMmH * f, toMmH: p.toMmH * f })
  }
  return out
}

/** Rain intensity at `tS` (seconds after the start), mm/h: the sum over overlapping phases. */
export function rainIntensity(phases: readonly RainPhase[], tS: number): number {
  let sum = 0
  for (const p of phases) {
    if (tS < p.startS || tS >= p.startS + p.durationS) continue
    sum += p.fromMmH + ((p.toMmH - p.fromMmH) * (tS - p.startS)) / p.durationS
  }
  return sum
}

/** Rain depth over [t0S, t1S], mm: the exact integral of the piecewise-linear intensity. */
export function rainDepth(phases: readonly RainPhase[], t0S: number, t1S: number): number {
  let mm = 0
  for (const p of phases) {
    const a = Math.max(t0S, p.startS)
    const b = Math.min(t1S, p.startS + p.durationS)
    if (!(b > a)) continue
    const at = (t: number): number => p.fromMmH + ((p.toMmH - p.fromMmH) * (t - p.startS)) / p.durationS
    mm += ((b - a) * (at(a) + at(b))) / 2 / 3600
  }
  return mm
}

/** Last instant of any rain phase, seconds after the start (−Infinity with no rain). */
export function rainEndS(phases: readonly RainPhase[]): number {
  let end = Number.NEGATIVE_INFINITY
  for (const p of phases) end = Math.max(end, p.startS + p.durationS)
  return end
}

/** First instant of any rain phase, seconds after the start (Infinity with no rain). */
export function rainStartS(phases: readonly RainPhase[]): number {
  let start = Number.POSITIVE_INFINITY
  for (const p of phases) start = Math.min(start, p.startS)
  return start
}

/** Demand multiplier of `lot` at `tS`: 1 plus each covering phase's (multiplier − 1), eased in and out. */
export function parkingMultiplier(timeline: Timeline, lot: string, zone: string, district: string, tS: number): number {
  let m = 1
  for (const p of timeline.parking) {
    if (!covers({ ids: p.lots, zones: p.zones, districts: p.districts }, lot, zone, district)) continue
    const end = p.startS + p.durationS
    const w = smoothstep(p.startS, p.startS + p.rampS, tS) * (1 - smoothstep(end - p.rampS, end, tS))
    m += (p.multiplier - 1) * w
  }
  return m
}

/**
 * Concentration a source adds at `distanceM` downstream of its release point at `tS`. The plume
 * arrives after distance/speed, is diluted by exp(−distance/decayM), and spreads out as it travels
 * (its ramps lengthen by a third of the travel time): a smooth pulse, never a QARTOD spike.
 */
export function plumeAt(source: PollutionSource, distanceM: number, tS: number): number {
  const travel = distanceM / source.speedMs
  const ramp = source.rampS + travel / 3
  const t0 = source.startS + travel
  const end = t0 + ramp + source.durationS
  const w = smoothstep(t0, t0 + ramp, tS) * (1 - smoothstep(end, end + ramp, tS))
  return w === 0 ? 0 : source.concentration * Math.exp(-distanceM / source.decayM) * w
}

/** Share of full strength of a plume at `distanceM` and `tS`, in [0, 1] (no dilution): for side effects such as the DO drop. */
export function plumeShare(source: PollutionSource, distanceM: number, tS: number): number {
  return source.concentration === 0 ? 0 : plumeAt(source, distanceM, tS) / source.concentration
}

// ---------------------------------------------------------------------------------------------
// The engine: the `normal` dynamics of every sensor, plus what the timeline adds on top.

/** Routing of each kind (Nash cascades): underpasses fill fastest, rivers slowest. */
const ROUTING = {
  tunnel: { kS: 600, n: 2 },
  ponding: { kS: 900, n: 2 },
  sewer: { kS: 1200, n: 2 },
  river: { kS: 4500, n: 3 },
  lake: { kS: 14_400, n: 2 },
} as const
/** Speed of the flood wave along a river, m/s: downstream gauges peak later. */
const RIVER_CELERITY_MS = 0.5
/** "Raining" for the tiny level wobble that keeps flat-line tests quiet: rain in the last hour. */
const WET_WINDOW_S = 3600
const TAU = 2 * Math.PI

const num = (params: Record<string, unknown>, key: string, fallback: number): number => {
  const v = params[key]
  return typeof v === 'number' && Number.isFinite(v) ? v : fallback
}

/** What one sensor adds to its normal reading at `tS` seconds after the start. */
type Overlay = (base: ReadingFields, tS: number, noise: SeededRandom) => ReadingFields

function checkReferences(timeline: Timeline, segments: Map<string, Segment>, sensors: Map<string, Sensor>, districts: Set<string>): void {
  const problems: string[] = []
  const zone = (id: string, where: string): void => {
    if (segments.get(id)?.type !== 'drainage') problems.push(`${where}: '${id}' is not a drainage zone of the registry`)
  }
  const district = (id: string, where: string): void => {
    if (!districts.has(id)) problems.push(`${where}: '${id}' is not a district of the registry`)
  }
  timeline.rain.forEach((p, i) => {
    p.zones?.forEach((z) => zone(z, `rain[${i}].zones`))
    p.districts?.forEach((d) => district(d, `rain[${i}].districts`))
    Object.keys(p.factors ?? {}).forEach((z) => zone(z, `rain[${i}].factors`))
  })
  timeline.pollution.forEach((p, i) => {
    const type = segments.get(p.segment)?.type
    if (type !== 'river' && type !== 'lake') problems.push(`pollution[${i}].segment: '${p.segment}' is not a river or lake segment of the registry`)
  })
  timeline.parking.forEach((p, i) => {
    p.lots?.forEach((id) => {
      if (sensors.get(id)?.kind !== 'parking') problems.push(`parking[${i}].lots: '${id}' is not a parking sensor of the registry`)
    })
    p.zones?.forEach((z) => zone(z, `parking[${i}].zones`))
    p.districts?.forEach((d) => district(d, `parking[${i}].districts`))
  })
  if (problems.length > 0) throw new AppError('CW_ERR_CONFIG_INVALID', [`scenario '${timeline.name}': ${problems[0]}`])
}

/** Distance of each station of a segment's `kind` from its first (by id: upstream to downstream), along the chain, metres. */
function chainDistances(sensors: readonly Sensor[]): Map<string, number> {
  const sorted = [...sensors].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0))
  const out = new Map<string, number>()
  let d = 0
  let prev: Sensor | undefined
  for (const s of sorted) {
    if (prev !== undefined) d += distanceM(prev.lat, prev.lon, s.lat, s.lon)
    out.set(s.id, d)
    prev = s
  }
  return out
}

/** A sinusoid of `amplitude` with a random phase: the small wobble of a wet level sensor. */
function wobble(rng: SeededRandom, periodS: number, amplitude: number): (tS: number) => number {
  const phase = rng.uniform(0, TAU)
  return (tS) => amplitude * Math.sin((TAU * tS) / periodS + phase)
}

/**
 * A scenario that runs a timeline: every sensor follows the `normal` dynamics, and the timeline's
 * rain, pollution and parking demand are added on top. Outside every phase (and its recession) the
 * readings are exactly those of `normal`. Values depend only on the seed, the sensor, the event time
 * and the timeline (whose times are relative to the start).
 */
export function timelineScenario(timeline: Timeline): ScenarioFactory {
  return (context): Scenario => {
    const { registry } = context
    const base = scenarioNormal(context)
    const segments = new Map(registry.segments.map((s) => [s.id, s]))
    const sensors = new Map(registry.sensors.map((s) => [s.id, s]))
    const districts = new Set([...registry.segments.map((s) => s.district), ...registry.sensors.map((s) => s.district)])
    checkReferences(timeline, segments, sensors, districts)

    const zonesOf = new Map<string, string[]>()
    for (const seg of registry.segments) {
      if (seg.type !== 'drainage') continue
      const list = zonesOf.get(seg.district) ?? []
      list.push(seg.id)
      zonesOf.set(seg.district, list)
    }
    const zonePhases = new Map<string, RainPhase[]>()
    const phasesOf = (zone: string, district: string): RainPhase[] => {
      let phases = zonePhases.get(zone)
      if (phases === undefined) {
        phases = rainPhasesFor(timeline, zone, district)
        zonePhases.set(zone, phases)
      }
      return phases
    }
    /** Mean rain depth over some zones: a catchment's rain. */
    const catchment = (zones: readonly string[], district: string): RainDepth => {
      const lists = zones.map((z) => phasesOf(z, district)).filter((l) => l.length > 0)
      const count = Math.max(1, zones.length)
      return (t0, t1) => {
        let mm = 0
        for (const l of lists) mm += rainDepth(l, t0, t1)
        return mm / count
      }
    }
    const districtRaining = new Map<string, (tS: number) => boolean>()
    const raining = (district: string): ((tS: number) => boolean) => {
      let f = districtRaining.get(district)
      if (f === undefined) {
        const lists = (zonesOf.get(district) ?? []).map((z) => phasesOf(z, district)).filter((l) => l.length > 0)
        f = (tS) => lists.some((l) => rainDepth(l, tS - WET_WINDOW_S, tS) > 0)
        districtRaining.set(district, f)
      }
      return f
    }
    // River gauges: the zones that drain into each, and each gauge's place along its segment.
    const gaugeZones = new Map<string, string[]>()
    for (const seg of registry.segments) {
      for (const g of seg.riverGauges ?? []) gaugeZones.set(g, [...(gaugeZones.get(g) ?? []), seg.id])
    }
    const bySegmentKind = new Map<string, Sensor[]>()
    for (const s of registry.sensors) {
      const key = `${s.segment}\u0000${s.kind}`
      bySegmentKind.set(key, [...(bySegmentKind.get(key) ?? []), s])
    }
    const distances = new Map<string, number>()
    for (const list of bySegmentKind.values()) {
      if (list[0]?.kind === 'water_level' || list[0]?.kind === 'water_quality') for (const [id, d] of chainDistances(list)) distances.set(id, d)
    }
    /** Zones draining into a river segment: those naming any of its gauges, else the district's. */
    const segmentZones = (segment: string, district: string): string[] => {
      const gauges = bySegmentKind.get(`${segment}\u0000water_level`) ?? []
      const zones = new Set<string>()
      for (const g of gauges) for (const z of gaugeZones.get(g.id) ?? []) zones.add(z)
      return zones.size > 0 ? [...zones] : (zonesOf.get(district) ?? [])
    }

    const overlays = new Map<string, Overlay | null>()
    const build = (sensor: Sensor): Overlay | null => {
      const rng = context.rng.fork(sensor.id).fork('timeline')
      const p = sensor.params
      const segment = segments.get(sensor.segment)
      const zone = segment?.type === 'drainage' ? segment.id : undefined
      const wet = raining(sensor.district)
      switch (sensor.kind) {
        case 'rainfall': {
          if (zone === undefined) return null
          const phases = phasesOf(zone, sensor.district)
          if (phases.length === 0) return null
          const factor = rng.uniform(0.93, 1.07)
          const interval = sensor.intervalS
          return (_b, tS) => ({ rain_mm: rainDepth(phases, tS - interval, tS) * factor })
        }
        case 'ponding_depth':
        case 'tunnel_depth': {
          if (zone === undefined || timeline.rain.length === 0) return null
          const rain = catchment([zone], sensor.district)
          const tunnel = sensor.kind === 'tunnel_depth'
          const routing = tunnel ? ROUTING.tunnel : ROUTING.ponding
          const capacity = tunnel ? rng.uniform(12, 20) : rng.uniform(18, 32)
          const gain = tunnel ? rng.uniform(0.95, 1.25) : rng.uniform(0.7, 1.1)
          const film = wobble(rng.fork('film'), 1200, 0.8)
          return (b, tS) => {
            const depth = (b.depth_cm ?? 0) + pondingDepthCm(routedRain(rain, tS, routing), capacity, gain)
            return { depth_cm: wet(tS) ? Math.max(0, depth + 1.1 + film(tS)) : depth }
          }
        }
        case 'manhole_level':
        case 'pipe_level': {
          if (zone === undefined || timeline.rain.length === 0) return null
          const diameter = num(p, 'pipeDiameterM', 0.6)
          const pipe = sensor.kind === 'pipe_level'
          const invert = pipe ? 0 : num(p, 'invertM', 0)
          const geometry = { invertM: invert, pipeDiameterM: diameter, depthM: num(p, 'depthM', invert + diameter + 1.5) }
          const dry = invert + 0.33 * diameter
          const rain = catchment([zone], sensor.district)
          const design = rng.uniform(45, 75)
          const jiggle = wobble(rng.fork('wobble'), 1500, 0.008)
          return (b, tS): ReadingFields => {
            const level = (b.level_m ?? dry) + sewerRiseM(routedRain(rain, tS, ROUTING.sewer), design, geometry, dry) + (wet(tS) ? jiggle(tS) : 0)
            if (!pipe) return { level_m: level }
            const baseFill = ((b.level_m ?? dry) - invert) / diameter
            const fill = (level - invert) / diameter
            const ratio = manningFlow(diameter, Math.min(fill, 0.938), 0.002) / Math.max(1e-9, manningFlow(diameter, Math.min(baseFill, 0.938), 0.002))
            // A surcharged pipe runs under pressure: a little more than full-bore flow.
            const pressure = fill > 1 ? Math.sqrt(1 + 0.3 * (fill - 1)) : 1
            return { level_m: level, flow_m3s: (b.flow_m3s ?? 0) * ratio * pressure }
          }
        }
        case 'water_level': {
          if (timeline.rain.length === 0) return null
          const lake = segment?.type === 'lake'
          const zones = gaugeZones.get(sensor.id) ?? segmentZones(sensor.segment, sensor.district)
          const rain = catchment(zones, sensor.district)
          const routing = { ...(lake ? ROUTING.lake : ROUTING.river), delayS: (distances.get(sensor.id) ?? 0) / RIVER_CELERITY_MS }
          const normal = num(p, 'normalLevelM', 3)
          const warning = num(p, 'warningLevelM', normal + 1)
          const reference = (lake ? 60 : 16) * rng.uniform(0.9, 1.1)
          const jiggle = wobble(rng.fork('wobble'), 1500, 0.008)
          return (b, tS) => ({
            level_m: (b.level_m ?? normal) + riverRiseM(routedRain(rain, tS, routing), reference, normal, warning) + (wet(tS) ? jiggle(tS) : 0),
          })
        }
        case 'flow': {
          if (timeline.rain.length === 0 || segment === undefined) return null
          const rain = catchment(segmentZones(segment.id, sensor.district), sensor.district)
          const routing = segment.type === 'lake' ? ROUTING.lake : ROUTING.river
          return (b, tS) => {
            const f = 1 + routedRain(rain, tS, routing) / 12
            const out: ReadingFields = { flow_m3s: (b.flow_m3s ?? 0) * f }
            if (b.velocity_ms !== undefined) out.velocity_ms = b.velocity_ms * Math.sqrt(f)
            return out
          }
        }
        case 'water_quality': {
          const sources = timeline.pollution.filter((s) => s.segment === sensor.segment)
          const rain = timeline.rain.length > 0 && segment !== undefined ? catchment(segmentZones(segment.id, sensor.district), sensor.district) : undefined
          if (sources.length === 0 && rain === undefined) return null
          const d = distances.get(sensor.id) ?? 0
          return (b, tS) => {
            const out: ReadingFields = { ...b }
            for (const s of sources) {
              const added = plumeAt(s, d, tS)
              if (added === 0) continue
              if (out[s.parameter] !== undefined) out[s.parameter] = (out[s.parameter] ?? 0) + added
              if (out.do_mgl !== undefined && s.doDropMgl > 0) out.do_mgl = Math.max(0.3, out.do_mgl - s.doDropMgl * (added / s.concentration))
            }
            if (rain !== undefined && out.turbidity_ntu !== undefined) {
              // Storm runoff muddies the water.
              out.turbidity_ntu *= 1 + routedRain(rain, tS, ROUTING.river) / 15
            }
            return out
          }
        }
        case 'parking': {
          if (timeline.parking.length === 0) return null
          const lotZone = zone ?? sensor.segment
          return (b, tS, noise) => {
            const m = parkingMultiplier(timeline, sensor.id, lotZone, sensor.district, tS)
            if (m === 1) return b
            const capacity = b.capacity ?? num(p, 'capacity', 100)
            const buffer = Math.max(2, Math.ceil(0.03 * capacity))
            // A full lot is never quite full: a car leaves, another circles.
            const top = capacity - noise.int(0, buffer - 1)
            const occupied = Math.max(0, Math.min(top, Math.round((b.occupied ?? 0) * m)))
            return { ...b, occupied }
          }
        }
        case 'sediment':
          return null
      }
    }

    return {
      name: timeline.name,
      reading(sensor, ts) {
        const b = base.reading(sensor, ts)
        if (b === null) return null
        let overlay = overlays.get(sensor.id)
        if (overlay === undefined) {
          overlay = build(sensor)
          overlays.set(sensor.id, overlay)
        }
        if (overlay === null) return b
        const raw = overlay(b, (ts - context.start) / 1000, context.rng.fork(sensor.id).fork('timeline').fork(ts))
        const out: ReadingFields = {}
        for (const [field, value] of Object.entries(raw)) out[field] = fieldPrecision(sensor.kind, field, value)
        return out
      },
    }
  }
}
