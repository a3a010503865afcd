import * as nodeFs from 'node:fs'
import { afterAll, afterEach, beforeAll, describe, expect, inject, it } from 'vitest'
import type { Reading } from '../../domain.js'
import { ensureDatabase } from '../../storage/influx-admin.js'
import { influxExec } from '../../storage/influx-http.js'
import { createInfluxWriter, type InfluxWriterOptions, type InfluxWriterStatus, type RejectedLine } from '../../storage/influx-writer.js'
import { createWriteAheadLog, type WalFs, type WriteAheadLog, type WriteAheadLogOptions } from '../../storage/write-ahead-log.js'
import { createInfluxd, freePort, type Influxd } from '../helpers/influxd.js'
import { waitFor, withTimeout } from '../helpers/wait-for.js'
import { capturingLogger, dropDb, reading, rows, silentServer, tempDir, uniqueDb, writeLines } from './storage-fixtures.js'

const url = inject('influxUrl')
const cleanups: Array<() => Promise<unknown>> = []

afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup()
})

function freshDb(target = url): string {
  const db = uniqueDb()
  cleanups.push(() => dropDb(target, db).catch(() => undefined))
  return db
}

async function freshDir(): Promise<string> {
  const { dir, remove } = await tempDir()
  cleanups.push(remove)
  return dir
}

type Captured = ReturnType<typeof capturingLogger>

async function openWal(dir: string, captured: Captured = capturingLogger(), options: Partial<WriteAheadLogOptions> = {}): Promise<WriteAheadLog> {
  const wal = await createWriteAheadLog({ dir, logger: captured.logger, syncMs: 1, ...options })
  cleanups.push(() => wal.close())
  return wal
}

async function makeWriter(options: Partial<InfluxWriterOptions> & { database: string }, wal?: WriteAheadLog) {
  const captured = capturingLogger()
  const source = wal ?? (await openWal(await freshDir(), captured))
  const writer = createInfluxWriter({
    url,
    source,
    logger: captured.logger,
    minBackoffMs: 20,
    maxBackoffMs: 200,
    flushIntervalMs: 50,
    closeTimeoutMs: 2_000,
    ...options,
  })
  const statuses: InfluxWriterStatus[] = []
  writer.onStatus((s) => statuses.push(s))
  cleanups.push(() => writer.close())
  return { writer, wal: source, lines: captured.lines, statuses }
}

function logged(lines: Array<Record<string, unknown>>, msg: string): Array<Record<string, unknown>> {
  return lines.filter((l) => l.msg === msg)
}

const T0 = Date.now() - 3_600_000
const levels = (n: number, from = 0, sensor = 'WL-0001'): Reading[] =>
  Array.from({ length: n }, (_, i) => reading({ sensor, ts: T0 + (from + i) * 1000, fields: { level_m: 3 + (from + i) / 100 } }))

async function count(target: string, db: string, measurement: string, field: string): Promise<number> {
  const result = await rows(target, db, `SELECT count("${field}") FROM "${measurement}"`)
  return Number(result[0]?.count ?? 0)
}

/** Every point of a measurement, whatever its fields (`count(*)` counts per field, so take the largest). */
async function countAll(target: string, db: string, measurement: string): Promise<number> {
  const result = await rows(target, db, `SELECT count(*) FROM "${measurement}"`)
  return Math.max(0, ...Object.entries(result[0] ?? {}).filter(([k]) => k.startsWith('count_')).map(([, v]) => Number(v)))
}

