import type { FastifyBaseLogger, FastifyInstance, FastifyTypeProviderDefault, RawReplyDefaultExpression, RawRequestDefaultExpression, RawServerDefault } from 'fastify'
import { retentionMs as durationMs } from '../config.js'
import { AppError } from '../errors.js'
import type { Clock } from '../ports.js'
import { RAW_POLICY, ROLLUP_POLICY, rollupMeasurement, WATER_INDEX } from '../storage/influx-admin.js'
import { quoteIdent, quoteString } from '../storage/influx-http.js'
import type { InfluxQuery, QueryRow } from '../storage/influx-query.js'
import { DISTRICT_SEGMENT, type IndexEngine } from '../stream/index-engine.js'
import type { IndicesSnapshot } from '../stream/index-json.js'
import { toCsv } from './csv.js'
import { parseTime } from './server.js'
import type { SnapshotProvider } from './ws-hub.js'

/** What the index routes read. */
export interface IndexRoutesDeps {
  /** The live indices. */
  engine: Pick<IndexEngine, 'current'>
  /** InfluxQL access to the `water_index` measurement. */
  query: Pick<InfluxQuery, 'query'>
  clock: Clock
  /** Raw-data retention, ms: a `from` older than this reads the rollups. */
  retentionMs: number
}

/** A history request of `/api/indices/history`. */
export interface IndexHistoryQuery {
  district?: string
  /** Segment or zone id; `_all` (the default when only `district` is given) for the district's own series. */
  segment?: string
  index?: 'clear' | 'smooth'
  /** Start, epoch ms, inclusive. */
  from: number
  /** End, epoch ms, exclusive. */
  to: number
  /** InfluxQL duration: mean value per interval; unset: the raw points. */
  every?: string
}

/** A fastify server with any pino-compatible logger (api/server.ts builds one typed with pino's Logger). */
type App<L extends FastifyBaseLogger> = FastifyInstance<RawServerDefault, RawRequestDefaultExpression, RawReplyDefaultExpression, L, FastifyTypeProviderDefault>

const DAY_MS = 86_400_000
const HOUR_MS = 3_600_000
const SERIES_TAGS = ['district', 'segment', 'index'].map(quoteIdent).join(', ')

const errorBody = {
  type: 'object',
  properties: { error: { type: 'string' }, message: { type: 'string' }, details: { type: 'array' } },
  required: ['error', 'message'],
}
const time = { description: 'RFC 3339 or epoch milliseconds', anyOf: [{ type: 'string', pattern: '^[0-9]+$' }, { type: 'string', format: 'date-time' }] }
const id = { type: 'string', minLength: 1, maxLength: 200 }

/**
 * The InfluxQL of an index history request (SPEC §10): raw points of `water_index`, or with `every` the mean
 * value (worst level, mean confidence) per interval; from the rollups when `from` is older than the raw retention.
 */
export function indexHistoryStatement(request: IndexHistoryQuery, now: number, retentionMs: number): string {
  const { from, to, every } = request
  const conditions = [`time >= ${Math.trunc(from)}ms`, `time < ${Math.trunc(to)}ms`]
  if (request.district !== undefined) conditions.push(`"district" = ${quoteString(request.district)}`)
  const segment = request.segment ?? (request.district !== undefined ? DISTRICT_SEGMENT : undefined)
  if (segment !== undefined) conditions.push(`"segment" = ${quoteString(segment)}`)
  if (request.index !== undefined) conditions.push(`"index" = ${quoteString(request.index)}`)
  const where = `WHERE ${conditions.join(' AND ')}`
  if (from >= now - retentionMs) {
    const source = `${quoteIdent(RAW_POLICY)}.${quoteIdent(WATER_INDEX)}`
    if (every === undefined) return `SELECT "value", "level", "confidence" FROM ${source} ${where} GROUP BY ${SERIES_TAGS}`
    return `SELECT mean("value") AS "value", max("level") AS "level", mean("confidence") AS "confidence" FROM ${source} ${where} GROUP BY time(${every}), ${SERIES_TAGS} fill(none)`
  }
  // Beyond the raw retention only rollups exist: hourly ones for hourly or coarser intervals.
  const interval = every ?? '1m'
  const rollup = rollupMeasurement(WATER_INDEX, durationMs(interval) % HOUR_MS === 0 ? '1h' : '1m')
  const source = `${quoteIdent(ROLLUP_POLICY)}.${quoteIdent(rollup)}`
  return `SELECT mean("mean_value") AS "value", max("max_level") AS "level", mean("mean_confidence") AS "confidence" FROM ${source} ${where} GROUP BY time(${interval}), ${SERIES_TAGS} fill(none)`
}

