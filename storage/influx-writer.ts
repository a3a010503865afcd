import { performance } from 'node:perf_hooks'
import type { Logger } from 'pino'
import { retentionMs } from '../config.js'
import { systemClock, type Clock } from '../ports.js'
import { DEFAULT_RETENTION, RAW_POLICY, ROLLUP_INTERVALS, backfillRollups, ensureDatabase, type InfluxAdminOptions } from './influx-admin.js'
import { authHeaders, errorText, requestDeadline, serverError } from './influx-http.js'
import { decodeLine, type DecodedLine } from './influx-line.js'
import { latencyHistogram, observeLatency, type LatencyHistogram } from './latency-histogram.js'
import type { LogBatch, LogSource } from './write-ahead-log.js'

export type { LatencyHistogram } from './latency-histogram.js'

/** `connecting` until InfluxDB first answers, `ok` while writes succeed, `spooling` while it is unreachable or failing. */
export type InfluxWriterStatus = 'connecting' | 'ok' | 'spooling'

/** A line InfluxDB refused, with the point decoded back (null if the line cannot be decoded). */
export interface RejectedLine {
  /** The line as stored in the log, without its newline. */
  line: string
  /** Measurement (sensor kind), tags (sensor, district, segment), fields and timestamp of the line. */
  point: DecodedLine | null
}

/** Settings of the InfluxDB writer; every default is in INFLUX_WRITER_DEFAULTS. */
export interface InfluxWriterOptions {
  /** Base URL of the InfluxDB 1.x HTTP API, e.g. http://127.0.0.1:8086. */
  url: string
  /** Database; created with its retention policies and continuous queries if missing. */
  database: string
  /** User name; unset: no authentication. */
  username?: string
  /** Password of `username`. */
  password?: string
  /** The log the writer drains (the write-ahead log); the writer never holds more than its batches in flight. */
  source: LogSource
  /** Raw-data retention as an InfluxQL duration, applied to `autogen`; default 30d. */
  retention?: string
  /** Ceiling of the retry backoff in milliseconds; default 10000. */
  maxBackoffMs?: number
  /** Ceiling of the first retry's backoff in milliseconds (doubled per attempt); default 100. */
  minBackoffMs?: number
  /** Most points in one write request (a single larger record goes whole); default 5000. */
  batchSize?: number
  /** Most bytes of the log read for one request; default 4 MiB. */
  maxBatchBytes?: number
  /** Longest a durable point waits for its batch to fill, in milliseconds; default 1000. */
  flushIntervalMs?: number
  /**
   * A batch that is not full goes out once the log has made no new points durable for this long, in milliseconds,
   * rather than waiting out flushIntervalMs: the tail of a burst is written at once. Default 100, so such flushes
   * are at most ten a second; a steady stream keeps the log busy and is still batched by size and interval.
   */
  flushIdleMs?: number
  /**
   * Write requests in flight at once; default 1. More than one lets InfluxDB apply a later batch before an earlier
   * one, so a re-flagged point (same series and ts) could be overwritten by its older version.
   */
  maxInFlight?: number
  /** Deadline of one write or admin request in milliseconds; default 10000. */
  requestTimeoutMs?: number
  /** How long `close()` keeps trying to write what is durable, in milliseconds; default 5000. */
  closeTimeoutMs?: number
  /** Points whose event time is older than this when written, in milliseconds, get their rollups backfilled; default 2 h (the continuous queries' RESAMPLE FOR). */
  lateAfterMs?: number
  /** Least time between two rollup backfills, in milliseconds; a backfill waits for the catch-up unless it lasts longer than this. Default 60000. */
  backfillIntervalMs?: number
  /** Parent logger; the writer logs through `logger.child({ module: 'influx-writer' })`. */
  logger: Logger
  /** Clock for the timestamps in stats and for deciding which points are late; default the system clock. */
  clock?: Clock
  /** Random source in [0, 1) for the backoff jitter; default Math.random. */
  random?: () => number
  /** Called after each batch is confirmed in the log (written or rejected), with its size in points, in order. */
  onConfirmed?: (points: number) => void
  /** Called with lines InfluxDB refused (e.g. a field-type conflict) and why, before they are confirmed past; default: logged as an error. */
  onRejected?: (lines: readonly RejectedLine[], reason: string) => void
}

