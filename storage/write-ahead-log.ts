import * as fs from 'node:fs'
import { mkdir, readFile, readdir, rename, rm, stat, unlink, writeFile } from 'node:fs/promises'
import { join, resolve } from 'node:path'
import { performance } from 'node:perf_hooks'
import type { Logger } from 'pino'
import type { Reading } from '../domain.js'
import { AppError } from '../errors.js'
import { systemClock, type Clock } from '../ports.js'
import { latencyHistogram, observeLatency, type LatencyHistogram } from './latency-histogram.js'
import { WalRecordBuffer, findWalRecord, readWalRecord, type RejectedReading } from './wal-record.js'

/** The file operations of the commit path; tests inject slow, counting or failing ones. */
export interface WalFs {
  /** Positioned write of `buffer[offset, offset + length)` at `position`; resolves with the bytes written. */
  write(fd: number, buffer: Buffer, offset: number, length: number, position: number): Promise<number>
  /** Flushes the file's data and size to stable storage. */
  fdatasync(fd: number): Promise<void>
}

/** Settings of the write-ahead log; every default is in WRITE_AHEAD_LOG_DEFAULTS. */
export interface WriteAheadLogOptions {
  /** Folder of the log, `{dataDir}/wal`; created if missing. */
  dir: string
  /** Bound of the segment files together, in bytes (CITYWATER_WAL_MAX_BYTES); default 2 GiB. */
  maxBytes?: number
  /** Group-commit interval in milliseconds (CITYWATER_WAL_SYNC_MS): a group is written and fdatasync'ed at most this long after its first append; 0 = once the current tick's appends are in. Default 5. */
  syncMs?: number
  /** Size at which the next group starts a new segment file, in bytes; default maxBytes / 16 within [64 KiB, 64 MiB], never above maxBytes / 4. */
  segmentBytes?: number
  /** Fraction of maxBytes at which `near` turns on (event 'near'); default 0.9. */
  nearFraction?: number
  /** Fraction of maxBytes below which `full` clears again (event 'space'); default 0.95. */
  resumeFraction?: number
  /** A group this large in bytes is committed without waiting for syncMs; default 4 MiB. */
  maxGroupBytes?: number
  /** Least time between two checkpoint writes, in milliseconds; default 1000. */
  checkpointMs?: number
  /** Parent logger; the log logs through `logger.child({ module: 'wal' })`. */
  logger: Logger
  /** Wall clock stamped into each record as its append time; default the system clock. */
  clock?: Clock
  /** File operations of the commit path; default node:fs. */
  fs?: Partial<WalFs>
}

/** Every default of WriteAheadLogOptions in one place. */
export const WRITE_AHEAD_LOG_DEFAULTS = {
  maxBytes: 2_147_483_648,
  syncMs: 5,
  nearFraction: 0.9,
  resumeFraction: 0.95,
  maxGroupBytes: 4 * 1024 * 1024,
  checkpointMs: 1_000,
  minSegmentBytes: 64 * 1024,
  maxSegmentBytes: 64 * 1024 * 1024,
} as const

/** Upper bounds of the fdatasync latency histogram buckets, in seconds. */
export const FSYNC_BUCKETS_S: readonly number[] = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1]

/** What `append` resolves with. */
export interface WalAppendResult {
  /** Readings that cannot be encoded as line protocol, and why; they are not in the log: dead-letter them. */
  rejected: readonly RejectedReading[]
}

/** Limits of one `read`. */
export interface LogReadLimits {
  /** Most points in the batch (a single larger record still comes whole); default 5000. */
  maxPoints?: number
  /** Most bytes read from the files at once; default 4 MiB. */
  maxBytes?: number
}

/** Consecutive records read from the log: what the writer sends as one request body. */
export interface LogBatch {
  /** Position the batch was read from. */
  from: number
  /** Position after its last record (or after skipped corrupt bytes); `confirm` moves the confirmed position here. */
  to: number
  /** The points' line-protocol lines, each ending in `\n`. */
  body: Buffer
  /** Points (lines) in `body`. */
  points: number
  /** Records in the batch. */
  records: number
  /** Least and greatest event time of the points, epoch ms; NaN when empty. */
  minTs: number
  maxTs: number
  /** Append time of the first record, epoch ms; NaN when empty. */
  firstAppendedAt: number
  /** Whether some records were already in the log when it was opened (a replay after a restart or crash). */
  replayed: boolean
}

/** What the InfluxDB writer drains: positions are byte offsets over all segments, and only grow. */
export interface LogSource {
  /** Everything before this position is confirmed (written to InfluxDB or handed to onRejected). */
  readonly confirmedPosition: number
  /** End of what is fdatasync'ed: readers see records up to here. */
  readonly durablePosition: number
  /** End of everything appended, durable or still in its group commit. */
  readonly appendedPosition: number
  /** Points confirmed since open (a running count). */
  readonly confirmedPoints: number
  /** Points in durable records since open, those found at open included (a running count). */
  readonly durablePoints: number
  /** Points appended and not yet confirmed. */
  readonly backlog: number
  /** Reads the records after `from` (the confirmed position or a previous batch's `to`), up to the durable end; an empty batch when there are none. */
  read(from: number, limits?: LogReadLimits): Promise<LogBatch>
  /** Marks a batch confirmed; batches must be confirmed in order, each from the previous one's `to`. */
  confirm(batch: LogBatch): void
  /** Calls `listener` whenever more records become durable; returns the unsubscribe function. */
  onDurable(listener: () => void): () => void
}

