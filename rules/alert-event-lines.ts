import { escapeKey, quoteFieldString } from '../storage/influx-line.js'
import type { AlertJson } from './notifiers/notification.js'

/** The measurement of alert transitions (SPEC §10). */
export const ALERT_EVENT_MEASUREMENT = 'alert_event'

function encodable(tag: string): boolean {
  // Line protocol has no escape for a newline or a trailing backslash in a tag value, and no empty tag values.
  return tag !== '' && !tag.includes('\n') && !tag.endsWith('\\')
}

/**
 * One `alert_event` point (`precision=ms`): tags district, level, rule; fields alert_id, message, state (strings)
 * and value (float); timestamp `at`. Null when a tag cannot be encoded. Newlines in the message become spaces.
 */
export function alertEventLine(alert: Pick<AlertJson, 'id' | 'district' | 'rule' | 'level' | 'state' | 'value' | 'message'>, at: number): string | null {
  if (!encodable(alert.district) || !encodable(alert.rule) || !Number.isFinite(at)) return null
  const value = Number.isFinite(alert.value) ? `,value=${alert.value}` : ''
  // Tags and fields in key order, which is how InfluxDB stores them.
  return (
    `${ALERT_EVENT_MEASUREMENT},district=${escapeKey(alert.district)},level=${alert.level},rule=${escapeKey(alert.rule)} ` +
    `alert_id=${quoteFieldString(alert.id)},message=${quoteFieldString(alert.message.replace(/[\r\n]+/g, ' '))},state=${quoteFieldString(alert.state)}${value} ${Math.trunc(at)}`
  )
}

/** Timestamps remembered per series to keep simultaneous points apart. */
const REMEMBERED_PER_SERIES = 4096

/**
 * Encodes alert_event points so that none overwrites another: InfluxDB keeps one point per series and timestamp,
 * and many subjects of one rule often change at the same event time, so a point landing on a millisecond already
 * used by its series (district, level, rule) in this run is moved to the next free millisecond.
 */
export function alertEventLines(): (alert: Parameters<typeof alertEventLine>[0], at: number) => { line: string; at: number } | null {
  const used = new Map<string, Set<number>>()
  return (alert, at) => {
    const series = `${alert.district}\u0000${alert.level}\u0000${alert.rule}`
    let stamps = used.get(series)
    if (stamps === undefined) {
      stamps = new Set()
      used.set(series, stamps)
    }
    let ts = Math.trunc(at)
    while (stamps.has(ts)) ts += 1
    const line = alertEventLine(alert, ts)
    if (line === null) return null
    stamps.add(ts)
    if (stamps.size > REMEMBERED_PER_SERIES) {
      const oldest = stamps.values().next().value
      if (oldest !== undefined) stamps.delete(oldest)
    }
    return { line, at: ts }
  }
}