/** Every default of InfluxWriterOptions in one place. */
export const INFLUX_WRITER_DEFAULTS = {
  retention: DEFAULT_RETENTION,
  maxBackoffMs: 10_000,
  minBackoffMs: 100,
  batchSize: 5_000,
  maxBatchBytes: 4 * 1024 * 1024,
  flushIntervalMs: 1_000,
  flushIdleMs: 100,
  maxInFlight: 1,
  requestTimeoutMs: 10_000,
  closeTimeoutMs: 5_000,
  lateAfterMs: Math.max(...ROLLUP_INTERVALS.map((i) => retentionMs(i.resampleFor))),
  backfillIntervalMs: 60_000,
} as const

/** Upper bounds of the write-latency histogram buckets, in seconds (Prometheus `le`). */
export const LATENCY_BUCKETS_S: readonly number[] = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10]

/** Counters of the writer since it was created. */
export interface InfluxWriterStats {
  /** Points InfluxDB accepted. */
  pointsWritten: number
  /** Successful write requests. */
  batchesWritten: number
  /** Failed attempts to reach InfluxDB (writes and database checks: network errors, timeouts, 5xx), each retried. */
  writeErrors: number
  /** Points handed to `onRejected`. */
  pointsRejected: number
  /** Latency of the last successful write request in milliseconds; 0 before the first. */
  lastWriteLatencyMs: number
  /** Latency of successful write requests. */
  latency: LatencyHistogram
  /** Clock time of the last successful write, epoch milliseconds; null before the first. */
  lastWriteAt: number | null
  /** The last failure, null once a write succeeded again. */
  lastError: string | null
  /** Rollup backfills run (after a replay or late points). */
  backfills: number
  /** Rollup backfills that failed (retried later). */
  backfillErrors: number
  /** Clock time of the last successful backfill, epoch milliseconds; null before the first. */
  lastBackfillAt: number | null
}

/** Drains the log into InfluxDB in batches, retrying while it is down. */
export interface InfluxWriter {
  /** Starts the drain loop; resolves at once and never fails, even with InfluxDB down. */
  start(): Promise<void>
  /** Connection state, see InfluxWriterStatus. */
  readonly status: InfluxWriterStatus
  /** Points appended to the log and not yet confirmed. */
  readonly backlog: number
  /** Whether the writer is retrying after a failure. */
  readonly retrying: boolean
  /** Counters since creation, for /metrics. */
  readonly stats: InfluxWriterStats
  /** Resolves once everything appended to the log before the call is confirmed (waits for `start()`); rejects if the writer closes first. */
  flush(): Promise<void>
  /** Calls `listener` on every status change; returns the unsubscribe function. */
  onStatus(listener: (status: InfluxWriterStatus) => void): () => void
  /** Writes what is durable (up to `closeTimeoutMs`), then stops; what is left stays in the log for the next start. */
  close(): Promise<void>
}

type Outcome = { kind: 'ok' } | { kind: 'refused'; reason: string } | { kind: 'missing'; reason: string } | { kind: 'down'; reason: string }

class Stopped extends Error {}

interface InFlightBatch {
  batch: LogBatch
  settled: boolean
  error: unknown
}

interface FlushWaiter {
  target: number
  resolve: () => void
  reject: (err: Error) => void
}

/** Builds an InfluxDB writer over a log; call `start()` to begin draining. */
export function createInfluxWriter(options: InfluxWriterOptions): InfluxWriter {
  return new Writer(options)
}

/** Offsets where the lines of a body start (each line ends in `\n`). */
function lineStarts(body: Buffer): number[] {
  const starts: number[] = []
  for (let at = 0; at < body.length; ) {
    starts.push(at)
    const nl = body.indexOf(10, at)
    at = nl < 0 ? body.length : nl + 1
  }
  return starts
}

class Writer implements InfluxWriter {
  private readonly opts: { [K in keyof typeof INFLUX_WRITER_DEFAULTS]: (typeof INFLUX_WRITER_DEFAULTS)[K] extends number ? number : string } & {
    url: string
    database: string
    clock: Clock
    random: () => number
  }
  private readonly source: LogSource
  private readonly admin: InfluxAdminOptions
  private readonly log: Logger
  private readonly onConfirmed: ((points: number) => void) | undefined
  private readonly onRejected: (lines: readonly RejectedLine[], reason: string) => void
  private readonly writeUrl: string
  private readonly headers: Record<string, string>
  private readonly listeners = new Set<(status: InfluxWriterStatus) => void>()
  private readonly waiters: FlushWaiter[] = []
  private readonly abort = new AbortController()