/** Events of the bound: `near` at nearFraction, `normal` below it again, `full` when an append is refused, `space` when appends are accepted again. */
export type WalEvent = 'near' | 'normal' | 'full' | 'space'

/** Payload of a WalEvent. */
export interface WalSpaceInfo {
  /** Bytes in the segment files and in group commits. */
  bytes: number
  /** The bound. */
  maxBytes: number
}

/** Counters of the log since it was opened, for /metrics. */
export interface WalStats {
  /** Records appended (append calls that stored at least one point). */
  records: number
  /** Points appended. */
  pointsAppended: number
  /** Readings returned as rejected because line protocol cannot carry them. */
  pointsUnencodable: number
  /** Append calls refused with CW_ERR_WAL_FULL. */
  appendsRefused: number
  /** Group commits (one write and one fdatasync each). */
  groupCommits: number
  /** fdatasync calls of group commits. */
  fsyncs: number
  /** Latency of those fdatasync calls. */
  fsyncLatency: LatencyHistogram
  /** Latency of the last fdatasync in milliseconds; 0 before the first. */
  lastFsyncMs: number
  /** Bytes written by group commits. */
  bytesWritten: number
  /** Failed group commits (their appends rejected). */
  writeErrors: number
  /** Segment files started. */
  segmentsCreated: number
  /** Segment files deleted after confirmation. */
  segmentsDeleted: number
  /** Checkpoints written. */
  checkpoints: number
  /** Unconfirmed points found when the log was opened (to be replayed). */
  replayedPoints: number
  /** Bytes of torn tails cut off when the log was opened. */
  tornBytesTruncated: number
  /** Bytes of corrupt records skipped (at open or while reading). */
  corruptBytesSkipped: number
}

/** The durable log of accepted readings: appended before the broker acknowledges, drained by the InfluxDB writer. */
export interface WriteAheadLog extends LogSource {
  /**
   * Encodes the readings (once, to line protocol) as one record and resolves once its group commit is fdatasync'ed.
   * Rejects CW_ERR_WAL_FULL at the bound (nothing appended), CW_ERR_WAL_CLOSED after close, CW_ERR_WAL_IO when the
   * commit failed. Unencodable readings are left out and returned in `rejected`.
   */
  append(readings: readonly Reading[]): Promise<WalAppendResult>
  /**
   * Appends points already encoded as line protocol (without their newline), e.g. computed index values, as one
   * record whose points' event times lie in [minTs, maxTs]; resolves and rejects as `append`.
   */
  appendPoints(lines: readonly string[], minTs: number, maxTs: number): Promise<WalAppendResult>
  /** Bytes in the segment files. */
  readonly bytes: number
  /** The bound in bytes. */
  readonly maxBytes: number
  /** Segment files. */
  readonly segments: number
  /** Whether bytes are at or above nearFraction of the bound. */
  readonly near: boolean
  /** Whether appends are refused until space is freed. */
  readonly full: boolean
  /** Append time (wall clock, epoch ms) of the oldest unconfirmed record, within 1 s; null when all is confirmed. */
  oldestUnconfirmedAt(): number | null
  /** Counters since open. */
  readonly stats: WalStats
  /** Subscribes to a bound event; returns the unsubscribe function. */
  on(event: WalEvent, listener: (info: WalSpaceInfo) => void): () => void
  /** Commits the pending group now; resolves once everything appended before the call is durable. */
  flush(): Promise<void>
  /** Commits what is pending, writes the checkpoint and closes the files; later appends reject. */
  close(): Promise<void>
}

const SEGMENT_FILE = /^(\d{20})\.wal$/
const CHECKPOINT_FILE = 'checkpoint'
const LOCK_FILE = 'LOCK'
const SCAN_CHUNK_BYTES = 8 * 1024 * 1024
const MARK_MS = 1_000
const SPARE_MAX_BYTES = 8 * 1024 * 1024
const EMPTY_RESULT: WalAppendResult = Object.freeze({ rejected: Object.freeze([]) as readonly RejectedReading[] })
const noop = (): void => {}

/** Logs open in this process, by directory: a second open of the same directory takes it over (crash tests). */
const openLogs = new Map<string, object>()

/** Opens (or creates) the log in `options.dir`: scans the unconfirmed records, cuts a torn tail, and is ready to append. */
export async function createWriteAheadLog(options: WriteAheadLogOptions): Promise<WriteAheadLog> {
  const wal = new Wal(options)
  await wal.open()
  return wal
}

/** File name of the segment starting at position `base`: `segmentFileName(4096)` → `00000000000000004096.wal`. */
export function segmentFileName(base: number): string {
  return `${String(base).padStart(20, '0')}.wal`
}

interface Segment {
  /** Position of the file's first byte. */
  base: number
  /** Bytes in the file (for the active segment: written, durable or not). */
  size: number
  path: string
  /** Append descriptor of the active segment; -1 otherwise. */
  fd: number
  /** Whether the directory entry is known durable. */
  dirSynced: boolean
}

