/**
 * Generates the bundled sample registry of Xihu district, Hangzhou: `node --import tsx registry/generate-sample.ts`
 * writes registry/xihu.json. Deterministic: one seeded PRNG (mulberry32), no clock, no Math.random.
 *
 * Reporting intervals (`intervalS`, the longest normal gap between readings):
 * - water_level, flow: 300 s, the 5-minute cadence of hydrological telemetry stations;
 * - water_quality: 3600 s for hourly multi-parameter stations, 14400 s for the 4-hourly wet-chemistry analysers;
 * - manhole_level, pipe_level, ponding_depth: 300 s heartbeat (the devices report faster while it rains);
 * - tunnel_depth: 60 s, underpass closures are decided minute by minute;
 * - sediment: 3600 s, silt builds up over days;
 * - rainfall: 300 s tipping-bucket totals;
 * - parking: 60 s heartbeat (counts are event-driven).
 */
import { writeFileSync } from 'node:fs'
import { fileURLToPath, pathToFileURL } from 'node:url'
import type { Board, Registry, Segment, Sensor, SensorKind } from '../domain.js'
import { parseRegistry } from './load-registry.js'

const DISTRICT = 'xihu'
const SEED = 0x58_69_68_75 // "Xihu"
const BOUNDS = { latMin: 30.18, latMax: 30.32, lonMin: 120.02, lonMax: 120.17 }

const INTERVAL_S: Record<SensorKind, number> = {
  water_level: 300,
  flow: 300,
  water_quality: 3600,
  manhole_level: 300,
  pipe_level: 300,
  ponding_depth: 300,
  tunnel_depth: 60,
  sediment: 3600,
  rainfall: 300,
  parking: 60,
}

const ID_PREFIX: Record<SensorKind, string> = {
  water_level: 'WL',
  flow: 'FL',
  water_quality: 'WQ',
  manhole_level: 'MH',
  pipe_level: 'PL',
  ponding_depth: 'PD',
  tunnel_depth: 'TD',
  sediment: 'SD',
  rainfall: 'RG',
  parking: 'P',
}

type Point = readonly [lat: number, lon: number]

interface Water {
  id: string
  type: 'river' | 'lake'
  name: string
  targetClass: number
  from: Point
  to: Point
  /** Landmarks along the reach, used to name its stations. */
  sites: readonly string[]
  levels: number
  flows: number
  quality: number
  /** Typical normal level Hn of the reach, metres above the gauge datum. */
  normalLevelM: number
}

interface Underpass {
  name: string
  closureCm: number
  positions: readonly string[]
}

interface Zone {
  id: string
  name: string
  center: Point
  rivers: readonly string[]
  roads: readonly string[]
  rainSites: readonly string[]
  manholes: number
  pipes: number
  ponding: number
  sediment: number
  underpasses: readonly Underpass[]
}

interface Lot {
  zone: string
  name: string
  capacity: number
  underground: boolean
}

