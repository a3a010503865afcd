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