class Group {
  readonly done: Promise<WalAppendResult>
  resolve!: (result: WalAppendResult) => void
  reject!: (err: Error) => void

  constructor(readonly records: WalRecordBuffer) {
    this.done = new Promise<WalAppendResult>((resolve, reject) => {
      this.resolve = resolve
      this.reject = reject
    })
    // Callers that do not await (QoS 0) must not turn a failed commit into an unhandled rejection.
    this.done.catch(noop)
  }
}

const nodeFs: WalFs = {
  write: (fd, buffer, offset, length, position) =>
    new Promise((resolve, reject) => fs.write(fd, buffer, offset, length, position, (err, written) => (err ? reject(err) : resolve(written)))),
  fdatasync: (fd) => new Promise((resolve, reject) => fs.fdatasync(fd, (err) => (err ? reject(err) : resolve()))),
}

function openFd(path: string, flags: string): Promise<number> {
  return new Promise((resolve, reject) => fs.open(path, flags, (err, fd) => (err ? reject(err) : resolve(fd))))
}

function closeFd(fd: number): Promise<void> {
  return new Promise((resolve) => fs.close(fd, () => resolve()))
}

function fsyncFd(fd: number): Promise<void> {
  return new Promise((resolve, reject) => fs.fsync(fd, (err) => (err ? reject(err) : resolve())))
}

function truncateFd(fd: number, length: number): Promise<void> {
  return new Promise((resolve, reject) => fs.ftruncate(fd, length, (err) => (err ? reject(err) : resolve())))
}

/** Reads up to `length` bytes at `position`; shorter only at the end of the file. */
async function readAt(fd: number, length: number, position: number): Promise<Buffer> {
  const buf = Buffer.allocUnsafe(length)
  let done = 0
  while (done < length) {
    const n = await new Promise<number>((resolve, reject) =>
      fs.read(fd, buf, done, length - done, position + done, (err, bytesRead) => (err ? reject(err) : resolve(bytesRead))),
    )
    if (n === 0) break
    done += n
  }
  return done === length ? buf : buf.subarray(0, done)
}

/** Makes renames, creations and deletions in `dir` durable. */
async function fsyncDir(dir: string): Promise<void> {
  const fd = await openFd(dir, 'r')
  try {
    await fsyncFd(fd)
  } finally {
    await closeFd(fd)
  }
}

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM'
  }
}

function message(err: unknown): string {
  return err instanceof Error ? err.message : String(err)
}

class Wal implements WriteAheadLog {
  readonly maxBytes: number
  readonly stats: WalStats = {
    records: 0,
    pointsAppended: 0,
    pointsUnencodable: 0,
    appendsRefused: 0,
    groupCommits: 0,
    fsyncs: 0,
    fsyncLatency: latencyHistogram(FSYNC_BUCKETS_S),
    lastFsyncMs: 0,
    bytesWritten: 0,
    writeErrors: 0,
    segmentsCreated: 0,
    segmentsDeleted: 0,
    checkpoints: 0,
    replayedPoints: 0,
    tornBytesTruncated: 0,
    corruptBytesSkipped: 0,
  }

  private readonly dir: string
  private readonly syncMs: number
  private readonly segmentBytes: number
  private readonly nearMark: number
  private readonly resumeMark: number
  private readonly maxGroupBytes: number
  private readonly checkpointMs: number
  private readonly log: Logger
  private readonly clock: Clock
  private readonly fs: WalFs
  private readonly listeners = new Map<WalEvent | 'durable', Set<(info: WalSpaceInfo) => void>>()

  private segmentList: Segment[] = []
  private fileBytes = 0
  private confirmed = 0
  private checkpointed = -1
  private durableEnd = 0
  private replayEnd = 0
  private pointsConfirmed = 0
  private pointsDurable = 0
  private pointsAppended = 0

  private group = new Group(new WalRecordBuffer())
  private spare: WalRecordBuffer | undefined
  private committing: Group | undefined
  private groupDue = false
  private groupTimer: NodeJS.Timeout | NodeJS.Immediate | undefined
  private isNear = false
  private isFull = false
  /** Set when the disk itself ran out of space: `full` then clears on the next segment deletion. */
  private diskFull = false
  private closed = false
  private closing: Promise<void> | undefined
  private failure: AppError | undefined

  private checkpointTimer: NodeJS.Timeout | undefined
  private checkpointing: Promise<void> | undefined
  private lastCheckpointAt = Number.NEGATIVE_INFINITY

  private reader: { segment: Segment; fd: number } | undefined
  /** Whether the group being committed is not yet counted in fileBytes. */
  private inFlightUnwritten = false

  /** (position, append time) samples for oldestUnconfirmedAt, at most one per MARK_MS; `markHead` is the oldest relevant. */
  private markPos: number[] = []
  private markAt: number[] = []
  private markHead = 0

