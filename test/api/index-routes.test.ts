import { pino } from 'pino'
import { TestScheduler } from 'rxjs/testing'
import { afterEach, describe, expect, it } from 'vitest'
import { indexHistoryStatement, indicesSnapshotProvider } from '../../api/index-routes.js'
import { buildServer, type ApiServer } from '../../api/server.js'
import { createWsHub } from '../../api/ws-hub.js'
import type { Reading, Registry } from '../../domain.js'
import { indexRegistry } from '../../registry/registry-index.js'
import type { QueryRow } from '../../storage/influx-query.js'
import { createIndexEngine, type IndexEngine } from '../../stream/index-engine.js'
import { sensorState } from '../../stream/sensor-state.js'

const logger = pino({ level: 'silent' })
const NOW = Date.parse('2026-11-27T10:00:00.000Z')
const DAY = 86_400_000
const RETENTION = 30 * DAY

const REGISTRY: Registry = {
  segments: [
    { id: 'seg-a', district: 'xihu', type: 'river', name: 'A', targetClass: 3 },
    { id: 'zone-4', district: 'xihu', type: 'drainage', name: 'Zone 4', riverGauges: [] },
    { id: 'canal-1', district: 'gongshu', type: 'river', name: 'Canal', targetClass: 4 },
  ],
  sensors: [
    { id: 'WQ-A', kind: 'water_quality', district: 'xihu', segment: 'seg-a', name: 'WQ-A', lat: 0, lon: 0, intervalS: 3600, params: {} },
    { id: 'PD-1', kind: 'ponding_depth', district: 'xihu', segment: 'zone-4', name: 'PD-1', lat: 0, lon: 0, intervalS: 300, params: {} },
  ],
  boards: [],
}

const cleanups: (() => Promise<unknown> | void)[] = []
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c()
})

function engineWithData(): IndexEngine {
  const registry = indexRegistry(REGISTRY)
  const engine = createIndexEngine({ registry: () => registry, clock: { now: () => NOW }, latenessS: 120, logger, scheduler: new TestScheduler(() => undefined) })
  cleanups.push(() => engine.close())
  const base = { qualityReason: '', tsSource: 'device' as const, quality: 'good' as const, receivedAt: NOW, district: 'xihu', ts: NOW - 60_000 }
  const readings: Reading[] = [
    { ...base, sensor: 'WQ-A', kind: 'water_quality', segment: 'seg-a', fields: { do_mgl: 6.8, nh3n_mgl: 0.42, codmn_mgl: 3.6, tp_mgl: 0.12, ph: 7.4 } },
    { ...base, sensor: 'PD-1', kind: 'ponding_depth', segment: 'zone-4', fields: { depth_cm: 6 } },
  ]
  engine.update(readings)
  return engine
}

/** No parking lots: these tests are about the index routes. */
const NO_PARKING = { parking: { lots: () => [], boards: () => [], districts: () => [] } }

/** The real server of api/server.ts (its error handler and ajv settings) with the index routes added. */
async function serve(rows: QueryRow[] = []) {
  const statements: string[] = []
  const registry = indexRegistry(REGISTRY)
  const hub = createWsHub({ logger })
  const clock = { now: () => NOW }
  const engine = engineWithData()
  const query = {
    query: async (q: string) => {
      statements.push(q)
      return rows
    },
  }
  const app: ApiServer = await buildServer({
    logger,
    clock,
    registry: () => registry,
    sensors: sensorState(),
    hub,
    readiness: () => ({ ready: true, body: {} }),
    metrics: () => [],
    readings: async () => [],
    indices: { engine, query, clock, retentionMs: RETENTION },
    parking: NO_PARKING,
  })
  await app.ready()
  cleanups.push(() => app.close(), () => hub.close())
  return { app, statements, engine }
}

