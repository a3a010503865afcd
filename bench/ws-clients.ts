// Websocket clients of the benchmark, run as their own process. Opens `clients` connections to /ws subscribed to
// every channel (they count frames, never parse them, so they cost the engine what a dashboard costs, not more) and
// prints {"ready": true}. With `rate` it then publishes single readings at that fixed rate for `durationS` over MQTT
// (QoS 1), each stamped with its send time, and one more client takes every reading frame's arrival minus its ts:
// the publish-to-websocket latency. Prints {"p50": ms, "p99": ms, ...} at the end, or {"frames": n} on SIGTERM.
import { connectAsync } from 'mqtt'
import WebSocket from 'ws'
import { loadRegistry } from '../registry/load-registry.js'
import { loadReadings } from './load-points.js'

interface Options {
  httpUrl: string
  mqttUrl: string
  registry: string
  clients: number
  /** Messages per second of the latency run; 0: only hold the clients until SIGTERM. */
  rate: number
  durationS: number
  /** Seconds at the start of the latency run not measured (connections and JIT warming up). */
  warmupS: number
}

const o = JSON.parse(process.argv[2] ?? '{}') as Options
const wsUrl = `${o.httpUrl.replace(/^http/, 'ws')}/ws`

function open(onMessage: (data: WebSocket.RawData) => void): Promise<WebSocket> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(wsUrl)
    ws.once('error', reject)
    ws.once('open', () => {
      ws.send(JSON.stringify({ type: 'subscribe', channels: ['indices', 'alerts', 'parking', 'readings'] }))
      resolve(ws)
    })
    ws.on('message', onMessage)
  })
}

let frames = 0
const sockets = await Promise.all(Array.from({ length: o.clients }, () => open(() => void frames++)))

if (o.rate <= 0) {
  process.stdout.write(`${JSON.stringify({ ready: true })}\n`)
  process.on('SIGTERM', () => {
    process.stdout.write(`${JSON.stringify({ frames })}\n`)
    for (const ws of sockets) ws.terminate()
    process.exit(0)
  })
} else {
  const registry = loadRegistry(o.registry)
  // One payload template per sensor: the load scenario's first reading, re-stamped at each send.
  const templates: { topic: string; fields: string }[] = []
  for (const r of loadReadings(registry, Date.now() - 60_000, 1, registry.sensors.length)) {
    templates.push({ topic: `city/${r.district}/${r.kind}/${r.sensor}`, fields: JSON.stringify(r.fields).slice(1) })
  }
  const latencies: number[] = []
  let measureFrom = Number.POSITIVE_INFINITY
  let received = 0
  const latencyClient = await open((data) => {
    const frame = JSON.parse(data.toString()) as { type: string; data?: { ts?: string } }
    if (frame.type !== 'reading' || frame.data?.ts === undefined) return
    const ts = Date.parse(frame.data.ts)
    if (ts < measureFrom) return
    received++
    latencies.push(Date.now() - ts)
  })
  sockets.push(latencyClient)
  const mqtt = await connectAsync(o.mqttUrl, { clientId: `citywater-bench-latency-${process.pid}`, clean: true })
  process.stdout.write(`${JSON.stringify({ ready: true })}\n`)
  const seq = new Array<number>(templates.length).fill(0)
  let sent = 0
  let next = 0
  const started = Date.now()
  measureFrom = started + o.warmupS * 1000
  const total = Math.round(o.rate * o.durationS)
  await new Promise<void>((resolve) => {
    const timer = setInterval(() => {
      const due = Math.min(total, Math.floor(((Date.now() - started) * o.rate) / 1000))
      while (sent < due) {
        const i = next
        next = (next + 1) % templates.length
        const t = templates[i] as { topic: string; fields: string }
        seq[i] = (seq[i] as number) + 1
        mqtt.publish(t.topic, `{"ts":${Date.now()},"seq":${seq[i]},${t.fields}`, { qos: 1 })
        sent++
      }
      if (sent >= total) {
        clearInterval(timer)
        resolve()
      }
    }, 5)
  })
  // Frames still on their way (an engine behind its load sends them late): wait until every one came, or some came
  // and then none for 500 ms; at most 10 s.
  const expected = Math.round(o.rate * (o.durationS - o.warmupS))
  let quietMs = 0
  for (let waited = 0, last = received; received < expected && waited < 10_000 && (received === 0 || quietMs < 500); waited += 50) {
    await new Promise((r) => setTimeout(r, 50))
    quietMs = received === last ? quietMs + 50 : 0
    last = received
  }
  latencies.sort((a, b) => a - b)
  const pct = (p: number): number => latencies[Math.min(latencies.length - 1, Math.floor((p / 100) * latencies.length))] ?? Number.NaN
  const elapsedS = (Date.now() - started) / 1000
  process.stdout.write(`${JSON.stringify({ sent, received, p50: pct(50), p99: pct(99), max: latencies[latencies.length - 1] ?? Number.NaN, ratePerS: Math.round(sent / Math.max(o.durationS, elapsedS - 0)), frames })}\n`)
  await mqtt.endAsync()
  for (const ws of sockets) ws.terminate()
  process.exit(0)
}