  constructor(options: WriteAheadLogOptions) {
    const d = WRITE_AHEAD_LOG_DEFAULTS
    this.dir = resolve(options.dir)
    this.maxBytes = options.maxBytes ?? d.maxBytes
    this.syncMs = Math.max(0, options.syncMs ?? d.syncMs)
    const fallback = Math.min(d.maxSegmentBytes, Math.max(d.minSegmentBytes, Math.floor(this.maxBytes / 16)))
    // Whole segments are what is freed: at least four per bound, or `full` could never clear.
    this.segmentBytes = Math.max(4096, Math.min(options.segmentBytes ?? fallback, Math.floor(this.maxBytes / 4)))
    this.nearMark = this.maxBytes * (options.nearFraction ?? d.nearFraction)
    this.resumeMark = this.maxBytes * (options.resumeFraction ?? d.resumeFraction)
    this.maxGroupBytes = options.maxGroupBytes ?? d.maxGroupBytes
    this.checkpointMs = options.checkpointMs ?? d.checkpointMs
    this.log = options.logger.child({ module: 'wal' })
    this.clock = options.clock ?? systemClock
    this.fs = { ...nodeFs, ...options.fs }
  }

  get bytes(): number {
    return this.fileBytes
  }

  get segments(): number {
    return this.segmentList.length
  }

  get near(): boolean {
    return this.isNear
  }

  get full(): boolean {
    return this.isFull
  }

  get confirmedPosition(): number {
    return this.confirmed
  }

  get durablePosition(): number {
    return this.durableEnd
  }

  get appendedPosition(): number {
    return this.durableEnd + (this.committing?.records.length ?? 0) + this.group.records.length
  }

  get confirmedPoints(): number {
    return this.pointsConfirmed
  }

  get durablePoints(): number {
    return this.pointsDurable
  }

  get backlog(): number {
    return this.pointsAppended - this.pointsConfirmed
  }

  /** Bytes the bound counts: the files plus the groups not yet written. */
  private get usedBytes(): number {
    return this.fileBytes + (this.committing !== undefined && this.inFlightUnwritten ? this.committing.records.length : 0) + this.group.records.length
  }

  private get active(): Segment {
    return this.segmentList[this.segmentList.length - 1] as Segment
  }

  async open(): Promise<void> {
    await mkdir(this.dir, { recursive: true })
    await this.lock()
    await rm(join(this.dir, `${CHECKPOINT_FILE}.tmp`), { force: true })
    const checkpoint = await this.readCheckpoint()
    const found: Segment[] = []
    for (const name of await readdir(this.dir)) {
      const match = SEGMENT_FILE.exec(name)
      if (match === null) continue
      const path = join(this.dir, name)
      found.push({ base: Number(match[1]), size: (await stat(path)).size, path, fd: -1, dirSynced: true })
    }
    found.sort((a, b) => a.base - b.base)
    const start = checkpoint ?? found[0]?.base ?? 0
    let end = start
    for (const segment of found) {
      end = Math.max(end, segment.base + segment.size)
      if (checkpoint !== null && segment.base + segment.size <= checkpoint) {
        await unlink(segment.path)
        continue
      }
      this.segmentList.push(segment)
    }
    this.confirmed = start
    let replay = 0
    for (const segment of this.segmentList) replay += await this.scanSegment(segment, Math.max(0, start - segment.base))
    this.fileBytes = this.segmentList.reduce((sum, s) => sum + s.size, 0)
    const last = this.segmentList.at(-1)
    if (last === undefined) {
      await this.addSegment(end)
    } else {
      last.fd = await openFd(last.path, 'r+')
    }
    this.checkpointed = checkpoint ?? -1
    this.durableEnd = this.active.base + this.active.size
    this.replayEnd = this.durableEnd
    this.pointsDurable = replay
    this.pointsAppended = replay
    this.stats.replayedPoints = replay
    this.checkNear()
    this.log.info(
      { dir: this.dir, segments: this.segmentList.length, bytes: this.fileBytes, position: start, replayPoints: replay, maxBytes: this.maxBytes },
      replay > 0 ? 'wal opened, replaying unconfirmed records' : 'wal opened',
    )
  }

  private async lock(): Promise<void> {
    const path = join(this.dir, LOCK_FILE)
    const holder = await readFile(path, 'utf8').then(
      (text) => Number.parseInt(text, 10),
      () => Number.NaN,
    )
    if (Number.isInteger(holder) && holder !== process.pid && processAlive(holder)) {
      throw new AppError('CW_ERR_WAL_LOCKED', [this.dir, holder])
    }
    if (openLogs.has(this.dir)) this.log.warn({ dir: this.dir }, 'wal opened again in the same process; the earlier instance must not be used')
    await writeFile(path, `${process.pid}\n`)
    openLogs.set(this.dir, this)
  }

  private async readCheckpoint(): Promise<number | null> {
    let text: string
    try {
      text = await readFile(join(this.dir, CHECKPOINT_FILE), 'utf8')
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null
      throw err
    }
    try {
      const position = (JSON.parse(text) as { position?: unknown }).position
      if (typeof position === 'number' && Number.isSafeInteger(position) && position >= 0) return position
    } catch {
      // reported below
    }
    // Written atomically, so this is damage from outside: replaying everything is safe (InfluxDB overwrites).
    this.log.error({ file: join(this.dir, CHECKPOINT_FILE) }, 'wal checkpoint unreadable, replaying every segment')
    return null
  }

