import type { DeadLetter } from './domain.js'

/** The one clock of ingest, stream and rules; an RxJS scheduler satisfies it. */
export interface Clock {
  /** Current time in epoch milliseconds. */
  now(): number
}

/** The system clock. */
export const systemClock: Clock = { now: () => Date.now() }

/** A message as a broker delivers it. */
export interface BrokerMessage {
  topic: string
  payload: Buffer
  qos: 0 | 1 | 2
}

/**
 * Handles one inbound message. The broker acknowledges a QoS ≥ 1 message only after the
 * returned promise settles, so durable work done here precedes the PUBACK.
 */
export type MessageHandler = (message: BrokerMessage) => Promise<void> | void

export interface PublishOptions {
  qos?: 0 | 1 | 2
  retain?: boolean
}

/**
 * Thrown by a MessageHandler to withhold the acknowledgement (the write-ahead log is full): the broker drops the
 * publisher's connection without PUBACK, so the client keeps the message and resends it after reconnecting.
 */
export class WithholdAck extends Error {
  readonly withholdAck = true
}

/** True for a WithholdAck, also across module copies. */
export function isWithholdAck(err: unknown): err is WithholdAck {
  return err instanceof Error && (err as { withholdAck?: unknown }).withholdAck === true
}

/** The MQTT seam: the embedded aedes broker or an external broker through mqtt.js. */
export interface Broker {
  /** `embedded` or `external`. */
  readonly kind: 'embedded' | 'external'
  /** Whether the broker is serving (embedded) or connected (external). */
  readonly connected: boolean
  /** Starts listening or connecting; resolves when ready. */
  start(): Promise<void>
  /** Delivers every inbound message on `filter` to `handler`; resolves once the subscription is granted. */
  subscribe(filter: string, handler: MessageHandler): Promise<void>
  publish(topic: string, payload: string | Buffer, options?: PublishOptions): Promise<void>
  /**
   * Stops (false) or resumes (true) taking messages from publishers. Embedded: refuses new connections and
   * disconnects QoS ≥ 1 publishers, whose unacknowledged messages stay with them. External: leaves the broker,
   * whose persistent session keeps the messages until the engine comes back.
   */
  setAccepting(accepting: boolean): Promise<void>
  close(): Promise<void>
}

/** Where rejected messages go. */
export interface DeadLetterSink {
  put(letter: DeadLetter): void
  close(): Promise<void>
}