describe('influx writer', () => {
  it('writes readings of several kinds with their tags and quality fields', async () => {
    const db = freshDb()
    const { writer, wal, statuses } = await makeWriter({ database: db })
    await writer.start()
    await wal.append([
      reading({ ts: T0, fields: { level_m: 3.91 } }),
      reading({ ts: T0 + 1000, fields: { level_m: 4.2 }, quality: 'suspect', qualityReason: 'rate_of_change', tsSource: 'server' }),
      reading({ ts: T0, kind: 'parking', sensor: 'P-07', segment: 'zone-4', fields: { occupied: 312, capacity: 420 } }),
      reading({ ts: T0, kind: 'water_quality', sensor: 'WQ-1', fields: { do_mgl: 6.2, ph: 7 } }),
      reading({ ts: T0, kind: 'flow', sensor: 'FL-1', segment: 'a b,c=d', fields: { flow_m3s: 12, velocity_ms: 0.5 } }),
    ])
    await withTimeout(writer.flush(), 10_000, 'flush')

    expect(writer.status).toBe('ok')
    expect(statuses).toEqual(['ok'])
    expect(writer.backlog).toBe(0)
    expect(wal.confirmedPosition).toBe(wal.durablePosition)
    expect(writer.retrying).toBe(false)
    expect(writer.stats).toMatchObject({ pointsWritten: 5, pointsRejected: 0, writeErrors: 0, backfills: 0 })
    expect(writer.stats.batchesWritten).toBeGreaterThanOrEqual(1)
    expect(writer.stats.latency.count).toBe(writer.stats.batchesWritten)
    expect(writer.stats.latency.buckets.at(-1)?.count).toBe(writer.stats.batchesWritten)

    expect(await rows(url, db, 'SELECT * FROM "water_level" ORDER BY time')).toEqual([
      { time: T0, sensor: 'WL-0001', district: 'xihu', segment: 'xixi-river-2', level_m: 3.91, quality: 'good', quality_reason: '', ts_source: 'device' },
      { time: T0 + 1000, sensor: 'WL-0001', district: 'xihu', segment: 'xixi-river-2', level_m: 4.2, quality: 'suspect', quality_reason: 'rate_of_change', ts_source: 'server' },
    ])
    expect(await rows(url, db, 'SELECT * FROM "parking"')).toEqual([expect.objectContaining({ sensor: 'P-07', segment: 'zone-4', occupied: 312, capacity: 420 })])
    expect(await rows(url, db, 'SELECT * FROM "water_quality"')).toEqual([expect.objectContaining({ sensor: 'WQ-1', do_mgl: 6.2, ph: 7 })])
    expect(await rows(url, db, 'SELECT * FROM "flow"')).toEqual([expect.objectContaining({ segment: 'a b,c=d', flow_m3s: 12, velocity_ms: 0.5 })])
    const types = await rows(url, db, 'SHOW FIELD KEYS')
    expect(types).toEqual(
      expect.arrayContaining([
        { fieldKey: 'occupied', fieldType: 'integer' },
        { fieldKey: 'capacity', fieldType: 'integer' },
        { fieldKey: 'level_m', fieldType: 'float' },
        { fieldKey: 'flow_m3s', fieldType: 'float' },
        { fieldKey: 'quality', fieldType: 'string' },
      ]),
    )
  })

  it('stores an integral float as a float, so a later fractional value does not conflict', async () => {
    const db = freshDb()
    const rejected: RejectedLine[] = []
    const { writer, wal } = await makeWriter({ database: db, onRejected: (r) => rejected.push(...r) })
    await writer.start()
    await wal.append([reading({ ts: T0, fields: { level_m: 3 } })])
    await withTimeout(writer.flush(), 10_000, 'first flush')
    await wal.append([reading({ ts: T0 + 1000, fields: { level_m: 3.25 } })])
    await withTimeout(writer.flush(), 10_000, 'second flush')
    expect(rejected).toEqual([])
    expect((await rows(url, db, 'SELECT "level_m" FROM "water_level"')).map((r) => r.level_m)).toEqual([3, 3.25])
  })

  it('writes the good points of a batch and hands each refused line, decoded, to onRejected', async () => {
    const db = freshDb()
    await ensureDatabase({ url, database: db })
    // `occupied` as a float first: the writer's integer `occupied` now conflicts in this shard.
    expect(await writeLines(url, db, `parking,sensor=P-00 occupied=1.5 ${T0}`)).toBe(204)
    const rejected: Array<{ lines: readonly RejectedLine[]; reason: string }> = []
    const confirmed: number[] = []
    const { writer, wal } = await makeWriter({
      database: db,
      onRejected: (lines, reason) => rejected.push({ lines, reason }),
      onConfirmed: (n) => confirmed.push(n),
    })
    await writer.start()
    const bad = reading({ ts: T0 + 500, kind: 'parking', sensor: 'P-07', fields: { occupied: 12 } })
    const unencodable = reading({ ts: T0 + 600, sensor: 'WL-NaN', fields: { level_m: Number.NaN } })
    const { rejected: unencoded } = await wal.append([...levels(4), bad, ...levels(3, 10, 'WL-0002'), unencodable, ...levels(2, 20, 'WL-0003')])
    expect(unencoded).toEqual([{ reading: unencodable, reason: expect.stringMatching(/finite/) }])
    await withTimeout(writer.flush(), 10_000, 'flush')

    expect(rejected).toEqual([
      {
        lines: [
          {
            line: `parking,district=xihu,segment=xixi-river-2,sensor=P-07 occupied=12i,quality="good",quality_reason="",ts_source="device" ${T0 + 500}`,
            point: {
              measurement: 'parking',
              tags: { district: 'xihu', segment: 'xixi-river-2', sensor: 'P-07' },
              fields: { occupied: 12, quality: 'good', quality_reason: '', ts_source: 'device' },
              ts: T0 + 500,
            },
          },
        ],
        reason: expect.stringMatching(/field type conflict/),
      },
    ])
    expect(confirmed.reduce((a, b) => a + b, 0)).toBe(10)
    expect(writer.stats.pointsRejected).toBe(1)
    expect(writer.stats.pointsWritten).toBe(9)
    expect(writer.backlog).toBe(0)
    expect(await count(url, db, 'water_level', 'level_m')).toBe(9)
    expect(await rows(url, db, 'SELECT * FROM "parking"')).toEqual([expect.objectContaining({ sensor: 'P-00', occupied: 1.5 })])
    expect(writer.status).toBe('ok')
  })

  it('sends a batch as soon as it is full and the remainder after the flush interval, in log order', async () => {
    const db = freshDb()
    const confirmed: number[] = []
    const { writer, wal } = await makeWriter({ database: db, batchSize: 3, flushIntervalMs: 100, onConfirmed: (n) => confirmed.push(n) })
    await writer.start()
    await Promise.all(levels(7).map((r) => wal.append([r])))
    await waitFor(() => confirmed.reduce((a, b) => a + b, 0) === 7, { timeoutMs: 10_000, message: 'all batches confirmed' })
    expect(confirmed).toEqual([3, 3, 1])
    expect(writer.stats.batchesWritten).toBe(3)
    expect((await rows(url, db, 'SELECT "level_m" FROM "water_level"')).map((r) => r.time)).toEqual(levels(7).map((r) => r.ts))
  })

  it('writes the tail of a burst once the log has been quiet for flushIdleMs, long before the flush interval', async () => {
    const db = freshDb()
    const confirmed: number[] = []
    const { writer, wal } = await makeWriter({ database: db, flushIntervalMs: 600_000, flushIdleMs: 50, onConfirmed: (n) => confirmed.push(n) })
    await writer.start()
    await Promise.all(levels(7).map((r) => wal.append([r])))
    await waitFor(() => confirmed.reduce((a, b) => a + b, 0) === 7, { timeoutMs: 15_000, message: 'the burst written without waiting out the interval' })
    expect(writer.stats.batchesWritten).toBe(1)
    expect(await count(url, db, 'water_level', 'level_m')).toBe(7)
  })

  it('keeps batching a steady stream: the quiet-log flush waits for a pause in the commits', async () => {
    const db = freshDb()
    const confirmed: number[] = []
    const { writer, wal } = await makeWriter({ database: db, flushIntervalMs: 600_000, flushIdleMs: 1_000, onConfirmed: (n) => confirmed.push(n) })
    await writer.start()
    // One append per group commit (each awaited): points become durable every few milliseconds for 2.5 idle periods.
    const started = performance.now()
    let appended = 0
    while (performance.now() - started < 2_500) await wal.append(levels(1, appended++))
    expect(confirmed).toEqual([])
    await waitFor(() => confirmed.length > 0, { timeoutMs: 20_000, message: 'the stream written once it paused' })
    expect(confirmed).toEqual([appended])
  })

  it('drains a long log in order with several requests in flight', async () => {
    const db = freshDb()
    const confirmed: number[] = []
    const { writer, wal } = await makeWriter({ database: db, batchSize: 500, maxInFlight: 3, onConfirmed: (n) => confirmed.push(n) })
    for (let i = 0; i < 40; i++) await wal.append(levels(100, i * 100))
    await writer.start()
    await withTimeout(writer.flush(), 20_000, 'flush')
    expect(confirmed).toEqual(Array.from({ length: 8 }, () => 500))
    expect(wal.confirmedPosition).toBe(wal.durablePosition)
    expect(await count(url, db, 'water_level', 'level_m')).toBe(4000)
  })

  it('re-creates a database dropped under it and keeps writing', async () => {
    const db = freshDb()
    const { writer, wal, lines } = await makeWriter({ database: db })
    await writer.start()
    await wal.append(levels(2))
    await withTimeout(writer.flush(), 10_000, 'flush')
    await influxExec({ url, database: db }, `DROP DATABASE "${db}"`)
    await wal.append(levels(3, 100))
    await withTimeout(writer.flush(), 10_000, 'flush after drop')
    expect(await count(url, db, 'water_level', 'level_m')).toBe(3)
    expect(logged(lines, 'influxdb database missing, re-creating it')).toHaveLength(1)
    expect(writer.stats.pointsRejected).toBe(0)
    expect((await rows(url, db, `SHOW RETENTION POLICIES ON "${db}"`)).map((p) => p.name).sort()).toEqual(['autogen', 'rollup'])
  })

  it('writes what is in the log on close', async () => {
    const db = freshDb()
    const { writer, wal } = await makeWriter({ database: db, flushIntervalMs: 60_000 })
    await writer.start()
    await wal.append(levels(4))
    await writer.close()
    expect(writer.backlog).toBe(0)
    expect(await count(url, db, 'water_level', 'level_m')).toBe(4)
  })

  it('resolves flush at once when nothing is in the log', async () => {
    const { writer } = await makeWriter({ database: freshDb() })
    await writer.start()
    await withTimeout(writer.flush(), 100, 'empty flush')
  })

  it('backfills the rollups of points older than the continuous queries reach', async () => {
    const db = freshDb()
    const { writer, wal } = await makeWriter({ database: db, backfillIntervalMs: 100 })
    await writer.start()
    await wal.append(levels(5))
    await withTimeout(writer.flush(), 10_000, 'fresh points')
    expect(writer.stats.backfills).toBe(0)
    const old = Math.floor((Date.now() - 5 * 3_600_000) / 60_000) * 60_000
    await wal.append(Array.from({ length: 6 }, (_, i) => reading({ ts: old + i * 60_000, fields: { level_m: i } })))
    await withTimeout(writer.flush(), 10_000, 'late points')
    await waitFor(() => writer.stats.backfills === 1, { timeoutMs: 10_000, message: 'a backfill' })
    const rollup = await rows(url, db, `SELECT "mean_level_m" FROM "rollup"."water_level_1m" WHERE time >= ${old}ms AND time < ${old + 6 * 60_000}ms`)
    expect(rollup.map((r) => [r.time, r.mean_level_m])).toEqual(Array.from({ length: 6 }, (_, i) => [old + i * 60_000, i]))
  })
})

