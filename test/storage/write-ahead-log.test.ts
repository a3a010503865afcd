import * as nodeFs from 'node:fs'
import { appendFile, readFile, readdir, stat, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import type { Reading } from '../../domain.js'
import { AppError } from '../../errors.js'
import { encodeReading } from '../../storage/influx-line.js'
import { WAL_RECORD_HEADER_BYTES, WalRecordBuffer, readWalRecord } from '../../storage/wal-record.js'
import { createWriteAheadLog, segmentFileName, type WalEvent, type WalFs, type WriteAheadLogOptions } from '../../storage/write-ahead-log.js'
import { deferred, waitFor, withTimeout } from '../helpers/wait-for.js'
import { capturingLogger, lineTimes, readAll, reading, tempDir } from './storage-fixtures.js'

const cleanups: Array<() => Promise<unknown>> = []

afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup()
})

async function freshDir(): Promise<string> {
  const { dir, remove } = await tempDir()
  cleanups.push(remove)
  return dir
}

async function openLog(dir: string, options: Partial<WriteAheadLogOptions> = {}) {
  const { logger, lines } = capturingLogger()
  const wal = await createWriteAheadLog({ dir, logger, ...options })
  cleanups.push(() => wal.close())
  const events: WalEvent[] = []
  for (const event of ['near', 'normal', 'full', 'space'] as const) wal.on(event, () => events.push(event))
  return { wal, lines, events }
}

const T0 = Date.UTC(2026, 10, 27, 10)
/** One reading per index, its ts T0 + i s, so lines can be told apart by their timestamp. */
const at = (i: number, sensor = 'WL-0001'): Reading => reading({ sensor, ts: T0 + i * 1000, fields: { level_m: 3 + i / 1000 } })
const times = (from: number, n: number): number[] => Array.from({ length: n }, (_, i) => T0 + (from + i) * 1000)

function logged(lines: Array<Record<string, unknown>>, msg: string): Array<Record<string, unknown>> {
  return lines.filter((l) => l.msg === msg)
}

async function segmentFiles(dir: string): Promise<string[]> {
  return (await readdir(dir)).filter((n) => n.endsWith('.wal')).sort()
}

const realWrite = (fd: number, buffer: Buffer, offset: number, length: number, position: number): Promise<number> =>
  new Promise((resolve, reject) => nodeFs.write(fd, buffer, offset, length, position, (err, n) => (err ? reject(err) : resolve(n))))
const realFdatasync = (fd: number): Promise<void> => new Promise((resolve, reject) => nodeFs.fdatasync(fd, (err) => (err ? reject(err) : resolve())))

/** An fs whose first fdatasync waits for the test to release it. */
function gatedFs(): { fs: Partial<WalFs>; started: ReturnType<typeof deferred>; release: () => void } {
  const started = deferred()
  const gate = deferred()
  return {
    fs: {
      fdatasync: async (fd) => {
        started.resolve()
        await gate.promise
        await realFdatasync(fd)
      },
    },
    started,
    release: () => gate.resolve(),
  }
}

