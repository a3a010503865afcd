import { mkdirSync } from 'node:fs'
import { join } from 'node:path'
import { connectAsync, type MqttClient } from 'mqtt'
import type { DeadLetterReason } from '../domain.js'
import { systemClock, type Clock } from '../ports.js'
import { loadRegistry } from '../registry/load-registry.js'
import { indexRegistry, type RegistryIndex } from '../registry/registry-index.js'
import { letterPayload, readDeadLetters, type DeadLetterFilter, type DeadLetterLineProblem, type StoredDeadLetter } from './dead-letter-files.js'
import { acquireReplayLock, appendLedger, compactLedger } from './dead-letter-ledger.js'
import type { DeadLetterRecord } from './dead-letters.js'
import { createIngest } from './ingest-pipeline.js'
import { parseTopic } from './topic-grammar.js'

/** Why a reading of a letter would be dead-lettered again. */
export interface Rejection {
  reason: DeadLetterReason
  detail: string
}

/** What the engine would do with a letter now: all readings pass, some, or none. */
export type CheckOutcome = 'accepted' | 'partial' | 'rejected'

/** Result of the offline check of one letter. */
export interface CheckResult {
  outcome: CheckOutcome
  /** Readings that pass. */
  accepted: number
  /** Readings in the letter (for a message-level rejection: 1). */
  total: number
  /** Why the others would be dead-lettered again, one entry per rejected reading or message. */
  rejections: Rejection[]
}

/** What the offline check runs against: the engine's current registry and settings. */
export interface CheckContext {
  registry: RegistryIndex
  /** First topic level, the engine's `topicPrefix`. */
  topicPrefix: string
  /** Raw-data retention in milliseconds (`retentionMs(config.influxRetention)`). */
  retentionMs: number
  /** Default the system clock: the engine judges `ts` by its own now. */
  clock?: Clock
}

/** Runs one stored letter through the ingest pipeline offline, with a collecting dead-letter sink. */
export function checkDeadLetter(record: DeadLetterRecord, context: CheckContext): CheckResult {
  const { registry, topicPrefix, retentionMs } = context
  if (parseTopic(record.topic, topicPrefix).type === 'foreign') {
    // The engine would not even subscribe to it: it would be relayed, never ingested.
    return { outcome: 'rejected', accepted: 0, total: 1, rejections: [{ reason: 'topic_mismatch', detail: `topic is outside the prefix '${topicPrefix}'` }] }
  }
  const rejections: Rejection[] = []
  const ingest = createIngest({
    registry: () => registry,
    topicPrefix,
    retentionMs,
    // Every district: with partitioned instances, whichever owns the topic ingests the replay.
    districts: null,
    deadLetters: { put: (l) => rejections.push({ reason: l.reason, detail: l.detail }), close: async () => {} },
    clock: context.clock ?? systemClock,
  })
  const { accepted } = ingest.handle({ topic: record.topic, payload: letterPayload(record), qos: 1 })
  const total = accepted.length + rejections.length + ingest.stats.duplicates
  const outcome: CheckOutcome = accepted.length === 0 ? 'rejected' : rejections.length === 0 ? 'accepted' : 'partial'
  return { outcome, accepted: accepted.length, total, rejections }
}

/** Options of `replayDeadLetters`. */
export interface ReplayOptions {
  /** The engine's data directory; the letters are in `{dataDir}/deadletter`. */
  dataDir: string
  /** The registry to check against: an index, or a registry file to load (normally the engine's `CITYWATER_REGISTRY`). */
  registry: RegistryIndex | string
  /** First topic level, the engine's `topicPrefix`. */
  topicPrefix: string
  /** Raw-data retention in milliseconds. */
  retentionMs: number
  /** Which letters; letters already replayed are always left out. */
  filter?: Omit<DeadLetterFilter, 'includeReplayed'>
  /** The engine's broker, `mqtt://host:port`; required unless `dryRun`. */
  broker?: string
  username?: string
  password?: string
  /** Only the offline check: nothing is published or recorded. Default false. */
  dryRun?: boolean
  /** Deadline of the connection and of each PUBACK, in milliseconds. Default 10000. */
  ackTimeoutMs?: number
  /** Publications awaiting their PUBACK at once. Default 32. */
  maxInFlight?: number
  /** Stamps `replayedAt` in the ledger; default the system clock. */
  clock?: Clock
}

