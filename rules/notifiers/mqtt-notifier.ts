import type { Logger } from 'pino'
import type { AlertJson } from './notification.js'

/** Publishes one MQTT message; the app binds it to `Broker.publish(topic, payload, { qos: 1, retain })`. */
export type MqttPublish = (topic: string, payload: string, retain: boolean) => Promise<void>

/** Topic root of alert messages (SPEC §8). */
export const ALERT_TOPIC_ROOT = 'citywater/alerts'

/** `citywater/alerts/{district}/{alertId}`. */
export function alertTopic(alert: Pick<AlertJson, 'district' | 'id'>): string {
  return `${ALERT_TOPIC_ROOT}/${alert.district}/${alert.id}`
}

/** Options of the MQTT notifier. */
export interface MqttNotifierOptions {
  publish: MqttPublish
  logger: Logger
}

/** Keeps `citywater/alerts/{district}/{alertId}` retained with the alert JSON while the alert is active. */
export interface MqttNotifier {
  /** Publishes the alert JSON retained (open or acknowledged). */
  publish(alert: AlertJson): void
  /** Clears the retained message with an empty retained payload (resolved). */
  clear(alert: AlertJson): void
}

/**
 * The MQTT notifier: a retained message per active alert, cleared on resolve with an empty retained payload,
 * which deletes it from the broker [MQTT-3.3.1-10]. Publish failures are logged, never thrown.
 */
export function createMqttNotifier(options: MqttNotifierOptions): MqttNotifier {
  const log = options.logger.child({ module: 'mqtt-notifier' })
  function send(alert: AlertJson, payload: string): void {
    const topic = alertTopic(alert)
    let pending: Promise<void>
    try {
      pending = options.publish(topic, payload, true)
    } catch (err) {
      log.warn({ err, topic }, 'alert publish failed')
      return
    }
    pending.catch((err: unknown) => log.warn({ err, topic }, 'alert publish failed'))
  }
  return {
    publish(alert) {
      send(alert, JSON.stringify(alert))
    },
    clear(alert) {
      send(alert, '')
    },
  }
}
