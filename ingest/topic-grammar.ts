import { SENSOR_KINDS, type SensorKind } from '../domain.js'

/** A parsed sensor or gateway topic. */
export type ParsedTopic =
  | { type: 'sensor'; district: string; kind: SensorKind; sensorId: string }
  | { type: 'gateway'; district: string; gatewayId: string }
  | { type: 'invalid'; why: string }
  | { type: 'foreign' }

const KINDS = new Set<string>(SENSOR_KINDS)

/**
 * Parses `{prefix}/{district}/{kind}/{sensorId}` or `{prefix}/{district}/gateway/{gatewayId}`.
 * Topics outside the prefix are `foreign` (relayed, not ingested).
 */
export function parseTopic(topic: string, prefix: string): ParsedTopic {
  if (!topic.startsWith(`${prefix}/`)) return { type: 'foreign' }
  const parts = topic.split('/')
  if (parts.length !== 4 || parts.some((p) => p === '')) {
    return { type: 'invalid', why: `topic must be ${prefix}/{district}/{kind}/{sensorId} or ${prefix}/{district}/gateway/{gatewayId}` }
  }
  const [, district, kind, id] = parts as [string, string, string, string]
  if (kind === 'gateway') return { type: 'gateway', district, gatewayId: id }
  if (!KINDS.has(kind)) return { type: 'invalid', why: `unknown kind '${kind}' in topic` }
  return { type: 'sensor', district, kind: kind as SensorKind, sensorId: id }
}

/** The topic a sensor publishes on. */
export function sensorTopic(prefix: string, district: string, kind: string, sensorId: string): string {
  return `${prefix}/${district}/${kind}/${sensorId}`
}
