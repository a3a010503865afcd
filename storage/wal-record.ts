import type { Reading } from '../domain.js'
import { crc32 } from './crc32.js'
import { LineEncodingError, writeReading, type LineSink } from './influx-line.js'

/**
 * A log record is one `append` call: a 40-byte header and the readings' line-protocol lines, each ending in `\n`,
 * so a write request's body is the concatenation of record payloads. All integers little-endian:
 *
 * | offset | type | field |
 * |---|---|---|
 * | 0 | u32 | magic `CWL1` |
 * | 4 | u32 | CRC-32 of bytes 8 .. end of payload |
 * | 8 | u32 | payload length in bytes |
 * | 12 | u32 | number of points (lines) |
 * | 16 | f64 | append time, epoch ms (wall clock) |
 * | 24 | f64 | least event time of the points, epoch ms |
 * | 32 | f64 | greatest event time of the points, epoch ms |
 * | 40 | bytes | payload |
 */
export const WAL_RECORD_HEADER_BYTES = 40

/** `CWL1` as a little-endian u32. */
export const WAL_RECORD_MAGIC = 0x314c5743

const MAGIC_BYTES = Buffer.from('CWL1', 'latin1')

/** Longest payload a reader believes, in bytes (a larger length field is corruption): 256 MiB. */
export const WAL_RECORD_MAX_PAYLOAD = 256 * 1024 * 1024

/** A reading `encodeReading` refused (LineEncodingError), and why; it is not in the log. */
export interface RejectedReading {
  reading: Reading
  reason: string
}

/** What `readWalRecord` found at an offset. */
export type WalFrame =
  | {
      kind: 'record'
      /** Offset of the payload's first byte. */
      payloadStart: number
      /** Offset after the payload: the next record's offset. */
      end: number
      /** Points (lines) in the payload. */
      count: number
      /** Append time, epoch ms. */
      appendedAt: number
      /** Least and greatest event time, epoch ms. */
      minTs: number
      maxTs: number
    }
  /** The buffer ends inside the record: `need` bytes from the offset would hold it (header or whole record). */
  | { kind: 'incomplete'; need: number }
  /** Not a record: wrong magic, an implausible length or a checksum mismatch. */
  | { kind: 'corrupt'; reason: string }

/** Inspects the record at `offset` of `buf[0, end)`, verifying its checksum. */
export function readWalRecord(buf: Buffer, offset: number, end = buf.length): WalFrame {
  if (end - offset < WAL_RECORD_HEADER_BYTES) {
    // A partial header is only "incomplete" if what is there could be a header.
    const have = Math.min(end - offset, 4)
    if (buf.compare(MAGIC_BYTES, 0, have, offset, offset + have) !== 0) return { kind: 'corrupt', reason: 'bad magic' }
    return { kind: 'incomplete', need: WAL_RECORD_HEADER_BYTES }
  }
  if (buf.readUInt32LE(offset) !== WAL_RECORD_MAGIC) return { kind: 'corrupt', reason: 'bad magic' }
  const length = buf.readUInt32LE(offset + 8)
  if (length > WAL_RECORD_MAX_PAYLOAD) return { kind: 'corrupt', reason: `implausible length ${length}` }
  const recordEnd = offset + WAL_RECORD_HEADER_BYTES + length
  if (recordEnd > end) return { kind: 'incomplete', need: WAL_RECORD_HEADER_BYTES + length }
  if (crc32(buf, offset + 8, recordEnd) !== buf.readUInt32LE(offset + 4)) return { kind: 'corrupt', reason: 'checksum mismatch' }
  return {
    kind: 'record',
    payloadStart: offset + WAL_RECORD_HEADER_BYTES,
    end: recordEnd,
    count: buf.readUInt32LE(offset + 12),
    appendedAt: buf.readDoubleLE(offset + 16),
    minTs: buf.readDoubleLE(offset + 24),
    maxTs: buf.readDoubleLE(offset + 32),
  }
}

/** Offset of the first complete, valid record in `buf[from, end)`, or -1: how a reader resynchronises after corruption. */
export function findWalRecord(buf: Buffer, from: number, end = buf.length): number {
  for (let at = buf.indexOf(MAGIC_BYTES, from); at >= 0 && at < end; at = buf.indexOf(MAGIC_BYTES, at + 1)) {
    if (readWalRecord(buf, at, end).kind === 'record') return at
  }
  return -1
}

const NO_REJECTIONS: readonly RejectedReading[] = Object.freeze([])

/** What an append that refused none of `count` readings returns, for the usual counts: shared, so not allocated. */
const ALL_ACCEPTED = Array.from({ length: 129 }, (_, count) => Object.freeze({ count, rejected: NO_REJECTIONS }))

/**
 * The least and greatest event time of the record being sealed, as header bytes 24 .. 40 hold them. Set where they
 * are found rather than passed to `seal`: a double passed to a call is put on the heap as a number.
 */
