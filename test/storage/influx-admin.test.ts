import { afterEach, describe, expect, inject, it } from 'vitest'
import { SENSOR_KINDS } from '../../domain.js'
import {
  backfillRollups,
  continuousQueryName,
  ensureDatabase,
  goDurationMs,
  rollupSelect,
  shardDuration,
} from '../../storage/influx-admin.js'
import { influxExec } from '../../storage/influx-http.js'
import { encodeReading } from '../../storage/influx-line.js'
import { dropDb, reading, rows, uniqueDb, writeLines } from './storage-fixtures.js'

const url = inject('influxUrl')
const created: string[] = []

function freshDb(): string {
  const db = uniqueDb()
  created.push(db)
  return db
}

afterEach(async () => {
  for (const db of created.splice(0)) await dropDb(url, db)
})

/** The continuous queries of `db` by name (SHOW CONTINUOUS QUERIES names each series after its database). */
async function continuousQueries(db: string): Promise<Map<string, string>> {
  const results = await influxExec({ url, database: db }, 'SHOW CONTINUOUS QUERIES')
  const series = results[0]?.series?.find((s) => s.name === db)
  return new Map((series?.values ?? []).map((v) => [String(v[0]), String(v[1])]))
}

describe('ensureDatabase', () => {
  it('creates the database, both retention policies and a 1m and a 1h continuous query per kind', async () => {
    const db = freshDb()
    await ensureDatabase({ url, database: db, retention: '30d' })

    const databases = await rows(url, db, 'SHOW DATABASES')
    expect(databases.map((r) => r.name)).toContain(db)
    const policies = await rows(url, db, `SHOW RETENTION POLICIES ON "${db}"`)
    expect(policies).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ name: 'autogen', duration: '720h0m0s', shardGroupDuration: '24h0m0s', default: true }),
        expect.objectContaining({ name: 'rollup', duration: '17472h0m0s', default: false }),
      ]),
    )
    const cqs = await continuousQueries(db)
    // One per kind and interval, and the computed indices' own pair.
    expect(cqs.size).toBe((SENSOR_KINDS.length + 1) * 2)
    expect(cqs.get(continuousQueryName('water_index', '1h'))).toMatch(/mean\(value\) AS mean_value.*INTO .*rollup\.water_index_1h FROM .*water_index GROUP BY time\(1h\), \*/)
    const level1m = cqs.get(continuousQueryName('water_level', '1m'))
    expect(level1m).toContain('RESAMPLE EVERY 5m FOR 2h')
    expect(level1m).toContain(`INTO ${db}.rollup.water_level_1m`)
    expect(level1m).toContain('mean(level_m) AS mean_level_m, min(level_m) AS min_level_m, max(level_m) AS max_level_m')
    expect(level1m).toContain("WHERE quality = 'good' GROUP BY time(1m), *")
    expect(cqs.get(continuousQueryName('parking', '1h'))).toMatch(/RESAMPLE EVERY 1h FOR 2h .*max\(capacity\) AS max_capacity INTO .*rollup\.parking_1h .*GROUP BY time\(1h\), \*/)
  })

  it('is idempotent and applies a changed retention', async () => {
    const db = freshDb()
    await ensureDatabase({ url, database: db, retention: '30d' })
    const before = await continuousQueries(db)
    await ensureDatabase({ url, database: db, retention: '30d' })
    await ensureDatabase({ url, database: db, retention: '7d' })
    expect(await continuousQueries(db)).toEqual(before)
    const policies = await rows(url, db, `SHOW RETENTION POLICIES ON "${db}"`)
    expect(policies.filter((p) => p.name === 'autogen')).toEqual([expect.objectContaining({ duration: '168h0m0s', default: true })])
    expect(policies).toHaveLength(2)
  })

  it('re-creates a continuous query whose definition changed', async () => {
    const db = freshDb()
    await ensureDatabase({ url, database: db })
    const name = continuousQueryName('rainfall', '1m')
    await influxExec(
      { url, database: db },
      `DROP CONTINUOUS QUERY "${name}" ON "${db}"; CREATE CONTINUOUS QUERY "${name}" ON "${db}" BEGIN SELECT mean("rain_mm") AS "x" INTO "${db}"."rollup"."rainfall_1m" FROM "${db}"."autogen"."rainfall" GROUP BY time(1m) END`,
    )
    expect((await continuousQueries(db)).get(name)).toContain('AS x')
    await ensureDatabase({ url, database: db })
    expect((await continuousQueries(db)).get(name)).toContain('max(rain_mm) AS max_rain_mm')
  })

  it('sets a default policy back to autogen when someone changed it', async () => {
    const db = freshDb()
    await ensureDatabase({ url, database: db })
    await influxExec({ url, database: db }, `ALTER RETENTION POLICY "rollup" ON "${db}" DEFAULT`)
    await ensureDatabase({ url, database: db })
    const policies = await rows(url, db, `SHOW RETENTION POLICIES ON "${db}"`)
    expect(policies.find((p) => p.default === true)?.name).toBe('autogen')
  })
})