  /**
   * Verifies the records of a segment from `from` (a file offset) on, counting points and sampling append times.
   * Invalid bytes followed by a valid record are corruption: skipped (the reader skips them too) and logged as an
   * error. Invalid bytes up to the end of the file are a torn tail from a crash mid-write: cut off and logged.
   */
  private async scanSegment(segment: Segment, from: number): Promise<number> {
    const fd = await openFd(segment.path, 'r+')
    let points = 0
    try {
      let pos = from
      let need = 0
      while (pos < segment.size) {
        const length = Math.min(Math.max(SCAN_CHUNK_BYTES, need), segment.size - pos)
        const chunk = await readAt(fd, length, pos)
        // A file shorter than stat said (changed under us) ends where the read ended.
        if (chunk.length < length) segment.size = pos + chunk.length
        need = 0
        let off = 0
        let bad: string | undefined
        while (off < chunk.length) {
          const frame = readWalRecord(chunk, off)
          if (frame.kind === 'record') {
            points += frame.count
            this.addMark(segment.base + pos + off, frame.appendedAt)
            off = frame.end
            continue
          }
          if (frame.kind === 'incomplete' && pos + off + frame.need <= segment.size) {
            need = frame.need
            break
          }
          bad = frame.kind === 'corrupt' ? frame.reason : 'record runs past the end of the file'
          break
        }
        pos += off
        if (bad === undefined) continue
        const rest = await readAt(fd, segment.size - pos, pos)
        const next = findWalRecord(rest, 1)
        if (next < 0) {
          const dropped = segment.size - pos
          await truncateFd(fd, pos)
          await fsyncFd(fd)
          segment.size = pos
          this.stats.tornBytesTruncated += dropped
          this.log.warn({ segment: segment.path, position: segment.base + pos, droppedBytes: dropped, reason: bad }, 'wal torn tail truncated')
          break
        }
        this.stats.corruptBytesSkipped += next
        this.log.error({ segment: segment.path, position: segment.base + pos, skippedBytes: next, reason: bad }, 'wal corrupt record skipped')
        pos += next
      }
    } finally {
      await closeFd(fd)
    }
    return points
  }

  private async addSegment(base: number): Promise<Segment> {
    const path = join(this.dir, segmentFileName(base))
    const segment: Segment = { base, size: 0, path, fd: await openFd(path, 'w'), dirSynced: false }
    this.segmentList.push(segment)
    this.stats.segmentsCreated++
    return segment
  }

  append(readings: readonly Reading[]): Promise<WalAppendResult> {
    const refused = this.refusal()
    if (refused !== undefined) return refused
    if (readings.length === 0) return Promise.resolve(EMPTY_RESULT)
    const records = this.group.records
    const before = records.length
    let encoded: { count: number; rejected: readonly RejectedReading[] }
    try {
      encoded = records.appendReadings(readings, this.clock.now())
    } catch (err) {
      return Promise.reject(err instanceof Error ? err : new Error(String(err)))
    }
    const { count, rejected } = encoded
    if (rejected.length > 0) this.stats.pointsUnencodable += rejected.length
    if (count === 0) return Promise.resolve({ rejected })
    const done = this.commitRecord(before, count)
    return rejected.length === 0 ? done : done.then(() => ({ rejected }))
  }

  appendPoints(lines: readonly string[], minTs: number, maxTs: number): Promise<WalAppendResult> {
    const refused = this.refusal()
    if (refused !== undefined) return refused
    if (lines.length === 0) return Promise.resolve(EMPTY_RESULT)
    const records = this.group.records
    const before = records.length
    records.appendLines(lines, this.clock.now(), minTs, maxTs)
    return this.commitRecord(before, lines.length)
  }

  /** Why an append is refused right now, as the rejected promise; undefined when it may go ahead. */
  private refusal(): Promise<never> | undefined {
    if (this.closed) return Promise.reject(new AppError('CW_ERR_WAL_CLOSED'))
    if (this.failure !== undefined) return Promise.reject(this.failure)
    if (this.isFull) return this.refuse()
    return undefined
  }

  /** Admits the record just added to the group (`count` points from `before`), or takes it back at the bound. */
  private commitRecord(before: number, count: number): Promise<WalAppendResult> {
    const group = this.group
    const records = group.records
    if (this.usedBytes > this.maxBytes) {
      records.undoLast(before, count)
      // Only a log that is really filling up turns `full`; one record too big for what is left is refused alone.
      if (this.usedBytes >= this.resumeMark) this.setFull()
      return this.refuse()
    }
    this.pointsAppended += count
    this.stats.records++
    this.stats.pointsAppended += count
    if (!this.isNear && this.usedBytes >= this.nearMark) this.setNear(true)
    if (records.records === 1) this.armGroupTimer()
    if (records.length >= this.maxGroupBytes) {
      this.groupDue = true
      this.kick()
    }
    return group.done
  }

  private refuse(): Promise<never> {
    this.stats.appendsRefused++
    return Promise.reject(new AppError('CW_ERR_WAL_FULL', [`${this.usedBytes} of ${this.maxBytes} bytes unconfirmed`]))
  }

  private armGroupTimer(): void {
    if (this.groupTimer !== undefined) return
    const due = (): void => {
      this.groupTimer = undefined
      this.groupDue = true
      this.kick()
    }
    this.groupTimer = this.syncMs === 0 ? setImmediate(due) : setTimeout(due, this.syncMs)
  }