  private state: InfluxWriterStatus = 'connecting'
  private isRetrying = false
  private needsEnsure = true
  private due = false
  private timer: NodeJS.Timeout | undefined
  /** Restarted by every durable commit; fires once the log has been quiet for flushIdleMs. */
  private idleTimer: NodeJS.Timeout | undefined
  private wakeUp: (() => void) | undefined
  private wokenEarly = false
  private loop: Promise<void> | undefined
  private closing: Promise<void> | undefined
  private connecting: Promise<void> | undefined
  private unsubscribe: (() => void) | undefined
  /** Next position to read: after the batches in flight. */
  private cursor = 0
  /** Points read so far, as a running count comparable with `source.durablePoints`. */
  private readPoints = 0
  /** Batches sent and not yet confirmed, oldest first. */
  private readonly inFlight: InFlightBatch[] = []
  private downSince = 0
  private readErrors = 0
  /** Event-time range whose rollups need recomputing, and since when (performance.now()) it is pending. */
  private backfillRange: { from: number; to: number; since: number } | undefined
  private backfilling: Promise<void> | undefined
  private lastBackfillRun = Number.NEGATIVE_INFINITY
  private backfillTimer: NodeJS.Timeout | undefined
  readonly stats: InfluxWriterStats = {
    pointsWritten: 0,
    batchesWritten: 0,
    writeErrors: 0,
    pointsRejected: 0,
    lastWriteLatencyMs: 0,
    latency: latencyHistogram(LATENCY_BUCKETS_S),
    lastWriteAt: null,
    lastError: null,
    backfills: 0,
    backfillErrors: 0,
    lastBackfillAt: null,
  }

  constructor(options: InfluxWriterOptions) {
    const d = INFLUX_WRITER_DEFAULTS
    this.opts = {
      url: options.url,
      database: options.database,
      retention: options.retention ?? d.retention,
      maxBackoffMs: options.maxBackoffMs ?? d.maxBackoffMs,
      minBackoffMs: options.minBackoffMs ?? d.minBackoffMs,
      batchSize: options.batchSize ?? d.batchSize,
      maxBatchBytes: options.maxBatchBytes ?? d.maxBatchBytes,
      flushIntervalMs: options.flushIntervalMs ?? d.flushIntervalMs,
      flushIdleMs: options.flushIdleMs ?? d.flushIdleMs,
      maxInFlight: Math.max(1, options.maxInFlight ?? d.maxInFlight),
      requestTimeoutMs: options.requestTimeoutMs ?? d.requestTimeoutMs,
      closeTimeoutMs: options.closeTimeoutMs ?? d.closeTimeoutMs,
      lateAfterMs: options.lateAfterMs ?? d.lateAfterMs,
      backfillIntervalMs: options.backfillIntervalMs ?? d.backfillIntervalMs,
      clock: options.clock ?? systemClock,
      random: options.random ?? Math.random,
    }
    this.source = options.source
    this.admin = {
      url: options.url,
      database: options.database,
      retention: this.opts.retention,
      timeoutMs: this.opts.requestTimeoutMs,
      signal: this.abort.signal,
      ...(options.username !== undefined && { username: options.username }),
      ...(options.password !== undefined && { password: options.password }),
    }
    this.log = options.logger.child({ module: 'influx-writer' })
    this.onConfirmed = options.onConfirmed
    this.onRejected =
      options.onRejected ??
      ((lines, reason) => this.log.error({ count: lines.length, line: lines[0]?.line, reason }, 'influxdb refused points'))
    const params = new URLSearchParams({ db: options.database, rp: RAW_POLICY, precision: 'ms' })
    this.writeUrl = `${options.url.replace(/\/+$/, '')}/write?${params.toString()}`
    this.headers = { 'content-type': 'text/plain; charset=utf-8', ...authHeaders(options) }
    this.abort.signal.addEventListener('abort', () => this.wake(), { once: true })
  }

