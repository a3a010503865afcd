import { beforeAll, describe, expect, it } from 'vitest'
import { BUNDLED_REGISTRY } from '../../config.js'
import { KIND_FIELDS } from '../../domain.js'
import type { Registry, Sensor, SensorKind } from '../../domain.js'
import { loadRegistry } from '../../registry/load-registry.js'
import { generateMessages } from '../../simulators/generate-messages.js'
import { localTime } from '../../simulators/local-time.js'
import { createScenario } from '../../simulators/scenario.js'
import { seededRandom } from '../../simulators/seeded-random.js'
import { fixtureRegistry } from '../helpers/fixture-registry.js'

/** Late November in Hangzhou, local midnight. */
const START = Date.parse('2026-11-27T00:00:00+08:00')
const DAY_S = 86_400

interface Parsed {
  sensor: Sensor
  topic: string
  keys: string[]
  ts: number
  seq: number
  fields: Record<string, number>
}

function day(registry: Registry, seed = 1): Parsed[] {
  const byId = new Map(registry.sensors.map((s) => [s.id, s]))
  const out: Parsed[] = []
  for (const m of generateMessages({ registry, seed, start: START, durationS: DAY_S })) {
    const raw = JSON.parse(m.payload) as Record<string, number>
    const { ts, seq, ...fields } = raw
    out.push({ sensor: byId.get(m.sensor) as Sensor, topic: m.topic, keys: Object.keys(raw), ts: ts as number, seq: seq as number, fields })
  }
  return out
}

function bySensor(readings: Parsed[]): Map<string, Parsed[]> {
  const map = new Map<string, Parsed[]>()
  for (const r of readings) {
    const list = map.get(r.sensor.id) ?? []
    list.push(r)
    map.set(r.sensor.id, list)
  }
  return map
}

function range(readings: Parsed[], kind: SensorKind, field: string, filter: (r: Parsed) => boolean = () => true): [number, number] {
  const values = readings.filter((r) => r.sensor.kind === kind && field in r.fields && filter(r)).map((r) => r.fields[field] as number)
  expect(values.length).toBeGreaterThan(0)
  return [Math.min(...values), Math.max(...values)]
}

const num = (s: Sensor, key: string, fallback: number): number => (typeof s.params[key] === 'number' ? (s.params[key] as number) : fallback)

