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

// One-entry caches: a gateway batch shares its arrival time, and readings of one instant their event time.
let tsMs = NaN
let tsIso = ''
let receivedMs = NaN
let receivedIso = ''

function isoOfTs(ms: number): string {
  if (ms !== tsMs) {
    tsIso = new Date(ms).toISOString()
    tsMs = ms
  }
  return tsIso
}

function isoOfReceived(ms: number): string {
  if (ms !== receivedMs) {
    receivedIso = new Date(ms).toISOString()
    receivedMs = ms
  }
  return receivedIso
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
    ',"ts":"' + isoOfTs(r.ts) +
    '","values":' + JSON.stringify(r.fields) +
    ',"quality":' + JSON.stringify(r.quality) +
    ',"qualityReason":' + JSON.stringify(r.qualityReason) +
    ',"tsSource":' + JSON.stringify(r.tsSource) +
    ',"receivedAt":"' + isoOfReceived(r.receivedAt) +
    (seq === undefined ? '"}' : '","seq":' + String(seq) + '}')
  )
}
