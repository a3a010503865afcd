import { isUtf8 } from 'node:buffer'
import { createWriteStream, mkdirSync, readdirSync, statSync, unlinkSync, type WriteStream } from 'node:fs'
import { join } from 'node:path'
import type { Logger } from 'pino'
import { DEAD_LETTER_REASONS, type DeadLetter, type DeadLetterReason } from '../domain.js'
import type { Clock, DeadLetterSink } from '../ports.js'

/** Options of the dead-letter store. */
export interface DeadLettersOptions {
  /** Folder of the dead-letter files, `{dataDir}/deadletter`. */
  dir: string
  /** Bound of all files together in bytes; oldest files go first. Default 256 MiB. */
  maxBytes?: number
  /** Age after which a file is deleted, in milliseconds. Default 30 days. */
  maxAgeMs?: number
  /** Publishes a dead letter on `citywater/deadletter/{reason}`; failures are logged, never thrown. */
  publish?: (topic: string, payload: string) => Promise<void>
  clock: Clock
  logger: Logger
}

/** A dead letter as stored in the files and published on MQTT. */
export interface DeadLetterRecord {
  receivedAt: string
  topic: string
  reason: DeadLetterReason
  detail: string
  payload: string
  /** `utf8`, or `base64` when the payload is not valid UTF-8. */
  encoding: 'utf8' | 'base64'
}

export interface DeadLetters extends DeadLetterSink {
  /** Dead letters per reason since start. */
  readonly counts: Readonly<Record<DeadLetterReason, number>>
  /** Bytes held in the dead-letter files. */
  readonly bytes: number
  /** Resolves once every letter put so far is in its file. */
  flush(): Promise<void>
}

const FILE = /^dl-([0-9]{8}T[0-9]{2})\.jsonl$/
const DAY_MS = 86_400_000

/** Turns a dead letter into its stored and published form. */
export function deadLetterRecord(letter: DeadLetter): DeadLetterRecord {
  const utf8 = isUtf8(letter.payload)
  return {
    receivedAt: new Date(letter.receivedAt).toISOString(),
    topic: letter.topic,
    reason: letter.reason,
    detail: letter.detail,
    payload: letter.payload.toString(utf8 ? 'utf8' : 'base64'),
    encoding: utf8 ? 'utf8' : 'base64',
  }
}

function hourStamp(ms: number): string {
  return new Date(ms).toISOString().slice(0, 13).replace(/-/g, '')
}

/** Creates the dead-letter store: hourly JSON-lines files, an MQTT copy and counters. */
export function createDeadLetters(options: DeadLettersOptions): DeadLetters {
  const { dir, clock, publish } = options
  const maxBytes = options.maxBytes ?? 268_435_456
  const maxAgeMs = options.maxAgeMs ?? 30 * DAY_MS
  const log = options.logger.child({ module: 'dead-letters' })
  mkdirSync(dir, { recursive: true })
  const counts = Object.fromEntries(DEAD_LETTER_REASONS.map((r) => [r, 0])) as Record<DeadLetterReason, number>
  const sizes = new Map<string, number>()
  let total = 0
  for (const name of readdirSync(dir).filter((n) => FILE.test(n)).sort()) {
    const size = statSync(join(dir, name)).size
    sizes.set(name, size)
    total += size
  }
  let current: { name: string; stream: WriteStream } | undefined

  function streamFor(now: number): { name: string; stream: WriteStream } {
    const name = `dl-${hourStamp(now)}.jsonl`
    if (current?.name === name) return current
    current?.stream.end()
    current = { name, stream: createWriteStream(join(dir, name), { flags: 'a' }) }
    current.stream.on('error', (err) => log.error({ err, file: name }, 'dead-letter file write failed'))
    if (!sizes.has(name)) sizes.set(name, 0)
    enforceBounds(now)
    return current
  }

  function enforceBounds(now: number): void {
    const cutoff = hourStamp(now - maxAgeMs)
    for (const name of [...sizes.keys()].sort()) {
      if (name === current?.name) break
      const stamp = FILE.exec(name)?.[1] ?? ''
      if (total <= maxBytes && stamp >= cutoff) break
      try {
        unlinkSync(join(dir, name))
      } catch (err) {
        log.warn({ err, file: name }, 'cannot delete dead-letter file')
      }
      total -= sizes.get(name) ?? 0
      sizes.delete(name)
    }
  }

  return {
    counts,
    get bytes() {
      return total
    },
    put(letter) {
      counts[letter.reason] += 1
      const record = deadLetterRecord(letter)
      const line = `${JSON.stringify(record)}\n`
      const target = streamFor(clock.now())
      const size = Buffer.byteLength(line)
      target.stream.write(line)
      sizes.set(target.name, (sizes.get(target.name) ?? 0) + size)
      total += size
      if (total > maxBytes) enforceBounds(clock.now())
      if (publish !== undefined) {
        const { encoding: _encoding, ...published } = record
        publish(`citywater/deadletter/${letter.reason}`, JSON.stringify(published)).catch((err: unknown) =>
          log.warn({ err, reason: letter.reason }, 'dead-letter publish failed'),
        )
      }
    },
    flush() {
      const stream = current?.stream
      if (stream === undefined) return Promise.resolve()
      // A write's callback fires once every earlier write is flushed.
      return new Promise((resolve) => stream.write('', () => resolve()))
    },
    close() {
      const stream = current?.stream
      current = undefined
      if (stream === undefined) return Promise.resolve()
      return new Promise((resolve) => stream.end(() => resolve()))
    },
  }
}