describe('scenario normal over a day of the bundled Xihu sample', () => {
  let registry: Registry
  let readings: Parsed[]
  let sensors: Map<string, Parsed[]>
  beforeAll(() => {
    registry = loadRegistry(BUNDLED_REGISTRY)
    readings = day(registry)
    sensors = bySensor(readings)
  })

  it('reports every sensor of the registry at its interval, seq counting from 1', () => {
    expect(sensors.size).toBe(registry.sensors.length)
    for (const s of registry.sensors) {
      const own = sensors.get(s.id) as Parsed[]
      expect(own.length).toBe(Math.ceil(DAY_S / s.intervalS))
      expect(own.every((r, i) => r.seq === i + 1 && r.ts === START + i * s.intervalS * 1000)).toBe(true)
    }
  })

  it('publishes on {prefix}/{district}/{kind}/{sensorId} with ts, seq and the kind’s fields in a fixed order', () => {
    const problems: string[] = []
    for (const r of readings) {
      const { sensor: s } = r
      const spec = KIND_FIELDS[s.kind]
      const known = [...spec.required, ...spec.optional]
      if (r.topic !== `city/${s.district}/${s.kind}/${s.id}`) problems.push(`${s.id}: topic ${r.topic}`)
      if (r.keys[0] !== 'ts' || r.keys[1] !== 'seq') problems.push(`${s.id}: keys ${r.keys.join()}`)
      const names = r.keys.slice(2)
      const ordered = known.filter((f) => names.includes(f))
      if (names.join() !== ordered.join()) problems.push(`${s.id}: unknown or unordered fields ${names.join()}`)
      for (const f of spec.required) if (!(f in r.fields)) problems.push(`${s.id}: missing ${f}`)
      if (spec.anyOf === true && names.length === 0) problems.push(`${s.id}: no field`)
      for (const [f, v] of Object.entries(r.fields)) {
        if (typeof v !== 'number' || !Number.isFinite(v)) problems.push(`${s.id}: ${f}=${v}`)
        if (spec.integers?.includes(f) === true && !Number.isInteger(v)) problems.push(`${s.id}: ${f}=${v} is not an integer`)
      }
      if (s.kind === 'water_quality') {
        const measures = s.params.measures as string[]
        if (names.join() !== known.filter((f) => measures.includes(f)).join()) problems.push(`${s.id}: ${names.join()} != measures ${measures.join()}`)
      }
      if (s.kind === 'parking') {
        const capacity = s.params.capacity as number
        const occupied = r.fields.occupied as number
        if (occupied < 0 || occupied > capacity || r.fields.capacity !== capacity) problems.push(`${s.id}: ${occupied}/${r.fields.capacity} of ${capacity}`)
      }
    }
    expect(problems.slice(0, 10)).toEqual([])
  })

  it('keeps river levels around normal and clear of the near-warning band', () => {
    for (const s of registry.sensors.filter((x) => x.kind === 'water_level')) {
      const normal = num(s, 'normalLevelM', 0)
      const nearWarning = num(s, 'warningLevelM', 0) - num(s, 'nearMarginM', 0.2) - num(s, 'offsetM', 0)
      const levels = (sensors.get(s.id) as Parsed[]).map((r) => r.fields.level_m as number)
      expect(Math.max(...levels), s.id).toBeLessThan(nearWarning)
      expect(Math.max(...levels), s.id).toBeLessThan(normal + 0.15)
      expect(Math.min(...levels), s.id).toBeGreaterThan(normal - 0.25)
    }
  })

  it('keeps sewers at low fill, roads and underpasses dry, sediment moderate and rain at zero', () => {
    for (const s of registry.sensors.filter((x) => x.kind === 'manhole_level' || x.kind === 'pipe_level')) {
      const invert = s.kind === 'pipe_level' ? 0 : num(s, 'invertM', 0)
      const d = num(s, 'pipeDiameterM', 0)
      const fills = (sensors.get(s.id) as Parsed[]).map((r) => ((r.fields.level_m as number) - invert) / d)
      expect(Math.min(...fills), s.id).toBeGreaterThanOrEqual(0.195)
      expect(Math.max(...fills), s.id).toBeLessThanOrEqual(0.455)
    }
    for (const kind of ['ponding_depth', 'tunnel_depth'] as const) {
      const [min, max] = range(readings, kind, 'depth_cm')
      expect(min).toBe(0)
      expect(max).toBeLessThan(2)
    }
    for (const s of registry.sensors.filter((x) => x.kind === 'sediment')) {
      const ks = (sensors.get(s.id) as Parsed[]).map((r) => (r.fields.sediment_m as number) / num(s, 'pipeDiameterM', 0))
      expect(Math.min(...ks), s.id).toBeGreaterThanOrEqual(0.045)
      expect(Math.max(...ks), s.id).toBeLessThanOrEqual(0.185)
    }
    expect(range(readings, 'rainfall', 'rain_mm')).toEqual([0, 0])
  })

  it('keeps flow and velocity in plausible river ranges', () => {
    const [qMin, qMax] = range(readings, 'flow', 'flow_m3s')
    expect(qMin).toBeGreaterThanOrEqual(1)
    expect(qMax).toBeLessThanOrEqual(30)
    const [vMin, vMax] = range(readings, 'flow', 'velocity_ms')
    expect(vMin).toBeGreaterThanOrEqual(0.1)
    expect(vMax).toBeLessThanOrEqual(1.2)
  })

  it('keeps water quality in late-November ranges for rivers and the lake', () => {
    const segType = new Map(registry.segments.map((s) => [s.id, s.type]))
    const lake = (r: Parsed): boolean => segType.get(r.sensor.segment) === 'lake'
    const river = (r: Parsed): boolean => !lake(r)
    const within = ([min, max]: [number, number], lo: number, hi: number): void => {
      expect(min).toBeGreaterThanOrEqual(lo)
      expect(max).toBeLessThanOrEqual(hi)
    }
    within(range(readings, 'water_quality', 'do_mgl'), 5.5, 9.5)
    within(range(readings, 'water_quality', 'temp_c'), 10, 16.5)
    within(range(readings, 'water_quality', 'nh3n_mgl'), 0.15, 0.8)
    within(range(readings, 'water_quality', 'codmn_mgl'), 2.3, 5)
    within(range(readings, 'water_quality', 'ph'), 7.0, 8.2)
    within(range(readings, 'water_quality', 'tp_mgl', river), 0.045, 0.15)
    within(range(readings, 'water_quality', 'tp_mgl', lake), 0.02, 0.06)
    within(range(readings, 'water_quality', 'turbidity_ntu'), 1, 30)
    within(range(readings, 'water_quality', 'cond_uscm'), 150, 500)
  })

  it('follows the day: oxygen and pH higher in the afternoon, parking busy in office hours', () => {
    const meanAt = (kind: SensorKind, field: string, hours: number[]): number => {
      const v = readings.filter((r) => r.sensor.kind === kind && hours.includes(Math.floor(localTime(r.ts).hour))).map((r) => r.fields[field] as number)
      return v.reduce((a, b) => a + b, 0) / v.length
    }
    expect(meanAt('water_quality', 'do_mgl', [12, 16])).toBeGreaterThan(meanAt('water_quality', 'do_mgl', [0, 4]) + 0.5)
    expect(meanAt('water_quality', 'ph', [12, 16])).toBeGreaterThan(meanAt('water_quality', 'ph', [0, 4]) + 0.15)
    for (const s of registry.sensors.filter((x) => x.kind === 'parking')) {
      const share = (hours: number[]): number => {
        const own = (sensors.get(s.id) as Parsed[]).filter((r) => hours.includes(Math.floor(localTime(r.ts).hour)))
        return own.reduce((a, r) => a + (r.fields.occupied as number), 0) / own.length / (s.params.capacity as number)
      }
      expect(share([10, 11, 14, 15]), s.id).toBeGreaterThan(0.6)
      expect(share([2, 3, 4]), s.id).toBeLessThan(0.3)
    }
  })

  it('is smooth enough that no QARTOD spike or flat-line test (INDICES.md §3) would flag it', () => {
    // Spike thresholds (suspect) of INDICES.md §3, by kind and field.
    const spike: Partial<Record<SensorKind, Record<string, number>>> = {
      water_level: { level_m: 0.05 },
      manhole_level: { level_m: 0.1 },
      pipe_level: { level_m: 0.1 },
      ponding_depth: { depth_cm: 5 },
      tunnel_depth: { depth_cm: 5 },
      water_quality: { do_mgl: 1, ph: 0.3, nh3n_mgl: 1, codmn_mgl: 3, tp_mgl: 0.1, turbidity_ntu: 50, temp_c: 1, cond_uscm: 100 },
    }
    const worst: Record<string, number> = {}
    const flagged: string[] = []
    for (const [id, own] of sensors) {
      const kind = own[0]?.sensor.kind as SensorKind
      for (const [field, limit] of Object.entries(spike[kind] ?? {})) {
        if (!(field in (own[0]?.fields ?? {}))) continue
        for (let i = 2; i < own.length; i++) {
          const x = (j: number): number => (own[j] as Parsed).fields[field] as number
          const s = Math.abs(x(i - 1) - (x(i - 2) + x(i)) / 2)
          const key = `${kind}.${field}`
          worst[key] = Math.max(worst[key] ?? 0, s / limit)
          if (s >= limit) flagged.push(`${id} ${field} at ${i - 1}: ${s}`)
        }
      }
      if (kind === 'water_quality') {
        // Flat line: 12 identical readings for NH3-N, COD_Mn and TP; ±0.01 DO for 2 h.
        for (const field of ['nh3n_mgl', 'codmn_mgl', 'tp_mgl']) {
          if (!(field in (own[0]?.fields ?? {}))) continue
          let run = 1
          for (let i = 1; i < own.length; i++) {
            run = own[i]?.fields[field] === own[i - 1]?.fields[field] ? run + 1 : 1
            if (run >= 12) flagged.push(`${id} ${field} flat at ${i}`)
          }
        }
      }
    }
    expect(flagged.slice(0, 10)).toEqual([])
    expect(Object.keys(worst).length).toBe(13)
    // Comfortably below the thresholds, not just under them.
    for (const [key, ratio] of Object.entries(worst)) expect(ratio, key).toBeLessThan(0.6)
  })
})