  private clearGroupTimer(): void {
    if (this.groupTimer === undefined) return
    clearTimeout(this.groupTimer as NodeJS.Timeout)
    clearImmediate(this.groupTimer as NodeJS.Immediate)
    this.groupTimer = undefined
  }

  /** Starts a commit when the group is due and none is running; a running one starts the next when it ends. */
  private kick(): void {
    if (this.committing === undefined && this.groupDue && this.group.records.length > 0) {
      this.commit().catch((err: unknown) => this.log.error({ err }, 'wal commit failed unexpectedly'))
    }
  }

  /** Writes the group with one positioned write, fdatasyncs it, and resolves its appends. */
  private async commit(): Promise<void> {
    const group = this.group
    const records = group.records
    this.group = new Group(this.spare ?? new WalRecordBuffer())
    this.spare = undefined
    this.groupDue = false
    this.clearGroupTimer()
    this.committing = group
    this.inFlightUnwritten = true
    let segment = this.active
    const size = records.length
    try {
      if (segment.size > 0 && segment.size + size > this.segmentBytes) segment = await this.rotate()
      const position = segment.base + segment.size
      for (let done = 0; done < size; ) done += await this.fs.write(segment.fd, records.buf, done, size - done, segment.size + done)
      segment.size += size
      this.fileBytes += size
      this.inFlightUnwritten = false
      const started = performance.now()
      await this.fs.fdatasync(segment.fd)
      const ms = performance.now() - started
      this.stats.fsyncs++
      this.stats.lastFsyncMs = ms
      observeLatency(this.stats.fsyncLatency, ms)
      if (!segment.dirSynced) {
        await fsyncDir(this.dir)
        segment.dirSynced = true
      }
      this.durableEnd = segment.base + segment.size
      this.pointsDurable += records.points
      this.addMark(position, records.firstAppendedAt)
      this.stats.groupCommits++
      this.stats.bytesWritten += size
      group.resolve(EMPTY_RESULT)
      this.emit('durable')
    } catch (err) {
      await this.failCommit(group, segment, err)
    } finally {
      this.committing = undefined
      this.inFlightUnwritten = false
      if (records.buf.length <= SPARE_MAX_BYTES) {
        records.reset()
        this.spare = records
      }
      if (this.group.records.length >= this.maxGroupBytes) this.groupDue = true
      this.kick()
    }
  }

  /** Cuts the file back to its durable end and rejects the group's appends; the log stays usable if that works. */
  private async failCommit(group: Group, segment: Segment, err: unknown): Promise<void> {
    const records = group.records
    this.stats.writeErrors++
    this.pointsAppended -= records.points
    const keep = Math.max(0, this.durableEnd - segment.base)
    if (segment.fd >= 0) {
      // A failed write may have left part of the group in the file even when `size` does not count it.
      try {
        await truncateFd(segment.fd, keep)
        this.fileBytes -= segment.size - keep
        segment.size = keep
      } catch (truncateErr) {
        this.failure = new AppError('CW_ERR_WAL_IO', [`cannot cut ${segment.path} back to ${keep} bytes: ${message(truncateErr)}`])
        this.log.fatal({ err: truncateErr, segment: segment.path }, 'wal unusable: cannot undo a failed write')
      }
    }
    const code = (err as NodeJS.ErrnoException).code
    this.log.error({ err, records: records.records, points: records.points }, 'wal group commit failed, its appends are rejected')
    if (code === 'ENOSPC' || code === 'EDQUOT') {
      this.diskFull = true
      this.setFull()
      group.reject(new AppError('CW_ERR_WAL_FULL', [`the disk is full (${code})`], [], { cause: err }))
    } else {
      group.reject(new AppError('CW_ERR_WAL_IO', [message(err)], [], { cause: err }))
      this.checkNear()
    }
  }

  /** Starts a new segment at the end of the active one (already fdatasync'ed by its last commit). */
  private async rotate(): Promise<Segment> {
    const old = this.active
    const segment = await this.addSegment(old.base + old.size)
    const fd = old.fd
    old.fd = -1
    await closeFd(fd)
    this.log.debug({ segment: segment.path, previousBytes: old.size }, 'wal segment started')
    return segment
  }

  flush(): Promise<void> {
    if (this.group.records.length > 0) {
      const done = this.group.done
      this.groupDue = true
      this.kick()
      return done.then(noop)
    }
    return this.committing !== undefined ? this.committing.done.then(noop) : Promise.resolve()
  }