describe('rollup helpers', () => {
  it.each([
    ['720h0m0s', 30 * 86_400_000],
    ['168h0m0s', 7 * 86_400_000],
    ['1h30m0s', 5_400_000],
    ['0s', Number.POSITIVE_INFINITY],
  ])('reads the Go duration %s', (text, ms) => {
    expect(goDurationMs(text)).toBe(ms)
  })

  it.each([
    ['1h', '1h'],
    ['1d', '1h'],
    ['30d', '1d'],
    ['104w', '7d'],
    ['INF', '7d'],
  ])('picks the shard duration of a %s retention', (retention, shard) => {
    expect(shardDuration(retention)).toBe(shard)
  })

  it('builds one select per kind with all of its numeric fields, good quality only', () => {
    const select = rollupSelect('citywater', 'flow', '1h', { from: 0, to: 3_600_000 })
    expect(select).toBe(
      'SELECT mean("flow_m3s") AS "mean_flow_m3s", min("flow_m3s") AS "min_flow_m3s", max("flow_m3s") AS "max_flow_m3s", ' +
        'mean("velocity_ms") AS "mean_velocity_ms", min("velocity_ms") AS "min_velocity_ms", max("velocity_ms") AS "max_velocity_ms" ' +
        'INTO "citywater"."rollup"."flow_1h" FROM "citywater"."autogen"."flow" ' +
        `WHERE "quality" = 'good' AND time >= 0ms AND time < 3600000ms GROUP BY time(1h), *`,
    )
  })
})

describe('backfillRollups', () => {
  it('fills the 1m and 1h rollups of a range from good readings, keeping the tags', async () => {
    const db = freshDb()
    await ensureDatabase({ url, database: db })
    const hour = Math.floor(Date.now() / 3_600_000) * 3_600_000 - 3 * 3_600_000
    const lines = [
      reading({ ts: hour + 0, fields: { level_m: 3 } }),
      reading({ ts: hour + 20_000, fields: { level_m: 4 } }),
      reading({ ts: hour + 40_000, fields: { level_m: 9 }, quality: 'bad', qualityReason: 'spike' }),
      reading({ ts: hour + 60_000, fields: { level_m: 5 } }),
      reading({ ts: hour + 3_600_000 + 60_000, fields: { level_m: 6 } }),
      reading({ ts: hour, kind: 'parking', sensor: 'P-07', segment: 'zone-4', fields: { occupied: 10, capacity: 400 } }),
      reading({ ts: hour + 30_000, kind: 'parking', sensor: 'P-07', segment: 'zone-4', fields: { occupied: 20, capacity: 400 } }),
    ].map(encodeReading)
    expect(await writeLines(url, db, lines.join('\n'))).toBe(204)

    const written = await backfillRollups({ url, database: db }, hour + 10_000, hour + 2 * 3_600_000 - 1)
    expect(written).toBeGreaterThan(0)

    const minutes = await rows(url, db, `SELECT * FROM "rollup"."water_level_1m" ORDER BY time`)
    expect(minutes).toEqual([
      expect.objectContaining({ time: hour, sensor: 'WL-0001', district: 'xihu', segment: 'xixi-river-2', mean_level_m: 3.5, min_level_m: 3, max_level_m: 4 }),
      expect.objectContaining({ time: hour + 60_000, mean_level_m: 5, min_level_m: 5, max_level_m: 5 }),
      expect.objectContaining({ time: hour + 3_660_000, mean_level_m: 6 }),
    ])
    const hours = await rows(url, db, `SELECT * FROM "rollup"."water_level_1h" ORDER BY time`)
    expect(hours).toEqual([
      expect.objectContaining({ time: hour, sensor: 'WL-0001', mean_level_m: 4, min_level_m: 3, max_level_m: 5 }),
      expect.objectContaining({ time: hour + 3_600_000, mean_level_m: 6 }),
    ])
    const lots = await rows(url, db, `SELECT * FROM "rollup"."parking_1m"`)
    expect(lots).toEqual([expect.objectContaining({ sensor: 'P-07', mean_occupied: 15, min_occupied: 10, max_occupied: 20, max_capacity: 400 })])
  })

  it('is idempotent: a second backfill of the same range leaves the same rollups', async () => {
    const db = freshDb()
    await ensureDatabase({ url, database: db })
    const hour = Math.floor(Date.now() / 3_600_000) * 3_600_000 - 2 * 3_600_000
    await writeLines(url, db, [reading({ ts: hour + 1000, kind: 'rainfall', fields: { rain_mm: 1.5 } })].map(encodeReading).join('\n'))
    await backfillRollups({ url, database: db }, hour, hour + 3_600_000, { kinds: ['rainfall'] })
    await backfillRollups({ url, database: db }, hour, hour + 3_600_000, { kinds: ['rainfall'] })
    expect(await rows(url, db, `SELECT count("mean_rain_mm") FROM "rollup"."rainfall_1m"`)).toEqual([expect.objectContaining({ count: 1 })])
  })
})