describe('influx writer without InfluxDB', () => {
  it('closes after closeTimeoutMs with InfluxDB unreachable, failing pending flushes and leaving the points in the log', async () => {
    const port = await freePort()
    const dir = await freshDir()
    const wal = await openWal(dir)
    const { writer, lines } = await makeWriter({ url: `http://127.0.0.1:${port}`, database: 'nowhere', closeTimeoutMs: 200 }, wal)
    await writer.start()
    await wal.append(levels(3))
    const flushed = writer.flush()
    await waitFor(() => writer.status === 'spooling', { message: 'spooling' })
    const started = Date.now()
    await writer.close()
    expect(Date.now() - started).toBeLessThan(3_000)
    await expect(flushed).rejects.toThrow(/closed/)
    expect(writer.backlog).toBe(3)
    expect(logged(lines, 'influxdb writer closed with unconfirmed points, they stay in the log')).toEqual([expect.objectContaining({ unconfirmed: 3 })])
    await wal.close()
    const reopened = await openWal(dir)
    expect(reopened.backlog).toBe(3)
  })

  it('treats a server that never answers as unavailable once the request deadline passes', async () => {
    const port = await silentServer(cleanups)
    const { writer } = await makeWriter({ url: `http://127.0.0.1:${port}`, database: 'silent', requestTimeoutMs: 150, closeTimeoutMs: 100 })
    await writer.start()
    await waitFor(() => writer.status === 'spooling', { message: 'spooling' })
    expect(writer.stats.lastError).toMatch(/no answer within 150 ms/)
    expect(writer.retrying).toBe(true)
  })
})

