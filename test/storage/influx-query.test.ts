import { afterEach, describe, expect, inject, it } from 'vitest'
import { AppError } from '../../errors.js'
import { backfillRollups, ensureDatabase } from '../../storage/influx-admin.js'
import { influxExec } from '../../storage/influx-http.js'
import { encodeReading } from '../../storage/influx-line.js'
import { createInfluxQuery } from '../../storage/influx-query.js'
import { freePort } from '../helpers/influxd.js'
import { dropDb, reading, silentServer, uniqueDb, writeLines } from './storage-fixtures.js'

const url = inject('influxUrl')
const cleanups: Array<() => Promise<unknown>> = []
const DAY = 86_400_000
const RETENTION = 30 * DAY

afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup()
})

async function seededDb(): Promise<{ db: string; hour: number }> {
  const db = uniqueDb()
  cleanups.push(() => dropDb(url, db))
  await ensureDatabase({ url, database: db })
  const hour = Math.floor(Date.now() / 3_600_000) * 3_600_000 - 3 * 3_600_000
  const points = [
    reading({ ts: hour, fields: { level_m: 3 } }),
    reading({ ts: hour + 60_000, fields: { level_m: 4 } }),
    reading({ ts: hour + 120_000, fields: { level_m: 50 }, quality: 'bad', qualityReason: 'out_of_range' }),
    reading({ ts: hour + 180_000, fields: { level_m: 5 } }),
    reading({ ts: hour + 300_000, fields: { level_m: 7 }, tsSource: 'server' }),
    reading({ ts: hour + 3_600_000, fields: { level_m: 6 } }),
    reading({ ts: hour, sensor: 'WL-0002', fields: { level_m: 1 } }),
    reading({ ts: hour, sensor: "WL-'q\" ,=\\x", fields: { level_m: 2.5 } }),
  ]
  expect(await writeLines(url, db, points.map(encodeReading).join('\n'))).toBe(204)
  return { db, hour }
}

