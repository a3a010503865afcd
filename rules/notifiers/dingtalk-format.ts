import { createHmac } from 'node:crypto'
import type { Level } from '../../domain.js'
import {
  LEVEL_ZH,
  eventTitle,
  incidentLevel,
  incidentTitle,
  truncateUtf8,
  type AlertJson,
  type AlertNotification,
  type IncidentNotification,
  type Notification,
} from './notification.js'

/** A DingTalk custom-robot markdown message. */
export interface DingTalkMarkdown {
  msgtype: 'markdown'
  markdown: { title: string; text: string }
}

/** Alerts listed in one incident message; the rest are counted. */
export const DINGTALK_MAX_LISTED = 30

/** DingTalk rejects messages above 20,000 bytes; stay well below. */
const MAX_TEXT_BYTES = 18_000

const COLOUR: Record<Level, string> = { blue: '#1E90FF', yellow: '#D4A017', orange: '#FF8C00', red: '#FF0000' }

const coloured = (level: Level, text: string): string => `<font color=${COLOUR[level]}>${text}</font>`

function alertLines(alert: AlertJson): string[] {
  const where = alert.segment === null ? alert.district : `${alert.district} / ${alert.segment}`
  const lines = [
    `- Subject: ${alert.subject}`,
    `- Where: ${where}`,
    `- Value: ${alert.value} (threshold ${alert.threshold})`,
  ]
  if (alert.etaMinutes !== null) lines.push(`- Overflow in: ${alert.etaMinutes} min`)
  lines.push(`- State: ${alert.state}${alert.ackedBy === null ? '' : ` (acknowledged by ${alert.ackedBy})`}`, `- Raised: ${alert.raisedAt}`, `- Rule: ${alert.rule}`, `- Alert: ${alert.id}`)
  return lines
}

function alertMarkdown(n: AlertNotification): DingTalkMarkdown {
  const a = n.alert
  const title = `${n.event === 'resolved' ? '已解除' : LEVEL_ZH[a.level]} ${eventTitle(n)}: ${a.message}`
  const head = n.event === 'resolved' ? `#### 已解除 Resolved: ${a.rule}` : `#### ${coloured(a.level, `${LEVEL_ZH[a.level]} ${eventTitle(n)}`)}`
  const extra: string[] = []
  if (n.event === 'escalated' && n.tier !== null) extra.push(`- Escalated to: ${n.tier.name} (tier ${n.tier.index + 1})`)
  if (n.event === 'resolved' && n.by !== undefined) extra.push(`- Resolved by: ${n.by}`)
  const text = [head, '', `**${a.message}**`, '', ...alertLines(a), ...extra, '', `> ${n.at}`].join('\n')
  return { msgtype: 'markdown', markdown: { title: truncateUtf8(title, 200), text: truncateUtf8(text, MAX_TEXT_BYTES) } }
}

function incidentMarkdown(n: IncidentNotification): DingTalkMarkdown {
  const level = incidentLevel(n)
  const listed = n.alerts.slice(0, DINGTALK_MAX_LISTED).map((a) => `- ${coloured(a.level, a.level.toUpperCase())} ${a.subject}: ${a.message} (${a.id})`)
  if (n.alerts.length > listed.length) listed.push(`- … and ${n.alerts.length - listed.length} more`)
  const text = [`#### ${coloured(level, `${LEVEL_ZH[level]} ${incidentTitle(n)}`)}`, '', ...listed, '', `> ${n.id} · ${n.at}`].join('\n')
  return { msgtype: 'markdown', markdown: { title: truncateUtf8(`${LEVEL_ZH[level]} ${incidentTitle(n)}`, 200), text: truncateUtf8(text, MAX_TEXT_BYTES) } }
}

/** Renders a notification as a DingTalk robot markdown message. */
export function dingtalkFormat(n: Notification): DingTalkMarkdown {
  return n.type === 'alert' ? alertMarkdown(n) : incidentMarkdown(n)
}

/**
 * The robot URL with DingTalk's signature (`timestamp` in ms and `sign` = base64 HMAC-SHA256 of
 * `timestamp\nsecret` keyed with the secret); DingTalk accepts it for one hour, so it is computed at delivery.
 */
export function dingtalkSignedUrl(url: string, secret: string, now: number): string {
  const timestamp = String(Math.trunc(now))
  const sign = createHmac('sha256', secret).update(`${timestamp}\n${secret}`).digest('base64')
  const signed = new URL(url)
  signed.searchParams.set('timestamp', timestamp)
  signed.searchParams.set('sign', sign)
  return signed.toString()
}
