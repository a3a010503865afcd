import { KIND_FIELDS, SENSOR_KINDS, type SensorKind } from '../domain.js'
import { AppError } from '../errors.js'
import { retentionMs } from '../config.js'
import { influxExec, influxStatements, quoteIdent, seriesRows, type InfluxConnection } from './influx-http.js'

/** The raw-data retention policy (SPEC §10). */
export const RAW_POLICY = 'autogen'
/** The retention policy of the continuous-query rollups (SPEC §10). */
export const ROLLUP_POLICY = 'rollup'
/** How long rollups are kept: 2 years. */
export const ROLLUP_DURATION = '104w'
/** Default raw-data retention. */
export const DEFAULT_RETENTION = '30d'

/** A rollup resolution, its measurement suffix and its continuous-query schedule. */
export interface RollupInterval {
  /** GROUP BY time() interval and measurement suffix (`water_level_1m`). */
  every: '1m' | '1h'
  /** How often the continuous query runs (RESAMPLE EVERY). */
  resampleEvery: string
  /** How far back each run recomputes (RESAMPLE FOR); late points within it are folded in. */
  resampleFor: string
  /** Length of one interval in milliseconds. */
  ms: number
}

/**
 * The rollups: 1-minute ones recomputed every 5 minutes and hourly ones every hour, each over the last 2 hours
 * (SPEC §10). The rollups are read only beyond the raw retention, so a few minutes of lag cost nothing, while
 * RESAMPLE EVERY 1m FOR 2h would re-read two hours of raw data every minute.
 */
export const ROLLUP_INTERVALS: readonly RollupInterval[] = [
  { every: '1m', resampleEvery: '5m', resampleFor: '2h', ms: 60_000 },
  { every: '1h', resampleEvery: '1h', resampleFor: '2h', ms: 3_600_000 },
]

/** Settings of `ensureDatabase` and `backfillRollups`. */
export interface InfluxAdminOptions extends InfluxConnection {
  /** Raw-data retention as an InfluxQL duration or `INF`; default 30d. */
  retention?: string
}

/** The measurement of computed index values (SPEC §10). */
export const WATER_INDEX = 'water_index'

/** A measurement with rollups: a sensor kind or the computed indices. */
export type RollupSource = SensorKind | typeof WATER_INDEX

/** Every measurement with rollups. */
export const ROLLUP_SOURCES: readonly RollupSource[] = [...SENSOR_KINDS, WATER_INDEX]

/** The numeric fields of a kind, in KIND_FIELDS order. */
export function kindFields(kind: SensorKind): readonly string[] {
  const spec = KIND_FIELDS[kind]
  return [...spec.required, ...spec.optional]
}

/** The fields a rollup aggregates: a kind's numeric fields, or an index's value, level and confidence. */
export function rollupFields(source: RollupSource): readonly string[] {
  return source === WATER_INDEX ? ['value', 'level', 'confidence'] : kindFields(source)
}

/** Name of the rollup measurement: `water_level` + `1m` → `water_level_1m`. */
export function rollupMeasurement(source: RollupSource, every: RollupInterval['every']): string {
  return `${source}_${every}`
}

/** Name of the continuous query that fills a rollup: `cq_water_level_1m`. */
export function continuousQueryName(source: RollupSource, every: RollupInterval['every']): string {
  return `cq_${source}_${every}`
}

/**
 * The rollup SELECT ... INTO of a kind at an interval: mean, min and max of each numeric field
 * (`mean_level_m`, ...) from good readings, keeping every tag; `timeRange` adds a WHERE on time (for backfills).
 */
