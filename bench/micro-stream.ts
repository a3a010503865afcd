// In-process micro-benchmarks of the stream stages and the websocket fan-out, CPU per reading by process.cpuUsage
// (user + system of this process only, so another load on the machine barely moves it). Run:
//   npx tsx bench/micro-stream.ts [engine|ws|memory|all] [--readings N] [--copies N] [--cpu-prof-hint]
// engine: quality stage + index engine + sensor state over benchRegistry(25) (10,125 sensors), readings of the load
//   scenario in gateway batches of 100; a virtual wall clock advances 10 ms per batch (10,000 readings/s), so the
//   index throttle (1 s per key) and refresh (10 s) run as often as they would at that rate.
// ws: the websocket hub on a real ws server on loopback, 3 clients subscribed to every channel in a child process
//   (they count frames and never parse them), a reading event per reading; only the server side is timed.
// memory: one reading (--per-sensor N: N readings, a second apart) from every sensor of benchRegistry(247) (100,035
//   sensors; --copies N for another size) through the three stages, then the heap used by what they hold (after a
//   full GC), in MB and bytes per reading.
import { fork } from 'node:child_process'
import { setImmediate as turn } from 'node:timers/promises'
import { pino } from 'pino'
import { VirtualTimeScheduler } from 'rxjs'
import { WebSocket, WebSocketServer } from 'ws'
import { readingJson } from '../api/reading-json.js'
import { createWsHub, type WsHub } from '../api/ws-hub.js'
import type { Reading, Registry } from '../domain.js'
import { indexRegistry } from '../registry/registry-index.js'
import { createIndexEngine } from '../stream/index-engine.js'
import { createQualityStage } from '../stream/quality-stage.js'
import { sensorState } from '../stream/sensor-state.js'
import { benchRegistry } from './bench-registry.js'
import { loadReadings } from './load-points.js'
import { arg, cpuMs, gc } from './micro-support.js'

const logger = pino({ level: 'silent' })
const BATCH = 100
/** Virtual wall time per batch, ms: 100 readings per 10 ms is 10,000 readings/s. */
const WALL_PER_BATCH_MS = 10
const START = Date.UTC(2026, 5, 1)

function readingsOf(registry: Registry, count: number): Reading[] {
  return [...loadReadings(registry, START, 1, count)]
}

function stages(registry: Registry, wall: { now: number }) {
  const index = indexRegistry(registry)
  const clock = { now: () => wall.now }
  const scheduler = new VirtualTimeScheduler()
  const quality = createQualityStage({ registry: () => index, latenessS: 60, clock })
  const indices = createIndexEngine({ registry: () => index, clock, latenessS: 60, logger, scheduler })
  const sensors = sensorState()
  let updates = 0
  indices.updates$.subscribe(() => void updates++)
  return {
    quality,
    indices,
    sensors,
    get updates() {
      return updates
    },
    /** Runs one gateway batch at virtual wall time `now`, then the throttle and refresh actions due by then. */
    batch(readings: Reading[], now: number): void {
      wall.now = now
      for (const r of readings) r.receivedAt = now
      const assessed = quality.assess(readings)
      const batch = assessed.reflagged.length === 0 ? assessed.readings : [...assessed.reflagged, ...assessed.readings]
      indices.update(batch)
      for (const r of batch) sensors.update(r)
      scheduler.maxFrames = now - START
      scheduler.flush()
    },
  }
}

async function engine(): Promise<Record<string, number>> {
  const copies = arg('copies', 25)
  const count = arg('readings', 500_000)
  const registry = benchRegistry(copies)
  const readings = readingsOf(registry, count)
  const s = stages(registry, { now: START })
  // Warm up on the first tenth, unmeasured, as a running engine would be.
  const warm = Math.floor(count / 10 / BATCH) * BATCH
  let now = START
  for (let i = 0; i < warm; i += BATCH) s.batch(readings.slice(i, i + BATCH), (now += WALL_PER_BATCH_MS))
  const batches: Reading[][] = []
  for (let i = warm; i < count; i += BATCH) batches.push(readings.slice(i, i + BATCH))
  const t0 = process.cpuUsage()
  const w0 = performance.now()
  for (const b of batches) s.batch(b, (now += WALL_PER_BATCH_MS))
  const cpu = cpuMs(t0)
  const measured = count - warm
  return {
    sensors: registry.sensors.length,
    readings: measured,
    cpuUsPerReading: Math.round((cpu * 1000 * 100) / measured) / 100,
    wallMs: Math.round(performance.now() - w0),
    indexUpdates: s.updates,
  }
}

