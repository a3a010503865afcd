import { ErrorWithSubackPacket, connect, type IClientOptions, type IConnackPacket, type IPublishPacket, type MqttClient } from 'mqtt'
import type { Logger } from 'pino'
import { isWithholdAck, type Broker, type BrokerMessage, type MessageHandler, type PublishOptions } from '../ports.js'
import { createHandlerTable, isValidTopicName, type HandlerErrorSink } from './topic-match.js'

/** Options of the external-broker adapter. */
export interface ExternalBrokerOptions {
  /** Broker URL: `mqtt://`, `mqtts://`, `ws://` or `wss://`. */
  url: string
  /** Fixed client identifier, so the broker keeps the session across connections [MQTT-3.1.2-4]; default citywater-engine. */
  clientId?: string
  username?: string
  password?: string
  /** Parent logger; the adapter logs through a `{ module: 'external-broker' }` child. */
  logger: Logger
  /** First reconnect delay in milliseconds, doubled after each failed attempt up to `maxReconnectPeriodMs`; default 1000. */
  reconnectPeriodMs?: number
  /** Ceiling of the reconnect delay in milliseconds; default 30000. */
  maxReconnectPeriodMs?: number
  /** Keep-alive in seconds [MQTT-3.1.2-23]; default 30. */
  keepaliveS?: number
  /** How long `start()` waits for the first connection before it resolves anyway, in milliseconds; default 10000. */
  connectTimeoutMs?: number
  /**
   * How long an inbound message that matches no handler is held unacknowledged, waiting for a `subscribe()` that
   * matches it, in milliseconds; after that it is acknowledged unhandled with a warning; default 10000.
   */
  unmatchedHoldMs?: number
}

/** Every default of the external-broker adapter in one place. */
export const EXTERNAL_BROKER_DEFAULTS = {
  clientId: 'citywater-engine',
  reconnectPeriodMs: 1000,
  maxReconnectPeriodMs: 30_000,
  keepaliveS: 30,
  connectTimeoutMs: 10_000,
  unmatchedHoldMs: 10_000,
} as const

/** The mqtt.js adapter behind the Broker port. */
export interface ExternalBroker extends Broker {
  readonly kind: 'external'
  /** Reconnect delay the next failed attempt will wait, in milliseconds. */
  readonly reconnectDelayMs: number
}

/** The reconnect delay after one more failed attempt: doubled, capped at `max`. */
export function nextReconnectDelay(current: number, max: number): number {
  return Math.min(current * 2, max)
}

function redact(url: string): string {
  try {
    const parsed = new URL(url)
    if (parsed.password !== '') parsed.password = '***'
    return parsed.toString()
  } catch {
    return url
  }
}

function toBuffer(payload: string | Buffer): Buffer {
  return typeof payload === 'string' ? Buffer.from(payload) : payload
}

/**
 * Creates the adapter for an external MQTT broker (Mosquitto, EMQX, HiveMQ) on mqtt.js: MQTT 3.1.1, a fixed client
 * id and a persistent session (`clean: false`), QoS 1 subscriptions (SPEC §5). Handlers run inside mqtt.js's
 * `handleMessage`, which mqtt.js awaits before it sends PUBACK (QoS 1) or PUBCOMP (QoS 2), so durable work done by
 * a handler precedes the acknowledgement; a failing handler is logged and the message still acknowledged.
 *
 * Subscriptions are re-issued after every reconnect on which the broker has no session (`sessionPresent` 0,
 * [MQTT-3.2.2-2]), and all of them on the first connection; mqtt.js's own `resubscribe` is off, as it skips the
 * persistent-session case. Reconnects back off from `reconnectPeriodMs`, doubling up to `maxReconnectPeriodMs`.
 *
 * Start-up decision: `start()` resolves on the first CONNACK, or after `connectTimeoutMs` if the broker is not
 * reachable, logging one warning; the adapter keeps reconnecting in the background and `connected` tells the
 * state. An engine that waits for its broker forever would not serve its API or dashboards meanwhile, and the
 * session on the broker keeps QoS 1 messages until the engine arrives. `subscribe()` while disconnected records
 * the filter and resolves; it is issued on the next connection. `subscribe()` may be called before `start()`.
 */