export function rollupSelect(database: string, source: RollupSource, every: RollupInterval['every'], timeRange?: { from: number; to: number }): string {
  const aggregates = rollupFields(source).flatMap((field) =>
    ['mean', 'min', 'max'].map((fn) => `${fn}(${quoteIdent(field)}) AS ${quoteIdent(`${fn}_${field}`)}`),
  )
  const db = quoteIdent(database)
  const into = `${db}.${quoteIdent(ROLLUP_POLICY)}.${quoteIdent(rollupMeasurement(source, every))}`
  const from = `${db}.${quoteIdent(RAW_POLICY)}.${quoteIdent(source)}`
  // Indices are computed from good readings already; readings roll up from good ones only.
  const conditions = source === WATER_INDEX ? [] : [`"quality" = 'good'`]
  if (timeRange !== undefined) conditions.push(`time >= ${Math.trunc(timeRange.from)}ms`, `time < ${Math.trunc(timeRange.to)}ms`)
  const where = conditions.length > 0 ? ` WHERE ${conditions.join(' AND ')}` : ''
  return `SELECT ${aggregates.join(', ')} INTO ${into} FROM ${from}${where} GROUP BY time(${every}), *`
}

/** The CREATE CONTINUOUS QUERY statements of every kind and rollup interval. */
export function continuousQueries(database: string): Array<{ name: string; statement: string }> {
  return ROLLUP_SOURCES.flatMap((kind) =>
    ROLLUP_INTERVALS.map((interval) => {
      const name = continuousQueryName(kind, interval.every)
      const statement =
        `CREATE CONTINUOUS QUERY ${quoteIdent(name)} ON ${quoteIdent(database)} ` +
        `RESAMPLE EVERY ${interval.resampleEvery} FOR ${interval.resampleFor} ` +
        `BEGIN ${rollupSelect(database, kind, interval.every)} END`
      return { name, statement }
    }),
  )
}

/** Parses a Go duration as SHOW RETENTION POLICIES prints it (`720h0m0s`) into milliseconds; `0s` is infinite. */
export function goDurationMs(text: string): number {
  const unit: Record<string, number> = { h: 3.6e6, m: 6e4, s: 1e3, ms: 1, us: 1e-3, µs: 1e-3, ns: 1e-6 }
  let total = 0
  for (const m of text.matchAll(/([0-9.]+)(h|ms|m|s|us|µs|ns)/g)) total += Number(m[1]) * (unit[m[2] ?? 's'] ?? 0)
  return total === 0 ? Number.POSITIVE_INFINITY : total
}

/** The shard-group duration InfluxDB itself would pick for a retention (1h below 2 days, 1d below 180 days, else 7d). */
export function shardDuration(retention: string): string {
  const ms = retentionMs(retention)
  if (ms < 2 * 86_400_000) return '1h'
  if (ms < 180 * 86_400_000) return '1d'
  return '7d'
}

interface PolicyRow {
  name: string
  durationMs: number
  isDefault: boolean
}

async function policies(conn: InfluxConnection): Promise<PolicyRow[]> {
  const [result] = await influxExec(conn, `SHOW RETENTION POLICIES ON ${quoteIdent(conn.database)}`)
  return seriesRows(result).map((row) => ({
    name: String(row.name),
    durationMs: goDurationMs(String(row.duration)),
    isDefault: row.default === true,
  }))
}

/**
 * Creates the database if missing, sets the raw policy `autogen` to the retention (as default), creates the
 * 2-year `rollup` policy and the rollup continuous queries; idempotent, and re-creates a query whose text changed.
 */
