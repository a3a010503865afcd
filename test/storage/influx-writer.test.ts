import { once } from 'node:events'
import { createServer, type Server, type Socket } from 'node:net'
import { afterAll, afterEach, beforeAll, describe, expect, inject, it } from 'vitest'
import type { Reading } from '../../domain.js'
import { ensureDatabase } from '../../storage/influx-admin.js'
import { influxExec } from '../../storage/influx-http.js'
import { createInfluxWriter, type InfluxWriter, type InfluxWriterOptions, type InfluxWriterStatus } from '../../storage/influx-writer.js'
import { createInfluxd, freePort, type Influxd } from '../helpers/influxd.js'
import { waitFor, withTimeout } from '../helpers/wait-for.js'
import { capturingLogger, dropDb, reading, rows, uniqueDb, writeLines } from './storage-fixtures.js'

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

function makeWriter(options: Partial<InfluxWriterOptions> & { database: string }) {
  const { logger, lines } = capturingLogger()
  const writer = createInfluxWriter({ url, logger, minBackoffMs: 20, maxBackoffMs: 200, flushIntervalMs: 50, closeTimeoutMs: 2_000, ...options })
  const statuses: InfluxWriterStatus[] = []
  writer.onStatus((s) => statuses.push(s))
  cleanups.push(() => writer.close())
  return { writer, lines, statuses }
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

describe('influx writer', () => {
  it('writes readings of several kinds with their tags and quality fields', async () => {
    const db = freshDb()
    const { writer, statuses } = makeWriter({ database: db })
    await writer.start()
    writer.write([
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
    expect(writer.retrying).toBe(false)
    expect(writer.stats).toMatchObject({ pointsWritten: 5, pointsRejected: 0, writeErrors: 0 })
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
    const rejected: Reading[] = []
    const { writer } = makeWriter({ database: db, onRejected: (r) => rejected.push(...r) })
    await writer.start()
    writer.write([reading({ ts: T0, fields: { level_m: 3 } })])
    await withTimeout(writer.flush(), 10_000, 'first flush')
    writer.write([reading({ ts: T0 + 1000, fields: { level_m: 3.25 } })])
    await withTimeout(writer.flush(), 10_000, 'second flush')
    expect(rejected).toEqual([])
    expect((await rows(url, db, 'SELECT "level_m" FROM "water_level"')).map((r) => r.level_m)).toEqual([3, 3.25])
  })

  it('writes the good points of a batch and hands the refused ones to onRejected', async () => {
    const db = freshDb()
    await ensureDatabase({ url, database: db })
    // `occupied` as a float first: the writer's integer `occupied` now conflicts in this shard.
    expect(await writeLines(url, db, `parking,sensor=P-00 occupied=1.5 ${T0}`)).toBe(204)
    const rejected: Array<{ sensors: string[]; reason: string }> = []
    const confirmed: number[] = []
    const { writer } = makeWriter({
      database: db,
      onRejected: (r, reason) => rejected.push({ sensors: r.map((x) => x.sensor), reason }),
      onConfirmed: (n) => confirmed.push(n),
    })
    await writer.start()
    const bad = reading({ ts: T0 + 500, kind: 'parking', sensor: 'P-07', fields: { occupied: 12 } })
    const unencodable = reading({ ts: T0 + 600, sensor: 'WL-NaN', fields: { level_m: Number.NaN } })
    writer.write([...levels(4), bad, ...levels(3, 10, 'WL-0002'), unencodable, ...levels(2, 20, 'WL-0003')])
    await withTimeout(writer.flush(), 10_000, 'flush')

    expect(rejected).toEqual([
      { sensors: ['WL-NaN'], reason: expect.stringMatching(/finite/) },
      { sensors: ['P-07'], reason: expect.stringMatching(/field type conflict/) },
    ])
    expect(confirmed.reduce((a, b) => a + b, 0)).toBe(11)
    expect(writer.stats.pointsRejected).toBe(2)
    expect(writer.stats.pointsWritten).toBe(9)
    expect(await count(url, db, 'water_level', 'level_m')).toBe(9)
    expect(await rows(url, db, 'SELECT * FROM "parking"')).toEqual([expect.objectContaining({ sensor: 'P-00', occupied: 1.5 })])
    expect(writer.status).toBe('ok')
  })

  it('sends a batch as soon as it is full and the remainder after the flush interval, in order', async () => {
    const db = freshDb()
    const confirmed: number[] = []
    const { writer } = makeWriter({ database: db, batchSize: 3, flushIntervalMs: 100, onConfirmed: (n) => confirmed.push(n) })
    await writer.start()
    writer.write(levels(7))
    await waitFor(() => confirmed.reduce((a, b) => a + b, 0) === 7, { timeoutMs: 10_000, message: 'all batches confirmed' })
    expect(confirmed).toEqual([3, 3, 1])
    expect(writer.stats.batchesWritten).toBe(3)
    expect((await rows(url, db, 'SELECT "level_m" FROM "water_level"')).map((r) => r.time)).toEqual(levels(7).map((r) => r.ts))
  })

  it('re-creates a database dropped under it and keeps writing', async () => {
    const db = freshDb()
    const { writer, lines } = makeWriter({ database: db })
    await writer.start()
    writer.write(levels(2))
    await withTimeout(writer.flush(), 10_000, 'flush')
    await influxExec({ url, database: db }, `DROP DATABASE "${db}"`)
    writer.write(levels(3, 100))
    await withTimeout(writer.flush(), 10_000, 'flush after drop')
    expect(await count(url, db, 'water_level', 'level_m')).toBe(3)
    expect(logged(lines, 'influxdb database missing, re-creating it')).toHaveLength(1)
    expect((await rows(url, db, `SHOW RETENTION POLICIES ON "${db}"`)).map((p) => p.name).sort()).toEqual(['autogen', 'rollup'])
  })

  it('writes what is queued on close', async () => {
    const db = freshDb()
    const { writer } = makeWriter({ database: db, flushIntervalMs: 60_000 })
    await writer.start()
    writer.write(levels(4))
    await writer.close()
    expect(writer.backlog).toBe(0)
    expect(await count(url, db, 'water_level', 'level_m')).toBe(4)
    expect(() => writer.write(levels(1))).toThrow(/closed/)
  })

  it('resolves flush at once when nothing is queued', async () => {
    const { writer } = makeWriter({ database: freshDb() })
    await writer.start()
    await withTimeout(writer.flush(), 100, 'empty flush')
  })
})

describe('influx writer without InfluxDB', () => {
  it('closes after closeTimeoutMs with InfluxDB unreachable, leaving the backlog and failing pending flushes', async () => {
    const port = await freePort()
    const { writer, lines } = makeWriter({ url: `http://127.0.0.1:${port}`, database: 'nowhere', closeTimeoutMs: 200 })
    await writer.start()
    writer.write(levels(3))
    const flushed = writer.flush()
    await waitFor(() => writer.status === 'spooling', { message: 'spooling' })
    const started = Date.now()
    await writer.close()
    expect(Date.now() - started).toBeLessThan(3_000)
    await expect(flushed).rejects.toThrow(/closed/)
    expect(writer.backlog).toBe(3)
    expect(logged(lines, 'influxdb writer closed with unwritten readings')).toEqual([expect.objectContaining({ unwritten: 3 })])
  })

  it('treats a server that never answers as unavailable once the request deadline passes', async () => {
    const sockets = new Set<Socket>()
    const server: Server = createServer((socket) => void sockets.add(socket))
    server.listen(0, '127.0.0.1')
    await once(server, 'listening')
    cleanups.push(async () => {
      for (const socket of sockets) socket.destroy()
      server.close()
    })
    const address = server.address()
    const port = typeof address === 'object' && address !== null ? address.port : 0
    const { writer } = makeWriter({ url: `http://127.0.0.1:${port}`, database: 'silent', requestTimeoutMs: 150, closeTimeoutMs: 100 })
    await writer.start()
    await waitFor(() => writer.status === 'spooling', { message: 'spooling' })
    expect(writer.stats.lastError).toMatch(/no answer within 150 ms/)
    expect(writer.retrying).toBe(true)
  })
})

describe('influx writer across InfluxDB outages', () => {
  let influxd: Influxd

  beforeAll(async () => {
    influxd = await createInfluxd({ pinPorts: true })
  })

  afterAll(async () => {
    await influxd.stop()
  })

  it('starts while InfluxDB is down, spools, and writes everything once it comes up', async () => {
    const db = uniqueDb()
    const { writer, lines, statuses } = makeWriter({ url: influxd.url, database: db })
    const started = Date.now()
    await writer.start()
    expect(Date.now() - started).toBeLessThan(100)
    writer.write(levels(20))
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

  it('keeps points through an outage mid-stream and logs it once, not per retry', async () => {
    if (!influxd.running) await influxd.start()
    const db = uniqueDb()
    const { writer, lines } = makeWriter({ url: influxd.url, database: db })
    await writer.start()
    writer.write(levels(5))
    await withTimeout(writer.flush(), 10_000, 'flush before the outage')

    await influxd.stop({ keepData: true })
    writer.write(levels(5, 5))
    await waitFor(() => writer.stats.writeErrors >= 3, { timeoutMs: 10_000, message: 'three failed attempts' })
    expect(writer.status).toBe('spooling')
    expect(writer.backlog).toBe(5)

    await influxd.start()
    await withTimeout(writer.flush(), 15_000, 'flush after the outage')
    expect(await count(influxd.url, db, 'water_level', 'level_m')).toBe(10)
    expect(logged(lines, 'influxdb unavailable')).toHaveLength(1)
    expect(logged(lines, 'influxdb available again')).toHaveLength(1)
    expect(writer.stats.pointsWritten).toBe(10)
  })
})
