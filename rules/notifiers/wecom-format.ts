import type { Level } from '../../domain.js'
import {
  LEVEL_ZH,
  eventTitle,
  incidentLevel,
  incidentTitle,
  truncateUtf8,
  type AlertNotification,
  type IncidentNotification,
  type Notification,
} from './notification.js'

/** A WeCom (企业微信) group-robot markdown message. */
export interface WeComMarkdown {
  msgtype: 'markdown'
  markdown: { content: string }
}

/** Alerts listed in one incident message; the rest are counted. */
export const WECOM_MAX_LISTED = 20

/** WeCom's limit on markdown content, UTF-8 bytes. */
export const WECOM_MAX_BYTES = 4096

/** WeCom markdown knows three font colours only. */
const COLOUR: Record<Level, 'info' | 'comment' | 'warning'> = { blue: 'info', yellow: 'comment', orange: 'warning', red: 'warning' }

const coloured = (level: Level, text: string): string => `<font color="${COLOUR[level]}">${text}</font>`
const quote = (label: string, value: string): string => `>${label}: <font color="comment">${value}</font>`

function alertContent(n: AlertNotification): string {
  const a = n.alert
  const head = n.event === 'resolved' ? `### 已解除 Resolved: ${a.rule}` : `### ${coloured(a.level, `${LEVEL_ZH[a.level]} ${eventTitle(n)}`)}`
  const lines = [
    head,
    `**${a.message}**`,
    quote('Subject', a.subject),
    quote('Where', a.segment === null ? a.district : `${a.district} / ${a.segment}`),
    quote('Value', `${a.value} (threshold ${a.threshold})`),
  ]
  if (a.etaMinutes !== null) lines.push(quote('Overflow in', `${a.etaMinutes} min`))
  lines.push(quote('State', a.ackedBy === null ? a.state : `${a.state} (acknowledged by ${a.ackedBy})`))
  if (n.event === 'escalated' && n.tier !== null) lines.push(quote('Escalated to', `${n.tier.name} (tier ${n.tier.index + 1})`))
  if (n.event === 'resolved' && n.by !== undefined) lines.push(quote('Resolved by', n.by))
  lines.push(quote('Raised', a.raisedAt), quote('Alert', `${a.id} (${a.rule})`))
  return lines.join('\n')
}

function incidentContent(n: IncidentNotification): string {
  const level = incidentLevel(n)
  const listed = n.alerts.slice(0, WECOM_MAX_LISTED).map((a) => `>${coloured(a.level, a.level.toUpperCase())} ${a.subject}: ${a.message}`)
  if (n.alerts.length > listed.length) listed.push(`>… and ${n.alerts.length - listed.length} more`)
  return [`### ${coloured(level, `${LEVEL_ZH[level]} ${incidentTitle(n)}`)}`, ...listed, `<font color="comment">${n.id} · ${n.at}</font>`].join('\n')
}

/** Renders a notification as a WeCom robot markdown message (at most WECOM_MAX_BYTES of content). */
export function wecomFormat(n: Notification): WeComMarkdown {
  const content = n.type === 'alert' ? alertContent(n) : incidentContent(n)
  return { msgtype: 'markdown', markdown: { content: truncateUtf8(content, WECOM_MAX_BYTES) } }
}
