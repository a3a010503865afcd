import type { EventEmitter } from 'node:events'
import type { MqttClient } from 'mqtt'

/** Options of `waitFor`. */
export interface WaitForOptions {
  /** Deadline in milliseconds; default 5000. */
  timeoutMs?: number
  /** Polling interval in milliseconds; default 10. */
  intervalMs?: number
  /** What was awaited, for the timeout error. */
  message?: string
}

/**
 * Polls `predicate` until it returns a value other than undefined or false (that value is returned), with a
 * deadline. A predicate that throws is retried; its last error is reported on timeout.
 */
export async function waitFor<T>(predicate: () => T | undefined | false | Promise<T | undefined | false>, options: WaitForOptions = {}): Promise<T> {
  const timeoutMs = options.timeoutMs ?? 5000
  const intervalMs = options.intervalMs ?? 10
  const deadline = Date.now() + timeoutMs
  let lastError: unknown
  for (;;) {
    try {
      const value = await predicate()
      if (value !== undefined && value !== false) return value
    } catch (err) {
      lastError = err
    }
    if (Date.now() >= deadline) {
      const why = lastError instanceof Error ? `: ${lastError.message}` : ''
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${options.message ?? 'a condition'}${why}`, { cause: lastError })
    }
    await new Promise((resolve) => setTimeout(resolve, intervalMs))
  }
}

/** Rejects with a clear error when `promise` has not settled within `timeoutMs`. */
export async function withTimeout<T>(promise: Promise<T>, timeoutMs: number, message: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined
  const timeout = new Promise<never>((_resolve, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${timeoutMs} ms waiting for ${message}`)), timeoutMs)
  })
  try {
    return await Promise.race([promise, timeout])
  } finally {
    clearTimeout(timer)
  }
}

/** Resolves with the arguments of the next `event` of `emitter`, with a deadline. */
export function nextEvent<A extends unknown[] = unknown[]>(emitter: EventEmitter | MqttClient, event: string, timeoutMs = 5000): Promise<A> {
  return withTimeout(
    new Promise<A>((resolve) => (emitter as EventEmitter).once(event, (...args: unknown[]) => resolve(args as A))),
    timeoutMs,
    `event '${event}'`,
  )
}

/** A promise with its resolve and reject exposed. */
export interface Deferred<T> {
  promise: Promise<T>
  resolve(value: T): void
  reject(err: unknown): void
  /** Whether resolve or reject was called. */
  readonly settled: boolean
}

/** Creates a Deferred. */
export function deferred<T = void>(): Deferred<T> {
  let resolve!: (value: T) => void
  let reject!: (err: unknown) => void
  let settled = false
  const promise = new Promise<T>((res, rej) => {
    resolve = res
    reject = rej
  })
  return {
    promise,
    resolve(value) {
      settled = true
      resolve(value)
    },
    reject(err) {
      settled = true
      reject(err)
    },
    get settled() {
      return settled
    },
  }
}

/** A message an mqtt.js client received. */
export interface ReceivedMessage {
  topic: string
  payload: Buffer
  qos: number
  retain: boolean
}

/**
 * Resolves with the next message `client` receives on a topic matching `matches` (a predicate on the topic),
 * with a deadline. Subscribe first: this only listens.
 */
export function nextMessage(client: MqttClient, matches: (topic: string) => boolean = () => true, timeoutMs = 5000): Promise<ReceivedMessage> {
  let listener: ((topic: string, payload: Buffer, packet: { qos: number; retain: boolean }) => void) | undefined
  const received = new Promise<ReceivedMessage>((resolve) => {
    listener = (topic, payload, packet) => {
      if (!matches(topic)) return
      client.off('message', listener as never)
      resolve({ topic, payload, qos: packet.qos, retain: packet.retain })
    }
    client.on('message', listener)
  })
  return withTimeout(received, timeoutMs, 'an mqtt message').finally(() => client.off('message', listener as never))
}