  get status(): InfluxWriterStatus {
    return this.state
  }

  get backlog(): number {
    return this.source.backlog
  }

  get retrying(): boolean {
    return this.isRetrying
  }

  async start(): Promise<void> {
    if (this.loop !== undefined || this.closing !== undefined) return
    this.cursor = this.source.confirmedPosition
    this.readPoints = this.source.confirmedPoints
    // A backlog found at start (a replay) goes out at once rather than after the flush interval.
    this.due = this.source.durablePosition > this.cursor
    this.unsubscribe = this.source.onDurable(() => this.onDurable())
    this.loop = this.run().catch((err: unknown) => {
      if (!(err instanceof Stopped)) this.log.error({ err }, 'influxdb writer stopped unexpectedly')
    })
  }

  flush(): Promise<void> {
    const target = this.source.appendedPosition
    if (this.flushed(target)) return Promise.resolve()
    if (this.closing !== undefined && this.loop === undefined) return Promise.reject(new Error('InfluxDB writer is closed'))
    return new Promise((resolve, reject) => {
      this.waiters.push({ target, resolve, reject })
      this.wake()
    })
  }

  onStatus(listener: (status: InfluxWriterStatus) => void): () => void {
    this.listeners.add(listener)
    return () => this.listeners.delete(listener)
  }

  close(): Promise<void> {
    this.closing ??= this.shutdown()
    return this.closing
  }

  /** Whether everything up to `target` is confirmed, or everything durable is and nothing else is coming (a failed commit). */
  private flushed(target: number): boolean {
    const s = this.source
    return s.confirmedPosition >= target || (s.confirmedPosition >= s.durablePosition && s.appendedPosition <= s.durablePosition)
  }

  private resolveWaiters(): void {
    for (let i = 0; i < this.waiters.length; ) {
      const waiter = this.waiters[i] as FlushWaiter
      if (this.flushed(waiter.target)) {
        this.waiters.splice(i, 1)
        waiter.resolve()
      } else i++
    }
  }

  private async shutdown(): Promise<void> {
    clearTimeout(this.timer)
    this.timer = undefined
    clearTimeout(this.idleTimer)
    this.idleTimer = undefined
    clearTimeout(this.backfillTimer)
    if (this.loop !== undefined) {
      this.wake()
      // Nothing to write means nothing in flight: stop at once, even while InfluxDB is down.
      const idle = this.unsentBytes() <= 0 && this.inFlight.length === 0 && this.source.appendedPosition <= this.source.durablePosition
      if (idle && this.backfillRange === undefined && this.backfilling === undefined) this.abort.abort()
      let deadline: NodeJS.Timeout | undefined
      const expired = new Promise<void>((resolve) => {
        deadline = setTimeout(resolve, this.opts.closeTimeoutMs)
      })
      await Promise.race([this.loop, expired])
      clearTimeout(deadline)
      this.abort.abort()
      await this.loop
      await this.backfilling
      this.loop = undefined
    }
    this.unsubscribe?.()
    if (this.backfillRange !== undefined) {
      this.log.warn({ from: this.backfillRange.from, to: this.backfillRange.to }, 'rollup backfill still pending at close')
    }
    if (this.source.backlog > 0) this.log.warn({ unconfirmed: this.source.backlog }, 'influxdb writer closed with unconfirmed points, they stay in the log')
    for (const waiter of this.waiters.splice(0)) waiter.reject(new Error('InfluxDB writer closed before the points were written'))
    this.listeners.clear()
  }

  private unsentBytes(): number {
    return this.source.durablePosition - this.cursor
  }

  private unsentPoints(): number {
    return this.source.durablePoints - this.readPoints
  }

  private onDurable(): void {
    if (this.unsentPoints() >= this.opts.batchSize || this.waiters.length > 0 || this.closing !== undefined) this.wake()
    else if (this.timer === undefined && !this.due) this.armTimer()
    this.armIdleTimer()
  }

  /** (Re)starts the quiet-log timer: one timer, restarted at each commit. */
  private armIdleTimer(): void {
    if (this.closing !== undefined) return
    if (this.idleTimer !== undefined) {
      this.idleTimer.refresh()
      return
    }
    this.idleTimer = setTimeout(() => {
      this.idleTimer = undefined
      if (this.unsentBytes() <= 0) return
      this.due = true
      this.wake()
    }, this.opts.flushIdleMs)
    this.idleTimer.unref()
  }