async function memory(): Promise<Record<string, number>> {
  const registry = benchRegistry(arg('copies', 247))
  const perSensor = arg('per-sensor', 1)
  gc()
  const before = process.memoryUsage()
  let readings: Reading[] | undefined = readingsOf(registry, registry.sensors.length * perSensor)
  const s = stages(registry, { now: START })
  let now = START
  for (let i = 0; i < readings.length; i += BATCH) s.batch(readings.slice(i, i + BATCH), (now += WALL_PER_BATCH_MS))
  readings = undefined
  gc()
  const after = process.memoryUsage()
  const mb = (b: number) => Math.round(b / 1_048_576)
  return {
    sensors: registry.sensors.length,
    heldSensors: s.indices.stats().sensors,
    qualityTracks: s.quality.size,
    readings: registry.sensors.length * perSensor,
    heapMB: mb(after.heapUsed - before.heapUsed),
    heapBytesPerReading: Math.round((after.heapUsed - before.heapUsed) / (registry.sensors.length * perSensor)),
    externalMB: mb(after.external + after.arrayBuffers - before.external - before.arrayBuffers),
    rssMB: mb(after.rss),
  }
}

/** Child process: `clients` websocket clients subscribed to everything; reports when each has seen the `done` alert. */
async function wsClients(url: string, clients: number): Promise<void> {
  let frames = 0
  let done = 0
  for (let i = 0; i < clients; i++) {
    const ws = new WebSocket(url)
    await new Promise((resolve) => ws.once('open', resolve))
    ws.on('message', (data: Buffer) => {
      frames++
      // The end marker is the only alert: `"type":"alert"` at a fixed place in the frame.
      if (data.length < 64 && data.includes('"alert"')) {
        if (++done === clients) process.send?.({ frames })
      }
    })
    ws.send(JSON.stringify({ type: 'subscribe' }))
  }
  process.send?.({ ready: true })
}

async function wsFanOut(): Promise<Record<string, number>> {
  const clients = 3
  const count = arg('readings', 500_000)
  const registry = benchRegistry(arg('copies', 25))
  const readings = readingsOf(registry, count)
  const hub = createWsHub({ logger })
  // As app.ts publishes readings; the fallback is what it did before publishReading, for before/after runs.
  const publishReading: (r: Reading) => void =
    typeof (hub as Partial<WsHub>).publishReading === 'function'
      ? (r) => hub.publishReading(r)
      : (r) => hub.publish({ type: 'reading', key: r.sensor, district: r.district, sensor: r.sensor, data: readingJson(r) })
  const wss = new WebSocketServer({ port: 0, host: '127.0.0.1' })
  await new Promise((resolve) => wss.once('listening', resolve))
  const sockets: WebSocket[] = []
  wss.on('connection', (socket) => {
    sockets.push(socket)
    hub.accept(socket)
  })
  const child = fork(process.argv[1] as string, ['ws-clients', `ws://127.0.0.1:${(wss.address() as { port: number }).port}`, String(clients)], {
    execArgv: ['--import', 'tsx'],
  })
  const message = (pred: (m: Record<string, unknown>) => boolean) =>
    new Promise<Record<string, unknown>>((resolve) => {
      const on = (m: Record<string, unknown>) => {
        if (!pred(m)) return
        child.off('message', on)
        resolve(m)
      }
      child.on('message', on)
    })
  await message((m) => m.ready === true)
  while (hub.subscribers('readings') < clients) await turn()
  const run = async (from: number, to: number): Promise<void> => {
    for (let i = from; i < to; i += BATCH) {
      for (let j = i; j < Math.min(i + BATCH, to); j++) {
        publishReading(readings[j] as Reading)
      }
      await turn()
      // Keep every client under the hub's high-water mark, so nothing is conflated and every run sends the same frames.
      while (sockets.some((s) => s.bufferedAmount > 256 * 1024)) await new Promise((resolve) => setTimeout(resolve, 1))
    }
  }
  const warm = Math.floor(count / 10)
  await run(0, warm)
  const t0 = process.cpuUsage()
  const w0 = performance.now()
  await run(warm, count)
  const got = message((m) => typeof m.frames === 'number')
  hub.publish({ type: 'alert', key: 'done', district: 'b001', data: {} })
  const { frames } = await got
  const cpu = cpuMs(t0)
  const wall = performance.now() - w0
  child.kill()
  hub.close()
  await new Promise((resolve) => wss.close(resolve))
  const measured = count - warm
  return {
    clients,
    readings: measured,
    framesReceived: frames as number,
    cpuUsPerReading: Math.round((cpu * 1000 * 100) / measured) / 100,
    wallMs: Math.round(wall),
  }
}

const mode = process.argv[2] ?? 'all'
if (mode === 'ws-clients') {
  await wsClients(process.argv[3] as string, Number(process.argv[4]))
} else {
  const out: Record<string, unknown> = { node: process.version }
  if (mode === 'engine' || mode === 'all') out.engine = await engine()
  if (mode === 'ws' || mode === 'all') out.ws = await wsFanOut()
  if (mode === 'memory' || mode === 'all') out.memory = await memory()
  process.stdout.write(`${JSON.stringify(out)}\n`)
  process.exit(0)
}
