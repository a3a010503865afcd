import { describe, expect, it } from 'vitest'
import { encodeReading } from '../../storage/influx-line.js'
import { WAL_RECORD_HEADER_BYTES, WalRecordBuffer, findWalRecord, readWalRecord } from '../../storage/wal-record.js'
import { reading } from './storage-fixtures.js'

const T0 = Date.UTC(2026, 10, 27, 10)

function threeRecords(): { records: WalRecordBuffer; ends: number[] } {
  const records = new WalRecordBuffer(64)
  const ends: number[] = []
  for (let i = 0; i < 3; i++) {
    records.appendReadings([reading({ ts: T0 + i * 1000, fields: { level_m: i } }), reading({ ts: T0 + i * 1000 + 500, fields: { level_m: i + 0.5 } })], 1_000_000 + i)
    ends.push(records.length)
  }
  return { records, ends }
}

describe('wal record framing', () => {
  it('frames one append as a header and its line-protocol lines, each ending in a newline', () => {
    const records = new WalRecordBuffer(16)
    const readings = [reading({ ts: T0 + 2000 }), reading({ ts: T0, sensor: 'WL-0002' })]
    const { count, rejected } = records.appendReadings(readings, 123_456)
    expect(count).toBe(2)
    expect(rejected).toEqual([])
    const frame = readWalRecord(records.bytes(), 0)
    expect(frame).toEqual({ kind: 'record', payloadStart: WAL_RECORD_HEADER_BYTES, end: records.length, count: 2, appendedAt: 123_456, minTs: T0, maxTs: T0 + 2000 })
    expect(records.bytes().subarray(WAL_RECORD_HEADER_BYTES).toString()).toBe(`${encodeReading(readings[0]!)}\n${encodeReading(readings[1]!)}\n`)
  })

  it('leaves unencodable readings out and returns them with the reason', () => {
    const records = new WalRecordBuffer()
    const bad = reading({ fields: { level_m: Number.NaN } })
    const { count, rejected } = records.appendReadings([reading(), bad], 1)
    expect(count).toBe(1)
    expect(rejected).toEqual([{ reading: bad, reason: expect.stringMatching(/finite/) }])
    expect(records.appendReadings([bad], 2)).toEqual({ count: 0, rejected: [expect.objectContaining({ reading: bad })] })
    expect(records.records).toBe(1)
  })

  it('reports every truncation of the last record as incomplete, never as a record', () => {
    const { records, ends } = threeRecords()
    const all = records.bytes()
    const start = ends[1]!
    for (let cut = start + 1; cut < all.length; cut++) {
      const frame = readWalRecord(all.subarray(0, cut), start)
      expect(frame.kind, `cut at ${cut}`).toBe('incomplete')
    }
    expect(readWalRecord(all, start).kind).toBe('record')
  })

  it.each([
    ['the magic', 0, 'bad magic'],
    ['the checksum', 5, 'checksum mismatch'],
    ['the point count', 12, 'checksum mismatch'],
    ['the append time', 20, 'checksum mismatch'],
    ['a byte of the payload', WAL_RECORD_HEADER_BYTES + 10, 'checksum mismatch'],
    ['the last byte of the payload', -1, 'checksum mismatch'],
  ])('detects a corrupted byte in %s', (_name, at, reason) => {
    const { records, ends } = threeRecords()
    const bytes = Buffer.from(records.bytes())
    const start = ends[0]!
    const offset = at < 0 ? ends[1]! + at : start + at
    bytes[offset] = (bytes[offset] as number) ^ 0x40
    expect(readWalRecord(bytes, start)).toEqual({ kind: 'corrupt', reason })
  })

  it('finds the next valid record after a corrupt one', () => {
    const { records, ends } = threeRecords()
    const bytes = Buffer.from(records.bytes())
    bytes[ends[0]! + WAL_RECORD_HEADER_BYTES + 3] = 0
    expect(readWalRecord(bytes, ends[0]!).kind).toBe('corrupt')
    expect(findWalRecord(bytes, ends[0]! + 1)).toBe(ends[1])
    expect(findWalRecord(bytes, ends[1]! + 1)).toBe(-1)
  })

  it('does not take zeros or garbage for a record', () => {
    expect(readWalRecord(Buffer.alloc(100), 0)).toEqual({ kind: 'corrupt', reason: 'bad magic' })
    expect(readWalRecord(Buffer.from('CW'), 0)).toEqual({ kind: 'incomplete', need: WAL_RECORD_HEADER_BYTES })
    expect(readWalRecord(Buffer.from('XY'), 0)).toEqual({ kind: 'corrupt', reason: 'bad magic' })
    expect(findWalRecord(Buffer.alloc(4096, 'CWL1'), 0)).toBe(-1)
  })
})
