/** The JSON shapes the dashboard reads from the engine (SPEC §7, §8, §9, §11, §12). */

export type ClearGrade = 'excellent' | 'good' | 'slightly_polluted' | 'moderately_polluted' | 'heavily_polluted'
export type SmoothBand = 'normal' | 'blue' | 'yellow' | 'orange' | 'red'
export type AlertLevel = 'blue' | 'yellow' | 'orange' | 'red'
export type AlertState = 'open' | 'acknowledged' | 'resolved'
export type SensorStatus = 'unknown' | 'online' | 'stale' | 'fault'
export type LotStatus = 'available' | 'busy' | 'full' | 'closed'
export type IndexName = 'clear' | 'smooth'

/** An index that cannot be computed. */
export interface NullIndex {
  value: null
  reason: string
}

export interface ClearIndex {
  value: number
  class: number
  grade?: ClearGrade
  limiting?: string | null
  exceedances?: { parameter: string; value: number; limit: number; multiple: number }[]
  /** 0–1; absent on a district. */
  confidence?: number
  flags?: string[]
  worstSegment?: string | null
  classCounts?: Record<string, number>
}

export interface SmoothIndex {
  value: number
  band: SmoothBand
  limiting?: string | null
  confidence?: number
  flags?: string[]
  worstSegment?: string | null
}

/** A segment's or a district's entry of `/api/indices`; districts have no `segment`. */
export interface IndexEntry {
  segment?: string
  district: string
  type?: 'river' | 'lake' | 'drainage'
  clear: ClearIndex | NullIndex | null
  smooth: SmoothIndex | NullIndex | null
  /** Live index events only: the event time of the latest input, RFC 3339. */
  at?: string
}

export interface Alert {
  id: string
  rule: string
  subject: string
  district: string
  segment: string | null
  level: AlertLevel
  state: AlertState
  value: number | null
  threshold: number | null
  message: string
  raisedAt: string
  updatedAt: string
  ackedBy: string | null
  etaMinutes: number | null
  flapping?: boolean
}

export interface Lot {
  id: string
  name: string
  district: string
  segment: string
  capacity: number
  occupied: number
  free: number
  occupancy: number
  status: LotStatus
  underground: boolean
  updatedAt: string
  lat: number
  lon: number
}

export interface Board {
  board: string
  name: string
  district: string
  lines: { lot: string; name: string; text: string }[]
  updatedAt: string | null
}

export interface Reading {
  sensor: string
  kind: string
  district: string
  segment: string
  ts: string
  values: Record<string, number>
  quality: string
}

export interface Sensor {
  id: string
  kind: string
  district: string
  segment: string
  name: string
  lat: number
  lon: number
  status: SensorStatus
  last: Reading | null
}

/** One point of `/api/indices/history`. */
export interface HistoryPoint {
  district: string
  segment: string
  index: IndexName
  time: string
  value: number
  level?: number
  confidence?: number
}

/** A server frame on `/ws`. */
export type ServerFrame =
  | { type: 'snapshot'; seq: number; resumed?: boolean; data: { indices?: IndexEntry[]; alerts?: Alert[]; parking?: Lot[]; readings?: Reading[] } }
  | { type: 'index'; seq: number; data: IndexEntry }
  | { type: 'alert'; seq: number; data: Alert }
  | { type: 'parking'; seq: number; data: Lot }
  | { type: 'reading'; seq: number; data: Reading }
  | { type: 'error'; error: string; message: string }
