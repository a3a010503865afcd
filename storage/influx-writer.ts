import { performance } from 'node:perf_hooks'
import type { Logger } from 'pino'
import type { Reading } from '../domain.js'
import { AppError } from '../errors.js'
import { systemClock, type Clock, type ReadingSink } from '../ports.js'
import { createBatchQueue, type BatchQueue } from './batch-queue.js'
import { DEFAULT_RETENTION, RAW_POLICY, ensureDatabase, type InfluxAdminOptions } from './influx-admin.js'
import { authHeaders, errorText, requestDeadline, serverError } from './influx-http.js'
import { encodeReading } from './influx-line.js'

/** `connecting` until InfluxDB first answers, `ok` while writes succeed, `spooling` while it is unreachable or failing. */
export type InfluxWriterStatus = 'connecting' | 'ok' | 'spooling'

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
  /** Raw-data retention as an InfluxQL duration, applied to `autogen`; default 30d. */
  retention?: string
  /** Ceiling of the retry backoff in milliseconds; default 10000. */
  maxBackoffMs?: number
  /** Ceiling of the first retry's backoff in milliseconds (doubled per attempt); default 100. */
  minBackoffMs?: number
  /** Most points in one write request; default 5000. */
  batchSize?: number
  /** Longest a point waits for its batch to fill, in milliseconds; default 1000. */
  flushIntervalMs?: number
  /** Write requests in flight at once (confirmed in order all the same); default 2. */
  maxInFlight?: number
  /** Deadline of one write or admin request in milliseconds; default 10000. */
  requestTimeoutMs?: number
  /** How long `close()` keeps trying to write what is queued, in milliseconds; default 5000. */
  closeTimeoutMs?: number
  /** Parent logger; the writer logs through `logger.child({ module: 'influx-writer' })`. */
  logger: Logger
  /** Clock for the timestamps in stats; default the system clock. */
  clock?: Clock
  /** Random source in [0, 1) for the backoff jitter; default Math.random. */
  random?: () => number
  /** Called after each batch has left the queue (written or rejected), with its size in readings, in order. */
  onConfirmed?: (count: number) => void
  /** Called with readings InfluxDB refused (e.g. a field-type conflict) and why; default: logged as an error. */
  onRejected?: (readings: readonly Reading[], reason: string) => void
}

/** Every default of InfluxWriterOptions in one place. */
export const INFLUX_WRITER_DEFAULTS = {
  retention: DEFAULT_RETENTION,
  maxBackoffMs: 10_000,
  minBackoffMs: 100,
  batchSize: 5_000,
  flushIntervalMs: 1_000,
  maxInFlight: 2,
  requestTimeoutMs: 10_000,
  closeTimeoutMs: 5_000,
} as const

/** Upper bounds of the write-latency histogram buckets, in seconds (Prometheus `le`). */
export const LATENCY_BUCKETS_S: readonly number[] = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10]

/** Write latency as a Prometheus histogram, in seconds; bucket counts are cumulative (`le` semantics). */
export interface LatencyHistogram {
  /** `count` successful writes took at most `le` seconds; `+Inf` is `count` below. */
  buckets: Array<{ le: number; count: number }>
  /** Number of successful write requests. */
  count: number
  /** Sum of their latencies in seconds. */
  sum: number
}

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
}

/** Batches readings into InfluxDB, retrying while it is down; a ReadingSink. */
export interface InfluxWriter extends ReadingSink {
  /** Starts the drain loop; resolves at once and never fails, even with InfluxDB down. */
  start(): Promise<void>
  /** Connection state, see InfluxWriterStatus. */
  readonly status: InfluxWriterStatus
  /** Readings queued and not yet written or rejected. */
  readonly backlog: number
  /** Whether the writer is retrying after a failure. */
  readonly retrying: boolean
  /** Counters since creation, for /metrics. */
  readonly stats: InfluxWriterStats
  /** Resolves once every reading queued before the call is written or rejected (waits for `start()`); rejects if the writer closes first. */
  flush(): Promise<void>
  /** Calls `listener` on every status change; returns the unsubscribe function. */
  onStatus(listener: (status: InfluxWriterStatus) => void): () => void
  /** Writes what is queued (up to `closeTimeoutMs`), then stops; readings still queued are logged and left. */
  close(): Promise<void>
}

type Outcome = { kind: 'ok' } | { kind: 'refused'; reason: string } | { kind: 'missing'; reason: string } | { kind: 'down'; reason: string }

class Stopped extends Error {}

interface InFlightBatch {
  size: number
  settled: boolean
  error: unknown
}

interface FlushWaiter {
  target: number
  resolve: () => void
  reject: (err: Error) => void
}

/** Builds an InfluxDB writer; call `start()` to begin draining. */
export function createInfluxWriter(options: InfluxWriterOptions): InfluxWriter {
  return new Writer(options)
}