describe('GET /api/indices', () => {
  it('returns the SPEC §7 body: generatedAt, segments and districts', async () => {
    const { app } = await serve()
    const res = await app.inject({ method: 'GET', url: '/api/indices' })
    expect(res.statusCode).toBe(200)
    expect(res.json()).toEqual({
      generatedAt: '2026-11-27T10:00:00.000Z',
      segments: [
        {
          segment: 'seg-a',
          district: 'xihu',
          type: 'river',
          clear: { value: 76.6, class: 3, grade: 'good', limiting: 'tp_mgl', exceedances: [], confidence: 1, flags: [] },
          smooth: null,
        },
        { segment: 'zone-4', district: 'xihu', type: 'drainage', clear: null, smooth: { value: 78, band: 'blue', limiting: 'POND', confidence: 1, flags: [] } },
        { segment: 'canal-1', district: 'gongshu', type: 'river', clear: { value: null, reason: 'no water-quality station on the segment' }, smooth: null },
      ],
      districts: [
        { district: 'gongshu', clear: { value: null, reason: 'no value for do_mgl and nh3n_mgl' }, smooth: null },
        {
          district: 'xihu',
          clear: { value: 76.6, class: 3, worstSegment: 'seg-a', classCounts: { '3': 1 } },
          smooth: { value: 78, band: 'blue', worstSegment: 'zone-4' },
        },
      ],
    })
  })

  it('filters by district', async () => {
    const { app } = await serve()
    const body = (await app.inject({ method: 'GET', url: '/api/indices?district=gongshu' })).json()
    expect(body.segments.map((s: { segment: string }) => s.segment)).toEqual(['canal-1'])
    expect(body.districts.map((d: { district: string }) => d.district)).toEqual(['gongshu'])
    const none = (await app.inject({ method: 'GET', url: '/api/indices?district=nowhere' })).json()
    expect(none).toMatchObject({ segments: [], districts: [] })
  })

  it('answers an unknown query key with 400 and the error shape', async () => {
    const { app } = await serve()
    const res = await app.inject({ method: 'GET', url: '/api/indices?distrikt=xihu' })
    expect(res.statusCode).toBe(400)
    expect(res.json()).toMatchObject({ error: 'CW_ERR_API_VALIDATION', details: [expect.objectContaining({ path: 'querystring' })] })
  })
})