const WATERS: readonly Water[] = [
  {
    id: 'xixi-river-1',
    type: 'river',
    name: 'Xixi River (west reach)',
    targetClass: 3,
    from: [30.262, 120.045],
    to: [30.268, 120.08],
    sites: ['Liuxia bridge', 'Xixi Wetland west gate', 'Hongyuan bridge', 'Zhoujiacun', 'Wuchang Rd bridge'],
    levels: 5,
    flows: 3,
    quality: 4,
    normalLevelM: 2.95,
  },
  {
    id: 'xixi-river-2',
    type: 'river',
    name: 'Xixi River (east reach)',
    targetClass: 3,
    from: [30.268, 120.08],
    to: [30.272, 120.12],
    sites: ['Zijingang Rd bridge', 'Xixi Rd sluice', 'Dongyue bridge', 'Gudun Rd bridge', 'Jiaogong Rd bridge'],
    levels: 5,
    flows: 3,
    quality: 4,
    normalLevelM: 2.85,
  },
  {
    id: 'yuhangtang-river-1',
    type: 'river',
    name: 'Yuhangtang River (west reach)',
    targetClass: 3,
    from: [30.298, 120.04],
    to: [30.294, 120.09],
    sites: ['Wuchang sluice', 'Jiangcun bridge', 'Zijingang campus bridge', 'Sandun bridge', 'Xiaoheshan Rd bridge'],
    levels: 5,
    flows: 3,
    quality: 4,
    normalLevelM: 3.0,
  },
  {
    id: 'yuhangtang-river-2',
    type: 'river',
    name: 'Yuhangtang River (east reach)',
    targetClass: 3,
    from: [30.294, 120.09],
    to: [30.29, 120.15],
    sites: ['Gudun Rd bridge', 'Fengtan Rd bridge', 'Xueyuan Rd bridge', 'Cuiyuan bridge', 'Huazhong Rd bridge'],
    levels: 5,
    flows: 3,
    quality: 4,
    normalLevelM: 2.9,
  },
  {
    id: 'shahe-river',
    type: 'river',
    name: 'Shahe River',
    targetClass: 3,
    from: [30.215, 120.035],
    to: [30.255, 120.065],
    sites: ['Xiaoheshan sluice', 'Liuhe Rd bridge', 'Liuxia market bridge', 'Tianmushan Rd bridge', 'Shahe outfall'],
    levels: 5,
    flows: 3,
    quality: 3,
    normalLevelM: 3.1,
  },
  {
    id: 'gudang-river',
    type: 'river',
    name: 'Gudang River',
    targetClass: 3,
    from: [30.27, 120.115],
    to: [30.292, 120.128],
    sites: ['Wener Rd bridge', 'Wensan Rd bridge', 'Gudang Xincun bridge', 'Wenyi Rd bridge'],
    levels: 4,
    flows: 3,
    quality: 3,
    normalLevelM: 2.75,
  },
  {
    id: 'jiangcun-port',
    type: 'river',
    name: 'Jiangcun Port',
    targetClass: 3,
    from: [30.265, 120.072],
    to: [30.3, 120.075],
    sites: ['Xixi confluence', 'Wenyi West Rd bridge', 'Jiangcun market', 'Wenxin Rd bridge', 'Yuhangtang confluence'],
    levels: 5,
    flows: 3,
    quality: 3,
    normalLevelM: 2.8,
  },
  {
    id: 'west-lake-outer',
    type: 'lake',
    name: 'West Lake (Outer Lake)',
    targetClass: 3,
    from: [30.236, 120.14],
    to: [30.256, 120.152],
    sites: ['Hubin', 'Sandtan Yinyue', 'Nanping bay', 'Broken Bridge', 'Lake centre pavilion'],
    levels: 2,
    flows: 1,
    quality: 5,
    normalLevelM: 7.15,
  },
  {
    id: 'west-lake-inner',
    type: 'lake',
    name: 'West Lake (Xili Inner Lake)',
    targetClass: 2,
    from: [30.233, 120.128],
    to: [30.251, 120.135],
    sites: ['Maojiabu', 'Yanggong Causeway', 'Longjing outlet'],
    levels: 2,
    flows: 1,
    quality: 3,
    normalLevelM: 7.15,
  },
  {
    id: 'west-lake-north',
    type: 'lake',
    name: 'West Lake (Beili Inner Lake)',
    targetClass: 3,
    from: [30.257, 120.138],
    to: [30.26, 120.15],
    sites: ['Shengtang sluice', 'Beishan Rd', 'Gushan'],
    levels: 2,
    flows: 1,
    quality: 3,
    normalLevelM: 7.15,
  },
]