/** What happened to one letter: the check's outcome, or `failed` when publishing it failed. */
export interface LetterReport extends Omit<CheckResult, 'outcome'> {
  outcome: CheckOutcome | 'failed'
  file: string
  line: number
  receivedAt: string
  topic: string
  /** The reason it was dead-lettered with. */
  reason: DeadLetterReason
  /** Whether the broker acknowledged it (PUBACK). */
  published: boolean
  /** Why publishing failed. */
  error?: string
}

/** Counts of a replay; `replayed` counts every matching letter, whatever its outcome. */
export interface ReplaySummary {
  replayed: number
  accepted: number
  partial: number
  rejected: number
  failed: number
  /** Matching letters left out because an earlier replay re-submitted them. */
  alreadyReplayed: number
  /** Malformed lines skipped in the files. */
  malformed: number
}

/** Result of `replayDeadLetters`. */
export interface ReplayReport {
  dryRun: boolean
  /** The broker published to; absent on a dry run. */
  broker?: string
  /** One entry per matching letter, in file order. */
  letters: LetterReport[]
  problems: DeadLetterLineProblem[]
  summary: ReplaySummary
}

const DEFAULT_ACK_TIMEOUT_MS = 10_000
const DEFAULT_MAX_IN_FLIGHT = 32

function deadline<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined
  const timeout = new Promise<never>((_resolve, reject) => {
    timer = setTimeout(() => reject(new Error(`no ${what} within ${ms} ms`)), ms)
  })
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer))
}

async function connect(options: ReplayOptions, timeoutMs: number): Promise<MqttClient> {
  const broker = options.broker ?? ''
  const pending = connectAsync(
    broker,
    {
      clientId: `citywater-dlq-${Math.random().toString(16).slice(2, 10)}`,
      ...(options.username !== undefined ? { username: options.username } : {}),
      ...(options.password !== undefined ? { password: options.password } : {}),
      clean: true,
      reconnectPeriod: 0,
      connectTimeout: timeoutMs,
    },
    false,
  )
  try {
    return await deadline(pending, timeoutMs + 1000, 'CONNACK')
  } catch (err) {
    pending.then((c) => c.endAsync(true)).catch(() => {})
    throw new Error(`cannot connect to ${broker}: ${(err as Error).message}`, { cause: err })
  }
}

function summarize(letters: readonly LetterReport[], alreadyReplayed: number, malformed: number): ReplaySummary {
  const count = (o: LetterReport['outcome']): number => letters.filter((l) => l.outcome === o).length
  return { replayed: letters.length, accepted: count('accepted'), partial: count('partial'), rejected: count('rejected'), failed: count('failed'), alreadyReplayed, malformed }
}

/**
 * Re-submits dead letters to the running engine: checks each offline with the ingest pipeline, publishes
 * the ones with readings that pass on their original topic with QoS 1, and records each acknowledged
 * one in the ledger `{dataDir}/deadletter/replayed.jsonl` so it is never re-submitted.
 */
