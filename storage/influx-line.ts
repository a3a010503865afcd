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

const BACKSLASH = 92
const COMMA = 44
const SPACE = 32
const EQUALS = 61
const QUOTE = 34
const MINUS = 45
const DOT = 46
const DIGIT_0 = 48
const LOWER_I = 105

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

/** The reading's `measurement,district=…,segment=…`; undefined when its district or segment cannot be a tag. */
function seriesPrefix(reading: Reading): string | undefined {
  const { kind, district, segment } = reading
  const cached = seriesCache.get(segment)
  if (cached !== undefined) {
    for (let i = 0; i < cached.length; i++) {
      const entry = cached[i] as SeriesPrefix
      if (entry.kind === kind && entry.district === district) return entry.prefix
    }
  }
  if (!tagEncodable(district) || !tagEncodable(segment)) return undefined
  // Tags in key order, which is how InfluxDB stores them (saves it a sort).
  // join makes one flat string, where `+` would keep a tree of its parts (and writing it would flatten that).
  const prefix = [escapeMeasurement(kind), tag('district', district), tag('segment', segment)].join('')
  if (seriesCached >= SERIES_CACHE_MAX) {
    seriesCache.clear()
    seriesCached = 0
  }
  const entry = { kind, district, prefix }
  const list = seriesCache.get(segment)
  if (list === undefined) seriesCache.set(segment, [entry])
  else list.push(entry)
  seriesCached++
  return prefix
}

/** Line protocol has no escape for a newline or a trailing backslash in a tag value (an empty one is left out). */
function tagEncodable(value: string): boolean {
  return !value.includes('\n') && !value.endsWith('\\')
}

function tag(key: string, value: string): string {
  return value === '' ? '' : `,${key}=${escapeKey(value)}`
}

/** The refusal of a reading with a tag `tagEncodable` turns down: the first of district, segment and sensor. */
function tagError(reading: Reading): LineEncodingError {
  const [key, value] = !tagEncodable(reading.district)
    ? ['district', reading.district]
    : !tagEncodable(reading.segment)
      ? ['segment', reading.segment]
      : ['sensor', reading.sensor]
  return new LineEncodingError(`tag ${key} cannot be encoded: ${JSON.stringify(value)}`)
}

/** Where `writeReading` puts a line: a buffer that may be swapped for a larger one while the line is written. */
export interface LineSink {
  buf: Buffer
  /** Makes room for `extra` bytes after `used`, keeping `[0, used)`; may replace `buf`. */
  reserve(used: number, extra: number): void
}

/** `sink.buf` with at least `extra` bytes free after `off`. */
function room(sink: LineSink, off: number, extra: number): Buffer {
  if (sink.buf.length - off < extra) sink.reserve(off, extra)
  return sink.buf
}

/** Longest `String(number)`, in bytes: `-0.0000012345678901234567`. */
const NUMBER_MAX_BYTES = 25
/** Bytes of UTF-8 for one UTF-16 code unit at most, escaped or not (an escape is 2 ASCII bytes). */
const UNIT_MAX_BYTES = 3

/**
 * Writes a reading as one line-protocol point for `precision=ms` (without its newline) into `sink` at `off`, byte for
 * byte the UTF-8 of `encodeReading`, but with no string made for the line or its parts; returns the offset after it.
 * Throws LineEncodingError as `encodeReading` does, leaving whatever it wrote by then after `off` (to be overwritten).
 */