const ZONES: readonly Zone[] = [
  {
    id: 'zone-1',
    name: 'Wenxin drainage zone',
    center: [30.287, 120.112],
    rivers: ['gudang-river', 'yuhangtang-river-2'],
    roads: ['Wensan Rd', 'Wenyi West Rd', 'Gudun Rd', 'Fengtan Rd', 'Xueyuan Rd', 'Wenxin Rd'],
    rainSites: ['Wenxin Park', 'Gudun Rd fire station'],
    manholes: 13,
    pipes: 7,
    ponding: 8,
    sediment: 4,
    underpasses: [{ name: 'Gudun Rd underpass', closureCm: 27, positions: ['north ramp', 'lowest point', 'south ramp'] }],
  },
  {
    id: 'zone-2',
    name: 'Gudang drainage zone',
    center: [30.276, 120.127],
    rivers: ['gudang-river'],
    roads: ['Wener Rd', 'Jiaogong Rd', 'Tianmushan Rd', 'Xueyuan Rd', 'Gudang Rd', 'Wensan Rd'],
    rainSites: ['Gudang sub-district office', 'Huanglong Rd depot'],
    manholes: 12,
    pipes: 7,
    ponding: 7,
    sediment: 4,
    underpasses: [{ name: 'Jiaogong Rd underpass', closureCm: 25, positions: ['west ramp', 'lowest point', 'east ramp'] }],
  },
  {
    id: 'zone-3',
    name: 'Jiangcun drainage zone',
    center: [30.283, 120.075],
    rivers: ['jiangcun-port', 'xixi-river-1'],
    roads: ['Wenyi West Rd', 'Zijingang Rd', 'Wuchang Rd', 'Jiangcun Rd', 'Tianmushan Rd'],
    rainSites: ['Jiangcun market', 'Xixi Wetland east gate'],
    manholes: 12,
    pipes: 7,
    ponding: 6,
    sediment: 3,
    underpasses: [{ name: 'Wuchang Rd underpass', closureCm: 30, positions: ['lowest point', 'entrance ramp'] }],
  },
  {
    id: 'zone-4',
    name: 'Sandun drainage zone',
    center: [30.31, 120.095],
    rivers: ['yuhangtang-river-1'],
    roads: ['Jinpeng Rd', 'Xinjin Rd', 'Zhenhua Rd', 'Sandun Rd', 'Wenyi West Rd'],
    rainSites: ['Sandun town hall', 'Jinpeng Rd pumping station'],
    manholes: 12,
    pipes: 7,
    ponding: 7,
    sediment: 3,
    underpasses: [],
  },
  {
    id: 'zone-5',
    name: 'Zijingang drainage zone',
    center: [30.3, 120.08],
    rivers: ['yuhangtang-river-1', 'jiangcun-port'],
    roads: ['Zijingang Rd', 'Yuhangtang Rd', 'Yuhai Rd', 'Wenxin Rd', 'Sandun Rd'],
    rainSites: ['Zijingang campus', 'Yuhangtang Rd pumping station'],
    manholes: 12,
    pipes: 6,
    ponding: 6,
    sediment: 3,
    underpasses: [
      { name: 'Zijingang Rd underpass', closureCm: 27, positions: ['lowest point', 'north ramp'] },
      { name: 'Yuhangtang Rd underpass', closureCm: 27, positions: ['lowest point', 'west ramp'] },
    ],
  },
  {
    id: 'zone-6',
    name: 'Beishan drainage zone',
    center: [30.265, 120.141],
    rivers: ['xixi-river-2'],
    roads: ['Shuguang Rd', 'Baochu Rd', 'Huanglong Rd', 'Beishan Rd', 'Xixi Rd'],
    rainSites: ['Huanglong Sports Center'],
    manholes: 12,
    pipes: 6,
    ponding: 6,
    sediment: 3,
    underpasses: [{ name: 'Shuguang Rd underpass', closureCm: 27, positions: ['north ramp', 'lowest point', 'south ramp'] }],
  },
  {
    id: 'zone-7',
    name: 'Liuxia drainage zone',
    center: [30.252, 120.058],
    rivers: ['shahe-river', 'xixi-river-1'],
    roads: ['Liuhe Rd', 'Tianmushan Rd', 'Liuxia Rd', 'Hongyuan Rd', 'Xixi Rd'],
    rainSites: ['Liuxia sub-district office', 'Xixi Wetland Zhoujiacun gate'],
    manholes: 12,
    pipes: 7,
    ponding: 7,
    sediment: 3,
    underpasses: [],
  },
  {
    id: 'zone-8',
    name: 'Cuiyuan drainage zone',
    center: [30.29, 120.135],
    rivers: ['yuhangtang-river-2'],
    roads: ['Xueyuan Rd', 'Wenyi Rd', 'Huazhong Rd', 'Cuiyuan Rd', 'Shuguang Rd'],
    rainSites: ['Cuiyuan Park', 'Xueyuan Rd depot'],
    manholes: 12,
    pipes: 6,
    ponding: 6,
    sediment: 3,
    underpasses: [{ name: 'Xueyuan Rd underpass', closureCm: 30, positions: ['north ramp', 'lowest point', 'south ramp'] }],
  },
  {
    id: 'zone-9',
    name: 'Xiaoheshan drainage zone',
    center: [30.225, 120.04],
    rivers: ['shahe-river'],
    roads: ['Liuhe Rd', 'Xiaoheshan Rd', 'Zhijiang Rd', 'Liuxiang Rd', 'Liuhe North Rd'],
    rainSites: [],
    manholes: 13,
    pipes: 7,
    ponding: 7,
    sediment: 4,
    underpasses: [],
  },
]

