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

/** `measurement,district=…,segment=…` of one kind on one segment: shared by every sensor there. */
interface SeriesPrefix {
  kind: string
  district: string
  prefix: string
}

/**
 * Encoded `measurement,district=…,segment=…` by segment (one entry per kind and district on it): a line's prefix is
 * that and its sensor tag, so nothing is held per sensor (a per-sensor prefix cost about 400 bytes a sensor).
 */
const seriesCache = new Map<string, SeriesPrefix[]>()
let seriesCached = 0
const SERIES_CACHE_MAX = 100_000

function seriesPrefix(reading: Reading): string {
  const { kind, district, segment } = reading
  let prefix: string | undefined
  const cached = seriesCache.get(segment)
  if (cached !== undefined) {
    for (let i = 0; i < cached.length; i++) {
      const entry = cached[i] as SeriesPrefix
      if (entry.kind === kind && entry.district === district) {
        prefix = entry.prefix
        break
      }
    }
  }
  if (prefix === undefined) {
    // Tags in key order, which is how InfluxDB stores them (saves it a sort).
    // join makes one flat string, where `+` would keep a tree of its parts.
    prefix = [escapeMeasurement(kind), tag('district', district), tag('segment', segment)].join('')
    if (seriesCached >= SERIES_CACHE_MAX) {
      seriesCache.clear()
      seriesCached = 0
    }
    const entry = { kind, district, prefix }
    const list = seriesCache.get(segment)
    if (list === undefined) seriesCache.set(segment, [entry])
    else list.push(entry)
    seriesCached++
  }
  return prefix + tag('sensor', reading.sensor) + ' '
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

/** Why a line-protocol line cannot be decoded. */
export class LineDecodingError extends Error {
  constructor(message: string) {
    super(message)
    this.name = 'LineDecodingError'
  }
}

/** A line-protocol point decoded back: what the dead letters need of a line InfluxDB refused. */
export interface DecodedLine {
  /** Measurement: the sensor kind for readings. */
  measurement: string
  /** Tags by key (`sensor`, `district`, `segment` for readings). */
  tags: Record<string, string>
  /** Fields: floats and integers as numbers, strings, booleans. */
  fields: Record<string, number | string | boolean>
  /** Timestamp as written, epoch milliseconds for `precision=ms`; NaN when the line has none. */
  ts: number
}

const BACKSLASH = 92
const COMMA = 44
const SPACE = 32
const EQUALS = 61
const QUOTE = 34

/** Reads an escaped token up to an unescaped stop character; returns it and the index of the stop (or the end). */
function token(line: string, from: number, stopAtEquals: boolean, stopAtComma: boolean): [string, number] {
  let out = ''
  let runStart = from
  let i = from
  for (; i < line.length; i++) {
    const c = line.charCodeAt(i)
    if (c === BACKSLASH && i + 1 < line.length) {
      const next = line.charCodeAt(i + 1)
      // Only commas, spaces and equals signs are escaped in names and tag values; any other backslash is literal.
      if (next === COMMA || next === SPACE || next === EQUALS) {
        out += line.slice(runStart, i) + line[i + 1]
        i++
        runStart = i + 1
      }
      continue
    }
    if (c === SPACE || (stopAtComma && c === COMMA) || (stopAtEquals && c === EQUALS)) break
  }
  return [out + line.slice(runStart, i), i]
}

function fieldValue(raw: string): number | boolean {
  const last = raw.charCodeAt(raw.length - 1)
  // 105 'i' integer, 117 'u' unsigned
  if ((last === 105 || last === 117) && raw.length > 1) {
    const n = Number(raw.slice(0, -1))
    if (Number.isFinite(n)) return n
  }
  if (raw === 't' || raw === 'T' || raw === 'true' || raw === 'True' || raw === 'TRUE') return true
  if (raw === 'f' || raw === 'F' || raw === 'false' || raw === 'False' || raw === 'FALSE') return false
  const n = Number(raw)
  if (raw === '' || Number.isNaN(n)) throw new LineDecodingError(`unreadable field value ${JSON.stringify(raw)}`)
  return n
}

/**
 * Decodes one line-protocol line (the inverse of `encodeReading`, and general enough for any valid line):
 * measurement, tags, fields and timestamp. Throws LineDecodingError on a malformed line.
 */
export function decodeLine(line: string): DecodedLine {
  const text = line.endsWith('\n') ? line.slice(0, -1) : line
  const [measurement, afterMeasurement] = token(text, 0, false, true)
  if (measurement === '') throw new LineDecodingError(`no measurement in ${JSON.stringify(text.slice(0, 200))}`)
  const tags: Record<string, string> = {}
  let i = afterMeasurement
  while (text.charCodeAt(i) === COMMA) {
    const [key, eq] = token(text, i + 1, true, true)
    if (text.charCodeAt(eq) !== EQUALS) throw new LineDecodingError(`tag ${JSON.stringify(key)} has no value`)
    const [value, end] = token(text, eq + 1, false, true)
    tags[key] = value
    i = end
  }
  if (text.charCodeAt(i) !== SPACE) throw new LineDecodingError(`no fields in ${JSON.stringify(text.slice(0, 200))}`)
  const fields: Record<string, number | string | boolean> = {}
  i++
  for (;;) {
    const [key, eq] = token(text, i, true, true)
    if (text.charCodeAt(eq) !== EQUALS) throw new LineDecodingError(`field ${JSON.stringify(key)} has no value`)
    let end = eq + 1
    if (text.charCodeAt(end) === QUOTE) {
      let value = ''
      let runStart = end + 1
      let j = end + 1
      for (; j < text.length; j++) {
        const c = text.charCodeAt(j)
        if (c === BACKSLASH && (text.charCodeAt(j + 1) === QUOTE || text.charCodeAt(j + 1) === BACKSLASH)) {
          value += text.slice(runStart, j) + text[j + 1]
          j++
          runStart = j + 1
        } else if (c === QUOTE) break
      }
      if (j >= text.length) throw new LineDecodingError(`unterminated string in field ${JSON.stringify(key)}`)
      fields[key] = value + text.slice(runStart, j)
      end = j + 1
    } else {
      while (end < text.length && text.charCodeAt(end) !== COMMA && text.charCodeAt(end) !== SPACE) end++
      fields[key] = fieldValue(text.slice(eq + 1, end))
    }
    if (text.charCodeAt(end) !== COMMA) {
      i = end
      break
    }
    i = end + 1
  }
  let ts = Number.NaN
  if (text.charCodeAt(i) === SPACE) {
    const raw = text.slice(i + 1).trim()
    ts = Number(raw)
    if (raw === '' || !Number.isFinite(ts)) throw new LineDecodingError(`unreadable timestamp ${JSON.stringify(raw)}`)
  } else if (i < text.length) {
    throw new LineDecodingError(`unexpected text after the fields: ${JSON.stringify(text.slice(i, i + 50))}`)
  }
  return { measurement, tags, fields, ts }
}

/** The sensor-topic JSON payload of a decoded reading line: `{ ts, ...numeric fields }`, replayable on `{prefix}/{district}/{kind}/{sensor}`. */
export function readingPayload(point: DecodedLine): Record<string, number> {
  const payload: Record<string, number> = { ts: point.ts }
  for (const [name, value] of Object.entries(point.fields)) if (typeof value === 'number') payload[name] = value
  return payload
}