export function writeReading(reading: Reading, sink: LineSink, off: number): number {
  const prefix = seriesPrefix(reading)
  const sensor = reading.sensor
  // A tag that cannot be encoded is refused once the fields and the timestamp are checked, so a reading with more
  // than one fault always gets the same reason; the line is not written meanwhile.
  const tagged = prefix !== undefined && tagEncodable(sensor)
  let buf: Buffer
  if (tagged) {
    buf = room(sink, off, UNIT_MAX_BYTES * (prefix.length + sensor.length) + 9)
    off += buf.write(prefix, off)
    if (sensor !== '') {
      off = writeAscii(buf, off, ',sensor=')
      off = writeKey(buf, off, sensor)
    }
    buf[off++] = SPACE
  }
  const integers = INTEGER_FIELDS.get(reading.kind) ?? NO_INTEGERS
  const fields = reading.fields
  for (const name in fields) {
    const value = fields[name]
    if (value === undefined) continue
    if (!Number.isFinite(value)) throw new LineEncodingError(`field ${name} is not a finite number: ${value}`)
    buf = room(sink, off, UNIT_MAX_BYTES * name.length + NUMBER_MAX_BYTES + 3)
    off = writeKey(buf, off, name)
    buf[off++] = EQUALS
    off = writeNumber(buf, off, value)
    if (integers.has(name)) {
      if (!Number.isSafeInteger(value)) throw new LineEncodingError(`field ${name} must be an integer, got ${value}`)
      buf[off++] = LOWER_I
    }
    // An unsuffixed number is a float in line protocol, so 3 and 3.25 share one field type.
    buf[off++] = COMMA
  }
  const ts = reading.ts
  if (!Number.isFinite(ts)) throw new LineEncodingError(`ts is not a finite number: ${ts}`)
  if (!tagged) throw tagError(reading)
  const { quality, qualityReason, tsSource } = reading
  buf = room(sink, off, UNIT_MAX_BYTES * (quality.length + qualityReason.length + tsSource.length) + NUMBER_MAX_BYTES + 42)
  off = writeAscii(buf, off, 'quality=')
  off = writeQuoted(buf, off, quality)
  off = writeAscii(buf, off, ',quality_reason=')
  off = writeQuoted(buf, off, qualityReason)
  off = writeAscii(buf, off, ',ts_source=')
  off = writeQuoted(buf, off, tsSource)
  buf[off++] = SPACE
  const t = Math.trunc(ts)
  if (t < 0 || t > Number.MAX_SAFE_INTEGER) return writeNumber(buf, off, t)
  // Split here: passed whole to a call, the 13-digit time would be put on the heap as a number.
  const high = Math.floor(t / 1e8)
  return writeSplit(buf, off, high, t - high * 1e8)
}

/** Writes ASCII `text` (a constant of this module). */
function writeAscii(buf: Buffer, off: number, text: string): number {
  for (let i = 0; i < text.length; i++) buf[off++] = text.charCodeAt(i)
  return off
}

/** Writes `escapeKey(text)` as UTF-8: ASCII byte by byte, anything else through the string. */
function writeKey(buf: Buffer, off: number, text: string): number {
  const start = off
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i)
    if (c >= 0x80) return start + buf.write(escapeKey(text), start)
    if (c === COMMA || c === EQUALS || c === SPACE) buf[off++] = BACKSLASH
    buf[off++] = c
  }
  return off
}

/** Writes `quoteFieldString(text)` as UTF-8: ASCII byte by byte, anything else through the string. */
function writeQuoted(buf: Buffer, off: number, text: string): number {
  const start = off
  buf[off++] = QUOTE
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i)
    if (c >= 0x80) return start + buf.write(quoteFieldString(text), start)
    if (c === QUOTE || c === BACKSLASH) buf[off++] = BACKSLASH
    buf[off++] = c
  }
  buf[off++] = QUOTE
  return off
}

/** 10^0 … 10^21, each exact. */
const POW10 = Array.from({ length: 22 }, (_, i) => Number(`1e${i}`))
/** Below this, a scaled value is within 1/8 of the integer its nearest few-decimal neighbour scales to. */
const SCALED_EXACT = 2 ** 49

/**
 * Writes `String(value)` of a finite number without making the string: integers below 2^53 digit by digit, and a
 * value of 1e-6 or more whose shortest round-trip decimal fits in 2^49 when scaled to an integer (a reading's usual
 * few decimals) from that integer; anything else (exponents, 17 significant digits) through String.
 *
 * Why that is String's text: String writes the decimal with the fewest digits that reads back as the value. For d
 * below 2^49 and p = 10^f (both exact), `d / p === value` holds exactly when d·10^-f reads back as the value
 * (division rounds correctly), and `Math.round(value * p)` is d (the product is off by far less than 1/2), so
 * trying f = 1, 2, … finds the fewest decimals, and with them the fewest digits; at that scale the values reading
 * back as `value` span under 1/8, so d is the only candidate. From 1e-6 up String uses plain notation.
 */
