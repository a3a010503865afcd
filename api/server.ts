import websocket from '@fastify/websocket'
import Fastify, { LogController, type FastifyError } from 'fastify'
import type { Logger } from 'pino'
import type { Sensor } from '../domain.js'
import { AppError, ERROR_CATALOG } from '../errors.js'
import type { Clock } from '../ports.js'
import type { RegistryIndex } from '../registry/registry-index.js'
import type { SensorState, SensorStatus } from '../stream/sensor-state.js'
import { toCsv } from './csv.js'
import { registerAlertRoutes, type AlertRoutesDeps } from './alert-routes.js'
import { registerDashboardRoutes } from './dashboard-routes.js'
import { registerIndexRoutes, type IndexRoutesDeps } from './index-routes.js'
import { registerParkingRoutes, type ParkingRoutesDeps } from './parking-routes.js'
import { renderMetrics, type MetricFamily } from './metrics.js'
import { openApiCollector } from './openapi.js'
import { readingJson } from './reading-json.js'
import type { WsHub } from './ws-hub.js'

/** A readings query as the API passes it to storage. */
export interface ReadingsQuery {
  sensor: Sensor
  from: number
  to: number
  every?: string
}

/** What the API reads from the rest of the engine. */
export interface ApiDeps {
  logger: Logger
  clock: Clock
  registry: () => RegistryIndex
  sensors: SensorState
  hub: WsHub
  /** Readiness: 200 with the body when ready, else 503. */
  readiness: () => { ready: boolean; body: Record<string, unknown> }
  metrics: () => MetricFamily[]
  /** Stored readings of one sensor from InfluxDB. */
  readings: (query: ReadingsQuery) => Promise<Record<string, unknown>[]>
  /** The index engine and history store behind /api/indices. */
  indices: IndexRoutesDeps
  /** The parking lots and boards behind /api/parking. */
  parking: ParkingRoutesDeps
  /** Alerts, silences and rules behind /api/alerts, /api/silences and /api/rules; the routes exist when given. */
  alerts?: AlertRoutesDeps
}

const errorBody = {
  type: 'object',
  properties: { error: { type: 'string' }, message: { type: 'string' }, details: { type: 'array' } },
  required: ['error', 'message'],
}
const time = { description: 'RFC 3339 or epoch milliseconds', anyOf: [{ type: 'string', pattern: '^[0-9]+$' }, { type: 'string', format: 'date-time' }] }
const every = { type: 'string', pattern: '^[0-9]+(ms|s|m|h|d|w)$', description: 'InfluxQL duration, e.g. 5m' }
const format = { type: 'string', enum: ['json', 'csv'] }

/** Parses an RFC 3339 string or epoch milliseconds. */
export function parseTime(value: string | undefined, fallback: number): number {
  if (value === undefined) return fallback
  return /^[0-9]+$/.test(value) ? Number(value) : Date.parse(value)
}

