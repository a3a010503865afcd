import type { Level } from '../../domain.js'
import type { Alert, AlertDetail } from '../../storage/alert-store.js'
import { LEVEL_NAMES } from '../rule-schema.js'

/** The engine's bookkeeping on a stored alert that the alert JSON leaves out. */
type AlertBookkeeping = 'resolvedAt' | 'tier' | 'notifiedLevel' | 'notifiedAt'

/** The alert JSON of SPEC §8 plus `flapping`, as the API, the websocket, MQTT and webhooks carry it: the store's Alert without the bookkeeping. */
export type AlertJson = Omit<Alert, AlertBookkeeping>

/** One alert of `GET /api/alerts/:id`: the alert JSON with its audit trail (oldest first) and level history. */
export interface AlertDetailJson extends AlertJson {
  audit: AlertDetail['audit']
  history: AlertDetail['history']
}

/** What happened to an alert that a webhook is told about. */
export type AlertEventKind = 'raised' | 'level_up' | 'escalated' | 'resolved'

/** The on-call tier a notification goes to, when escalation is configured. */
export interface TierRef {
  /** 0 = first tier. */
  index: number
  name: string
}

/** A notification about one alert. */
export interface AlertNotification {
  type: 'alert'
  event: AlertEventKind
  /** When it was sent, RFC 3339. */
  at: string
  alert: AlertJson
  /** Tier the alert has reached; null without escalation. */
  tier: TierRef | null
  /** Who resolved it (`engine` when the condition cleared); resolved only. */
  by?: string
}

/** Many alerts of one district within the incident window, sent as one notification. */
export interface IncidentNotification {
  type: 'incident'
  /** `i-` and 8 hex digits. */
  id: string
  at: string
  district: string
  /** False for the notification that opened the incident, true for later batches of the same incident. */
  update: boolean
  count: number
  alerts: AlertJson[]
}

/** What a webhook receives (the JSON format's body) and what the robot formats render. */
export type Notification = AlertNotification | IncidentNotification

/** The alert JSON of an alert (drops the engine's bookkeeping: tier, notified level and time, resolvedAt). */
export function alertJson(alert: Alert): AlertJson {
  return {
    id: alert.id,
    rule: alert.rule,
    subject: alert.subject,
    district: alert.district,
    segment: alert.segment,
    level: alert.level,
    state: alert.state,
    value: alert.value,
    threshold: alert.threshold,
    message: alert.message,
    raisedAt: alert.raisedAt,
    updatedAt: alert.updatedAt,
    ackedBy: alert.ackedBy,
    etaMinutes: alert.etaMinutes,
    flapping: alert.flapping,
  }
}

/** The alert JSON with `audit` and `history`, as `GET /api/alerts/:id` serves it. */
export function alertDetailJson(detail: AlertDetail): AlertDetailJson {
  return { ...alertJson(detail), audit: detail.audit, history: detail.history }
}

/** Rank of a level, 1 blue … 4 red; 0 for none. */
export function levelRank(level: Level | null | undefined): number {
  return level === null || level === undefined ? 0 : LEVEL_NAMES.indexOf(level) + 1
}

/** The higher of two levels (null counts lowest). */
export function maxLevel(a: Level, b: Level | null): Level {
  return levelRank(b) > levelRank(a) ? (b as Level) : a
}

/** Chinese warning-colour names, as DingTalk and WeCom readers expect them. */
export const LEVEL_ZH: Record<Level, string> = { blue: '蓝色预警', yellow: '黄色预警', orange: '橙色预警', red: '红色预警' }

/** Headline of an alert event, e.g. `ORANGE raised`. */
export function eventTitle(n: AlertNotification): string {
  const level = n.alert.level.toUpperCase()
  switch (n.event) {
    case 'raised':
      return `${level} alert`
    case 'level_up':
      return `${level} alert (level raised)`
    case 'escalated':
      return `${level} alert unacknowledged, escalated${n.tier === null ? '' : ` to ${n.tier.name}`}`
    case 'resolved':
      return `Resolved: ${n.alert.level} alert`
  }
}

/** Headline of an incident, e.g. `Incident in xihu: 6 alerts`. */
export function incidentTitle(n: IncidentNotification): string {
  return `${n.update ? 'Incident update' : 'Incident'} in ${n.district}: ${n.count} alert${n.count === 1 ? '' : 's'}`
}

/** The highest level among an incident's alerts. */
export function incidentLevel(n: IncidentNotification): Level {
  let level: Level = 'blue'
  for (const a of n.alerts) level = maxLevel(level, a.level)
  return level
}

/** Cuts `text` to at most `maxBytes` UTF-8 bytes, ending with an ellipsis when cut. */
export function truncateUtf8(text: string, maxBytes: number): string {
  const bytes = Buffer.from(text, 'utf8')
  if (bytes.length <= maxBytes) return text
  // The ellipsis takes 3 bytes; back up to the start of a UTF-8 sequence so no character is split.
  let end = Math.max(0, maxBytes - 3)
  while (end > 0 && ((bytes[end] ?? 0) & 0xc0) === 0x80) end -= 1
  return `${bytes.subarray(0, end).toString('utf8')}…`
}