function writeNumber(buf: Buffer, off: number, value: number): number {
  const start = off
  let abs = value
  if (value < 0) {
    buf[off++] = MINUS
    abs = -value
  }
  if (Number.isInteger(abs)) {
    if (abs <= Number.MAX_SAFE_INTEGER) return writeDigits(buf, off, abs)
  } else if (abs >= 1e-6) {
    for (let f = 1; f < POW10.length; f++) {
      const p = POW10[f] as number
      const scaled = abs * p
      if (scaled >= SCALED_EXACT) break
      const d = Math.round(scaled)
      if (d / p === abs) {
        // The value's integral part is d's: d / p rounds to the value, and no integer lies between them.
        const whole = Math.trunc(abs)
        off = writeDigits(buf, off, whole)
        buf[off++] = DOT
        return writePadded(buf, off, d - whole * p, f)
      }
    }
  }
  return start + buf.write(String(value), start)
}

/** Writes a non-negative integer below 2^53 in decimal (-0 as `0`). */
function writeDigits(buf: Buffer, off: number, n: number): number {
  const high = Math.floor(n / 1e8)
  return writeSplit(buf, off, high, n - high * 1e8)
}

/**
 * Writes `high * 10^8 + low` in decimal, both parts below 10^8 (as they are of any integer below 2^53): int32
 * arithmetic on the parts, where `%` on a double is a call to fmod, and small integers, which pass to a call without
 * being put on the heap as numbers.
 */
function writeSplit(buf: Buffer, off: number, high: number, low: number): number {
  if (high === 0) return writeFixed(buf, off, low, widthOf(low))
  off = writeFixed(buf, off, high, widthOf(high))
  return writeFixed(buf, off, low, 8)
}

/** Digits of a non-negative integer below 10^8. */
function widthOf(n: number): number {
  let width = 1
  while (width < 8 && n >= (POW10[width] as number)) width++
  return width
}

/** Writes the `width` low decimal digits of a non-negative integer below 2^53, zeros in front. */
function writePadded(buf: Buffer, off: number, n: number, width: number): number {
  if (width <= 8) return writeFixed(buf, off, n, width)
  const high = Math.floor(n / 1e8)
  off = writeFixed(buf, off, high, width - 8)
  return writeFixed(buf, off, n - high * 1e8, 8)
}

/** Writes the `width` low decimal digits of a non-negative int32, zeros in front. */
function writeFixed(buf: Buffer, off: number, n: number, width: number): number {
  const end = off + width
  for (let i = end - 1; i >= off; i--) {
    const q = (n / 10) | 0
    buf[i] = DIGIT_0 + n - q * 10
    n = q
  }
  return end
}

/** Where `encodeReading` writes a line before reading it back; kept for the next. */
const scratch: LineSink = {
  buf: Buffer.allocUnsafe(1024),
  reserve(used, extra) {
    if (this.buf.length - used >= extra) return
    const next = Buffer.allocUnsafe(Math.max(this.buf.length * 2, used + extra))
    this.buf.copy(next, 0, 0, used)
    this.buf = next
  },
}

/**
 * Encodes a reading as one line-protocol point for `precision=ms`: measurement = kind; tags sensor, district,
 * segment; numeric fields as floats, `occupied` and `capacity` as integers (`42i`); string fields quality,
 * quality_reason and ts_source. Throws LineEncodingError for a value line protocol cannot carry. The line is read
 * back from its UTF-8, so a lone surrogate comes back as U+FFFD, as InfluxDB would see it.
 */
export function encodeReading(reading: Reading): string {
  const end = writeReading(reading, scratch, 0)
  return scratch.buf.toString('utf8', 0, end)
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
