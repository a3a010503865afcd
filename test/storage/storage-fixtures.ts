import { randomBytes } from 'node:crypto'
import { pino, type Logger } from 'pino'
import type { Reading, SensorKind } from '../../domain.js'
import { influxExec, seriesRows } from '../../storage/influx-http.js'

/** A fresh database name per test. */
export function uniqueDb(): string {
  return `t_${randomBytes(6).toString('hex')}`
}

/** A reading with sensible defaults. */
export function reading(overrides: Partial<Reading> & { fields?: Record<string, number> } = {}): Reading {
  const kind: SensorKind = overrides.kind ?? 'water_level'
  return {
    sensor: 'WL-0001',
    kind,
    district: 'xihu',
    segment: 'xixi-river-2',
    ts: Date.UTC(2026, 10, 27, 10, 0, 0),
    fields: { level_m: 3.91 },
    quality: 'good',
    qualityReason: '',
    tsSource: 'device',
    receivedAt: Date.UTC(2026, 10, 27, 10, 0, 1),
    ...overrides,
  }
}

/** A pino logger that keeps every line as an object. */
export function capturingLogger(): { logger: Logger; lines: Array<Record<string, unknown>> } {
  const lines: Array<Record<string, unknown>> = []
  const logger = pino({ level: 'debug' }, { write: (line: string) => void lines.push(JSON.parse(line) as Record<string, unknown>) })
  return { logger, lines }
}

/** Runs InfluxQL against `db` and returns the rows (time as epoch ms). */
export async function rows(url: string, db: string, influxql: string): Promise<Array<Record<string, unknown>>> {
  const results = await influxExec({ url, database: db }, influxql, { db, epoch: 'ms' })
  return results.flatMap((r) => seriesRows(r))
}

/** Posts raw line protocol (precision ms) and returns the HTTP status. */
export async function writeLines(url: string, db: string, body: string, rp = 'autogen'): Promise<number> {
  const res = await fetch(`${url}/write?db=${db}&rp=${rp}&precision=ms`, { method: 'POST', body })
  await res.arrayBuffer()
  return res.status
}

/** Drops a test database (cleanup). */
export async function dropDb(url: string, db: string): Promise<void> {
  await influxExec({ url, database: db }, `DROP DATABASE "${db}"`)
}
