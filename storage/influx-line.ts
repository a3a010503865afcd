import { KIND_FIELDS, type Reading, type SensorKind } from '../domain.js'

/** Why a reading cannot be encoded as a line-protocol point. */
export class LineEncodingError extends Error {
  constructor(message: string) {
    super(message)
    this.name = 'LineEncodingError'
  }
}

const INTEGER_FIELDS = new Map<SensorKind, ReadonlySet<string>>(
  Object.entries(KIND_FIELDS).map(([kind, spec]) => [kind as SensorKind, new Set(spec.integers ?? [])]),
)
const NO_INTEGERS: ReadonlySet<string> = new Set()

const NEEDS_KEY_ESCAPE = /[,= \\]/
const NEEDS_MEASUREMENT_ESCAPE = /[, \\]/

/** Escapes a measurement name: commas and spaces. */
export function escapeMeasurement(name: string): string {
  return NEEDS_MEASUREMENT_ESCAPE.test(name) ? name.replace(/[, ]/g, (c) => `\\${c}`) : name
}

/** Escapes a tag key, tag value or field key: commas, equals signs and spaces. */
export function escapeKey(value: string): string {
  return NEEDS_KEY_ESCAPE.test(value) ? value.replace(/[,= ]/g, (c) => `\\${c}`) : value
}

/** Quotes a string field value: backslashes and double quotes escaped. */
export function quoteFieldString(value: string): string {
  if (value === '') return '""'
  return NEEDS_STRING_ESCAPE.test(value) ? `"${value.replace(/[\\"]/g, (c) => `\\${c}`)}"` : `"${value}"`
}

const NEEDS_STRING_ESCAPE = /[\\"]/

interface SeriesKey {
  kind: string
  district: string
  segment: string
  prefix: string
}

/** Encoded `measurement,tags ` per sensor: a sensor's kind, district and segment rarely change, so most lines reuse it. */
const seriesCache = new Map<string, SeriesKey>()
const SERIES_CACHE_MAX = 100_000

function seriesPrefix(reading: Reading): string {
  const cached = seriesCache.get(reading.sensor)
  if (cached !== undefined && cached.kind === reading.kind && cached.district === reading.district && cached.segment === reading.segment) {
    return cached.prefix
  }
  // Tags in key order, which is how InfluxDB stores them (saves it a sort).
  const prefix =
    escapeMeasurement(reading.kind) + tag('district', reading.district) + tag('segment', reading.segment) + tag('sensor', reading.sensor) + ' '
  if (seriesCache.size >= SERIES_CACHE_MAX) seriesCache.clear()
  seriesCache.set(reading.sensor, { kind: reading.kind, district: reading.district, segment: reading.segment, prefix })
  return prefix
}

function tag(key: string, value: string): string {
  // Line protocol has no escape for a newline or a trailing backslash in a tag value, and no empty tag values.
  if (value === '') return ''
  if (value.includes('\n') || value.endsWith('\\')) throw new LineEncodingError(`tag ${key} cannot be encoded: ${JSON.stringify(value)}`)
  return `,${key}=${escapeKey(value)}`
}

/**
 * Encodes a reading as one line-protocol point for `precision=ms`: measurement = kind; tags sensor, district,
 * segment; numeric fields as floats, `occupied` and `capacity` as integers (`42i`); string fields quality,
 * quality_reason and ts_source. Throws LineEncodingError for a value line protocol cannot carry.
 */
export function encodeReading(reading: Reading): string {
  const integers = INTEGER_FIELDS.get(reading.kind) ?? NO_INTEGERS
  let fields = ''
  for (const name in reading.fields) {
    const value = reading.fields[name]
    if (value === undefined) continue
    if (!Number.isFinite(value)) throw new LineEncodingError(`field ${name} is not a finite number: ${value}`)
    if (integers.has(name)) {
      if (!Number.isSafeInteger(value)) throw new LineEncodingError(`field ${name} must be an integer, got ${value}`)
      fields += `${escapeKey(name)}=${value}i,`
    } else {
      // An unsuffixed number is a float in line protocol, so 3 and 3.25 share one field type.
      fields += `${escapeKey(name)}=${value},`
    }
  }
  if (!Number.isFinite(reading.ts)) throw new LineEncodingError(`ts is not a finite number: ${reading.ts}`)
  return (
    seriesPrefix(reading) +
    fields +
    'quality=' +
    quoteFieldString(reading.quality) +
    ',quality_reason=' +
    quoteFieldString(reading.qualityReason) +
    ',ts_source=' +
    quoteFieldString(reading.tsSource) +
    ' ' +
    Math.trunc(reading.ts)
  )
}