  private armTimer(): void {
    this.timer = setTimeout(() => {
      this.timer = undefined
      this.due = true
      this.wake()
    }, this.opts.flushIntervalMs)
    this.timer.unref()
  }

  private wake(): void {
    const wakeUp = this.wakeUp
    if (wakeUp === undefined) {
      this.wokenEarly = true
      return
    }
    this.wakeUp = undefined
    wakeUp()
  }

  private sleep(): Promise<void> {
    if (this.wokenEarly) {
      this.wokenEarly = false
      return Promise.resolve()
    }
    return new Promise((resolve) => {
      this.wakeUp = resolve
    })
  }

  /**
   * The drain loop: reads the next batch from the log once enough is durable, it is due, flushed or closing,
   * keeps up to `maxInFlight` requests going, and confirms batches strictly in log order.
   */
  private async run(): Promise<void> {
    for (;;) {
      while (this.inFlight[0]?.settled === true) {
        const done = this.inFlight.shift() as InFlightBatch
        if (done.error !== undefined) throw done.error
        this.settle(done.batch)
      }
      if (this.abort.signal.aborted) throw new Stopped()
      const unsentBytes = this.unsentBytes()
      const closing = this.closing !== undefined
      this.resolveWaiters()
      if (unsentBytes <= 0 && this.inFlight.length === 0) {
        this.due = false
        if (closing && this.source.appendedPosition <= this.source.durablePosition) {
          await this.finishBackfill()
          return
        }
      }
      this.maybeBackfill()
      if (this.needsEnsure && this.inFlight.length === 0) {
        // Only an idle writer reports InfluxDB up from a database check; otherwise the first write does.
        await this.ensureConnected(unsentBytes <= 0)
        continue
      }
      const ready = unsentBytes > 0 && (this.unsentPoints() >= this.opts.batchSize || this.due || this.waiters.length > 0 || closing)
      if (ready && this.inFlight.length < this.opts.maxInFlight) {
        let batch: LogBatch
        try {
          batch = await this.source.read(this.cursor, { maxPoints: this.opts.batchSize, maxBytes: this.opts.maxBatchBytes })
          this.readErrors = 0
        } catch (err) {
          if (this.abort.signal.aborted) throw new Stopped()
          this.log.error({ err, position: this.cursor }, 'reading the log failed, retrying')
          await this.backoff(this.readErrors++)
          continue
        }
        this.cursor = batch.to
        this.readPoints += batch.points
        this.dispatch(batch)
        continue
      }
      await this.sleep()
    }
  }

  private dispatch(batch: LogBatch): void {
    const entry: InFlightBatch = { batch, settled: batch.points === 0, error: undefined }
    this.inFlight.push(entry)
    if (batch.points > 0) {
      this.writeOrSplit(batch.body, batch.points).then(
        () => {
          entry.settled = true
          this.wake()
        },
        (err: unknown) => {
          entry.settled = true
          entry.error = err
          this.wake()
        },
      )
    }
    // What is left is newer than this batch: its wait for the flush interval starts now.
    if (this.unsentPoints() < this.opts.batchSize) {
      this.due = false
      if (this.unsentBytes() > 0 && this.timer === undefined && this.closing === undefined) this.armTimer()
    }
  }

  private settle(batch: LogBatch): void {
    this.source.confirm(batch)
    if (batch.points > 0 && (batch.replayed || batch.minTs < this.opts.clock.now() - this.opts.lateAfterMs)) {
      const range = this.backfillRange
      if (range === undefined) this.backfillRange = { from: batch.minTs, to: batch.maxTs, since: performance.now() }
      else {
        range.from = Math.min(range.from, batch.minTs)
        range.to = Math.max(range.to, batch.maxTs)
      }
    }
    try {
      this.onConfirmed?.(batch.points)
    } catch (err) {
      this.log.error({ err }, 'onConfirmed failed')
    }
    this.resolveWaiters()
  }