const LOTS: readonly Lot[] = [
  { zone: 'zone-6', name: 'Huanglong Sports Center north lot', capacity: 600, underground: false },
  { zone: 'zone-6', name: 'Huanglong Times Square underground car park', capacity: 380, underground: true },
  { zone: 'zone-3', name: 'Xixi Yintai City underground car park', capacity: 560, underground: true },
  { zone: 'zone-7', name: 'Xixi Wetland Zhoujiacun gate lot', capacity: 350, underground: false },
  { zone: 'zone-5', name: 'Zijingang campus east gate lot', capacity: 240, underground: false },
  { zone: 'zone-1', name: 'Wensan Rd digital street underground car park', capacity: 180, underground: true },
  { zone: 'zone-4', name: 'Sandun Yintai underground car park', capacity: 420, underground: true },
  { zone: 'zone-8', name: 'Cuiyuan Wanda Plaza underground car park', capacity: 520, underground: true },
  { zone: 'zone-2', name: 'Gudang Xueyuan Rd municipal lot', capacity: 120, underground: false },
  { zone: 'zone-9', name: 'Xiaoheshan higher education park lot', capacity: 300, underground: false },
  { zone: 'zone-1', name: 'Fengtan Rd park-and-ride', capacity: 160, underground: false },
  { zone: 'zone-3', name: 'Jiangcun metro park-and-ride underground', capacity: 80, underground: true },
]

const BOARDS: readonly { name: string; lots: readonly string[] }[] = [
  { name: 'Huanglong Rd guidance board', lots: ['P-01', 'P-02'] },
  { name: 'Wensan Rd / Xueyuan Rd guidance board', lots: ['P-06', 'P-09', 'P-11'] },
  { name: 'Xixi Wetland guidance board', lots: ['P-03', 'P-04', 'P-12'] },
  { name: 'Sandun / Zijingang guidance board', lots: ['P-07', 'P-05', 'P-08', 'P-11'] },
]

const FULL_MEASURES = ['do_mgl', 'nh3n_mgl', 'codmn_mgl', 'tp_mgl', 'ph', 'temp_c', 'turbidity_ntu', 'cond_uscm']
// Probe-only stations: no wet chemistry for COD_Mn or TP, still DO, NH3-N and pH (3 of the 5 index parameters).
const PROBE_MEASURES = ['do_mgl', 'nh3n_mgl', 'ph', 'temp_c', 'turbidity_ntu', 'cond_uscm']
// Stations without a phosphorus analyser: 4 of the 5.
const NO_TP_MEASURES = ['do_mgl', 'nh3n_mgl', 'codmn_mgl', 'ph', 'temp_c']
const MANHOLE_DIAMETERS = [0.4, 0.5, 0.6, 0.8, 1.0, 1.2]
const PIPE_DIAMETERS = [0.5, 0.6, 0.8, 1.0, 1.2]
const PONDING_CLOSURES = [20, 25, 30]

