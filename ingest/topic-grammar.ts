import { SENSOR_KINDS, type SensorKind } from '../domain.js'

/** A parsed sensor or gateway topic. */
export type ParsedTopic =
  | { type: 'sensor'; district: string; kind: SensorKind; sensorId: string }
  | { type: 'gateway'; district: string; gatewayId: string }
  | { type: 'invalid'; why: string }
  | { type: 'foreign' }

const KINDS = new Set<string>(SENSOR_KINDS)

const FOREIGN: ParsedTopic = Object.freeze({ type: 'foreign' })
const SLASH = 0x2f

function invalidShape(prefix: string): ParsedTopic {
  return { type: 'invalid', why: `topic must be ${prefix}/{district}/{kind}/{sensorId} or ${prefix}/{district}/gateway/{gatewayId}` }
}

/**
 * Parses `{prefix}/{district}/{kind}/{sensorId}` or `{prefix}/{district}/gateway/{gatewayId}`.
 * Topics outside the prefix are `foreign` (relayed, not ingested).
 */
export function parseTopic(topic: string, prefix: string): ParsedTopic {
  const p = prefix.length
  if (topic.length <= p || topic.charCodeAt(p) !== SLASH || !topic.startsWith(prefix)) return FOREIGN
  // A prefix of one level (as the config allows) is found by position, without an array and a string per level.
  if (p === 0 || prefix.includes('/')) return parseBySplit(topic, prefix)
  const a = p + 1
  const b = topic.indexOf('/', a)
  const c = b < 0 ? -1 : topic.indexOf('/', b + 1)
  // Four non-empty levels: three slashes, none doubled, none last.
  if (c < 0 || b === a || c === b + 1 || c + 1 === topic.length || topic.indexOf('/', c + 1) >= 0) return invalidShape(prefix)
  return parsed(topic.slice(a, b), topic.slice(b + 1, c), topic.slice(c + 1))
}

function parseBySplit(topic: string, prefix: string): ParsedTopic {
  const parts = topic.split('/')
  if (parts.length !== 4 || parts.some((p) => p === '')) return invalidShape(prefix)
  const [, district, kind, id] = parts as [string, string, string, string]
  return parsed(district, kind, id)
}

function parsed(district: string, kind: string, id: string): ParsedTopic {
  if (kind === 'gateway') return { type: 'gateway', district, gatewayId: id }
  if (!KINDS.has(kind)) return { type: 'invalid', why: `unknown kind '${kind}' in topic` }
  return { type: 'sensor', district, kind: kind as SensorKind, sensorId: id }
}

/** The topic a sensor publishes on. */
export function sensorTopic(prefix: string, district: string, kind: string, sensorId: string): string {
  return `${prefix}/${district}/${kind}/${sensorId}`
}