describe('scenario normal', () => {
  it('produces valid readings for the test fixture registry too', () => {
    const registry = fixtureRegistry()
    const readings = day(registry, 7)
    expect(new Set(readings.map((r) => r.sensor.id)).size).toBe(registry.sensors.length)
    const mh = readings.filter((r) => r.sensor.id === 'MH-1').map((r) => r.fields.level_m as number)
    // invertM 0.1 + fill 0.2–0.45 of a 0.6 m pipe.
    expect(Math.min(...mh)).toBeGreaterThanOrEqual(0.1 + 0.195 * 0.6)
    expect(Math.max(...mh)).toBeLessThanOrEqual(0.1 + 0.455 * 0.6)
    const wq = readings.find((r) => r.sensor.id === 'WQ-1') as Parsed
    expect(Object.keys(wq.fields)).toEqual(['do_mgl', 'nh3n_mgl', 'codmn_mgl', 'tp_mgl', 'ph'])
  })

  it('reads a value as a pure function of seed, sensor and ts: independent of start and of other sensors', () => {
    const registry = fixtureRegistry()
    const a = createScenario('normal', { registry, rng: seededRandom(3), start: START, end: Infinity })
    const b = createScenario('normal', { registry: { ...registry, sensors: registry.sensors.slice(3) }, rng: seededRandom(3), start: START + 3_600_000, end: Infinity })
    const ts = START + 7_200_000
    const sensor = registry.sensors[5] as Sensor
    for (const s of registry.sensors.slice(0, 5)) a.reading(s, ts)
    expect(b.reading(sensor, ts)).toEqual(a.reading(sensor, ts))
  })

  it('rejects an unknown scenario naming the available ones', () => {
    expect(() => createScenario('tsunami', { registry: fixtureRegistry(), rng: seededRandom(1), start: START, end: Infinity })).toThrow(/unknown scenario 'tsunami' \(available: normal, /)
  })
})