/** The snapshot filtered to some districts (`null`: all). */
export function filterSnapshot(snapshot: IndicesSnapshot, districts: ReadonlySet<string> | null): IndicesSnapshot {
  if (districts === null) return snapshot
  return {
    segments: snapshot.segments.filter((s) => districts.has(s.district)),
    districts: snapshot.districts.filter((d) => districts.has(d.district)),
  }
}

/** The websocket `indices` channel's snapshot: the segment entries, then the district entries, of the subscribed districts. */
export function indicesSnapshotProvider(engine: Pick<IndexEngine, 'current'>): SnapshotProvider {
  return (subscription) => {
    const { segments, districts } = filterSnapshot(engine.current(), subscription.districts)
    return [...segments, ...districts]
  }
}

/** Adds GET `/api/indices` and GET `/api/indices/history` (SPEC §7, §11) to a fastify server. */
export function registerIndexRoutes<L extends FastifyBaseLogger>(app: App<L>, deps: IndexRoutesDeps): void {
  app.get<{ Querystring: { district?: string } }>('/api/indices', {
    schema: {
      summary: 'Current clear-water and smooth-water indices of every segment, zone and district (SPEC §7)',
      tags: ['indices'],
      querystring: { type: 'object', additionalProperties: false, properties: { district: id } },
      response: { 400: errorBody },
    },
  }, async (request) => {
    const district = request.query.district
    const snapshot = filterSnapshot(deps.engine.current(), district === undefined ? null : new Set([district]))
    return { generatedAt: new Date(deps.clock.now()).toISOString(), ...snapshot }
  })

  app.get<{ Querystring: { district?: string; segment?: string; index?: 'clear' | 'smooth'; from?: string; to?: string; every?: string; format?: 'json' | 'csv' } }>('/api/indices/history', {
    schema: {
      summary: 'Stored index values from the water_index measurement; `every` gives the mean per interval; segment `_all` is the district',
      tags: ['indices'],
      querystring: {
        type: 'object',
        additionalProperties: false,
        properties: {
          district: id,
          segment: id,
          index: { type: 'string', enum: ['clear', 'smooth'] },
          from: time,
          to: time,
          every: { type: 'string', pattern: '^[0-9]+(ms|s|m|h|d|w)$', description: 'InfluxQL duration, e.g. 5m' },
          format: { type: 'string', enum: ['json', 'csv'] },
        },
      },
      response: { 400: errorBody, 502: errorBody, 503: errorBody },
    },
  }, async (request, reply) => {
    const q = request.query
    const now = deps.clock.now()
    const to = parseTime(q.to, now)
    const from = parseTime(q.from, to - DAY_MS)
    if (!Number.isFinite(from) || !Number.isFinite(to) || from >= to) {
      throw new AppError('CW_ERR_API_VALIDATION', ['from must be before to'], [{ path: 'querystring/from', message: 'must be before to' }])
    }
    if (q.every !== undefined && durationMs(q.every) <= 0) {
      throw new AppError('CW_ERR_API_VALIDATION', [`every must be a positive duration, got '${q.every}'`], [{ path: 'querystring/every', message: 'must be positive' }])
    }
    const statement = indexHistoryStatement(
      {
        from,
        to,
        ...(q.district !== undefined ? { district: q.district } : {}),
        ...(q.segment !== undefined ? { segment: q.segment } : {}),
        ...(q.index !== undefined ? { index: q.index } : {}),
        ...(q.every !== undefined ? { every: q.every } : {}),
      },
      now,
      deps.retentionMs,
    )
    const points: QueryRow[] = await deps.query.query(statement)
    if (q.format === 'csv') {
      return reply.type('text/csv; charset=utf-8').header('content-disposition', 'attachment; filename="indices-history.csv"').send(toCsv(points))
    }
    return { points }
  })
}
