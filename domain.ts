/** The nine water sensor kinds of SPEC §4. */
export const WATER_KINDS = [
  'water_level',
  'flow',
  'water_quality',
  'manhole_level',
  'pipe_level',
  'ponding_depth',
  'tunnel_depth',
  'sediment',
  'rainfall',
] as const

/** Every sensor kind, parking lots included. */
export const SENSOR_KINDS = [...WATER_KINDS, 'parking'] as const

export type WaterKind = (typeof WATER_KINDS)[number]
export type SensorKind = (typeof SENSOR_KINDS)[number]

/** Numeric fields each kind may report (SPEC §4); the first entries listed in `required` are mandatory. */
export const KIND_FIELDS: Record<SensorKind, { required: readonly string[]; optional: readonly string[]; integers?: readonly string[]; anyOf?: boolean }> = {
  water_level: { required: ['level_m'], optional: [] },
  flow: { required: ['flow_m3s'], optional: ['velocity_ms'] },
  water_quality: {
    required: [],
    optional: ['do_mgl', 'nh3n_mgl', 'codmn_mgl', 'tp_mgl', 'ph', 'turbidity_ntu', 'temp_c', 'cond_uscm'],
    anyOf: true,
  },
  manhole_level: { required: ['level_m'], optional: [] },
  pipe_level: { required: ['level_m'], optional: ['flow_m3s'] },
  ponding_depth: { required: ['depth_cm'], optional: [] },
  tunnel_depth: { required: ['depth_cm'], optional: [] },
  sediment: { required: ['sediment_m'], optional: [] },
  rainfall: { required: ['rain_mm'], optional: [] },
  parking: { required: ['occupied'], optional: ['capacity'], integers: ['occupied', 'capacity'] },
}

/** District of alerts about the engine itself (the write-ahead log nearing its bound); every district sees them. */
export const ENGINE_DISTRICT = '_engine'

export type Quality = 'good' | 'suspect' | 'bad'
export type Level = 'blue' | 'yellow' | 'orange' | 'red'

/** A level as the numbers of INDICES.md §4: 1 blue … 4 red (0 is none). */
export const LEVEL_NUMBER: Readonly<Record<Level, 1 | 2 | 3 | 4>> = { blue: 1, yellow: 2, orange: 3, red: 4 }
export type SegmentType = 'river' | 'lake' | 'drainage'

/** A sensor of the registry (SPEC §3). */
export interface Sensor {
  id: string
  kind: SensorKind
  district: string
  segment: string
  name: string
  lat: number
  lon: number
  /** Longest normal gap between readings, in seconds. */
  intervalS: number
  params: Record<string, unknown>
}

/** A river or lake segment, or a drainage zone (SPEC §3). */
export interface Segment {
  id: string
  district: string
  type: SegmentType
  name: string
  /** GB 3838 target class 1–5, for rivers and lakes. */
  targetClass?: number
  /** River gauges of the water a drainage zone drains into. */
  riverGauges?: string[]
}

/** A parking guidance board (SPEC §3). */
export interface Board {
  id: string
  district: string
  name: string
  lots: string[]
  lat: number
  lon: number
}

export interface Registry {
  segments: Segment[]
  sensors: Sensor[]
  boards: Board[]
}

/** Where a reading's timestamp came from. */
export type TsSource = 'device' | 'server'

/** One accepted reading, enriched from the registry. */
export interface Reading {
  sensor: string
  kind: SensorKind
  district: string
  segment: string
  /** Event time, epoch milliseconds. */
  ts: number
  seq?: number
  /** The kind's numeric fields. */
  fields: Record<string, number>
  quality: Quality
  /** Why the quality is not `good`; empty when good. */
  qualityReason: string
  tsSource: TsSource
  /** Server time of arrival, epoch milliseconds. */
  receivedAt: number
}

export const DEAD_LETTER_REASONS = [
  'malformed_json',
  'schema',
  'unknown_sensor',
  'topic_mismatch',
  'ts_future',
  'ts_expired',
  'too_large',
  'unauthorized',
] as const

export type DeadLetterReason = (typeof DEAD_LETTER_REASONS)[number]

/** A rejected message or reading, kept with its reason (SPEC §4). */
export interface DeadLetter {
  /** Server time, epoch milliseconds. */
  receivedAt: number
  topic: string
  reason: DeadLetterReason
  detail: string
  /** The message payload, or the single rejected reading re-encoded as JSON. */
  payload: Buffer
}