  /**
   * Backfills the rollups of late or replayed points once the writer has caught up, or every backfillIntervalMs
   * during a long catch-up; never two at once, never more often than backfillIntervalMs.
   */
  private maybeBackfill(): void {
    const range = this.backfillRange
    if (range === undefined || this.backfilling !== undefined || this.needsEnsure) return
    const now = performance.now()
    const caughtUp = this.inFlight.length === 0 && this.unsentPoints() < this.opts.batchSize
    const wait = Math.max(
      caughtUp ? 0 : range.since + this.opts.backfillIntervalMs - now,
      this.lastBackfillRun + this.opts.backfillIntervalMs - now,
    )
    if (wait > 0) {
      if (this.backfillTimer === undefined) {
        this.backfillTimer = setTimeout(() => {
          this.backfillTimer = undefined
          this.wake()
        }, wait)
        this.backfillTimer.unref()
      }
      return
    }
    this.startBackfill(range)
  }

  private startBackfill(range: { from: number; to: number }): void {
    this.backfillRange = undefined
    this.lastBackfillRun = performance.now()
    this.backfilling = this.backfill(range.from, range.to + 1).finally(() => {
      this.backfilling = undefined
      this.wake()
    })
  }

  /** On close, once everything is written: runs a pending backfill and waits for a running one. */
  private async finishBackfill(): Promise<void> {
    if (this.backfillRange !== undefined && this.backfilling === undefined && !this.needsEnsure) this.startBackfill(this.backfillRange)
    await this.backfilling
  }

  private async backfill(from: number, to: number): Promise<void> {
    const started = performance.now()
    try {
      const written = await backfillRollups(this.admin, from, to)
      this.stats.backfills++
      this.stats.lastBackfillAt = this.opts.clock.now()
      this.log.info({ from: new Date(from).toISOString(), to: new Date(to).toISOString(), written, ms: Math.round(performance.now() - started) }, 'rollups backfilled')
    } catch (err) {
      if (this.abort.signal.aborted) {
        this.backfillRange = { from, to: to - 1, since: performance.now() }
        return
      }
      this.stats.backfillErrors++
      this.log.warn({ err, from, to }, 'rollup backfill failed, retrying later')
      const range = this.backfillRange
      if (range === undefined) this.backfillRange = { from, to: to - 1, since: performance.now() }
      else {
        range.from = Math.min(range.from, from)
        range.to = Math.max(range.to, to - 1)
      }
    }
  }

  /** One connect at a time, shared by the loop and every batch in flight. */
  private ensureConnected(idle: boolean): Promise<void> {
    this.connecting ??= this.connect(idle).finally(() => {
      this.connecting = undefined
    })
    return this.connecting
  }

  /**
   * Ensures the database until it succeeds, backing off between attempts. Only an idle writer reports InfluxDB
   * back up from here; with a batch pending, its successful write does, so a failing write cannot flap the status.
   */
  private async connect(idle: boolean): Promise<void> {
    for (let attempt = 0; ; attempt++) {
      if (this.abort.signal.aborted) throw new Stopped()
      try {
        await ensureDatabase(this.admin)
        this.needsEnsure = false
        if (idle) this.markUp()
        return
      } catch (err) {
        if (this.abort.signal.aborted) throw new Stopped()
        this.stats.writeErrors++
        this.markDown(err instanceof Error ? err.message : String(err))
        await this.backoff(attempt)
      }
    }
  }

  /** Writes the lines; when InfluxDB refuses some (HTTP 400), bisects to find and reject only those, in order. */
  private async writeOrSplit(body: Buffer, points: number): Promise<void> {
    const outcome = await this.send(body)
    if (outcome.kind === 'ok') {
      this.stats.pointsWritten += points
      return
    }
    const starts = lineStarts(body)
    if (starts.length <= 1) {
      this.reject(body, outcome.reason)
      return
    }
    const mid = starts.length >>> 1
    const cut = starts[mid] as number
    await this.writeOrSplit(body.subarray(0, cut), mid)
    await this.writeOrSplit(body.subarray(cut), starts.length - mid)
  }