describe('GET /api/indices/history', () => {
  const ROWS: QueryRow[] = [
    { district: 'xihu', index: 'clear', segment: '_all', time: '2026-11-27T09:00:00.000Z', value: 71.2, level: 3, confidence: 1 },
    { district: 'xihu', index: 'clear', segment: '_all', time: '2026-11-27T09:05:00.000Z', value: 70.9, level: 3, confidence: 0.8 },
  ]

  it('reads the district series of water_index over the last 24 h by default', async () => {
    const { app, statements } = await serve(ROWS)
    const res = await app.inject({ method: 'GET', url: '/api/indices/history?district=xihu&index=clear' })
    expect(res.statusCode).toBe(200)
    expect(res.json()).toEqual({ points: ROWS })
    expect(statements).toEqual([
      `SELECT "value", "level", "confidence" FROM "autogen"."water_index" WHERE time >= ${NOW - DAY}ms AND time < ${NOW}ms AND "district" = 'xihu' AND "segment" = '_all' AND "index" = 'clear' GROUP BY "district", "segment", "index"`,
    ])
  })

  it('averages per interval with every, and takes from and to as RFC 3339 or epoch ms', async () => {
    const { app, statements } = await serve()
    const from = NOW - 3_600_000
    const res = await app.inject({ method: 'GET', url: `/api/indices/history?segment=zone-4&from=${from}&to=2026-11-27T10:00:00Z&every=5m` })
    expect(res.statusCode).toBe(200)
    expect(statements[0]).toBe(
      `SELECT mean("value") AS "value", max("level") AS "level", mean("confidence") AS "confidence" FROM "autogen"."water_index" WHERE time >= ${from}ms AND time < ${NOW}ms AND "segment" = 'zone-4' GROUP BY time(5m), "district", "segment", "index" fill(none)`,
    )
  })

  it('reads the rollups when from is older than the raw retention', async () => {
    const { app, statements } = await serve()
    const from = NOW - 40 * DAY
    await app.inject({ method: 'GET', url: `/api/indices/history?district=xihu&from=${from}&every=1h` })
    await app.inject({ method: 'GET', url: `/api/indices/history?district=xihu&from=${from}` })
    expect(statements[0]).toContain('FROM "rollup"."water_index_1h"')
    expect(statements[0]).toContain('mean("mean_value") AS "value", max("max_level") AS "level", mean("mean_confidence") AS "confidence"')
    expect(statements[0]).toContain('GROUP BY time(1h), "district", "segment", "index" fill(none)')
    expect(statements[1]).toContain('FROM "rollup"."water_index_1m"')
  })

  it('returns CSV for reports', async () => {
    const { app } = await serve(ROWS)
    const res = await app.inject({ method: 'GET', url: '/api/indices/history?district=xihu&format=csv' })
    expect(res.statusCode).toBe(200)
    expect(res.headers['content-type']).toBe('text/csv; charset=utf-8')
    expect(res.body).toBe(
      'time,district,index,segment,value,level,confidence\r\n' +
        '2026-11-27T09:00:00.000Z,xihu,clear,_all,71.2,3,1\r\n' +
        '2026-11-27T09:05:00.000Z,xihu,clear,_all,70.9,3,0.8\r\n',
    )
  })

  it.each([
    ['an unknown index', 'index=quality'],
    ['a bad duration', 'every=5minutes'],
    ['a bad time', 'from=yesterday'],
    ['from after to', `from=${NOW}&to=${NOW - 1}`],
    ['an unknown key', 'sensor=WQ-A'],
    ['an unknown format', 'format=xml'],
  ])('answers %s with 400', async (_case, query) => {
    const { app, statements } = await serve()
    const res = await app.inject({ method: 'GET', url: `/api/indices/history?${query}` })
    expect(res.statusCode).toBe(400)
    expect(res.json()).toMatchObject({ error: 'CW_ERR_API_VALIDATION' })
    expect(statements).toEqual([])
  })

  it('passes InfluxDB failures on with their status', async () => {
    const registry = indexRegistry(REGISTRY)
    const hub = createWsHub({ logger })
    const { AppError } = await import('../../errors.js')
    const indices = { engine: engineWithData(), query: { query: async () => { throw new AppError('CW_ERR_INFLUX_UNAVAILABLE', ['down']) } }, clock: { now: () => NOW }, retentionMs: RETENTION }
    const app = await buildServer({ logger, clock: { now: () => NOW }, registry: () => registry, sensors: sensorState(), hub, readiness: () => ({ ready: true, body: {} }), metrics: () => [], readings: async () => [], indices, parking: NO_PARKING })
    await app.ready()
    cleanups.push(() => app.close(), () => hub.close())
    const res = await app.inject({ method: 'GET', url: '/api/indices/history' })
    expect(res.statusCode).toBe(503)
    expect(res.json()).toMatchObject({ error: 'CW_ERR_INFLUX_UNAVAILABLE' })
  })

  it('escapes the tag values it queries', () => {
    expect(indexHistoryStatement({ segment: "it's", from: 0, to: 1 }, 1, RETENTION)).toContain(`"segment" = 'it\\'s'`)
  })
})

describe('OpenAPI and the websocket snapshot', () => {
  it('documents both routes with a summary and the indices tag', async () => {
    const { app } = await serve()
    const doc = (await app.inject({ method: 'GET', url: '/api/openapi.json' })).json()
    for (const path of ['/api/indices', '/api/indices/history']) {
      expect(doc.paths[path].get).toMatchObject({ summary: expect.any(String), tags: ['indices'] })
    }
    expect(doc.paths['/api/indices/history'].get.parameters.map((p: { name: string }) => p.name)).toEqual(['district', 'segment', 'index', 'from', 'to', 'every', 'format'])
  })

  it('gives the indices channel the segment and district entries of the subscribed districts', () => {
    const provider = indicesSnapshotProvider(engineWithData())
    const all = provider({ channels: new Set(['indices']), districts: null, sensors: null })
    expect(all).toHaveLength(5)
    const gongshu = provider({ channels: new Set(['indices']), districts: new Set(['gongshu']), sensors: null })
    expect(gongshu).toEqual([
      { segment: 'canal-1', district: 'gongshu', type: 'river', clear: { value: null, reason: 'no water-quality station on the segment' }, smooth: null },
      { district: 'gongshu', clear: { value: null, reason: 'no value for do_mgl and nh3n_mgl' }, smooth: null },
    ])
  })
})
