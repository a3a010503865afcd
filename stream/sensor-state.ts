import { KIND_FIELDS, type Quality, type Reading, type Sensor, type SensorKind, type TsSource } from '../domain.js'
import { resized } from '../typed-arrays.js'

/** Live status of a sensor from data only (SPEC §6). */
export type SensorStatus = 'unknown' | 'online' | 'stale' | 'fault'

/** What the engine last heard from each sensor. */
export interface SensorState {
  /** Records an accepted or re-flagged reading; keeps the one with the latest event time as `last`. */
  update(reading: Reading): void
  /**
   * The reading with the latest event time, if any: an equal copy of it (the state keeps its values, not the object,
   * so each call returns a new object), or the reading itself when its values do not fit those columns.
   */
  last(sensorId: string): Reading | undefined
  /**
   * Status at wall time `now`: `unknown` when never heard, `stale` when silent for 3 × intervalS, `fault` when
   * its 3 latest readings by event time are all bad, else `online`.
   */
  status(sensor: Sensor, now: number): SensorStatus
  /** Forgets sensors no longer in the registry. */
  retain(ids: ReadonlySet<string>): void
}

/** The kind, district and segment of a reading: one object per combination, shared by the slots that have it. */
interface Tags {
  kind: SensorKind
  district: string
  segment: string
  /** FIELD_ORDER of the kind; undefined for a kind it does not know. */
  names: readonly string[] | undefined
}

/** Each kind's fields in the order ingest writes them (required, then optional): a slot keeps which are present. */
const FIELD_ORDER = new Map<string, readonly string[]>(Object.entries(KIND_FIELDS).map(([kind, spec]) => [kind, [...spec.required, ...spec.optional]]))
const QUALITIES: readonly Quality[] = ['good', 'suspect', 'bad']
const TS_SOURCES: readonly TsSource[] = ['device', 'server']

/** Numbers per slot in `times`: when last heard, the event times of the 3 latest readings, then the last reading's. */
const STRIDE = 7
const HEARD = 0
const TS0 = 1
const TS1 = 2
const TS2 = 3
const LAST_TS = 4
const LAST_RECEIVED = 5
const LAST_SEQ = 6
/** `meta` bits of the last reading: quality code (2 bits), tsSource code, whether it has a seq. */
const TS_SOURCE_BIT = 4
const SEQ_BIT = 8
/** Tags objects kept for sharing, at most (then they start over; slots keep theirs). */
const TAGS_MAX = 100_000
const INITIAL_SLOTS = 64

/**
 * Creates the per-sensor live state: a slot per sensor that ever reported, its numbers in typed-array columns and the
 * last reading kept as values (no object per sensor: about 200 bytes a sensor instead of 450 with the Reading and an
 * entry object), rebuilt by `last`.
 */
