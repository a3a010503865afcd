import Fastify from 'fastify'
import { pino } from 'pino'
import { afterEach, describe, expect, it } from 'vitest'
import { openApiCollector } from '../../api/openapi.js'
import { parkingSnapshot, registerParkingRoutes } from '../../api/parking-routes.js'
import type { ApiServer } from '../../api/server.js'
import { BUNDLED_REGISTRY } from '../../config.js'
import { loadRegistry } from '../../registry/load-registry.js'
import { indexRegistry } from '../../registry/registry-index.js'
import { createParkingBoards, type ParkingBoards } from '../../stream/parking-boards.js'

const logger = pino({ level: 'silent' })
const T0 = Date.parse('2025-11-27T08:00:00.000Z')
const cleanups: (() => Promise<unknown> | void)[] = []
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c()
})

// The server built by api/server.ts (a pino-typed logger) takes the routes as it is.
const wiresIntoTheServer = (app: ApiServer, parking: ParkingBoards): void => registerParkingRoutes(app, { parking })
void wiresIntoTheServer

function parkingWithData(): ParkingBoards {
  const registry = indexRegistry(loadRegistry(BUNDLED_REGISTRY))
  const parking = createParkingBoards({
    registry: () => registry,
    zoneAlertLevel: (zone) => (zone === 'zone-4' ? 3 : 0),
    publish: async () => undefined,
    clock: { now: () => T0 },
    logger,
  })
  cleanups.push(() => parking.close())
  const reading = (sensor: string, occupied: number, ts: number) => {
    const s = registry.sensor(sensor)
    return { sensor, kind: 'parking' as const, district: 'xihu', segment: s?.segment ?? '', ts, fields: { occupied }, quality: 'good' as const, qualityReason: '', tsSource: 'device' as const, receivedAt: ts }
  }
  parking.update([reading('P-01', 300, T0), reading('P-07', 100, T0)])
  return parking
}

/** A bare fastify instance with the parking routes; `strict` refuses unknown query keys as api/server.ts does. */
async function serve(parking: ParkingBoards, strict = false) {
  const app = strict ? Fastify({ ajv: { customOptions: { removeAdditional: false } } }) : Fastify()
  const openapi = openApiCollector({ title: 't', version: '0', description: 't' })
  app.addHook('onRoute', (route) => openapi.onRoute(route))
  registerParkingRoutes(app, { parking })
  await app.ready()
  cleanups.push(() => app.close())
  return { app, openapi }
}

describe('GET /api/parking', () => {
  it('returns lots, boards and district totals', async () => {
    const { app } = await serve(parkingWithData())
    const res = await app.inject({ method: 'GET', url: '/api/parking' })
    expect(res.statusCode).toBe(200)
    const body = res.json()
    expect(Object.keys(body).sort()).toEqual(['boards', 'districts', 'lots'])
    expect(body.lots).toEqual([
      {
        id: 'P-01',
        name: 'Huanglong Sports Center north lot',
        district: 'xihu',
        segment: 'zone-6',
        capacity: 600,
        occupied: 300,
        free: 300,
        occupancy: 50,
        status: 'available',
        underground: false,
        updatedAt: new Date(T0).toISOString(),
        lat: 30.25835,
        lon: 120.14089,
      },
      expect.objectContaining({ id: 'P-07', status: 'closed', free: 320 }),
    ])
    expect(body.boards).toHaveLength(4)
    expect(body.boards[0]).toEqual({
      board: 'B-01',
      name: 'Huanglong Rd guidance board',
      district: 'xihu',
      lines: [
        { lot: 'P-01', name: 'Huanglong Sports Center north lot', text: '300' },
        { lot: 'P-02', name: 'Huanglong Times Square underground car park', text: '--' },
      ],
      updatedAt: new Date(T0).toISOString(),
    })
    expect(body.districts).toEqual([{ district: 'xihu', capacity: 1020, free: 300, occupied: 400, occupancy: 39.2, lots: 2, full: 0, closed: 1 }])
  })

  it('filters by district', async () => {
    const { app } = await serve(parkingWithData())
    const xihu = (await app.inject({ method: 'GET', url: '/api/parking?district=xihu' })).json()
    expect(xihu.lots).toHaveLength(2)
    expect(xihu.districts).toHaveLength(1)
    const other = await app.inject({ method: 'GET', url: '/api/parking?district=gongshu' })
    expect(other.statusCode).toBe(200)
    expect(other.json()).toEqual({ lots: [], boards: [], districts: [] })
  })

  it('refuses an unknown query parameter when additional properties are not removed', async () => {
    const { app } = await serve(parkingWithData(), true)
    const res = await app.inject({ method: 'GET', url: '/api/parking?distrct=xihu' })
    expect(res.statusCode).toBe(400)
  })

  it('is documented for OpenAPI with a summary, tags and the district parameter', async () => {
    const { openapi } = await serve(parkingWithData())
    const paths = openapi.document().paths as Record<string, Record<string, { summary: string; tags: string[]; parameters: { name: string; in: string }[] }>>
    const get = paths['/api/parking']?.get
    expect(get?.summary).toMatch(/parking/i)
    expect(get?.tags).toEqual(['parking'])
    expect(get?.parameters).toEqual([expect.objectContaining({ name: 'district', in: 'query' })])
  })
})

describe('parking websocket snapshot', () => {
  it('gives the lots of the subscribed districts', () => {
    const parking = parkingWithData()
    const snapshot = parkingSnapshot(parking)
    const sub = (districts: string[] | null) => ({ channels: new Set(['parking'] as const), districts: districts === null ? null : new Set(districts), sensors: null })
    expect(snapshot(sub(null))).toHaveLength(2)
    expect(snapshot(sub(['xihu']))).toHaveLength(2)
    expect(snapshot(sub(['gongshu']))).toEqual([])
  })
})
