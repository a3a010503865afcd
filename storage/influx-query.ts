import { SENSOR_KINDS, type SensorKind } from '../domain.js'
import { AppError } from '../errors.js'
import { systemClock, type Clock } from '../ports.js'
import { retentionMs as durationMs } from '../config.js'
import { RAW_POLICY, ROLLUP_POLICY, kindFields, rollupMeasurement } from './influx-admin.js'
import { DEFAULT_INFLUX_TIMEOUT_MS, influxStatements, quoteIdent, quoteString, seriesRows, type InfluxConnection } from './influx-http.js'

/** Settings of the query client. */
export interface InfluxQueryOptions {
  /** Base URL of the InfluxDB 1.x HTTP API. */
  url: string
  /** Database. */
  database: string
  /** User name; unset: no authentication. */
  username?: string
  /** Password of `username`. */
  password?: string
  /** Deadline of one query in milliseconds; default 5000. */
  timeoutMs?: number
  /** Decides whether `from` is older than the raw retention; default the system clock. */
  clock?: Clock
}

/** A history request for one sensor. */
export interface ReadingsQuery {
  sensor: string
  kind: SensorKind
  /** Start, epoch milliseconds, inclusive. */
  from: number
  /** End, epoch milliseconds, exclusive. */
  to: number
  /** InfluxQL duration (`5m`): means of good readings per interval; unset: raw points. */
  every?: string
  /** Raw-data retention in milliseconds: a `from` older than this reads the rollups. */
  retentionMs: number
}

/** A row: column name to value; `time` is an RFC 3339 string with milliseconds (`2026-11-27T10:00:00.000Z`). */
export type QueryRow = Record<string, unknown>

/** Read access to InfluxDB for the API. */
export interface InfluxQuery {
  /** Runs InfluxQL against the database and returns the rows of every series, tags included. */
  query(influxql: string): Promise<QueryRow[]>
  /**
   * Raw points of a sensor (tags, fields, quality), or with `every` the mean of each numeric field of its good
   * readings per interval; from the rollups when `from` is older than the raw retention.
   */
  readingsOf(request: ReadingsQuery): Promise<QueryRow[]>
  /** Aborts queries in flight. */
  close(): Promise<void>
}

const DURATION = /^([0-9]+(ms|s|m|h|d|w))+$/
const HOUR_MS = 3_600_000

/** Builds the query client; it holds no connection, so nothing waits on InfluxDB here. */
export function createInfluxQuery(options: InfluxQueryOptions): InfluxQuery {
  const closed = new AbortController()
  const clock = options.clock ?? systemClock
  const conn: InfluxConnection = {
    url: options.url,
    database: options.database,
    timeoutMs: options.timeoutMs ?? DEFAULT_INFLUX_TIMEOUT_MS,
    signal: closed.signal,
    ...(options.username !== undefined && { username: options.username }),
    ...(options.password !== undefined && { password: options.password }),
  }
  const db = quoteIdent(options.database)

  async function query(influxql: string): Promise<QueryRow[]> {
    const results = await influxStatements(conn, influxql, { db: options.database, epoch: 'ms' })
    const rows: QueryRow[] = []
    for (const result of results) {
      if (result.error !== undefined) throw new AppError('CW_ERR_INFLUX_QUERY', [result.error])
      for (const row of seriesRows(result)) {
        if (typeof row.time === 'number') row.time = new Date(row.time).toISOString()
        rows.push(row)
      }
    }
    return rows
  }

  function readingsStatement(request: ReadingsQuery): string {
    const { sensor, kind, from, to, every } = request
    if (!(SENSOR_KINDS as readonly string[]).includes(kind)) throw new AppError('CW_ERR_API_VALIDATION', [`unknown kind '${kind}'`])
    if (!Number.isFinite(from) || !Number.isFinite(to)) throw new AppError('CW_ERR_API_VALIDATION', ['from and to must be epoch milliseconds'])
    if (every !== undefined && (!DURATION.test(every) || durationMs(every) <= 0)) {
      throw new AppError('CW_ERR_API_VALIDATION', [`every must be an InfluxQL duration such as 5m, got '${every}'`])
    }
    const where = `WHERE "sensor" = ${quoteString(sensor)} AND time >= ${Math.trunc(from)}ms AND time < ${Math.trunc(to)}ms`
    const fields = kindFields(kind)
    const rollup = from < clock.now() - request.retentionMs
    if (!rollup) {
      const source = `${db}.${quoteIdent(RAW_POLICY)}.${quoteIdent(kind)}`
      if (every === undefined) return `SELECT * FROM ${source} ${where}`
      const means = fields.map((f) => `mean(${quoteIdent(f)}) AS ${quoteIdent(f)}`).join(', ')
      return `SELECT ${means} FROM ${source} ${where} AND "quality" = 'good' GROUP BY time(${every}) fill(none)`
    }
    // Beyond the raw retention only rollups exist (good readings only): hourly ones for hourly or coarser intervals.
    const interval = every === undefined ? '1m' : every
    const source = `${db}.${quoteIdent(ROLLUP_POLICY)}.${quoteIdent(rollupMeasurement(kind, durationMs(interval) % HOUR_MS === 0 ? '1h' : '1m'))}`
    const means = fields.map((f) => `mean(${quoteIdent(`mean_${f}`)}) AS ${quoteIdent(f)}`).join(', ')
    return `SELECT ${means} FROM ${source} ${where} GROUP BY time(${interval}) fill(none)`
  }

  return {
    query,
    async readingsOf(request) {
      return query(readingsStatement(request))
    },
    async close() {
      closed.abort()
    },
  }
}