  async read(from: number, limits: LogReadLimits = {}): Promise<LogBatch> {
    if (from < this.confirmed) throw new Error(`read from ${from} is before the confirmed position ${this.confirmed}`)
    const maxPoints = limits.maxPoints ?? 5_000
    const maxBytes = limits.maxBytes ?? 4 * 1024 * 1024
    const end = this.durableEnd
    const parts: Buffer[] = []
    let pos = from
    let budget = maxBytes
    let points = 0
    let records = 0
    let minTs = Number.POSITIVE_INFINITY
    let maxTs = Number.NEGATIVE_INFINITY
    let firstAppendedAt = Number.NaN
    let replayed = false
    for (let full = false; !full && budget > 0; ) {
      const segment = this.segmentList.find((s) => Math.min(s.base + s.size, end) > pos)
      if (segment === undefined) break
      // A gap (a cut tail before a later segment) is skipped: the positions in it hold nothing.
      pos = Math.max(pos, segment.base)
      const segmentEnd = Math.min(segment.base + segment.size, end)
      let buf = await this.readSegment(segment, pos, Math.min(segmentEnd - pos, budget))
      let off = 0
      while (off < buf.length) {
        const frame = readWalRecord(buf, off)
        if (frame.kind === 'record') {
          if (points > 0 && points + frame.count > maxPoints) {
            full = true
            break
          }
          parts.push(buf.subarray(frame.payloadStart, frame.end))
          if (records === 0) firstAppendedAt = frame.appendedAt
          if (pos + off < this.replayEnd) replayed = true
          records++
          points += frame.count
          if (frame.minTs < minTs) minTs = frame.minTs
          if (frame.maxTs > maxTs) maxTs = frame.maxTs
          off = frame.end
          if (points >= maxPoints) {
            full = true
            break
          }
          continue
        }
        if (frame.kind === 'incomplete' && pos + off + frame.need <= segmentEnd) {
          if (off > 0) {
            full = true
            break
          }
          // One record larger than the byte budget: read it whole.
          buf = await this.readSegment(segment, pos, frame.need)
          continue
        }
        off = (await this.skipCorrupt(segment, pos + off, segmentEnd, frame.kind === 'corrupt' ? frame.reason : 'truncated record')) - pos
        full = true
        break
      }
      budget -= off
      pos += off
      if (pos < segmentEnd) break
    }
    const body = parts.length === 1 ? (parts[0] as Buffer) : Buffer.concat(parts)
    return {
      from,
      to: pos,
      body,
      points,
      records,
      minTs: records > 0 ? minTs : Number.NaN,
      maxTs: records > 0 ? maxTs : Number.NaN,
      firstAppendedAt,
      replayed,
    }
  }

  private async readSegment(segment: Segment, position: number, length: number): Promise<Buffer> {
    let reader = this.reader
    if (reader?.segment !== segment) {
      // Cleared before any await, so a concurrent deletion never closes the same descriptor twice.
      this.reader = undefined
      if (reader !== undefined) await closeFd(reader.fd)
      reader = { segment, fd: await openFd(segment.path, 'r') }
      if (this.reader !== undefined) await closeFd((this.reader as { fd: number }).fd)
      this.reader = reader
    }
    return readAt(reader.fd, length, position - segment.base)
  }

  /** Finds the next valid record after corrupt bytes at `position`; returns its position (or the segment's end). */
  private async skipCorrupt(segment: Segment, position: number, segmentEnd: number, reason: string): Promise<number> {
    const rest = await this.readSegment(segment, position, segmentEnd - position)
    const next = findWalRecord(rest, 1)
    const skipped = next < 0 ? rest.length : next
    this.stats.corruptBytesSkipped += skipped
    this.log.error({ segment: segment.path, position, skippedBytes: skipped, reason }, 'wal corrupt record skipped')
    return position + Math.max(skipped, 1)
  }

  confirm(batch: LogBatch): void {
    if (batch.from !== this.confirmed) throw new Error(`batches must be confirmed in order: batch from ${batch.from}, confirmed up to ${this.confirmed}`)
    if (batch.to < batch.from || batch.to > this.durableEnd) throw new Error(`cannot confirm up to ${batch.to}: durable end is ${this.durableEnd}`)
    this.confirmed = batch.to
    this.pointsConfirmed += batch.points
    while (this.markHead + 1 < this.markPos.length && (this.markPos[this.markHead + 1] as number) <= this.confirmed) this.markHead++
    if (this.markHead > 1024 && this.markHead * 2 > this.markPos.length) {
      this.markPos = this.markPos.slice(this.markHead)
      this.markAt = this.markAt.slice(this.markHead)
      this.markHead = 0
    }
    this.scheduleCheckpoint()
  }

  onDurable(listener: () => void): () => void {
    return this.on('durable', listener)
  }

  oldestUnconfirmedAt(): number | null {
    if (this.backlog <= 0) return null
    if (this.confirmed < this.durableEnd && this.markHead < this.markAt.length) return this.markAt[this.markHead] as number
    const pending = this.committing?.records.firstAppendedAt ?? this.group.records.firstAppendedAt
    return Number.isNaN(pending) ? null : pending
  }

  private addMark(position: number, appendedAt: number): void {
    const last = this.markPos.length - 1
    // A record after everything confirmed always gets its own mark, so a fresh backlog is dated exactly.
    if (last >= this.markHead && appendedAt - (this.markAt[last] as number) < MARK_MS && (this.markPos[last] as number) >= this.confirmed) return
    this.markPos.push(position)
    this.markAt.push(appendedAt)
    while (this.markHead + 1 < this.markPos.length && (this.markPos[this.markHead + 1] as number) <= this.confirmed) this.markHead++
  }

