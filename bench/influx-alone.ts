// The "InfluxDB alone" ceiling, run as its own process: the load scenario's points, encoded as the engine stores
// them, written straight to InfluxDB in ideal batches (5,000 points, one request in flight, as the writer sends).
// Argument: JSON options; prints one JSON line {points, ms, pointsPerS}.
import { loadRegistry } from '../registry/load-registry.js'
import { ensureDatabase } from '../storage/influx-admin.js'
import { encodeReading } from '../storage/influx-line.js'
import { loadReadings } from './load-points.js'

interface Options {
  url: string
  database: string
  registry: string
  points: number
  start: number
  intervalS: number
  batchSize: number
  inFlight: number
}

const o = JSON.parse(process.argv[2] ?? '{}') as Options
const registry = loadRegistry(o.registry)
await ensureDatabase({ url: o.url, database: o.database, retention: '30d' })
const bodies: Buffer[] = []
let lines: string[] = []
for (const r of loadReadings(registry, o.start, o.intervalS, o.points)) {
  lines.push(encodeReading(r))
  if (lines.length >= o.batchSize) {
    bodies.push(Buffer.from(`${lines.join('\n')}\n`))
    lines = []
  }
}
if (lines.length > 0) bodies.push(Buffer.from(`${lines.join('\n')}\n`))
const url = `${o.url}/write?db=${encodeURIComponent(o.database)}&rp=autogen&precision=ms`
const started = performance.now()
let next = 0
async function worker(): Promise<void> {
  while (next < bodies.length) {
    const body = bodies[next++] as Buffer
    const res = await fetch(url, { method: 'POST', body, headers: { 'content-type': 'text/plain; charset=utf-8' } })
    const text = await res.text()
    if (res.status !== 204) throw new Error(`InfluxDB answered ${res.status}: ${text}`)
  }
}
await Promise.all(Array.from({ length: o.inFlight }, worker))
const ms = performance.now() - started
process.stdout.write(`${JSON.stringify({ points: o.points, ms: Math.round(ms), pointsPerS: Math.round((o.points * 1000) / ms) })}\n`)