/** Builds the fastify server (not listening): routes, websocket, error handler, OpenAPI. */
export async function buildServer(deps: ApiDeps) {
  const app = Fastify({
    loggerInstance: deps.logger.child({ module: 'api' }),
    // Per-request lines would drown the engine's own logs; errors are logged by the error handler.
    logController: new LogController({ disableRequestLogging: true }),
    ajv: { customOptions: { allErrors: true, coerceTypes: true, removeAdditional: false } },
  })
  const openapi = openApiCollector({
    title: 'citywater',
    version: '0.1.0',
    description: 'Real-time monitoring of a city water network: sensors, indices, alerts, parking.',
  })
  app.addHook('onRoute', (route) => openapi.onRoute(route))

  app.setErrorHandler((err: FastifyError | AppError, request, reply) => {
    if (err instanceof AppError) {
      return reply.status(err.statusCode).send({ error: err.code, message: err.message, details: err.details })
    }
    if ('validation' in err && err.validation) {
      const where = err.validationContext ?? 'request'
      const details = err.validation.map((v) => ({ path: `${where}${v.instancePath}`, message: v.message, params: v.params }))
      return reply.status(400).send({ error: 'CW_ERR_API_VALIDATION', message: `Request failed validation: ${err.message}`, details })
    }
    const status = err.statusCode ?? 500
    if (status >= 500) request.log.error({ err }, 'request failed')
    const code = status === 404 ? 'CW_ERR_API_NOT_FOUND' : status < 500 ? 'CW_ERR_API_VALIDATION' : 'CW_ERR_INTERNAL'
    return reply.status(status).send({ error: code, message: err.message, details: [] })
  })
  app.setNotFoundHandler((request, reply) => {
    reply.status(404).send({ error: 'CW_ERR_API_NOT_FOUND', message: `Not found: ${request.method} ${request.url}`, details: [] })
  })

  await app.register(websocket, { options: { maxPayload: 65_536 } })

  app.get('/healthz', { schema: { summary: 'Liveness', response: { 200: { type: 'object', properties: { status: { type: 'string' } } } } } }, async () => ({ status: 'ok' }))

  app.get('/readyz', { schema: { summary: 'Readiness: 200 when serving (also while spooling), 503 when not' } }, async (_req, reply) => {
    const { ready, body } = deps.readiness()
    return reply.status(ready ? 200 : 503).send(body)
  })

  app.get('/metrics', { schema: { summary: 'Prometheus metrics, names citywater_*' } }, async (_req, reply) => {
    return reply.type('text/plain; version=0.0.4; charset=utf-8').send(renderMetrics(deps.metrics()))
  })

  const sensorJson = (sensor: Sensor, status: SensorStatus) => {
    const last = deps.sensors.last(sensor.id)
    return { ...sensor, status, last: last === undefined ? null : readingJson(last) }
  }

  app.get<{ Querystring: { district?: string; kind?: string; status?: SensorStatus } }>('/api/sensors', {
    schema: {
      summary: 'Registry joined with live status and last reading',
      tags: ['sensors'],
      querystring: {
        type: 'object',
        additionalProperties: false,
        properties: { district: { type: 'string' }, kind: { type: 'string' }, status: { type: 'string', enum: ['unknown', 'online', 'stale', 'fault'] } },
      },
      response: { 400: errorBody },
    },
  }, async (request) => {
    const { district, kind, status } = request.query
    const now = deps.clock.now()
    const registry = deps.registry()
    const sensors = []
    for (const sensor of registry.registry.sensors) {
      if (district !== undefined && sensor.district !== district) continue
      if (kind !== undefined && sensor.kind !== kind) continue
      const s = deps.sensors.status(sensor, now)
      if (status !== undefined && s !== status) continue
      sensors.push(sensorJson(sensor, s))
    }
    return { sensors }
  })

  app.get<{ Querystring: { district?: string } }>('/api/segments', {
    schema: {
      summary: 'The registry\'s river and lake segments and drainage zones (id, district, type, name, target class)',
      tags: ['sensors'],
      querystring: { type: 'object', additionalProperties: false, properties: { district: { type: 'string' } } },
      response: { 400: errorBody },
    },
  }, async (request) => {
    const { district } = request.query
    const segments = deps.registry().registry.segments
    return { segments: district === undefined ? segments : segments.filter((s) => s.district === district) }
  })

  const findSensor = (id: string): Sensor => {
    const sensor = deps.registry().sensor(id)
    if (sensor === undefined) throw new AppError('CW_ERR_SENSOR_NOT_FOUND', [id])
    return sensor
  }
  const idParams = { type: 'object', properties: { id: { type: 'string' } }, required: ['id'] }

  app.get<{ Params: { id: string } }>('/api/sensors/:id', {
    schema: { summary: 'One sensor with status and last reading', tags: ['sensors'], params: idParams, response: { 404: errorBody } },
  }, async (request) => {
    const sensor = findSensor(request.params.id)
    const now = deps.clock.now()
    return sensorJson(sensor, deps.sensors.status(sensor, now))
  })

  app.get<{ Params: { id: string }; Querystring: { from?: string; to?: string; every?: string; format?: 'json' | 'csv' } }>('/api/sensors/:id/readings', {
    schema: {
      summary: 'Stored readings of one sensor from InfluxDB; `every` downsamples (good readings only)',
      tags: ['sensors'],
      params: idParams,
      querystring: { type: 'object', additionalProperties: false, properties: { from: time, to: time, every, format } },
      response: { 400: errorBody, 404: errorBody, 503: errorBody },
    },
  }, async (request, reply) => {
    const sensor = findSensor(request.params.id)
    const now = deps.clock.now()
    const to = parseTime(request.query.to, now)
    const from = parseTime(request.query.from, to - 86_400_000)
    if (!Number.isFinite(from) || !Number.isFinite(to) || from >= to) {
      throw new AppError('CW_ERR_API_VALIDATION', ['from must be before to'], [{ path: 'querystring/from', message: 'must be before to' }])
    }
    const points = await deps.readings({ sensor, from, to, ...(request.query.every ? { every: request.query.every } : {}) })
    if (request.query.format === 'csv') {
      return reply.type('text/csv; charset=utf-8').header('content-disposition', `attachment; filename="${sensor.id}-readings.csv"`).send(toCsv(points))
    }
    return { sensor: sensor.id, points }
  })

  registerIndexRoutes(app, deps.indices)
  registerParkingRoutes(app, deps.parking)
  if (deps.alerts !== undefined) registerAlertRoutes(app, deps.alerts)
  registerDashboardRoutes(app)

  app.get('/api/openapi.json', { schema: { hide: true } }, async () => openapi.document())

  app.get('/ws', { websocket: true }, (socket) => deps.hub.accept(socket))

  app.get('/api/errors', { schema: { summary: 'The error catalog: code, status, message template', tags: ['meta'] } }, async () => ({
    errors: Object.entries(ERROR_CATALOG).map(([code, e]) => ({ code, status: e.status, message: e.message })),
  }))

  return app
}

/** The built fastify server. */
export type ApiServer = Awaited<ReturnType<typeof buildServer>>