  /** Sends one body until InfluxDB answers it with success or a refusal; retries everything else. */
  private async send(body: Buffer): Promise<{ kind: 'ok' } | { kind: 'refused'; reason: string }> {
    for (let attempt = 0; ; ) {
      if (this.needsEnsure) await this.ensureConnected(false)
      const outcome = await this.post(body)
      if (outcome.kind === 'ok' || outcome.kind === 'refused') {
        this.markUp()
        return outcome
      }
      if (outcome.kind === 'missing') {
        // Someone dropped the database or policy: re-create it; back off only if that keeps happening.
        this.log.warn({ reason: outcome.reason }, 'influxdb database missing, re-creating it')
        this.needsEnsure = true
        if (attempt++ > 0) await this.backoff(attempt)
        continue
      }
      this.stats.writeErrors++
      this.markDown(outcome.reason)
      this.needsEnsure = true
      await this.backoff(attempt++)
    }
  }

  private async post(body: Buffer): Promise<Outcome> {
    const started = performance.now()
    let res: Response
    let text: string
    const deadline = requestDeadline(this.opts.requestTimeoutMs, [this.abort.signal])
    try {
      res = await deadline.race(fetch(this.writeUrl, { method: 'POST', headers: this.headers, body, signal: deadline.signal }))
      text = await deadline.race(res.text())
    } catch (err) {
      if (this.abort.signal.aborted) throw new Stopped()
      return { kind: 'down', reason: deadline.timedOut ? `no answer within ${this.opts.requestTimeoutMs} ms` : errorText(err) }
    } finally {
      deadline.done()
    }
    if (res.status === 204 || res.status === 200) {
      this.recordLatency(performance.now() - started)
      return { kind: 'ok' }
    }
    const reason = serverError(text)
    if (/database not found|retention policy not found/i.test(reason)) return { kind: 'missing', reason }
    if (res.status === 400 || res.status === 413) return { kind: 'refused', reason }
    return { kind: 'down', reason: `HTTP ${res.status} ${reason}` }
  }

  private recordLatency(ms: number): void {
    const stats = this.stats
    stats.batchesWritten++
    stats.lastWriteLatencyMs = ms
    stats.lastWriteAt = this.opts.clock.now()
    observeLatency(stats.latency, ms)
  }

  private reject(body: Buffer, reason: string): void {
    const line = body.toString('utf8').replace(/\n$/, '')
    let point: DecodedLine | null = null
    try {
      point = decodeLine(line)
    } catch (err) {
      this.log.warn({ err, line }, 'refused line cannot be decoded')
    }
    this.stats.pointsRejected++
    try {
      this.onRejected([{ line, point }], reason)
    } catch (err) {
      this.log.error({ err }, 'onRejected failed')
    }
  }

  /** Full-jitter exponential backoff: a random wait up to min(max, min × 2^attempt); ends early when stopped. */
  private backoff(attempt: number): Promise<void> {
    const ceiling = Math.min(this.opts.maxBackoffMs, this.opts.minBackoffMs * 2 ** Math.min(attempt, 30))
    const delay = this.opts.random() * ceiling
    const signal = this.abort.signal
    return new Promise((resolve, reject) => {
      if (signal.aborted) return reject(new Stopped())
      const onAbort = (): void => {
        clearTimeout(timer)
        reject(new Stopped())
      }
      const timer = setTimeout(() => {
        signal.removeEventListener('abort', onAbort)
        resolve()
      }, delay)
      timer.unref()
      signal.addEventListener('abort', onAbort, { once: true })
    })
  }

  private markDown(reason: string): void {
    this.stats.lastError = reason
    this.isRetrying = true
    if (this.state === 'spooling') return
    this.downSince = this.opts.clock.now()
    this.log.warn({ reason, backlog: this.source.backlog, url: this.opts.url }, 'influxdb unavailable')
    this.setState('spooling')
  }

  private markUp(): void {
    this.isRetrying = false
    this.stats.lastError = null
    if (this.state === 'ok') return
    if (this.state === 'spooling') {
      this.log.info({ downMs: this.opts.clock.now() - this.downSince, backlog: this.source.backlog }, 'influxdb available again')
    } else {
      this.log.info({ url: this.opts.url, database: this.opts.database }, 'influxdb connected')
    }
    this.setState('ok')
  }

  private setState(state: InfluxWriterStatus): void {
    this.state = state
    for (const listener of this.listeners) {
      try {
        listener(state)
      } catch (err) {
        this.log.error({ err }, 'status listener failed')
      }
    }
  }
}