/** mulberry32: a small, fast, seeded PRNG returning floats in [0, 1). */
export function mulberry32(seed: number): () => number {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6d2b79f5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

function round(x: number, digits: number): number {
  const f = 10 ** digits
  return Math.round(x * f) / f
}

function clamp(x: number, lo: number, hi: number): number {
  return Math.min(hi, Math.max(lo, x))
}

function at<T>(list: readonly T[], index: number): T {
  const item = list[index % list.length]
  if (item === undefined) throw new Error(`empty list at index ${index}`)
  return item
}

/** Builds the Xihu sample registry; the same object on every call. */
export function generateSample(): Registry {
  const rand = mulberry32(SEED)
  const uniform = (lo: number, hi: number) => lo + (hi - lo) * rand()
  const pick = <T>(list: readonly T[]): T => at(list, Math.floor(rand() * list.length))
  const shuffle = <T>(list: readonly T[]): T[] => {
    const out = [...list]
    for (let i = out.length - 1; i > 0; i--) {
      const j = Math.floor(rand() * (i + 1))
      ;[out[i], out[j]] = [at(out, j), at(out, i)]
    }
    return out
  }
  const counters = new Map<SensorKind, number>()
  const sensors: Sensor[] = []

  const place = ([lat, lon]: Point, spreadLat: number, spreadLon: number): Point => [
    round(clamp(lat + uniform(-spreadLat, spreadLat), BOUNDS.latMin, BOUNDS.latMax), 5),
    round(clamp(lon + uniform(-spreadLon, spreadLon), BOUNDS.lonMin, BOUNDS.lonMax), 5),
  ]
  const along = (water: Water, k: number, n: number): Point => {
    const t = (k + uniform(0.25, 0.75)) / n
    const lat = water.from[0] + (water.to[0] - water.from[0]) * t
    const lon = water.from[1] + (water.to[1] - water.from[1]) * t
    return place([lat, lon], 0.0008, 0.0008)
  }
  const add = (kind: SensorKind, segment: string, name: string, point: Point, params: Record<string, unknown>, intervalS = INTERVAL_S[kind]) => {
    const n = (counters.get(kind) ?? 0) + 1
    counters.set(kind, n)
    const id = kind === 'parking' ? `P-${String(n).padStart(2, '0')}` : `${ID_PREFIX[kind]}-${String(n).padStart(4, '0')}`
    const sensor: Sensor = { id, kind, district: DISTRICT, segment, name, lat: point[0], lon: point[1], intervalS, params }
    sensors.push(sensor)
    return sensor
  }

  for (const water of WATERS) {
    for (let k = 0; k < water.levels; k++) {
      const lake = water.type === 'lake'
      const hn = round(water.normalLevelM + uniform(-0.1, 0.1) * (lake ? 0.3 : 1), 2)
      const hw = round(hn + (lake ? uniform(0.3, 0.4) : uniform(0.5, 0.8)), 2)
      const hg = round(hw + (lake ? uniform(0.25, 0.35) : uniform(0.3, 0.6)), 2)
      const hx = round(hg + (lake ? uniform(-0.15, 0.1) : uniform(-0.3, 0.3)), 2)
      const params: Record<string, unknown> = { normalLevelM: hn, warningLevelM: hw, guaranteedLevelM: hg, historicMaxLevelM: hx }
      if (!lake && rand() < 0.12) params.nearMarginM = 0.3
      if (rand() < 0.1) params.offsetM = round(pick([-0.15, -0.08, 0.05, 0.12]), 2)
      add('water_level', water.id, `${water.name} level gauge, ${at(water.sites, k)}`, along(water, k, water.levels), params)
    }
  }
  for (const water of WATERS) {
    for (let k = 0; k < water.flows; k++) {
      const site = water.type === 'lake' ? at(water.sites, 0) : at(water.sites, k * 2 + 1)
      add('flow', water.id, `${water.name} flow station, ${site}`, along(water, k, water.flows), {})
    }
  }
  // Every 7th station (from the 4th on, never a segment's first) has a reduced set, alternating the two kinds.
  let station = 0
  for (const water of WATERS) {
    for (let k = 0; k < water.quality; k++, station++) {
      const reduced = k > 0 && station % 7 === 3
      const measures = !reduced ? FULL_MEASURES : station % 14 === 3 ? PROBE_MEASURES : NO_TP_MEASURES
      const fourHourly = measures === FULL_MEASURES && rand() < 0.15
      add(
        'water_quality',
        water.id,
        `${water.name} water quality station, ${at(water.sites, k + 2)}`,
        along(water, k, water.quality),
        { measures: [...measures] },
        fourHourly ? 14_400 : INTERVAL_S.water_quality,
      )
    }
  }

  const zonePoint = (zone: Zone) => place(zone.center, 0.011, 0.014)
  // Repeated names within a zone get a number: "Wensan Rd manhole", "Wensan Rd manhole 2".
  const seen = new Map<string, number>()
  const nameIn = (zone: Zone, base: string) => {
    const n = (seen.get(`${zone.id}/${base}`) ?? 0) + 1
    seen.set(`${zone.id}/${base}`, n)
    return n === 1 ? base : `${base} ${n}`
  }

  for (const zone of ZONES) {
    for (let k = 0; k < zone.manholes; k++) {
      const params: Record<string, unknown> = {}
      if (rand() >= 0.25) params.invertM = round(uniform(0, 0.3), 2)
      params.pipeDiameterM = pick(MANHOLE_DIAMETERS)
      params.depthM = round(uniform(2, 5), 2)
      add('manhole_level', zone.id, nameIn(zone, `${at(zone.roads, k)} manhole`), zonePoint(zone), params)
    }
  }
  const pipesOfZone = new Map<string, Sensor[]>()
  for (const zone of ZONES) {
    const pipes: Sensor[] = []
    for (let k = 0; k < zone.pipes; k++) {
      const diameter = pick(PIPE_DIAMETERS)
      const road = at(zone.roads, k + 1)
      const params = { pipeDiameterM: diameter, depthM: round(uniform(2, 5), 2) }
      pipes.push(add('pipe_level', zone.id, nameIn(zone, `${road} storm sewer DN${Math.round(diameter * 1000)}`), zonePoint(zone), params))
    }
    pipesOfZone.set(zone.id, pipes)
  }
  for (const zone of ZONES) {
    const junctions = shuffle(zone.roads.flatMap((road, i) => zone.roads.slice(i + 1).map((cross) => `${road} at ${cross}`)))
    for (let k = 0; k < zone.ponding; k++) {
      const junction = at(junctions, k)
      const params: Record<string, unknown> = rand() < 0.3 ? { closureCm: pick(PONDING_CLOSURES) } : {}
      add('ponding_depth', zone.id, nameIn(zone, `${junction} ponding point`), zonePoint(zone), params)
    }
  }
  for (const zone of ZONES) {
    for (const underpass of zone.underpasses) {
      const point = zonePoint(zone)
      for (const position of underpass.positions) {
        add('tunnel_depth', zone.id, `${underpass.name}, ${position}`, place(point, 0.0006, 0.0006), { closureCm: underpass.closureCm })
      }
    }
  }
  for (const zone of ZONES) {
    const pipes = pipesOfZone.get(zone.id) ?? []
    for (let k = 0; k < zone.sediment; k++) {
      const pipe = at(pipes, k)
      const point = place([pipe.lat, pipe.lon], 0.0004, 0.0004)
      add('sediment', zone.id, `${pipe.name} sediment`, point, { pipeDiameterM: pipe.params.pipeDiameterM })
    }
  }
  for (const zone of ZONES) {
    for (const site of zone.rainSites) add('rainfall', zone.id, `${site} rain gauge`, zonePoint(zone), {})
  }
  const lots = LOTS.map((lot) => {
    const zone = ZONES.find((z) => z.id === lot.zone)
    if (zone === undefined) throw new Error(`lot ${lot.name}: unknown zone ${lot.zone}`)
    return add('parking', zone.id, lot.name, zonePoint(zone), { capacity: lot.capacity, underground: lot.underground })
  })

  const gaugesOf = (segment: string, near: Point) =>
    sensors
      .filter((s) => s.kind === 'water_level' && s.segment === segment)
      .map((s) => ({ id: s.id, d: (s.lat - near[0]) ** 2 + ((s.lon - near[1]) * 0.866) ** 2 }))
      .sort((a, b) => a.d - b.d || (a.id < b.id ? -1 : 1))
      .map((g) => g.id)
  const riverGauges = (zone: Zone): string[] => {
    const nearest = zone.rivers.map((river) => gaugesOf(river, zone.center))
    const chosen = nearest.map((ids) => at(ids, 0))
    // A zone on one river watches its two nearest gauges.
    if (chosen.length === 1) chosen.push(at(nearest[0] ?? [], 1))
    return chosen
  }

  const segments: Segment[] = [
    ...WATERS.map((w) => ({ id: w.id, district: DISTRICT, type: w.type, name: w.name, targetClass: w.targetClass })),
    ...ZONES.map((z) => ({ id: z.id, district: DISTRICT, type: 'drainage' as const, name: z.name, riverGauges: riverGauges(z) })),
  ]
  const boards: Board[] = BOARDS.map((board, k) => {
    const shown = board.lots.map((id) => lots.find((lot) => lot.id === id)).filter((lot) => lot !== undefined)
    const lat = shown.reduce((sum, lot) => sum + lot.lat, 0) / shown.length
    const lon = shown.reduce((sum, lot) => sum + lot.lon, 0) / shown.length
    return {
      id: `B-${String(k + 1).padStart(2, '0')}`,
      district: DISTRICT,
      name: board.name,
      lots: [...board.lots],
      lat: round(lat, 5),
      lon: round(lon, 5),
    }
  })
  return { segments, sensors, boards }
}

/** The sample as written to registry/xihu.json: pretty-printed with 2 spaces and a final newline. */
export function sampleJson(): string {
  return `${JSON.stringify(generateSample(), null, 2)}\n`
}

/** Where the generated sample lives. */
export const SAMPLE_PATH = fileURLToPath(new URL('./xihu.json', import.meta.url))

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const text = sampleJson()
  parseRegistry(JSON.parse(text), 'generated sample')
  writeFileSync(SAMPLE_PATH, text)
  console.log(`wrote ${SAMPLE_PATH}`)
}