class Writer implements InfluxWriter {
  private readonly opts: { [K in keyof typeof INFLUX_WRITER_DEFAULTS]: (typeof INFLUX_WRITER_DEFAULTS)[K] extends number ? number : string } & {
    url: string
    database: string
    clock: Clock
    random: () => number
  }
  private readonly admin: InfluxAdminOptions
  private readonly log: Logger
  private readonly onConfirmed: ((count: number) => void) | undefined
  private readonly onRejected: (readings: readonly Reading[], reason: string) => void
  private readonly writeUrl: string
  private readonly headers: Record<string, string>
  private readonly queue: BatchQueue<Reading> = createBatchQueue()
  private readonly listeners = new Set<(status: InfluxWriterStatus) => void>()
  private readonly waiters: FlushWaiter[] = []
  private readonly abort = new AbortController()

  private state: InfluxWriterStatus = 'connecting'
  private isRetrying = false
  private enqueued = 0
  private done = 0
  private needsEnsure = true
  private due = false
  private timer: NodeJS.Timeout | undefined
  private wakeUp: (() => void) | undefined
  private wokenEarly = false
  private loop: Promise<void> | undefined
  private closing: Promise<void> | undefined
  private connecting: Promise<void> | undefined
  /** Batches sent and not yet confirmed, oldest first; they are the head of the queue. */
  private readonly inFlight: InFlightBatch[] = []
  private inFlightSize = 0
  private downSince = 0
  readonly stats: InfluxWriterStats = {
    pointsWritten: 0,
    batchesWritten: 0,
    writeErrors: 0,
    pointsRejected: 0,
    lastWriteLatencyMs: 0,
    latency: { buckets: LATENCY_BUCKETS_S.map((le) => ({ le, count: 0 })), count: 0, sum: 0 },
    lastWriteAt: null,
    lastError: null,
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
      flushIntervalMs: options.flushIntervalMs ?? d.flushIntervalMs,
      maxInFlight: Math.max(1, options.maxInFlight ?? d.maxInFlight),
      requestTimeoutMs: options.requestTimeoutMs ?? d.requestTimeoutMs,
      closeTimeoutMs: options.closeTimeoutMs ?? d.closeTimeoutMs,
      clock: options.clock ?? systemClock,
      random: options.random ?? Math.random,
    }
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
      ((readings, reason) => this.log.error({ count: readings.length, sensor: readings[0]?.sensor, reason }, 'influxdb refused readings'))
    const params = new URLSearchParams({ db: options.database, rp: RAW_POLICY, precision: 'ms' })
    this.writeUrl = `${options.url.replace(/\/+$/, '')}/write?${params.toString()}`
    this.headers = { 'content-type': 'text/plain; charset=utf-8', ...authHeaders(options) }
    this.abort.signal.addEventListener('abort', () => this.wake(), { once: true })
  }

  get status(): InfluxWriterStatus {
    return this.state
  }

  get backlog(): number {
    return this.queue.size
  }

  get retrying(): boolean {
    return this.isRetrying
  }

  write(readings: readonly Reading[]): void {
    if (this.closing !== undefined) throw new AppError('CW_ERR_INTERNAL', ['the InfluxDB writer is closed'])
    if (readings.length === 0) return
    this.queue.push(readings)
    this.enqueued += readings.length
    if (this.queue.size - this.inFlightSize >= this.opts.batchSize) this.wake()
    else if (this.timer === undefined && !this.due) this.armTimer()
  }

  async start(): Promise<void> {
    if (this.loop !== undefined || this.closing !== undefined) return
    this.loop = this.run().catch((err: unknown) => {
      if (!(err instanceof Stopped)) this.log.error({ err }, 'influxdb writer stopped unexpectedly')
    })
  }

  flush(): Promise<void> {
    if (this.done >= this.enqueued) return Promise.resolve()
    if (this.closing !== undefined && this.loop === undefined) return Promise.reject(new Error('InfluxDB writer is closed'))
    return new Promise((resolve, reject) => {
      this.waiters.push({ target: this.enqueued, resolve, reject })
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

  private async shutdown(): Promise<void> {
    clearTimeout(this.timer)
    this.timer = undefined
    if (this.loop !== undefined) {
      this.wake()
      // Nothing queued means nothing in flight (readings leave the queue only once written): stop at once.
      if (this.queue.size === 0) this.abort.abort()
      let deadline: NodeJS.Timeout | undefined
      const expired = new Promise<void>((resolve) => {
        deadline = setTimeout(resolve, this.opts.closeTimeoutMs)
      })
      await Promise.race([this.loop, expired])
      clearTimeout(deadline)
      this.abort.abort()
      await this.loop
      this.loop = undefined
    }
    if (this.queue.size > 0) this.log.warn({ unwritten: this.queue.size }, 'influxdb writer closed with unwritten readings')
    for (const waiter of this.waiters.splice(0)) waiter.reject(new Error('InfluxDB writer closed before the readings were written'))
    this.listeners.clear()
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
   * The drain loop: sends the batch at the head of the unsent readings once it is full, due, flushed or closing,
   * keeps up to `maxInFlight` requests going, and drops and confirms batches strictly in queue order.
   */
  private async run(): Promise<void> {
    for (;;) {
      while (this.inFlight[0]?.settled === true) {
        const batch = this.inFlight.shift() as InFlightBatch
        if (batch.error !== undefined) throw batch.error
        this.queue.drop(batch.size)
        this.inFlightSize -= batch.size
        this.done += batch.size
        this.confirm(batch.size)
      }
      if (this.abort.signal.aborted) throw new Stopped()
      const unsent = this.queue.size - this.inFlightSize
      const closing = this.closing !== undefined
      if (unsent === 0 && this.inFlight.length === 0) {
        this.due = false
        if (closing) return
      }
      if (this.needsEnsure && this.inFlight.length === 0) {
        // Only an idle writer reports InfluxDB up from a database check; otherwise the first write does.
        await this.ensureConnected(unsent === 0)
        continue
      }
      const ready = unsent >= this.opts.batchSize || (unsent > 0 && (this.due || this.waiters.length > 0 || closing))
      if (ready && this.inFlight.length < this.opts.maxInFlight) {
        this.dispatch(this.queue.peek(this.opts.batchSize, this.inFlightSize))
        continue
      }
      await this.sleep()
    }
  }

  private dispatch(readings: Reading[]): void {
    const batch: InFlightBatch = { size: readings.length, settled: false, error: undefined }
    this.inFlight.push(batch)
    this.inFlightSize += readings.length
    this.writeBatch(readings).then(
      () => {
        batch.settled = true
        this.wake()
      },
      (err: unknown) => {
        batch.settled = true
        batch.error = err
        this.wake()
      },
    )
    // What is left is newer than this batch: its wait for the flush interval starts now.
    const unsent = this.queue.size - this.inFlightSize
    if (unsent < this.opts.batchSize) {
      this.due = false
      if (unsent > 0 && this.timer === undefined && this.closing === undefined) this.armTimer()
    }
  }

  private confirm(count: number): void {
    try {
      this.onConfirmed?.(count)
    } catch (err) {
      this.log.error({ err }, 'onConfirmed failed')
    }
    while (this.waiters.length > 0 && (this.waiters[0]?.target ?? Infinity) <= this.done) this.waiters.shift()?.resolve()
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

  private async writeBatch(batch: readonly Reading[]): Promise<void> {
    const items: Reading[] = []
    const lines: string[] = []
    for (const reading of batch) {
      try {
        lines.push(encodeReading(reading))
        items.push(reading)
      } catch (err) {
        this.reject([reading], (err as Error).message)
      }
    }
    if (items.length > 0) await this.writeOrSplit(items, lines)
  }

  /** Writes the points; when InfluxDB refuses some (HTTP 400), bisects to find and reject only those, in order. */
  private async writeOrSplit(items: readonly Reading[], lines: readonly string[]): Promise<void> {
    const outcome = await this.send(lines.join('\n'))
    if (outcome.kind === 'ok') {
      this.stats.pointsWritten += items.length
      return
    }
    if (items.length === 1) {
      this.reject(items, outcome.reason)
      return
    }
    const mid = items.length >>> 1
    await this.writeOrSplit(items.slice(0, mid), lines.slice(0, mid))
    await this.writeOrSplit(items.slice(mid), lines.slice(mid))
  }

  /** Sends one body until InfluxDB answers it with success or a refusal; retries everything else. */
  private async send(body: string): Promise<{ kind: 'ok' } | { kind: 'refused'; reason: string }> {
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

  private async post(body: string): Promise<Outcome> {
    const started = performance.now()
    let res: Response
    let text: string
    const deadline = requestDeadline(this.opts.requestTimeoutMs, [this.abort.signal])
    try {
      res = await fetch(this.writeUrl, { method: 'POST', headers: this.headers, body, signal: deadline.signal })
      text = await res.text()
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
    stats.latency.count++
    stats.latency.sum += ms / 1000
    for (const bucket of stats.latency.buckets) if (ms <= bucket.le * 1000) bucket.count++
  }

  private reject(readings: readonly Reading[], reason: string): void {
    this.stats.pointsRejected += readings.length
    try {
      this.onRejected(readings, reason)
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
    this.log.warn({ reason, backlog: this.queue.size, url: this.opts.url }, 'influxdb unavailable')
    this.setState('spooling')
  }

  private markUp(): void {
    this.isRetrying = false
    this.stats.lastError = null
    if (this.state === 'ok') return
    if (this.state === 'spooling') {
      this.log.info({ downMs: this.opts.clock.now() - this.downSince, backlog: this.queue.size }, 'influxdb available again')
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