export function sensorState(): SensorState {
  const slots = new Map<string, number>()
  const freeSlots: number[] = []
  let capacity = 0
  let used = 0
  let times = new Float64Array(0)
  /** Flags of the 3 latest readings being bad, bits 0–2 (newest first). */
  let bad = new Uint8Array(0)
  let meta = new Uint8Array(0)
  /** Which of the kind's fields (FIELD_ORDER) the last reading has, bit j for field j. */
  let present = new Uint8Array(0)
  /** Start of the slot's field values in `values`, and how many it has room for. */
  let offsets = new Int32Array(0)
  let widths = new Uint8Array(0)
  const tags: (Tags | undefined)[] = []
  const reasons: string[] = []
  /** The last reading itself, when its values do not fit the columns (an unknown kind or field order). */
  const exact: (Reading | undefined)[] = []

  let values = new Float64Array(0)
  let valuesTop = 0
  /** Freed regions of `values`, by width. */
  const freeRegions: number[][] = []

  const shared = new Map<string, Tags[]>()
  let sharedCount = 0

  function grow(): void {
    const next = Math.max(INITIAL_SLOTS, Math.ceil(capacity * 1.5))
    times = resized(times, next * STRIDE)
    bad = resized(bad, next)
    meta = resized(meta, next)
    present = resized(present, next)
    offsets = resized(offsets, next)
    widths = resized(widths, next)
    capacity = next
  }

  function allocate(): number {
    const free = freeSlots.pop()
    if (free !== undefined) return free
    if (used === capacity) grow()
    const slot = used++
    tags.push(undefined)
    reasons.push('')
    exact.push(undefined)
    return slot
  }

  function region(width: number): number {
    const free = freeRegions[width]?.pop()
    if (free !== undefined) return free
    if (valuesTop + width > values.length) {
      values = resized(values, Math.max(INITIAL_SLOTS, Math.ceil((valuesTop + width) * 1.5)))
    }
    const at = valuesTop
    valuesTop += width
    return at
  }

  function releaseRegion(slot: number): void {
    const width = widths[slot] as number
    if (width === 0) return
    ;(freeRegions[width] ??= []).push(offsets[slot] as number)
    widths[slot] = 0
  }

  function tagsOf(reading: Reading): Tags {
    const { kind, district, segment } = reading
    const list = shared.get(segment)
    if (list !== undefined) {
      for (let i = 0; i < list.length; i++) {
        const t = list[i] as Tags
        if (t.kind === kind && t.district === district) return t
      }
    }
    if (sharedCount >= TAGS_MAX) {
      shared.clear()
      sharedCount = 0
    }
    const t: Tags = { kind, district, segment, names: FIELD_ORDER.get(kind) }
    const again = shared.get(segment)
    if (again === undefined) shared.set(segment, [t])
    else again.push(t)
    sharedCount++
    return t
  }

  /** Keeps `reading` as the slot's last reading: its values in the columns, or the object when they do not fit. */
  function keepLast(slot: number, reading: Reading): void {
    const at = slot * STRIDE
    times[at + LAST_TS] = reading.ts
    times[at + LAST_RECEIVED] = reading.receivedAt
    let t = tags[slot]
    if (t === undefined || t.kind !== reading.kind || t.district !== reading.district || t.segment !== reading.segment) {
      t = tagsOf(reading)
      tags[slot] = t
    }
    reasons[slot] = reading.qualityReason
    const q = reading.quality
    const quality = q === 'good' ? 0 : q === 'suspect' ? 1 : q === 'bad' ? 2 : -1
    const src = reading.tsSource
    const source = src === 'device' ? 0 : src === 'server' ? 1 : -1
    const seq = reading.seq
    let fits = quality >= 0 && source >= 0 && typeof reading.qualityReason === 'string' && (seq === undefined || typeof seq === 'number')
    meta[slot] = quality | (source * TS_SOURCE_BIT) | (seq === undefined ? 0 : SEQ_BIT)
    if (seq !== undefined) times[at + LAST_SEQ] = seq
    const names = t.names
    if (names === undefined) fits = false
    if (fits && names !== undefined) {
      const width = names.length
      if (widths[slot] !== width) {
        releaseRegion(slot)
        offsets[slot] = region(width)
        widths[slot] = width
      }
      const off = offsets[slot] as number
      const fields = reading.fields
      let mask = 0
      let j = 0
      for (const name in fields) {
        const value = fields[name]
        while (j < width && names[j] !== name) j++
        if (j === width || typeof value !== 'number') {
          fits = false
          break
        }
        values[off + j] = value
        mask |= 1 << j
        j++
      }
      present[slot] = mask
    }
    exact[slot] = fits ? undefined : reading
  }

  /** Records the flag of a reading among the 3 latest by event time; a reading with a ts already held (a re-flag) replaces its flag. */
  function record(slot: number, ts: number, isBad: boolean): void {
    const at = slot * STRIDE
    const ts0 = times[at + TS0] as number
    const ts1 = times[at + TS1] as number
    const ts2 = times[at + TS2] as number
    const flags = bad[slot] as number
    const flag = isBad ? 1 : 0
    if (ts === ts0) bad[slot] = (flags & 6) | flag
    else if (ts === ts1) bad[slot] = (flags & 5) | (flag << 1)
    else if (ts === ts2) bad[slot] = (flags & 3) | (flag << 2)
    else if (ts > ts0) {
      times[at + TS2] = ts1
      times[at + TS1] = ts0
      times[at + TS0] = ts
      bad[slot] = ((flags << 1) & 6) | flag
    } else if (ts > ts1) {
      times[at + TS2] = ts1
      times[at + TS1] = ts
      bad[slot] = (flags & 1) | ((flags << 1) & 4) | (flag << 1)
    } else if (ts > ts2) {
      times[at + TS2] = ts
      bad[slot] = (flags & 3) | (flag << 2)
    }
  }

  return {
    update(reading) {
      const isBad = reading.quality === 'bad'
      let slot = slots.get(reading.sensor)
      if (slot === undefined) {
        slot = allocate()
        slots.set(reading.sensor, slot)
        const at = slot * STRIDE
        times[at + HEARD] = reading.receivedAt
        times[at + TS0] = reading.ts
        times[at + TS1] = -Infinity
        times[at + TS2] = -Infinity
        bad[slot] = isBad ? 1 : 0
        keepLast(slot, reading)
        return
      }
      const at = slot * STRIDE
      if (reading.ts >= (times[at + LAST_TS] as number)) keepLast(slot, reading)
      if (reading.receivedAt > (times[at + HEARD] as number)) times[at + HEARD] = reading.receivedAt
      record(slot, reading.ts, isBad)
    },
    last(id) {
      const slot = slots.get(id)
      if (slot === undefined) return undefined
      const kept = exact[slot]
      if (kept !== undefined) return kept
      const t = tags[slot] as Tags
      const names = t.names as readonly string[]
      const off = offsets[slot] as number
      const mask = present[slot] as number
      const fields: Record<string, number> = {}
      for (let j = 0; j < names.length; j++) if ((mask & (1 << j)) !== 0) fields[names[j] as string] = values[off + j] as number
      const at = slot * STRIDE
      const m = meta[slot] as number
      const reading: Reading = {
        sensor: id,
        kind: t.kind,
        district: t.district,
        segment: t.segment,
        ts: times[at + LAST_TS] as number,
        fields,
        quality: QUALITIES[m & 3] as Quality,
        qualityReason: reasons[slot] as string,
        tsSource: TS_SOURCES[(m & TS_SOURCE_BIT) === 0 ? 0 : 1] as TsSource,
        receivedAt: times[at + LAST_RECEIVED] as number,
      }
      if ((m & SEQ_BIT) !== 0) reading.seq = times[at + LAST_SEQ] as number
      return reading
    },
    status(sensor, now) {
      const slot = slots.get(sensor.id)
      if (slot === undefined) return 'unknown'
      const at = slot * STRIDE
      if (now - (times[at + HEARD] as number) > 3 * sensor.intervalS * 1000) return 'stale'
      return times[at + TS2] !== -Infinity && bad[slot] === 7 ? 'fault' : 'online'
    },
    retain(ids) {
      for (const [id, slot] of slots) {
        if (ids.has(id)) continue
        slots.delete(id)
        releaseRegion(slot)
        tags[slot] = undefined
        reasons[slot] = ''
        exact[slot] = undefined
        freeSlots.push(slot)
      }
    },
  }
}
