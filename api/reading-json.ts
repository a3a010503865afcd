import type { Reading } from '../domain.js'

/** A reading as the API and the websocket show it: times in UTC RFC 3339, values by field name. */
export interface ReadingJson {
  sensor: string
  kind: string
  district: string
  segment: string
  ts: string
  seq?: number
  values: Record<string, number>
  quality: string
  qualityReason: string
  tsSource: string
  receivedAt: string
}

/** Converts a Reading to its API form. */
export function readingJson(r: Reading): ReadingJson {
  const json: ReadingJson = {
    sensor: r.sensor,
    kind: r.kind,
    district: r.district,
    segment: r.segment,
    ts: new Date(r.ts).toISOString(),
    values: r.fields,
    quality: r.quality,
    qualityReason: r.qualityReason,
    tsSource: r.tsSource,
    receivedAt: new Date(r.receivedAt).toISOString(),
  }
  if (r.seq !== undefined) json.seq = r.seq
  return json
}

/** The three digits of every millisecond count, '000' to '999'. */
const MILLIS: readonly string[] = Array.from({ length: 1000 }, (_, i) => String(i).padStart(3, '0'))
/** Year 10000: from there on toISOString writes six-digit years. */
const ISO_END_MS = 253_402_300_800_000

/**
 * `new Date(ms).toISOString()` for the times of readings, with the text up to the second kept from the last call: a
 * gateway batch shares its arrival time and readings arriving together mostly share their second, so a call is then
 * a concatenation instead of a date conversion (about half a microsecond).
 */
class IsoTimes {
  private second = Number.NaN
  private head = ''

  of(ms: number): string {
    if (!Number.isInteger(ms) || ms < 0 || ms >= ISO_END_MS) return new Date(ms).toISOString()
    const second = Math.floor(ms / 1000)
    if (second !== this.second) {
      // 'YYYY-MM-DDTHH:MM:SS.'
      this.head = new Date(second * 1000).toISOString().slice(0, 20)
      this.second = second
    }
    return `${this.head}${MILLIS[ms - second * 1000] as string}Z`
  }
}

const tsTimes = new IsoTimes()
const receivedTimes = new IsoTimes()

// The text from `quality` to the `receivedAt` value, for the last flags seen: most readings are good device readings.
let flagsQuality = ''
let flagsReason = ''
let flagsSource = ''
let flagsText = ''

function flagsOf(r: Reading): string {
  if (flagsText === '' || r.quality !== flagsQuality || r.qualityReason !== flagsReason || r.tsSource !== flagsSource) {
    flagsText =
      ',"quality":' + JSON.stringify(r.quality) +
      ',"qualityReason":' + JSON.stringify(r.qualityReason) +
      ',"tsSource":' + JSON.stringify(r.tsSource) +
      ',"receivedAt":"'
    flagsQuality = r.quality
    flagsReason = r.qualityReason
    flagsSource = r.tsSource
  }
  return flagsText
}

/**
 * `JSON.stringify(readingJson(r))`, byte for byte, built as a string without the intermediate object (one per
 * reading on the websocket's hot path). Anything off the usual shape goes through `readingJson`.
 */
export function readingJsonText(r: Reading): string {
  const seq = r.seq
  if (
    typeof r.sensor !== 'string' ||
    typeof r.kind !== 'string' ||
    typeof r.district !== 'string' ||
    typeof r.segment !== 'string' ||
    typeof r.quality !== 'string' ||
    typeof r.qualityReason !== 'string' ||
    typeof r.tsSource !== 'string' ||
    typeof r.fields !== 'object' ||
    r.fields === null ||
    (seq !== undefined && !Number.isFinite(seq))
  ) {
    return JSON.stringify(readingJson(r))
  }
  // ISO strings never need escaping; the others may (ids are the registry's, reasons the quality stage's).
  return (
    '{"sensor":' + JSON.stringify(r.sensor) +
    ',"kind":' + JSON.stringify(r.kind) +
    ',"district":' + JSON.stringify(r.district) +
    ',"segment":' + JSON.stringify(r.segment) +
    ',"ts":"' + tsTimes.of(r.ts) +
    '","values":' + JSON.stringify(r.fields) +
    flagsOf(r) + receivedTimes.of(r.receivedAt) +
    (seq === undefined ? '"}' : '","seq":' + String(seq) + '}')
  )
}