export function createExternalBroker(options: ExternalBrokerOptions): ExternalBroker {
  const settings = { ...EXTERNAL_BROKER_DEFAULTS, ...options }
  const log = options.logger.child({ module: 'external-broker' })
  const url = redact(settings.url)
  const table = createHandlerTable()
  /** Filters the broker holds for this session. */
  const granted = new Set<string>()
  /** Inbound messages waiting for a matching `subscribe()`: resolve with true to handle, false to leave unacknowledged. */
  const held = new Set<{ topic: string; release: (handle: boolean) => void }>()
  let client: MqttClient | undefined
  let firstConnection = true
  let closing = false
  let outageLogged = false
  let reconnectDelay = settings.reconnectPeriodMs
  let acceptingMessages = true

  const handlerFailed: HandlerErrorSink = (err, topic) => log.error({ err, topic }, 'message handler failed')

  function holdUnmatched(topic: string): Promise<boolean> {
    return new Promise((resolve) => {
      const entry = {
        topic,
        release: (handle: boolean) => {
          clearTimeout(timer)
          held.delete(entry)
          resolve(handle)
        },
      }
      const timer = setTimeout(() => entry.release(true), settings.unmatchedHoldMs)
      held.add(entry)
    })
  }

  /** Resolves true when the message may be acknowledged. */
  async function deliver(message: BrokerMessage): Promise<boolean> {
    if (table.matching(message.topic).length === 0) {
      const handle = await holdUnmatched(message.topic)
      if (!handle) return false
    }
    const handlers = table.matching(message.topic)
    if (handlers.length === 0) {
      log.warn({ topic: message.topic, heldMs: settings.unmatchedHoldMs }, 'message matches no subscription, acknowledged unhandled')
      return true
    }
    try {
      await table.run(handlers, message, handlerFailed)
    } catch (err) {
      if (!isWithholdAck(err)) throw err
      // No PUBACK: drop this session's connection so the broker redelivers the message on the next one.
      log.warn({ topic: message.topic, reason: err.message }, 'acknowledgement withheld, reconnecting')
      client?.stream.destroy()
      return false
    }
    return !closing || client?.connected === true
  }

  function handleMessage(packet: IPublishPacket, done: (err?: Error) => void): void {
    const message: BrokerMessage = { topic: packet.topic, payload: toBuffer(packet.payload), qos: packet.qos }
    // Never calling done() leaves the message unacknowledged: the broker redelivers it in the next session.
    const topic = message.topic
    deliver(message).then(
      (ack) => {
        if (ack) done()
      },
      (err: unknown) => handlerFailed(err, topic),
    )
  }

  async function subscribeRemote(mqtt: MqttClient, filters: readonly string[]): Promise<void> {
    const pending = filters.filter((filter) => !granted.has(filter))
    if (pending.length === 0) return
    let codes: number[]
    try {
      const grants = await mqtt.subscribeAsync(Object.fromEntries(pending.map((filter) => [filter, { qos: 1 as const }])))
      codes = pending.map((filter) => grants.find((g) => g.topic === filter)?.qos ?? 0x80)
    } catch (err) {
      // mqtt.js rejects the whole SUBACK when one filter failed; its packet still tells which
      if (!(err instanceof ErrorWithSubackPacket)) throw err
      codes = err.packet.granted.map((g) => (typeof g === 'number' ? g : (g as { qos: number }).qos))
    }
    const refused: string[] = []
    pending.forEach((filter, i) => {
      // [MQTT-3.9.3] return code 0x80 is failure
      if ((codes[i] ?? 0x80) >= 0x80) refused.push(filter)
      else granted.add(filter)
    })
    if (refused.length > 0) throw new Error(`broker refused the subscription to ${refused.join(', ')}`)
    log.debug({ filters: pending }, 'subscribed')
  }

  function onConnect(mqtt: MqttClient, connack: IConnackPacket): void {
    reconnectDelay = settings.reconnectPeriodMs
    mqtt.options.reconnectPeriod = reconnectDelay
    outageLogged = false
    // [MQTT-3.2.2-2] sessionPresent 0: the broker holds no subscriptions for us
    if (firstConnection || connack.sessionPresent !== true) granted.clear()
    log.info({ url, sessionPresent: connack.sessionPresent, firstConnection }, 'connected to the mqtt broker')
    firstConnection = false
    subscribeRemote(mqtt, table.filters).catch((err: unknown) => log.error({ err, url }, 'subscribing after connect failed'))
  }

  function onClose(mqtt: MqttClient): void {
    if (closing) return
    // mqtt.js has armed its timer with the current period; the next failure waits longer
    mqtt.options.reconnectPeriod = reconnectDelay = nextReconnectDelay(reconnectDelay, settings.maxReconnectPeriodMs)
    if (!outageLogged) {
      outageLogged = true
      log.warn({ url }, 'disconnected from the mqtt broker, reconnecting')
    }
  }

  async function start(): Promise<void> {
    if (client !== undefined) return
    closing = false
    firstConnection = true
    granted.clear()
    const clientOptions: IClientOptions = {
      clientId: settings.clientId,
      clean: false,
      protocolVersion: 4,
      keepalive: settings.keepaliveS,
      reconnectPeriod: settings.reconnectPeriodMs,
      resubscribe: false,
      ...(settings.username !== undefined ? { username: settings.username } : {}),
      ...(settings.password !== undefined ? { password: settings.password } : {}),
    }
    const mqtt = connect(settings.url, clientOptions)
    client = mqtt
    mqtt.handleMessage = handleMessage
    mqtt.on('connect', (connack) => onConnect(mqtt, connack))
    mqtt.on('close', () => onClose(mqtt))
    mqtt.on('error', (err) => {
      if (closing) return
      if (outageLogged) log.debug({ err: err.message, url }, 'mqtt client error')
      else log.warn({ err: err.message, url }, 'mqtt client error')
    })
    if (mqtt.connected) return
    await new Promise<void>((resolve) => {
      const timer = setTimeout(() => {
        mqtt.off('connect', connected)
        log.warn({ url, timeoutMs: settings.connectTimeoutMs }, 'mqtt broker not reachable yet: starting anyway, reconnecting in the background')
        resolve()
      }, settings.connectTimeoutMs)
      function connected(): void {
        clearTimeout(timer)
        resolve()
      }
      mqtt.once('connect', connected)
    })
  }

  async function close(): Promise<void> {
    const mqtt = client
    if (mqtt === undefined || closing) return
    closing = true
    for (const entry of held) entry.release(false)
    // DISCONNECT when nothing is in flight [MQTT-3.14]; otherwise drop the connection: the session keeps the rest
    const graceful = mqtt.connected && Object.keys(mqtt.outgoing).length === 0
    await mqtt.endAsync(!graceful)
    client = undefined
    log.info({ url }, 'disconnected from the mqtt broker')
  }

  return {
    kind: 'external',
    get connected() {
      return client?.connected === true
    },
    get reconnectDelayMs() {
      return reconnectDelay
    },
    start,
    async subscribe(filter: string, handler: MessageHandler) {
      table.add(filter, handler)
      for (const entry of held) if (table.matching(entry.topic).length > 0) entry.release(true)
      const mqtt = client
      if (mqtt === undefined || !mqtt.connected) return
      try {
        await subscribeRemote(mqtt, [filter])
      } catch (err) {
        // a connection lost mid-SUBSCRIBE re-issues it on the next connection
        if (mqtt.connected) throw err
      }
    },
    async publish(topic: string, payload: string | Buffer, publishOptions: PublishOptions = {}) {
      if (client === undefined) throw new Error('external broker adapter is not started')
      if (!isValidTopicName(topic)) throw new Error(`invalid MQTT topic name '${topic}'`)
      await client.publishAsync(topic, payload, { qos: publishOptions.qos ?? 0, retain: publishOptions.retain ?? false })
    },
    async setAccepting(accepting: boolean) {
      if (accepting === acceptingMessages) return
      acceptingMessages = accepting
      const mqtt = client
      if (mqtt === undefined) return
      if (!accepting) {
        log.warn({ url }, 'not accepting messages: leaving the broker, whose session keeps them')
        // Drop the connection without DISCONNECT and stop reconnecting until accepting again.
        mqtt.options.reconnectPeriod = 0
        await mqtt.endAsync(true)
      } else {
        log.info({ url }, 'accepting messages again: reconnecting to the broker')
        mqtt.options.reconnectPeriod = reconnectDelay = settings.reconnectPeriodMs
        mqtt.reconnect()
      }
    },
    close,
  }
}