describe('influx query', () => {
  it('returns the raw points of one sensor in a range, with tags, quality and ISO times', async () => {
    const { db, hour } = await seededDb()
    const query = createInfluxQuery({ url, database: db })
    const points = await query.readingsOf({ sensor: 'WL-0001', kind: 'water_level', from: hour, to: hour + 300_000, retentionMs: RETENTION })
    expect(points).toEqual([
      { time: new Date(hour).toISOString(), sensor: 'WL-0001', district: 'xihu', segment: 'xixi-river-2', level_m: 3, quality: 'good', quality_reason: '', ts_source: 'device' },
      expect.objectContaining({ time: new Date(hour + 60_000).toISOString(), level_m: 4 }),
      expect.objectContaining({ level_m: 50, quality: 'bad', quality_reason: 'out_of_range' }),
      expect.objectContaining({ level_m: 5 }),
    ])
  })

  it('averages good readings per interval with every', async () => {
    const { db, hour } = await seededDb()
    const query = createInfluxQuery({ url, database: db })
    const points = await query.readingsOf({ sensor: 'WL-0001', kind: 'water_level', from: hour, to: hour + 2 * 3_600_000, every: '5m', retentionMs: RETENTION })
    expect(points).toEqual([
      { time: new Date(hour).toISOString(), level_m: 4 },
      { time: new Date(hour + 300_000).toISOString(), level_m: 7 },
      { time: new Date(hour + 3_600_000).toISOString(), level_m: 6 },
    ])
  })

  it('reads the rollups when from is older than the raw retention', async () => {
    const { db, hour } = await seededDb()
    await backfillRollups({ url, database: db }, hour, hour + 2 * 3_600_000, { kinds: ['water_level'] })
    // Forty days later the raw points are gone; only the rollups can answer.
    await influxExec({ url, database: db }, `DELETE FROM "water_level"`, { db })
    const later = { now: () => hour + 40 * DAY }
    const query = createInfluxQuery({ url, database: db, clock: later })
    const request = { sensor: 'WL-0001', kind: 'water_level' as const, from: hour, to: hour + 2 * 3_600_000, retentionMs: RETENTION }
    expect(await query.readingsOf({ ...request, every: '1h' })).toEqual([
      { time: new Date(hour).toISOString(), level_m: 4.75 },
      { time: new Date(hour + 3_600_000).toISOString(), level_m: 6 },
    ])
    expect(await query.readingsOf({ ...request, every: '2m' })).toEqual([
      { time: new Date(hour).toISOString(), level_m: 3.5 },
      { time: new Date(hour + 120_000).toISOString(), level_m: 5 },
      { time: new Date(hour + 240_000).toISOString(), level_m: 7 },
      { time: new Date(hour + 3_600_000).toISOString(), level_m: 6 },
    ])
    expect(await query.readingsOf(request)).toHaveLength(5)
    const now = createInfluxQuery({ url, database: db })
    expect(await now.readingsOf({ ...request, every: '1h' })).toEqual([])
  })

  it('matches a sensor id literally, quotes and backslashes included, so it cannot change the query', async () => {
    const { db, hour } = await seededDb()
    const query = createInfluxQuery({ url, database: db })
    const base = { kind: 'water_level' as const, from: hour, to: hour + DAY, retentionMs: RETENTION }
    expect(await query.readingsOf({ ...base, sensor: "WL-'q\" ,=\\x" })).toEqual([expect.objectContaining({ sensor: "WL-'q\" ,=\\x", level_m: 2.5 })])
    expect(await query.readingsOf({ ...base, sensor: "x' OR sensor =~ /.*/ OR sensor = 'y" })).toEqual([])
  })

  it.each([
    ['an every that is not a duration', { every: '5m; DROP DATABASE x' }, 'CW_ERR_API_VALIDATION'],
    ['an unknown kind', { kind: 'lava' }, 'CW_ERR_API_VALIDATION'],
    ['a from that is not a number', { from: Number.NaN }, 'CW_ERR_API_VALIDATION'],
  ])('refuses %s', async (_name, change, code) => {
    const query = createInfluxQuery({ url, database: 'unused' })
    const request = { sensor: 'WL-0001', kind: 'water_level' as const, from: 0, to: 1, retentionMs: RETENTION, ...change }
    await expect(query.readingsOf(request as Parameters<typeof query.readingsOf>[0])).rejects.toMatchObject({ code })
  })

  it('runs raw InfluxQL against the database and reports a bad statement as CW_ERR_INFLUX_QUERY', async () => {
    const { db } = await seededDb()
    const query = createInfluxQuery({ url, database: db })
    expect(await query.query('SELECT count("level_m") FROM "water_level"')).toEqual([{ time: new Date(0).toISOString(), count: 8 }])
    await expect(query.query('SELEC nothing')).rejects.toMatchObject({ code: 'CW_ERR_INFLUX_QUERY', statusCode: 502 })
    await expect(query.query('SELECT * FROM "nope"."autogen"."x"')).rejects.toMatchObject({ code: 'CW_ERR_INFLUX_QUERY' })
  })

  it('answers CW_ERR_INFLUX_UNAVAILABLE when InfluxDB is down or silent past the deadline', async () => {
    const down = createInfluxQuery({ url: `http://127.0.0.1:${await freePort()}`, database: 'x' })
    await expect(down.query('SHOW DATABASES')).rejects.toMatchObject({ code: 'CW_ERR_INFLUX_UNAVAILABLE', statusCode: 503 })

    const port = await silentServer(cleanups)
    const silent = createInfluxQuery({ url: `http://127.0.0.1:${port}`, database: 'x', timeoutMs: 150 })
    const error = await silent.query('SHOW DATABASES').catch((err: unknown) => err)
    expect(error).toBeInstanceOf(AppError)
    expect(error).toMatchObject({ code: 'CW_ERR_INFLUX_UNAVAILABLE', message: 'InfluxDB is unavailable: no answer within 150 ms' })
  })
})