export async function replayDeadLetters(options: ReplayOptions): Promise<ReplayReport> {
  const dir = join(options.dataDir, 'deadletter')
  const dryRun = options.dryRun === true
  const ackTimeoutMs = options.ackTimeoutMs ?? DEFAULT_ACK_TIMEOUT_MS
  const maxInFlight = Math.max(1, options.maxInFlight ?? DEFAULT_MAX_IN_FLIGHT)
  const clock = options.clock ?? systemClock
  if (!dryRun && options.broker === undefined) throw new Error('a broker URL is required unless dryRun')
  const registry = typeof options.registry === 'string' ? indexRegistry(loadRegistry(options.registry)) : options.registry
  const context: CheckContext = { registry, topicPrefix: options.topicPrefix, retentionMs: options.retentionMs, clock }

  let release = (): void => {}
  if (!dryRun) {
    mkdirSync(dir, { recursive: true })
    release = acquireReplayLock(dir)
  }
  try {
    if (!dryRun) compactLedger(dir)
    const scan = readDeadLetters(dir, { ...options.filter, includeReplayed: false })
    const letters: LetterReport[] = scan.letters.map((stored) => ({
      ...checkDeadLetter(stored.record, context),
      file: stored.file,
      line: stored.line,
      receivedAt: stored.record.receivedAt,
      topic: stored.record.topic,
      reason: stored.record.reason,
      published: false,
    }))
    const todo = letters.flatMap((report, i) => (report.outcome === 'rejected' ? [] : [{ report, stored: scan.letters[i] as StoredDeadLetter }]))
    if (!dryRun && todo.length > 0) await publishAll(todo, options, ackTimeoutMs, maxInFlight, dir, clock)
    return {
      dryRun,
      ...(dryRun ? {} : { broker: options.broker }),
      letters,
      problems: scan.problems,
      summary: summarize(letters, scan.replayedHidden, scan.problems.length),
    }
  } finally {
    release()
  }
}

type Todo = { report: LetterReport; stored: StoredDeadLetter }

function fail(report: LetterReport, error: string): void {
  report.error = error
  report.outcome = 'failed'
}

/** Publishes every letter with QoS 1, at most `maxInFlight` at once; records each PUBACK in the ledger. */
async function publishAll(todo: readonly Todo[], options: ReplayOptions, ackTimeoutMs: number, maxInFlight: number, dir: string, clock: Clock): Promise<void> {
  let client: MqttClient
  try {
    client = await connect(options, ackTimeoutMs)
  } catch (err) {
    for (const { report } of todo) fail(report, (err as Error).message)
    return
  }
  let lost: Error | undefined
  let onLost: (err: Error) => void = () => {}
  const lostPromise = new Promise<never>((_resolve, reject) => {
    onLost = reject
  })
  lostPromise.catch(() => {})
  const onClose = (): void => {
    lost ??= new Error(`connection to ${options.broker ?? ''} lost`)
    onLost(lost)
  }
  client.on('close', onClose)
  client.on('error', (err) => {
    lost ??= new Error(`connection to ${options.broker ?? ''} failed: ${err.message}`)
  })

  async function publishOne({ report, stored }: Todo): Promise<void> {
    if (lost !== undefined) {
      fail(report, lost.message)
      return
    }
    try {
      // [MQTT-4.3.2-1] QoS 1: the PUBACK is the broker's (and, with its write-ahead log, the engine's) receipt.
      await deadline(Promise.race([client.publishAsync(stored.record.topic, letterPayload(stored.record), { qos: 1 }), lostPromise]), ackTimeoutMs, 'PUBACK')
    } catch (err) {
      fail(report, (err as Error).message)
      return
    }
    report.published = true
    appendLedger(dir, {
      file: stored.file,
      offset: stored.offset,
      hash: stored.hash,
      replayedAt: new Date(clock.now()).toISOString(),
      outcome: report.outcome === 'partial' ? 'partial' : 'accepted',
      readings: report.accepted,
    })
  }

  let next = 0
  const worker = async (): Promise<void> => {
    while (next < todo.length) {
      const item = todo[next++]
      if (item !== undefined) await publishOne(item)
    }
  }
  try {
    await Promise.all(Array.from({ length: Math.min(maxInFlight, todo.length) }, worker))
  } finally {
    client.off('close', onClose)
    const unacknowledged = todo.some(({ report }) => report.outcome === 'failed')
    await deadline(client.endAsync(unacknowledged), ackTimeoutMs, 'clean disconnect').catch(() => client.end(true))
  }
}
