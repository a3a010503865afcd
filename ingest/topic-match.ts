import { isWithholdAck, type BrokerMessage, type MessageHandler } from '../ports.js'

/** Longest topic name or filter in UTF-8 bytes [MQTT-1.5.3]. */
const MAX_TOPIC_BYTES = 65_535

/**
 * Whether `topic` (a topic name) matches `filter` (a topic filter with `+` and `#`), per MQTT 3.1.1 §4.7.
 * `sport/#` matches `sport` [MQTT-4.7.1-2]; `+` matches one whole level, an empty one included;
 * a filter starting with a wildcard never matches a topic starting with `$` [MQTT-4.7.2-1].
 */
export function topicMatches(filter: string, topic: string): boolean {
  if (topic.charCodeAt(0) === DOLLAR && (filter.charCodeAt(0) === PLUS || filter.charCodeAt(0) === HASH)) return false
  // Level by level, by position: every message is matched against the engine's filters, so no arrays of levels.
  let fi = 0
  let ti = 0
  for (;;) {
    const fEnd = levelEnd(filter, fi)
    const one = fEnd - fi === 1
    if (one && filter.charCodeAt(fi) === HASH) return true
    // The topic has no level here.
    if (ti > topic.length) return false
    const tEnd = levelEnd(topic, ti)
    if (!(one && filter.charCodeAt(fi) === PLUS) && !sameLevel(filter, fi, fEnd, topic, ti, tEnd)) return false
    fi = fEnd + 1
    ti = tEnd + 1
    // Past the filter's last level: a match when the topic ends here too.
    if (fi > filter.length) return ti > topic.length
  }
}

const DOLLAR = 36
const PLUS = 43
const HASH = 35

/** Where the level starting at `from` ends: the next '/' or the end. */
function levelEnd(s: string, from: number): number {
  const slash = s.indexOf('/', from)
  return slash < 0 ? s.length : slash
}

function sameLevel(a: string, aFrom: number, aEnd: number, b: string, bFrom: number, bEnd: number): boolean {
  if (aEnd - aFrom !== bEnd - bFrom) return false
  for (let i = 0; i < aEnd - aFrom; i++) if (a.charCodeAt(aFrom + i) !== b.charCodeAt(bFrom + i)) return false
  return true
}

function utf8Ok(value: string): boolean {
  // [MQTT-1.5.3-2] no U+0000; [MQTT-4.7.3-1] at least one character
  return value.length > 0 && !value.includes('\u0000') && Buffer.byteLength(value, 'utf8') <= MAX_TOPIC_BYTES
}

/** Whether `filter` is a valid topic filter: `#` alone and last [MQTT-4.7.1-2], `+` a whole level [MQTT-4.7.1-3]. */
export function isValidTopicFilter(filter: string): boolean {
  if (!utf8Ok(filter)) return false
  const levels = filter.split('/')
  return levels.every((level, i) => {
    if (level.includes('#')) return level === '#' && i === levels.length - 1
    if (level.includes('+')) return level === '+'
    return true
  })
}

/** Whether `topic` is a valid topic name for PUBLISH: no wildcards [MQTT-3.3.2-2]. */
export function isValidTopicName(topic: string): boolean {
  return utf8Ok(topic) && !topic.includes('+') && !topic.includes('#')
}

/**
 * Where a handler's failure goes: given the message's topic, so one sink serves every message. The topic and not the
 * message: a handler's promise may wait for a commit, and the message (its payload) must not live that long.
 */
export type HandlerErrorSink = (err: unknown, topic: string) => void

/** The engine's own subscriptions, local to an adapter: topic filters and their handlers. */
export interface HandlerTable {
  /** Distinct filters, in subscription order. */
  readonly filters: readonly string[]
  has(filter: string): boolean
  add(filter: string, handler: MessageHandler): void
  /** Handlers of every filter matching `topic`; a handler subscribed twice appears twice. Not to be modified. */
  matching(topic: string): readonly MessageHandler[]
  /**
   * Runs `handlers` concurrently on `message` and settles when all have settled. A throw or rejection goes to
   * `onError` (with the message), so one failing handler neither blocks nor hides the others; it rejects only with a
   * WithholdAck.
   * When a lone handler returns without a promise, so does `run` (a WithholdAck is then thrown): a QoS 0 message
   * needs no promise of its own.
   */
  run(handlers: readonly MessageHandler[], message: BrokerMessage, onError: HandlerErrorSink): Promise<void> | undefined
}

/** A withheld acknowledgement is the broker's business, not an error to log: it goes on to the broker. */
function handlerFailed(err: unknown, topic: string, onError: HandlerErrorSink): void {
  if (isWithholdAck(err)) throw err
  onError(err, topic)
}

/** Creates an empty handler table. */
export function createHandlerTable(): HandlerTable {
  const entries: { filter: string; handler: MessageHandler }[] = []
  let everyHandler: readonly MessageHandler[] = Object.freeze([])
  const filters: string[] = []

  function runOne(handler: MessageHandler, message: BrokerMessage, onError: HandlerErrorSink): Promise<void> | undefined {
    let result: Promise<void> | void
    try {
      result = handler(message)
    } catch (err) {
      handlerFailed(err, message.topic, onError)
      return undefined
    }
    if (result === undefined) return undefined
    const topic = message.topic
    return result.then(undefined, (err: unknown) => handlerFailed(err, topic, onError))
  }

  return {
    filters,
    has: (filter) => filters.includes(filter),
    add(filter, handler) {
      if (!isValidTopicFilter(filter)) throw new Error(`invalid MQTT topic filter '${filter}'`)
      if (!filters.includes(filter)) filters.push(filter)
      entries.push({ filter, handler })
      everyHandler = Object.freeze(entries.map((e) => e.handler))
    },
    matching(topic) {
      let found: MessageHandler[] | undefined
      for (let i = 0; i < entries.length; i++) {
        const entry = entries[i] as { filter: string; handler: MessageHandler }
        if (topicMatches(entry.filter, topic)) {
          if (found !== undefined) found.push(entry.handler)
        } else if (found === undefined) {
          // The first miss: the handlers matched so far, then the rest as they match.
          found = []
          for (let j = 0; j < i; j++) found.push((entries[j] as { handler: MessageHandler }).handler)
        }
      }
      // Every filter matched (the usual case: the engine subscribes once to its whole prefix): the one shared list.
      return found ?? everyHandler
    },
    run(handlers, message, onError) {
      if (handlers.length === 1) return runOne(handlers[0] as MessageHandler, message, onError)
      if (handlers.length === 0) return undefined
      // Every handler runs even when one withholds the acknowledgement; the withhold is then the result.
      let withheld: unknown
      const runs: Promise<void>[] = []
      for (const handler of handlers) {
        try {
          const ran = runOne(handler, message, onError)
          if (ran !== undefined) runs.push(ran)
        } catch (err) {
          withheld ??= err
        }
      }
      if (runs.length === 0) {
        if (withheld !== undefined) throw withheld
        return undefined
      }
      return Promise.all(runs).then(() => {
        if (withheld !== undefined) throw withheld
      })
    },
  }
}
