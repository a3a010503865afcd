import type { Logger } from 'pino'
import type { Broker, BrokerMessage, MessageHandler, PublishOptions } from '../ports.js'
import { createHandlerTable, isValidTopicName } from './topic-match.js'

/** Options of the in-memory broker double. */
export interface MemoryBrokerOptions {
  /** Parent logger for handler failures; default none (failures are only kept in `handlerErrors`). */
  logger?: Logger
}

/** A message the engine published through the double. */
export interface PublishedMessage extends BrokerMessage {
  retain: boolean
}

/** A Broker double for unit tests of the ingest logic: no sockets, deterministic, inspectable. */
export interface MemoryBroker extends Broker {
  /** It stands in for the embedded broker: the engine's acknowledgement is the one the publisher gets. */
  readonly kind: 'embedded'
  /** Every message the engine published, in order. */
  readonly published: PublishedMessage[]
  /** Every error a handler threw or rejected with, in order. */
  readonly handlerErrors: unknown[]
  /**
   * Simulates a client PUBLISH: runs every matching handler and resolves when all have settled, which is
   * where a real broker would send the PUBACK. Handler failures never reject it; a WithholdAck rejects it, as a
   * real broker drops the connection. Rejects before `start()` and while not accepting.
   */
  inject(topic: string, payload: string | Buffer, qos?: 0 | 1 | 2): Promise<void>
  /** False after `setAccepting(false)`. */
  readonly accepting: boolean
}

/** Creates the in-memory broker double; `subscribe()` works before `start()`, as on the real adapters. */
export function createMemoryBroker(options: MemoryBrokerOptions = {}): MemoryBroker {
  const log = options.logger?.child({ module: 'memory-broker' })
  const table = createHandlerTable()
  const published: PublishedMessage[] = []
  const handlerErrors: unknown[] = []
  let running = false
  let accepting = true

  return {
    kind: 'embedded',
    published,
    handlerErrors,
    get connected() {
      return running
    },
    get accepting() {
      return accepting
    },
    async setAccepting(value: boolean) {
      accepting = value
    },
    async start() {
      running = true
    },
    async subscribe(filter: string, handler: MessageHandler) {
      table.add(filter, handler)
    },
    async publish(topic: string, payload: string | Buffer, publishOptions: PublishOptions = {}) {
      if (!running) throw new Error('memory broker is not started')
      if (!isValidTopicName(topic)) throw new Error(`invalid MQTT topic name '${topic}'`)
      const buffer = typeof payload === 'string' ? Buffer.from(payload) : payload
      published.push({ topic, payload: buffer, qos: publishOptions.qos ?? 0, retain: publishOptions.retain ?? false })
    },
    async inject(topic: string, payload: string | Buffer, qos: 0 | 1 | 2 = 0) {
      if (!running) throw new Error('memory broker is not started')
      if (!accepting) throw new Error('memory broker is not accepting messages')
      if (!isValidTopicName(topic)) throw new Error(`invalid MQTT topic name '${topic}'`)
      const message: BrokerMessage = { topic, payload: typeof payload === 'string' ? Buffer.from(payload) : payload, qos }
      await table.run(table.matching(topic), message, (err) => {
        handlerErrors.push(err)
        log?.error({ err, topic }, 'message handler failed')
      })
    },
    async close() {
      running = false
    },
  }
}
