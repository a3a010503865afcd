import { escapeKey } from '../storage/influx-line.js'
import type { IndexUpdate } from './index-json.js'

/** The measurement of computed index values (SPEC §10). */
export const WATER_INDEX_MEASUREMENT = 'water_index'

function encodable(tag: string): boolean {
  // Line protocol has no escape for a newline or a trailing backslash in a tag value, and no empty tag values.
  return tag !== '' && !tag.includes('\n') && !tag.endsWith('\\')
}

/**
 * Line protocol (`precision=ms`) of an update's `water_index` points (SPEC §10): tags district, index, segment
 * (`_all` for a district); fields value (float), level (integer), confidence (float); timestamp the result's
 * event time. An update without event time or without a value gives no line.
 */
export function waterIndexLines(update: Pick<IndexUpdate, 'district' | 'segment' | 'eventTime' | 'points'>): string[] {
  const { district, segment, eventTime } = update
  if (eventTime === null || !Number.isFinite(eventTime) || !encodable(district) || !encodable(segment)) return []
  const lines: string[] = []
  for (const p of update.points) {
    if (!Number.isFinite(p.value) || !Number.isFinite(p.confidence) || !Number.isSafeInteger(p.level)) continue
    // Tags in key order, which is how InfluxDB stores them.
    lines.push(
      `${WATER_INDEX_MEASUREMENT},district=${escapeKey(district)},index=${p.index},segment=${escapeKey(segment)} ` +
        `value=${p.value},level=${p.level}i,confidence=${p.confidence} ${Math.trunc(eventTime)}`,
    )
  }
  return lines
}