  private scheduleCheckpoint(): void {
    if (this.checkpointTimer !== undefined || this.checkpointing !== undefined || this.closed) return
    const wait = Math.max(0, this.lastCheckpointAt + this.checkpointMs - performance.now())
    this.checkpointTimer = setTimeout(() => {
      this.checkpointTimer = undefined
      this.checkpointing = this.checkpoint()
        .catch((err: unknown) => this.log.error({ err }, 'wal checkpoint failed'))
        .finally(() => {
          this.checkpointing = undefined
          if (this.confirmed > this.checkpointed) this.scheduleCheckpoint()
        })
    }, wait)
    this.checkpointTimer.unref()
  }

  /** Writes the confirmed position atomically (tmp + fsync + rename + directory fsync), then deletes what it covers. */
  private async checkpoint(): Promise<void> {
    const position = this.confirmed
    if (position <= this.checkpointed) return
    this.lastCheckpointAt = performance.now()
    const tmp = join(this.dir, `${CHECKPOINT_FILE}.tmp`)
    const fd = await openFd(tmp, 'w')
    try {
      const text = Buffer.from(`${JSON.stringify({ version: 1, position, writtenAt: new Date(this.clock.now()).toISOString() })}\n`)
      for (let done = 0; done < text.length; ) done += await this.fs.write(fd, text, done, text.length - done, done)
      await fsyncFd(fd)
    } finally {
      await closeFd(fd)
    }
    await rename(tmp, join(this.dir, CHECKPOINT_FILE))
    await fsyncDir(this.dir)
    this.checkpointed = position
    this.stats.checkpoints++
    await this.deleteConfirmed()
  }

  /** Deletes whole segments the checkpoint covers (never the active one), then re-evaluates the bound. */
  private async deleteConfirmed(): Promise<void> {
    let deleted = 0
    while (this.segmentList.length > 1) {
      const segment = this.segmentList[0] as Segment
      if (segment.base + segment.size > this.checkpointed) break
      this.segmentList.shift()
      const reader = this.reader
      if (reader?.segment === segment) {
        this.reader = undefined
        await closeFd(reader.fd)
      }
      await unlink(segment.path).catch((err: unknown) => {
        if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err
      })
      this.fileBytes -= segment.size
      this.stats.segmentsDeleted++
      deleted++
    }
    if (deleted > 0) {
      this.log.debug({ deleted, bytes: this.fileBytes }, 'wal segments deleted')
      if (this.diskFull) this.diskFull = false
    }
    this.checkNear()
  }

  private setFull(): void {
    if (this.isFull) return
    this.isFull = true
    this.log.error({ bytes: this.usedBytes, maxBytes: this.maxBytes, backlog: this.backlog }, 'wal full, refusing appends')
    this.emit('full')
  }

  private setNear(near: boolean): void {
    this.isNear = near
    if (near) this.log.warn({ bytes: this.usedBytes, maxBytes: this.maxBytes }, 'wal near its bound')
    else this.log.info({ bytes: this.usedBytes, maxBytes: this.maxBytes }, 'wal below its near mark again')
    this.emit(near ? 'near' : 'normal')
  }

  private checkNear(): void {
    const used = this.usedBytes
    if (this.isFull && !this.diskFull && used < this.resumeMark) {
      this.isFull = false
      this.log.info({ bytes: used, maxBytes: this.maxBytes }, 'wal has space again, accepting appends')
      this.emit('space')
    }
    if (this.isNear !== used >= this.nearMark) this.setNear(!this.isNear)
  }

  on(event: WalEvent | 'durable', listener: (info: WalSpaceInfo) => void): () => void {
    let set = this.listeners.get(event)
    if (set === undefined) this.listeners.set(event, (set = new Set()))
    set.add(listener)
    return () => void set.delete(listener)
  }

  private emit(event: WalEvent | 'durable'): void {
    const set = this.listeners.get(event)
    if (set === undefined || set.size === 0) return
    const info: WalSpaceInfo = { bytes: this.usedBytes, maxBytes: this.maxBytes }
    for (const listener of set) {
      try {
        listener(info)
      } catch (err) {
        this.log.error({ err, event }, 'wal listener failed')
      }
    }
  }

  close(): Promise<void> {
    this.closing ??= this.shutdown()
    return this.closing
  }

  private async shutdown(): Promise<void> {
    this.closed = true
    await this.flush().catch((err: unknown) => this.log.error({ err }, 'wal flush on close failed'))
    while (this.committing !== undefined) await this.committing.done.catch(noop)
    this.clearGroupTimer()
    clearTimeout(this.checkpointTimer)
    this.checkpointTimer = undefined
    await this.checkpointing
    await this.checkpoint().catch((err: unknown) => this.log.error({ err }, 'wal checkpoint on close failed'))
    for (const segment of this.segmentList) {
      if (segment.fd < 0) continue
      await closeFd(segment.fd)
      segment.fd = -1
    }
    const reader = this.reader
    this.reader = undefined
    if (reader !== undefined) await closeFd(reader.fd)
    if (openLogs.get(this.dir) === this) {
      openLogs.delete(this.dir)
      await rm(join(this.dir, LOCK_FILE), { force: true })
    }
    this.listeners.clear()
    this.log.info({ bytes: this.fileBytes, backlog: this.backlog, position: this.confirmed }, 'wal closed')
  }
}