describe('write-ahead log', () => {
  it('stores each append as one record of line-protocol lines and reads them back in order', async () => {
    const { wal } = await openLog(await freshDir())
    await wal.append([at(0), at(1)])
    await wal.append([at(2)])
    await wal.append([at(3, 'WL-0002'), at(4)])
    expect(wal.backlog).toBe(5)
    const { lines, batches } = await readAll(wal)
    expect(lines).toEqual([at(0), at(1), at(2), at(3, 'WL-0002'), at(4)].map(encodeReading))
    expect(batches).toEqual([expect.objectContaining({ from: 0, points: 5, records: 3, minTs: T0, maxTs: T0 + 4000, replayed: false })])
    expect(batches[0]?.to).toBe(wal.durablePosition)
  })

  it('resolves an append only after the fdatasync of its group', async () => {
    const gated = gatedFs()
    const { wal } = await openLog(await freshDir(), { fs: gated.fs })
    let resolved = false
    const appended = wal.append([at(0)]).then(() => {
      resolved = true
    })
    await withTimeout(gated.started.promise, 5_000, 'the fdatasync to start')
    expect(resolved).toBe(false)
    expect(wal.durablePosition).toBe(0)
    expect((await wal.read(0)).points).toBe(0)
    gated.release()
    await withTimeout(appended, 5_000, 'the append')
    expect(wal.durablePosition).toBeGreaterThan(0)
    expect((await wal.read(0)).points).toBe(1)
  })

  it.each([5, 0])('commits a thousand concurrent appends with a couple of fsyncs (syncMs %i)', async (syncMs) => {
    const { wal } = await openLog(await freshDir(), { syncMs })
    await Promise.all(Array.from({ length: 1000 }, (_, i) => wal.append([at(i)])))
    expect(wal.stats.records).toBe(1000)
    expect(wal.stats.fsyncs).toBeLessThanOrEqual(2)
    expect(wal.stats.groupCommits).toBe(wal.stats.fsyncs)
    expect(wal.stats.fsyncLatency.count).toBe(wal.stats.fsyncs)
    expect(lineTimes((await readAll(wal)).lines)).toEqual(times(0, 1000))
  })

  it('keeps committing while a slow fsync is in flight, in the next group', async () => {
    const gated = gatedFs()
    const { wal } = await openLog(await freshDir(), { fs: gated.fs, syncMs: 1 })
    const first = wal.append([at(0)])
    await withTimeout(gated.started.promise, 5_000, 'the first fdatasync')
    const later = Array.from({ length: 100 }, (_, i) => wal.append([at(i + 1)]))
    expect(wal.appendedPosition).toBeGreaterThan(wal.durablePosition)
    gated.release()
    await Promise.all([first, ...later])
    expect(wal.stats.groupCommits).toBe(2)
    expect(lineTimes((await readAll(wal)).lines)).toEqual(times(0, 101))
  })

  it('starts new segments past segmentBytes and deletes whole segments once confirmed', async () => {
    const dir = await freshDir()
    const { wal } = await openLog(dir, { maxBytes: 1024 * 1024, segmentBytes: 4096, checkpointMs: 0, syncMs: 0 })
    for (let i = 0; i < 120; i++) await wal.append([at(i)])
    const before = await segmentFiles(dir)
    expect(before.length).toBeGreaterThan(3)
    expect(wal.segments).toBe(before.length)
    expect(before[0]).toBe(segmentFileName(0))
    const sizes = await Promise.all(before.map(async (n) => (await stat(join(dir, n))).size))
    expect(wal.bytes).toBe(sizes.reduce((a, b) => a + b, 0))
    for (const size of sizes.slice(0, -1)) expect(size).toBeLessThanOrEqual(4096)

    const { batches } = await readAll(wal, { confirm: true, maxPoints: 50 })
    expect(batches.map((b) => b.points)).toEqual([50, 50, 20])
    // A segment leaves the list before its file is unlinked and counted: wait for the count, then look at the files.
    await waitFor(() => wal.segments === 1 && wal.stats.segmentsDeleted === before.length - 1, { message: 'confirmed segments deleted' })
    expect(await segmentFiles(dir)).toEqual([before.at(-1)])
    expect(wal.backlog).toBe(0)
    await wal.append([at(200)])
    expect(lineTimes((await readAll(wal)).lines)).toEqual([T0 + 200_000])
  })

  it('reopens at the checkpoint and replays exactly the unconfirmed records', async () => {
    const dir = await freshDir()
    const first = await openLog(dir)
    for (let i = 0; i < 10; i++) await first.wal.append([at(i)])
    const batch = await first.wal.read(0, { maxPoints: 4 })
    expect(batch.points).toBe(4)
    first.wal.confirm(batch)
    await first.wal.close()
    expect(JSON.parse(await readFile(join(dir, 'checkpoint'), 'utf8'))).toMatchObject({ position: batch.to })

    const second = await openLog(dir)
    expect(second.wal.confirmedPosition).toBe(batch.to)
    expect(second.wal.backlog).toBe(6)
    expect(second.wal.stats.replayedPoints).toBe(6)
    expect(logged(second.lines, 'wal opened, replaying unconfirmed records')).toEqual([expect.objectContaining({ replayPoints: 6 })])
    await second.wal.append([at(10)])
    const { lines, batches } = await readAll(second.wal, { maxPoints: 6 })
    expect(lineTimes(lines)).toEqual(times(4, 7))
    expect(batches.map((b) => [b.points, b.replayed])).toEqual([
      [6, true],
      [1, false],
    ])
  })

  it.each([
    ['half a header', (record: Buffer) => record.subarray(0, 20)],
    ['a header and half the payload', (record: Buffer) => record.subarray(0, record.length - 30)],
    ['zeros', () => Buffer.alloc(300)],
  ])('cuts a torn tail of %s on open, logs the dropped bytes, and appends after it', async (_name, torn) => {
    const dir = await freshDir()
    const first = await openLog(dir)
    for (let i = 0; i < 3; i++) await first.wal.append([at(i)])
    await first.wal.close()
    const records = new WalRecordBuffer()
    records.appendReadings([at(3), at(4)], 0)
    const tail = torn(Buffer.from(records.bytes()))
    const file = join(dir, segmentFileName(0))
    const size = (await stat(file)).size
    await appendFile(file, tail)

    const second = await openLog(dir)
    expect(logged(second.lines, 'wal torn tail truncated')).toEqual([expect.objectContaining({ level: 40, droppedBytes: tail.length, position: size })])
    expect(second.wal.stats.tornBytesTruncated).toBe(tail.length)
    expect((await stat(file)).size).toBe(size)
    expect(second.wal.backlog).toBe(3)
    await second.wal.append([at(5)])
    expect(lineTimes((await readAll(second.wal)).lines)).toEqual([...times(0, 3), T0 + 5000])
  })

  it('skips a corrupt record in the middle, logs it as an error, and keeps the records after it', async () => {
    const dir = await freshDir()
    const first = await openLog(dir)
    const ends: number[] = []
    for (let i = 0; i < 5; i++) {
      await first.wal.append([at(i)])
      ends.push(first.wal.durablePosition)
    }
    await first.wal.close()
    const file = join(dir, segmentFileName(0))
    const bytes = await readFile(file)
    const corruptAt = (ends[0] as number) + WAL_RECORD_HEADER_BYTES + 5
    bytes[corruptAt] = (bytes[corruptAt] as number) ^ 0x01
    await writeFile(file, bytes)

    const second = await openLog(dir)
    const recordBytes = (ends[1] as number) - (ends[0] as number)
    expect(logged(second.lines, 'wal corrupt record skipped')).toEqual([expect.objectContaining({ level: 50, position: ends[0], skippedBytes: recordBytes, reason: 'checksum mismatch' })])
    expect(second.wal.backlog).toBe(4)
    const { lines, batches } = await readAll(second.wal, { confirm: true })
    expect(lineTimes(lines)).toEqual([T0, T0 + 2000, T0 + 3000, T0 + 4000])
    expect(batches.at(-1)?.to).toBe(second.wal.durablePosition)
    expect(second.wal.backlog).toBe(0)
  })

  it('returns unencodable readings as rejected and keeps them out of the log', async () => {
    const { wal } = await openLog(await freshDir())
    const nan = reading({ sensor: 'WL-NaN', fields: { level_m: Number.NaN } })
    const newline = reading({ sensor: 'WL\n2' })
    expect(await wal.append([at(0), nan, at(1)])).toEqual({ rejected: [{ reading: nan, reason: expect.stringMatching(/finite/) }] })
    expect(await wal.append([newline])).toEqual({ rejected: [{ reading: newline, reason: expect.stringMatching(/cannot be encoded/) }] })
    expect(await wal.append([])).toEqual({ rejected: [] })
    expect(wal.stats).toMatchObject({ records: 1, pointsAppended: 2, pointsUnencodable: 2 })
    expect(lineTimes((await readAll(wal)).lines)).toEqual(times(0, 2))
  })

  it('raises near at 90 %, refuses appends at the bound without appending, and reports space once confirmed segments are deleted', async () => {
    const dir = await freshDir()
    const maxBytes = 64 * 1024
    const { wal, events } = await openLog(dir, { maxBytes, segmentBytes: 4096, checkpointMs: 0, syncMs: 0 })
    let refused: unknown
    let i = 0
    for (; i < 10_000; i++) {
      try {
        await wal.append([at(i)])
      } catch (err) {
        refused = err
        break
      }
      if (wal.bytes < maxBytes * 0.9) expect(wal.near).toBe(false)
      else expect(wal.near).toBe(true)
    }
    expect(refused).toBeInstanceOf(AppError)
    expect(refused).toMatchObject({ code: 'CW_ERR_WAL_FULL', statusCode: 503 })
    expect(events).toEqual(['near', 'full'])
    expect(wal.full).toBe(true)
    const bytes = wal.bytes
    const position = wal.appendedPosition
    await expect(wal.append([at(i + 1)])).rejects.toMatchObject({ code: 'CW_ERR_WAL_FULL' })
    expect(wal.bytes).toBe(bytes)
    expect(wal.appendedPosition).toBe(position)
    expect(bytes).toBeLessThanOrEqual(maxBytes)
    expect(wal.stats.appendsRefused).toBe(2)
    expect(wal.backlog).toBe(i)

    await readAll(wal, { confirm: true })
    await waitFor(() => events.includes('space'), { message: "the 'space' event" })
    expect(events).toEqual(['near', 'full', 'space', 'normal'])
    expect(wal.full).toBe(false)
    expect(wal.near).toBe(false)
    expect(wal.bytes).toBeLessThan(maxBytes * 0.9)
    await wal.append([at(i + 2)])
    expect(lineTimes((await readAll(wal)).lines)).toEqual([T0 + (i + 2) * 1000])
  })

  it('refuses one append too big for the space left without turning full', async () => {
    const maxBytes = 64 * 1024
    const { wal, events } = await openLog(await freshDir(), { maxBytes, segmentBytes: 4096, syncMs: 0 })
    await wal.append([at(0)])
    const huge = Array.from({ length: 600 }, (_, i) => at(i + 1))
    await expect(wal.append(huge)).rejects.toMatchObject({ code: 'CW_ERR_WAL_FULL' })
    expect(wal.full).toBe(false)
    expect(events).toEqual([])
    await wal.append([at(1000)])
    expect(lineTimes((await readAll(wal)).lines)).toEqual([T0, T0 + 1_000_000])
  })

  it('reads across segments and over the gap a cut tail leaves between them', async () => {
    const dir = await freshDir()
    const first = await openLog(dir, { maxBytes: 1024 * 1024, segmentBytes: 4096, syncMs: 0 })
    for (let i = 0; i < 80; i++) await first.wal.append([at(i)])
    await first.wal.close()
    const files = await segmentFiles(dir)
    expect(files.length).toBeGreaterThan(2)
    // Damage the last record of the first segment: nothing valid follows it in that file, so it is cut as a torn tail.
    const file = join(dir, files[0] as string)
    const bytes = await readFile(file)
    let records = 0
    let lastStart = 0
    for (let off = 0; off < bytes.length; records++) {
      const frame = readWalRecord(bytes, off)
      if (frame.kind !== 'record') throw new Error(`unexpected ${frame.kind}`)
      lastStart = off
      off = frame.end
    }
    bytes[bytes.length - 1] = 0
    await writeFile(file, bytes)

    const second = await openLog(dir)
    expect(logged(second.lines, 'wal torn tail truncated')).toEqual([expect.objectContaining({ droppedBytes: bytes.length - lastStart })])
    expect(second.wal.backlog).toBe(79)
    const { lines, batches } = await readAll(second.wal, { confirm: true })
    expect(lineTimes(lines)).toEqual(times(0, 80).filter((_, i) => i !== records - 1))
    expect(batches).toHaveLength(1)
    expect(second.wal.backlog).toBe(0)
    expect(second.wal.confirmedPosition).toBe(second.wal.durablePosition)
  })

  it('commits what is pending on close and rejects appends after it', async () => {
    const dir = await freshDir()
    const first = await openLog(dir, { syncMs: 1000 })
    const pending = first.wal.append([at(0)])
    await first.wal.close()
    await withTimeout(pending, 1000, 'the pending append')
    await expect(first.wal.append([at(1)])).rejects.toMatchObject({ code: 'CW_ERR_WAL_CLOSED' })
    const second = await openLog(dir)
    expect(lineTimes((await readAll(second.wal)).lines)).toEqual([T0])
  })

  it('dates the oldest unconfirmed record by its append time', async () => {
    let now = 1_000_000
    const { wal } = await openLog(await freshDir(), { clock: { now: () => now } })
    expect(wal.oldestUnconfirmedAt()).toBeNull()
    const first = wal.append([at(0)])
    expect(wal.oldestUnconfirmedAt()).toBe(1_000_000)
    await first
    now += 5_000
    await wal.append([at(1)])
    expect(wal.oldestUnconfirmedAt()).toBe(1_000_000)
    wal.confirm(await wal.read(0, { maxPoints: 1 }))
    expect(wal.oldestUnconfirmedAt()).toBe(1_005_000)
    await readAll(wal, { confirm: true })
    expect(wal.oldestUnconfirmedAt()).toBeNull()
    now += 5_000
    await wal.append([at(2)])
    expect(wal.oldestUnconfirmedAt()).toBe(1_010_000)
  })

  it('keeps every resolved append across a crash that loses the unsynced group', async () => {
    const dir = await freshDir()
    let crashed = false
    const hang = new Promise<never>(() => undefined)
    const crashingFs: Partial<WalFs> = {
      write: (fd, buffer, offset, length, position) => (crashed ? hang : realWrite(fd, buffer, offset, length, position)),
    }
    const { logger } = capturingLogger()
    // Not closed: a SIGKILL does not close; its pending group never reaches the file.
    const doomed = await createWriteAheadLog({ dir, logger, fs: crashingFs })
    const resolved = await Promise.all(Array.from({ length: 300 }, (_, i) => doomed.append([at(i), at(i + 10_000)]).then(() => i)))
    crashed = true
    void doomed.append([at(999_999)])

    const { wal } = await openLog(dir)
    expect(wal.backlog).toBe(600)
    const { lines } = await readAll(wal)
    expect(new Set(lineTimes(lines))).toEqual(new Set(resolved.flatMap((i) => [T0 + i * 1000, T0 + (i + 10_000) * 1000])))
  })

  it('rejects the appends of a failed commit and stays usable', async () => {
    let fail: NodeJS.ErrnoException | undefined = Object.assign(new Error('i/o error'), { code: 'EIO' })
    const fs: Partial<WalFs> = {
      write: async (fd, buffer, offset, length, position) => {
        // A failed write may still have put part of the group in the file.
        const written = await realWrite(fd, buffer, offset, Math.ceil(length / 2), position)
        const injected = fail
        fail = undefined
        if (injected !== undefined) throw injected
        return written
      },
    }
    const { wal, lines } = await openLog(await freshDir(), { fs })
    await expect(wal.append([at(0)])).rejects.toMatchObject({ code: 'CW_ERR_WAL_IO' })
    expect(logged(lines, 'wal group commit failed, its appends are rejected')).toHaveLength(1)
    expect(wal.backlog).toBe(0)
    await wal.append([at(1)])
    expect(lineTimes((await readAll(wal)).lines)).toEqual([T0 + 1000])

    fail = Object.assign(new Error('no space left on device'), { code: 'ENOSPC' })
    const events: WalEvent[] = []
    wal.on('full', () => events.push('full'))
    await expect(wal.append([at(2)])).rejects.toMatchObject({ code: 'CW_ERR_WAL_FULL' })
    expect(wal.full).toBe(true)
    expect(events).toEqual(['full'])
  })

  it('refuses a directory another live process holds', async () => {
    const dir = await freshDir()
    await writeFile(join(dir, 'LOCK'), `${process.ppid}\n`)
    const { logger } = capturingLogger()
    await expect(createWriteAheadLog({ dir, logger })).rejects.toMatchObject({ code: 'CW_ERR_WAL_LOCKED' })
    await writeFile(join(dir, 'LOCK'), '999999999\n')
    const { wal } = await openLog(dir)
    expect(await readFile(join(dir, 'LOCK'), 'utf8')).toBe(`${process.pid}\n`)
    await wal.close()
    await expect(stat(join(dir, 'LOCK'))).rejects.toMatchObject({ code: 'ENOENT' })
  })
})

describe('write-ahead log appendPoints', () => {
  it('keeps pre-encoded points in order with the readings, durable once resolved, and survives a reopen', async () => {
    const dir = await freshDir()
    const { wal } = await openLog(dir)
    await wal.append([at(1)])
    const line = `water_index,district=xihu,index=clear,segment=river-1 confidence=1,level=3i,value=76.6 ${T0 + 2000}`
    await wal.appendPoints([line], T0 + 2000, T0 + 2000)
    await wal.append([at(3)])
    const { lines, batches } = await readAll(wal)
    expect(lines).toEqual([encodeReading(at(1)), line, encodeReading(at(3))])
    expect(batches.reduce((n, b) => n + b.points, 0)).toBe(3)
    await wal.close()
    const reopened = await openLog(dir)
    expect((await readAll(reopened.wal)).lines).toContain(line)
  })
})