describe('influx writer across InfluxDB outages and crashes', () => {
  let influxd: Influxd

  beforeAll(async () => {
    influxd = await createInfluxd({ pinPorts: true })
  })

  afterAll(async () => {
    await influxd.stop()
  })

  it('starts while InfluxDB is down, spools, and writes everything once it comes up', async () => {
    if (influxd.running) await influxd.stop({ keepData: true })
    const db = uniqueDb()
    const { writer, wal, lines, statuses } = await makeWriter({ url: influxd.url, database: db })
    const started = Date.now()
    await writer.start()
    expect(Date.now() - started).toBeLessThan(100)
    await wal.append(levels(20))
    await waitFor(() => writer.status === 'spooling' && writer.retrying, { message: 'spooling' })
    expect(writer.stats.batchesWritten).toBe(0)
    expect(writer.backlog).toBe(20)

    await influxd.start()
    await withTimeout(writer.flush(), 15_000, 'flush after InfluxDB started')
    expect(writer.status).toBe('ok')
    expect(writer.backlog).toBe(0)
    expect(statuses).toEqual(['spooling', 'ok'])
    expect(await count(influxd.url, db, 'water_level', 'level_m')).toBe(20)
    expect(logged(lines, 'influxdb unavailable')).toEqual([expect.objectContaining({ level: 40 })])
    expect(logged(lines, 'influxdb available again')).toEqual([expect.objectContaining({ level: 30 })])
  })

  it('keeps appending at full speed while InfluxDB is stopped, and writes all 20,000 readings exactly once after it restarts', async () => {
    if (!influxd.running) await influxd.start()
    const db = uniqueDb()
    const { writer, wal, lines } = await makeWriter({ url: influxd.url, database: db })
    await writer.start()
    await wal.append(levels(5, 0, 'WL-1000'))
    await withTimeout(writer.flush(), 10_000, 'flush before the outage')

    await influxd.stop({ keepData: true })
    for (let sensor = 0; sensor < 200; sensor++) {
      // The appends resolve on the log's fsync alone, whatever InfluxDB does.
      await withTimeout(wal.append(levels(100, 0, `WL-${sensor}`)), 2_000, `append ${sensor}`)
    }
    expect(writer.backlog).toBe(20_000)
    await waitFor(() => writer.stats.writeErrors >= 3, { timeoutMs: 10_000, message: 'three failed attempts' })
    expect(writer.status).toBe('spooling')

    await influxd.start()
    await withTimeout(writer.flush(), 30_000, 'flush after the outage')
    expect(await countAll(influxd.url, db, 'water_level')).toBe(20_005)
    expect(await count(influxd.url, db, 'water_level', 'level_m')).toBe(20_005)
    expect(logged(lines, 'influxdb unavailable')).toHaveLength(1)
    expect(logged(lines, 'influxdb available again')).toHaveLength(1)
    expect(writer.stats.pointsWritten).toBe(20_005)
    expect(writer.backlog).toBe(0)
  })

  it('after a crash replays every resolved append from the checkpoint and backfills the rollups of the replayed interval', async () => {
    if (!influxd.running) await influxd.start()
    const db = uniqueDb()
    const dir = await freshDir()
    let crashed = false
    const realWrite = (fd: number, buffer: Buffer, offset: number, length: number, position: number): Promise<number> =>
      new Promise((resolve, reject) => nodeFs.write(fd, buffer, offset, length, position, (err, n) => (err ? reject(err) : resolve(n))))
    const crashingFs: Partial<WalFs> = {
      write: (fd, buffer, offset, length, position) => (crashed ? new Promise<never>(() => undefined) : realWrite(fd, buffer, offset, length, position)),
    }
    // The first process: a writer confirms part of the log, then the process dies without closing anything.
    const first = capturingLogger()
    const doomed = await createWriteAheadLog({ dir, logger: first.logger, fs: crashingFs, checkpointMs: 0 })
    const hour = Math.floor((Date.now() - 4 * 3_600_000) / 3_600_000) * 3_600_000
    const minute = (m: number, sensor: string): Reading => reading({ sensor, ts: hour + m * 60_000, fields: { level_m: m } })
    await doomed.append(Array.from({ length: 10 }, (_, m) => minute(m, 'WL-A')))
    const early = createInfluxWriter({ url: influxd.url, database: db, source: doomed, logger: first.logger, flushIntervalMs: 10 })
    await early.start()
    await withTimeout(early.flush(), 10_000, 'the first writer')
    await early.close()
    await waitFor(() => nodeFs.existsSync(`${dir}/checkpoint`), { message: 'a checkpoint' })
    await dropDb(influxd.url, db)
    const resolved = await Promise.all(Array.from({ length: 50 }, (_, m) => doomed.append([minute(m, 'WL-B'), minute(m, 'WL-C')])))
    expect(resolved).toHaveLength(50)
    crashed = true
    void doomed.append([minute(59, 'WL-LOST')])

    // The next process: opens the same log and drains it.
    const wal = await openWal(dir)
    expect(wal.backlog).toBe(100)
    const { writer } = await makeWriter({ url: influxd.url, database: db, backfillIntervalMs: 100 }, wal)
    await writer.start()
    await withTimeout(writer.flush(), 15_000, 'the replay')
    expect(await count(influxd.url, db, 'water_level', 'level_m')).toBe(100)
    expect(await rows(influxd.url, db, 'SELECT count("level_m") FROM "water_level" GROUP BY "sensor"')).toEqual([
      expect.objectContaining({ sensor: 'WL-B', count: 50 }),
      expect.objectContaining({ sensor: 'WL-C', count: 50 }),
    ])
    await waitFor(() => writer.stats.backfills >= 1, { timeoutMs: 15_000, message: 'the rollup backfill' })
    const rollup = await rows(influxd.url, db, `SELECT "mean_level_m" FROM "rollup"."water_level_1m" WHERE "sensor" = 'WL-B'`)
    expect(rollup.map((r) => r.time)).toEqual(Array.from({ length: 50 }, (_, m) => hour + m * 60_000))
    const hourly = await rows(influxd.url, db, `SELECT "mean_level_m" FROM "rollup"."water_level_1h" WHERE "sensor" = 'WL-C'`)
    expect(hourly).toEqual([expect.objectContaining({ time: hour, mean_level_m: 24.5 })])
  })
})
