import { randomBytes } from 'node:crypto'
import { once } from 'node:events'
import { createServer, type Socket } from 'node:net'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { pino, type Logger } from 'pino'
import type { Reading, SensorKind } from '../../domain.js'
import { influxExec, seriesRows } from '../../storage/influx-http.js'
import type { LogBatch, LogSource } from '../../storage/write-ahead-log.js'

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

/** A fresh temporary directory, removed by the returned cleanup. */
export async function tempDir(prefix = 'citywater-wal-'): Promise<{ dir: string; remove: () => Promise<void> }> {
  const dir = await mkdtemp(join(tmpdir(), prefix))
  return { dir, remove: () => rm(dir, { recursive: true, force: true }) }
}

/** Reads every durable record after the confirmed position; confirms each batch when `confirm` is set. */
export async function readAll(source: LogSource, options: { confirm?: boolean; maxPoints?: number } = {}): Promise<{ lines: string[]; batches: LogBatch[] }> {
  const lines: string[] = []
  const batches: LogBatch[] = []
  let position = source.confirmedPosition
  for (;;) {
    const batch = await source.read(position, options.maxPoints !== undefined ? { maxPoints: options.maxPoints } : {})
    if (batch.to === position) break
    batches.push(batch)
    lines.push(...batch.body.toString('utf8').split('\n').filter((l) => l !== ''))
    if (options.confirm === true) source.confirm(batch)
    position = batch.to
  }
  return { lines, batches }
}

/** The timestamps of line-protocol lines, in order. */
export function lineTimes(lines: readonly string[]): number[] {
  return lines.map((l) => Number(l.slice(l.lastIndexOf(' ') + 1)))
}

/** A TCP server on a free port that accepts connections and never answers; `cleanups` gets its shutdown. */
export async function silentServer(cleanups: Array<() => Promise<unknown>>): Promise<number> {
  const sockets = new Set<Socket>()
  const server = createServer((socket) => void sockets.add(socket))
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  cleanups.push(async () => {
    for (const socket of sockets) socket.destroy()
    server.close()
  })
  const address = server.address()
  return typeof address === 'object' && address !== null ? address.port : 0
}