const TS_RANGE = new DataView(new ArrayBuffer(16))
const TS_RANGE_BYTES = new Uint8Array(TS_RANGE.buffer)

/**
 * A growable buffer of whole records: the group a commit writes with one `write` and one `fdatasync`.
 * Encoding happens here, once per reading, straight into the buffer (no string per line).
 */
export class WalRecordBuffer implements LineSink {
  /** The bytes; valid in `[0, length)`. */
  buf: Buffer
  /** Bytes of whole records. */
  length = 0
  /** Records in the buffer. */
  records = 0
  /** Points in the buffer. */
  points = 0
  /** Append time of the first record, epoch ms; NaN while empty. */
  firstAppendedAt = Number.NaN

  constructor(capacity = 256 * 1024) {
    this.buf = Buffer.allocUnsafe(capacity)
  }

  /**
   * Encodes `readings` as one record appended at `appendedAt`; readings that cannot be encoded are left out and
   * returned. Writes nothing when none can be encoded. Returns how many points went in and the rejected ones.
   */
  appendReadings(readings: readonly Reading[], appendedAt: number): { count: number; rejected: readonly RejectedReading[] } {
    const start = this.length
    let off = start + WAL_RECORD_HEADER_BYTES
    this.reserve(off, 192 * readings.length + 64)
    let count = 0
    let minTs = Number.POSITIVE_INFINITY
    let maxTs = Number.NEGATIVE_INFINITY
    let rejected: RejectedReading[] | undefined
    for (let i = 0; i < readings.length; i++) {
      const reading = readings[i] as Reading
      let end: number
      try {
        end = writeReading(reading, this, off)
      } catch (err) {
        if (!(err instanceof LineEncodingError)) throw err
        ;(rejected ??= []).push({ reading, reason: err.message })
        continue
      }
      this.reserve(end, 1)
      this.buf[end] = 0x0a
      off = end + 1
      count++
      const ts = reading.ts
      if (ts < minTs) minTs = ts
      if (ts > maxTs) maxTs = ts
    }
    if (count > 0) {
      TS_RANGE.setFloat64(0, minTs, true)
      TS_RANGE.setFloat64(8, maxTs, true)
      this.seal(start, off, count, appendedAt)
    }
    if (rejected !== undefined) return { count, rejected }
    return ALL_ACCEPTED[count] ?? { count, rejected: NO_REJECTIONS }
  }

  /** Appends pre-encoded lines (without their `\n`) as one record; for tests and tools. */
  appendLines(lines: readonly string[], appendedAt: number, minTs = 0, maxTs = 0): void {
    if (lines.length === 0) return
    const start = this.length
    let off = start + WAL_RECORD_HEADER_BYTES
    for (const line of lines) {
      this.reserve(off, line.length * 3 + 1)
      off += this.buf.write(line, off)
      this.buf[off++] = 0x0a
    }
    TS_RANGE.setFloat64(0, minTs, true)
    TS_RANGE.setFloat64(8, maxTs, true)
    this.seal(start, off, lines.length, appendedAt)
  }

  /** Takes back the last record (`count` points), ending the buffer at `length` again. */
  undoLast(length: number, count: number): void {
    this.length = length
    this.records--
    this.points -= count
    if (this.records === 0) this.firstAppendedAt = Number.NaN
  }

  /** The whole records as one view (no copy). */
  bytes(): Buffer {
    return this.buf.subarray(0, this.length)
  }

  /** Empties the buffer, keeping its memory. */
  reset(): void {
    this.length = 0
    this.records = 0
    this.points = 0
    this.firstAppendedAt = Number.NaN
  }

  /** Writes the header of the record `[start, end)`, its event-time range taken from TS_RANGE. */
  private seal(start: number, end: number, count: number, appendedAt: number): void {
    const buf = this.buf
    buf.writeUInt32LE(WAL_RECORD_MAGIC, start)
    buf.writeUInt32LE(end - start - WAL_RECORD_HEADER_BYTES, start + 8)
    buf.writeUInt32LE(count, start + 12)
    buf.writeDoubleLE(appendedAt, start + 16)
    buf.set(TS_RANGE_BYTES, start + 24)
    buf.writeUInt32LE(crc32(buf, start + 8, end), start + 4)
    if (this.records === 0) this.firstAppendedAt = appendedAt
    this.length = end
    this.records++
    this.points += count
  }

  /** Makes room for `extra` bytes after `used`, keeping `[0, used)`. */
  reserve(used: number, extra: number): void {
    if (this.buf.length - used >= extra) return
    let capacity = this.buf.length * 2
    while (capacity - used < extra) capacity *= 2
    const next = Buffer.allocUnsafe(capacity)
    this.buf.copy(next, 0, 0, used)
    this.buf = next
  }
}