export async function ensureDatabase(options: InfluxAdminOptions): Promise<void> {
  const retention = options.retention ?? DEFAULT_RETENTION
  const db = quoteIdent(options.database)
  await influxExec(options, `CREATE DATABASE ${db}`)

  const existing = await policies(options)
  const raw = existing.find((p) => p.name === RAW_POLICY)
  const rollup = existing.find((p) => p.name === ROLLUP_POLICY)
  const statements: string[] = []
  const rawSpec = `DURATION ${retention} REPLICATION 1 SHARD DURATION ${shardDuration(retention)} DEFAULT`
  if (raw === undefined) statements.push(`CREATE RETENTION POLICY ${quoteIdent(RAW_POLICY)} ON ${db} ${rawSpec}`)
  else if (raw.durationMs !== retentionMs(retention) || !raw.isDefault) statements.push(`ALTER RETENTION POLICY ${quoteIdent(RAW_POLICY)} ON ${db} ${rawSpec}`)
  const rollupSpec = `DURATION ${ROLLUP_DURATION} REPLICATION 1`
  if (rollup === undefined) statements.push(`CREATE RETENTION POLICY ${quoteIdent(ROLLUP_POLICY)} ON ${db} ${rollupSpec}`)
  else if (rollup.durationMs !== retentionMs(ROLLUP_DURATION)) statements.push(`ALTER RETENTION POLICY ${quoteIdent(ROLLUP_POLICY)} ON ${db} ${rollupSpec}`)
  if (statements.length > 0) await influxExec(options, statements.join('; '))

  // Re-issuing an identical CREATE CONTINUOUS QUERY is a no-op; a changed one answers "already exists".
  // Every CREATE is a metadata commit (slow), so only queries missing or different are sent.
  const [shown] = await influxExec(options, 'SHOW CONTINUOUS QUERIES')
  const current = new Map<string, string>()
  for (const series of shown?.series ?? []) {
    if (series.name !== options.database) continue
    for (const [name, query] of series.values ?? []) current.set(String(name), normalizeQuery(String(query)))
  }
  let pending = continuousQueries(options.database).filter((q) => current.get(q.name) !== normalizeQuery(q.statement))
  // InfluxDB stops a multi-statement query at the first error, so the rest are sent again after a fix.
  while (pending.length > 0) {
    const results = await influxStatements(options, pending.map((q) => q.statement).join('; '))
    const failedAt = results.findIndex((r) => r.error !== undefined)
    const query = pending[failedAt]
    if (failedAt < 0 || query === undefined) return
    const error = results[failedAt]?.error ?? ''
    if (!/already exists/.test(error)) throw new AppError('CW_ERR_INFLUX_QUERY', [`${query.name}: ${error}`])
    await influxExec(options, `DROP CONTINUOUS QUERY ${quoteIdent(query.name)} ON ${db}; ${query.statement}`)
    pending = pending.slice(failedAt + 1)
  }
}

/** Compares CQ texts the way SHOW prints them: identifiers unquoted, whitespace collapsed, case folded. */
function normalizeQuery(query: string): string {
  return query.replace(/"/g, '').replace(/\s+/g, ' ').trim().toLowerCase()
}

/** Options of `backfillRollups`. */
export interface BackfillOptions {
  /** Measurements to backfill; default every kind and the indices. */
  kinds?: readonly RollupSource[]
  /** Length of the time slice of one SELECT ... INTO in milliseconds (a multiple of 1 h); default 6 h. */
  chunkMs?: number
  /** Deadline of one SELECT ... INTO in milliseconds; default 60000. */
  timeoutMs?: number
}

/**
 * Recomputes the rollups of `[from, to)` (epoch milliseconds, widened to whole hours) with the continuous
 * queries' own SELECT ... INTO, e.g. after a log replay; returns the number of rollup points written.
 */
export async function backfillRollups(options: InfluxAdminOptions, from: number, to: number, backfill: BackfillOptions = {}): Promise<number> {
  const hour = 3_600_000
  const chunkMs = Math.max(hour, Math.ceil((backfill.chunkMs ?? 6 * hour) / hour) * hour)
  const conn = { ...options, timeoutMs: backfill.timeoutMs ?? 60_000 }
  const start = Math.floor(from / hour) * hour
  const end = Math.ceil(to / hour) * hour
  let written = 0
  for (let sliceFrom = start; sliceFrom < end; sliceFrom += chunkMs) {
    const range = { from: sliceFrom, to: Math.min(end, sliceFrom + chunkMs) }
    const statements = (backfill.kinds ?? ROLLUP_SOURCES).flatMap((kind) =>
      ROLLUP_INTERVALS.map((interval) => rollupSelect(options.database, kind, interval.every, range)),
    )
    const results = await influxExec(conn, statements.join('; '))
    for (const result of results) {
      for (const row of seriesRows(result)) written += typeof row.written === 'number' ? row.written : 0
    }
  }
  return written
}
