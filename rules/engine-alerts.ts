import type { Logger } from 'pino'
import type { WsHub } from '../api/ws-hub.js'
import { ENGINE_DISTRICT, type Level } from '../domain.js'
import type { Broker, Clock } from '../ports.js'

/** An alert about the engine's own health, in the alert JSON of SPEC §8. */
export interface EngineAlert {
  id: string
  rule: string
  subject: 'engine'
  district: typeof ENGINE_DISTRICT
  segment: null
  level: Level
  state: 'open' | 'resolved'
  value: number
  threshold: number
  message: string
  raisedAt: string
  updatedAt: string
  ackedBy: null
  etaMinutes: null
}

/** Options of the engine alerts. */
export interface EngineAlertsOptions {
  hub: WsHub
  broker: Broker
  clock: Clock
  logger: Logger
}

/** Raises and clears alerts about the engine (the write-ahead log nearing its bound) on the websocket and MQTT. */
export interface EngineAlerts {
  raise(rule: string, level: Level, value: number, threshold: number, message: string): void
  clear(rule: string): void
  /** Alerts currently open. */
  active(): EngineAlert[]
}

/**
 * Engine alerts go out as websocket `alert` events and as retained `citywater/alerts/_engine/{id}` messages
 * (an empty retained payload clears them, as for every alert); they are not rule alerts and need no ack.
 */
export function createEngineAlerts(options: EngineAlertsOptions): EngineAlerts {
  const { hub, broker, clock } = options
  const log = options.logger.child({ module: 'engine-alerts' })
  const open = new Map<string, EngineAlert>()

  function emit(alert: EngineAlert, payload: string): void {
    hub.publish({ type: 'alert', key: alert.id, district: ENGINE_DISTRICT, data: alert })
    broker
      .publish(`citywater/alerts/${ENGINE_DISTRICT}/${alert.id}`, payload, { qos: 1, retain: true })
      .catch((err: unknown) => log.warn({ err, alert: alert.id }, 'engine alert publish failed'))
  }

  return {
    raise(rule, level, value, threshold, message) {
      const now = new Date(clock.now()).toISOString()
      const previous = open.get(rule)
      const alert: EngineAlert = {
        id: `engine-${rule}`,
        rule,
        subject: 'engine',
        district: ENGINE_DISTRICT,
        segment: null,
        level,
        state: 'open',
        value,
        threshold,
        message,
        raisedAt: previous?.raisedAt ?? now,
        updatedAt: now,
        ackedBy: null,
        etaMinutes: null,
      }
      open.set(rule, alert)
      log.warn({ rule, level, value, threshold }, message)
      emit(alert, JSON.stringify(alert))
    },
    clear(rule) {
      const alert = open.get(rule)
      if (alert === undefined) return
      open.delete(rule)
      const resolved: EngineAlert = { ...alert, state: 'resolved', updatedAt: new Date(clock.now()).toISOString() }
      log.info({ rule }, 'engine alert cleared')
      emit(resolved, '')
    },
    active() {
      return [...open.values()]
    },
  }
}
