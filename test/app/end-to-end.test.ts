import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { Sensor } from '../../domain.js'
import { connectWs } from '../helpers/ws-client.js'
import { startTestApp, type TestApp } from '../helpers/test-app.js'
import { nextMessage, waitFor } from '../helpers/wait-for.js'

const firstOfKind = (t: TestApp, kind: string): Sensor => {
  const sensor = t.app.registry().registry.sensors.find((s) => s.kind === kind)
  if (sensor === undefined) throw new Error(`no ${kind} sensor in the sample`)
  return sensor
}
const getJson = async (url: string): Promise<any> => (await fetch(url)).json()
const topicOf = (s: Sensor) => `city/${s.district}/${s.kind}/${s.id}`

async function count(t: TestApp, measurement: string, where: string): Promise<number> {
  const rows = await t.influx.query(`SELECT count(*) FROM "${measurement}" WHERE ${where}`).catch(() => [])
  const row = rows[0] ?? {}
  return Math.max(0, ...Object.entries(row).filter(([k]) => k.startsWith('count_')).map(([, v]) => Number(v)))
}

describe.each([
  ['the embedded broker', false],
  ['an external Mosquitto', true],
])('through %s', (_name, external) => {
  let t: TestApp
  beforeAll(async () => {
    t = await startTestApp({ external })
  })
  afterAll(async () => t?.close())

  it('stores a published reading in InfluxDB with its tags and quality and pushes it to a websocket subscriber', async () => {
    const gauge = firstOfKind(t, 'water_level')
    const ws = await connectWs(t.ws)
    ws.send({ type: 'subscribe', channels: ['readings'], sensors: [gauge.id] })
    await ws.next((f) => f.type === 'snapshot')
    const client = await t.client()
    const ts = Date.now() - 1000
    await client.publishAsync(topicOf(gauge), JSON.stringify({ ts, seq: 1, level_m: 3.125 }), { qos: 1 })

    const frame = await ws.next((f) => f.type === 'reading')
    expect(frame.data).toMatchObject({ sensor: gauge.id, kind: 'water_level', district: 'xihu', segment: gauge.segment, ts: new Date(ts).toISOString(), values: { level_m: 3.125 }, quality: 'good', tsSource: 'device' })
    expect(frame.seq).toEqual(expect.any(Number))

    const rows = await waitFor(async () => {
      const r = await t.influx.query(`SELECT * FROM "water_level" WHERE "sensor" = '${gauge.id}'`)
      return r.length > 0 && r
    }, { timeoutMs: 15_000, message: 'the reading in InfluxDB' })
    expect(rows).toEqual([expect.objectContaining({ time: new Date(ts).toISOString(), sensor: gauge.id, district: 'xihu', segment: gauge.segment, level_m: 3.125, quality: 'good', quality_reason: '', ts_source: 'device' })])
    await ws.close()
  })
})

describe('ingest through the embedded broker', () => {
  let t: TestApp
  beforeAll(async () => {
    t = await startTestApp()
  })
  afterAll(async () => t?.close())

  const now = Date.now()
  const cases: [string, (t: TestApp) => [string, string | Buffer]][] = [
    ['malformed_json', (t) => [topicOf(firstOfKind(t, 'flow')), '{"flow_m3s": 1.2,']],
    ['schema', (t) => [topicOf(firstOfKind(t, 'flow')), JSON.stringify({ ts: now - 5000, flow_m3s: 'lots' })]],
    ['unknown_sensor', () => ['city/xihu/flow/FL-9999', JSON.stringify({ flow_m3s: 1 })]],
    ['topic_mismatch', (t) => [`city/xihu/ponding_depth/${firstOfKind(t, 'flow').id}`, JSON.stringify({ depth_cm: 1 })]],
    ['ts_future', (t) => [topicOf(firstOfKind(t, 'flow')), JSON.stringify({ ts: now + 3_600_000, flow_m3s: 1 })]],
    ['ts_expired', (t) => [topicOf(firstOfKind(t, 'flow')), JSON.stringify({ ts: now - 40 * 86_400_000, flow_m3s: 1 })]],
    ['too_large', (t) => [topicOf(firstOfKind(t, 'flow')), JSON.stringify(Array.from({ length: 1001 }, (_, i) => ({ ts: now - 10_000 - i, flow_m3s: 1 })))]],
  ]

  it.each(cases.map(([reason, make], i) => [reason, make, i] as const))('rejects %s to the dead-letter file, topic and counter, and still stores the next good message', async (reason, make, i) => {
    const watcher = await t.client()
    await watcher.subscribeAsync('citywater/deadletter/#', { qos: 0 })
    const letter = nextMessage(watcher, (topic) => topic === `citywater/deadletter/${reason}`, 5000)
    const publisher = await t.client()
    const [topic, payload] = make(t)
    await publisher.publishAsync(topic, payload, { qos: 1 })
    const received = await letter
    const body = JSON.parse(received.payload.toString())
    expect(body).toMatchObject({ topic, reason, detail: expect.any(String), receivedAt: expect.stringMatching(/Z$/) })
    expect(body.payload).toBe(Buffer.isBuffer(payload) ? payload.toString('base64') : payload)

    await t.app.deadLetters.flush()
    const dir = join(t.config.dataDir, 'deadletter')
    const lines = (await import('node:fs')).readdirSync(dir).flatMap((f) => readFileSync(join(dir, f), 'utf8').trim().split('\n')).map((l) => JSON.parse(l))
    expect(lines.filter((l) => l.reason === reason && l.topic === topic)).toHaveLength(1)

    const metrics = await (await fetch(`${t.http}/metrics`)).text()
    expect(metrics).toContain(`citywater_readings_rejected_total{reason="${reason}"} 1`)

    const pond = firstOfKind(t, 'ponding_depth')
    const ts = now - 60_000 + i
    await publisher.publishAsync(topicOf(pond), JSON.stringify({ ts, depth_cm: i }), { qos: 1 })
    await waitFor(async () => (await count(t, 'ponding_depth', `"sensor" = '${pond.id}' AND time = ${ts}ms`)) === 1, { timeoutMs: 15_000, message: 'the good reading after the bad one' })
  })

  it('stores a QoS 1 redelivery (same sensor and ts) once', async () => {
    const sediment = firstOfKind(t, 'sediment')
    const client = await t.client()
    const payload = JSON.stringify({ ts: now - 7000, sediment_m: 0.05 })
    const before = t.app.ingest.stats.duplicates
    await client.publishAsync(topicOf(sediment), payload, { qos: 1 })
    await client.publishAsync(topicOf(sediment), payload, { qos: 1, dup: true })
    await waitFor(() => t.app.ingest.stats.duplicates === before + 1, { message: 'the duplicate counted' })
    // A later reading proves the writer has passed the duplicate.
    await client.publishAsync(topicOf(sediment), JSON.stringify({ ts: now - 6000, sediment_m: 0.05 }), { qos: 1 })
    await waitFor(async () => (await count(t, 'sediment', `"sensor" = '${sediment.id}'`)) === 2, { timeoutMs: 15_000, message: 'two distinct readings stored' })
    const metrics = await (await fetch(`${t.http}/metrics`)).text()
    expect(metrics).toMatch(/citywater_readings_duplicate_total [1-9]/)
  })

  it('stores an array of 1,000 readings and a gateway batch whole', async () => {
    const manhole = firstOfKind(t, 'manhole_level')
    const client = await t.client()
    const array = Array.from({ length: 1000 }, (_, i) => ({ ts: now - 3_600_000 + i * 1000, seq: i + 1, level_m: 0.3 + (i % 10) / 100 }))
    await client.publishAsync(topicOf(manhole), JSON.stringify(array), { qos: 1 })

    const tunnels = t.app.registry().registry.sensors.filter((s) => s.kind === 'tunnel_depth').slice(0, 5)
    const rain = firstOfKind(t, 'rainfall')
    const batch = [
      ...tunnels.flatMap((s) => Array.from({ length: 20 }, (_, i) => ({ sensor: s.id, ts: now - 600_000 + i * 1000, depth_cm: i / 10 }))),
      ...Array.from({ length: 50 }, (_, i) => ({ sensor: rain.id, ts: now - 600_000 + i * 1000, rain_mm: 0 })),
    ]
    await client.publishAsync('city/xihu/gateway/GW-01', JSON.stringify(batch), { qos: 1 })

    await waitFor(async () => (await count(t, 'manhole_level', `"sensor" = '${manhole.id}'`)) === 1000, { timeoutMs: 15_000, message: '1,000 manhole readings' })
    await waitFor(async () => (await count(t, 'tunnel_depth', `time >= ${now - 600_000}ms`)) === 100, { timeoutMs: 15_000, message: '100 tunnel readings' })
    await waitFor(async () => (await count(t, 'rainfall', `"sensor" = '${rain.id}'`)) === 50, { timeoutMs: 15_000, message: '50 rain readings' })
  })

  it('turns parking readings into lot states, retained lot and board messages, and /api/parking', async () => {
    const lot = firstOfKind(t, 'parking')
    const capacity = lot.params.capacity as number
    const board = t.app.registry().registry.boards.find((b) => b.lots.includes(lot.id))
    const client = await t.client()
    await client.publishAsync(topicOf(lot), JSON.stringify({ ts: now - 5000, occupied: capacity - 1 }), { qos: 1 })
    const watcher = await t.client()
    const retained = nextMessage(watcher, (topic) => topic === `citywater/parking/xihu/${lot.id}`)
    await watcher.subscribeAsync(`citywater/parking/xihu/${lot.id}`, { qos: 1 })
    expect(JSON.parse((await retained).payload.toString())).toMatchObject({ id: lot.id, capacity, occupied: capacity - 1, free: 1, status: 'full' })
    if (board !== undefined) {
      const boardMessage = nextMessage(watcher, (topic) => topic === `citywater/boards/xihu/${board.id}`)
      await watcher.subscribeAsync(`citywater/boards/xihu/${board.id}`, { qos: 1 })
      expect(JSON.parse((await boardMessage).payload.toString()).lines).toEqual(expect.arrayContaining([expect.objectContaining({ lot: lot.id, text: 'FULL' })]))
    }
    const body = await getJson(`${t.http}/api/parking?district=xihu`)
    expect(body.lots.find((l: { id: string }) => l.id === lot.id)).toMatchObject({ free: 1, status: 'full' })
    expect(body.districts).toEqual([expect.objectContaining({ district: 'xihu', full: 1 })])
  })

  it('stores each reading with its quality flag, and re-flags a spike when the next reading arrives', async () => {
    const gauge = t.app.registry().registry.sensors.filter((s) => s.kind === 'water_level')[2] as Sensor
    const hn = gauge.params.normalLevelM as number
    const client = await t.client()
    const base = now - 20 * 60_000
    const series = [hn, hn, hn + 0.5, hn, -9999]
    for (const [i, level] of series.entries()) await client.publishAsync(topicOf(gauge), JSON.stringify({ ts: base + i * 60_000, level_m: level }), { qos: 1 })
    const rows = await waitFor(async () => {
      const r = await t.influx.query(`SELECT "level_m", "quality", "quality_reason" FROM "water_level" WHERE "sensor" = '${gauge.id}'`)
      return r.length === 5 && r.every((row) => typeof row.quality === 'string') && r[2]?.quality !== 'good' && r
    }, { timeoutMs: 15_000, message: 'five readings with the spike re-flagged' })
    expect(rows.map((r) => [r.quality, r.quality_reason])).toEqual([
      ['good', ''],
      ['good', ''],
      ['bad', 'spike:level_m'],
      ['good', ''],
      ['bad', 'sentinel:level_m'],
    ])
    const sensor = await getJson(`${t.http}/api/sensors/${gauge.id}`)
    expect(sensor.last).toMatchObject({ quality: 'bad', qualityReason: 'sentinel:level_m' })
  })

  it('relays other topics like any MQTT broker', async () => {
    const a = await t.client()
    const b = await t.client()
    await b.subscribeAsync('home/+/lamp', { qos: 1 })
    const got = nextMessage(b, (topic) => topic === 'home/kitchen/lamp')
    await a.publishAsync('home/kitchen/lamp', 'on', { qos: 1 })
    expect((await got).payload.toString()).toBe('on')
  })

  it('serves the sensors with status and last reading, and their stored readings with every and CSV', async () => {
    const gauge = t.app.registry().registry.sensors.filter((s) => s.kind === 'water_level')[1] as Sensor
    const client = await t.client()
    const base = now - 30 * 60_000
    await client.publishAsync(topicOf(gauge), JSON.stringify(Array.from({ length: 10 }, (_, i) => ({ ts: base + i * 60_000, level_m: 3 + i / 100 }))), { qos: 1 })
    await waitFor(async () => (await count(t, 'water_level', `"sensor" = '${gauge.id}'`)) === 10, { timeoutMs: 15_000, message: 'ten gauge readings' })

    const list = await getJson(`${t.http}/api/sensors?district=xihu&kind=water_level`)
    expect(list.sensors.length).toBe(t.app.registry().registry.sensors.filter((s) => s.kind === 'water_level').length)
    const item = list.sensors.find((s: { id: string }) => s.id === gauge.id)
    expect(item).toMatchObject({ id: gauge.id, params: gauge.params, status: 'online', last: { ts: new Date(base + 9 * 60_000).toISOString(), values: { level_m: 3.09 } } })
    const unknown = await getJson(`${t.http}/api/sensors?status=unknown&kind=water_quality`)
    expect(unknown.sensors.every((s: { status: string; last: unknown }) => s.status === 'unknown' && s.last === null)).toBe(true)

    const raw = await getJson(`${t.http}/api/sensors/${gauge.id}/readings?from=${base}&to=${new Date(now).toISOString()}`)
    expect(raw.points).toHaveLength(10)
    expect(raw.points[0]).toMatchObject({ time: new Date(base).toISOString(), level_m: 3, quality: 'good' })
    const tenMin = await getJson(`${t.http}/api/sensors/${gauge.id}/readings?from=${base}&to=${base + 600_000}&every=5m`)
    expect(tenMin.points.map((p: { level_m: number }) => p.level_m).filter((v: number | null) => v !== null).length).toBeGreaterThanOrEqual(2)
    const csv = await fetch(`${t.http}/api/sensors/${gauge.id}/readings?from=${base}&to=${now}&format=csv`)
    expect(csv.headers.get('content-type')).toMatch(/text\/csv/)
    const lines = (await csv.text()).trim().split('\r\n')
    expect(lines[0]?.split(',')[0]).toBe('time')
    expect(lines).toHaveLength(11)
  })

  it('answers bad requests in the error shape with details', async () => {
    const missing = await fetch(`${t.http}/api/sensors/NOPE-1`)
    expect(missing.status).toBe(404)
    expect(await missing.json()).toMatchObject({ error: 'CW_ERR_SENSOR_NOT_FOUND', message: expect.stringContaining('NOPE-1') })
    const bad = await fetch(`${t.http}/api/sensors/${firstOfKind(t, 'flow').id}/readings?every=soon`)
    expect(bad.status).toBe(400)
    const body = await bad.json()
    expect(body).toMatchObject({ error: 'CW_ERR_API_VALIDATION', details: [expect.objectContaining({ path: expect.stringContaining('every') })] })
    const segments = await getJson(`${t.http}/api/segments?district=xihu`)
    expect(segments.segments).toEqual(t.app.registry().registry.segments.filter((s) => s.district === 'xihu'))
    expect(segments.segments.length).toBeGreaterThan(0)
    expect((await getJson(`${t.http}/api/segments?district=nowhere`)).segments).toEqual([])
    const wrongStatus = await fetch(`${t.http}/api/sensors?status=sleepy`)
    expect(wrongStatus.status).toBe(400)
    const nowhere = await fetch(`${t.http}/api/nowhere`)
    expect(nowhere.status).toBe(404)
    expect(await nowhere.json()).toMatchObject({ error: 'CW_ERR_API_NOT_FOUND' })
  })

  it('serves health, readiness, metrics and the OpenAPI document', async () => {
    expect(await getJson(`${t.http}/healthz`)).toEqual({ status: 'ok' })
    const ready = await fetch(`${t.http}/readyz`)
    expect(ready.status).toBe(200)
    expect(await ready.json()).toMatchObject({ broker: 'up', influx: 'ok', walBytes: expect.any(Number), walOldestUnconfirmedAgeS: expect.any(Number), writerBacklog: expect.any(Number), writerRetrying: false })
    const metrics = await (await fetch(`${t.http}/metrics`)).text()
    for (const name of ['citywater_readings_received_total', 'citywater_readings_accepted_total', 'citywater_readings_rejected_total', 'citywater_readings_duplicate_total', 'citywater_influx_write_latency_seconds_bucket', 'citywater_influx_backlog_points', 'citywater_ws_clients', 'citywater_event_loop_lag_seconds', 'citywater_wal_bytes', 'citywater_wal_oldest_unconfirmed_age_seconds', 'citywater_wal_fsync_duration_seconds_bucket', 'citywater_influx_retrying']) {
      expect(metrics).toContain(name)
    }
    // Memory: the resident set, and how much of it is the V8 heap and buffers outside it.
    const value = (name: string): number => Number(new RegExp(`^${name} (\\S+)$`, 'm').exec(metrics)?.[1])
    const [rss, used, total, external] = ['resident_memory', 'heap_used', 'heap_total', 'external_memory'].map((m) => value(`citywater_process_${m}_bytes`)) as [number, number, number, number]
    expect(used).toBeGreaterThan(1e6)
    expect(used).toBeLessThanOrEqual(total)
    expect(total).toBeLessThan(rss)
    expect(external).toBeGreaterThan(0)
    const doc = await getJson(`${t.http}/api/openapi.json`)
    expect(doc.openapi).toMatch(/^3\./)
    expect(Object.keys(doc.paths)).toEqual(expect.arrayContaining(['/healthz', '/readyz', '/metrics', '/api/sensors', '/api/sensors/{id}', '/api/sensors/{id}/readings']))
  })
})

describe('without InfluxDB', () => {
  let t: TestApp
  beforeAll(async () => {
    t = await startTestApp({ config: { influxUrl: 'http://127.0.0.1:9', influxMaxBackoffMs: 200 } })
  })
  afterAll(async () => t?.close())

  it('keeps serving, reports spooling on /readyz and still pushes live readings', async () => {
    const ws = await connectWs(t.ws)
    ws.send({ type: 'subscribe', channels: ['readings'] })
    await ws.next((f) => f.type === 'snapshot')
    const client = await t.client()
    const pond = firstOfKind(t, 'ponding_depth')
    await client.publishAsync(topicOf(pond), JSON.stringify({ depth_cm: 2.5 }), { qos: 1 })
    expect(await ws.next((f) => f.type === 'reading')).toMatchObject({ data: { sensor: pond.id, tsSource: 'server' } })
    const body = await waitFor(async () => {
      const res = await fetch(`${t.http}/readyz`)
      const json = (await res.json()) as any
      return res.status === 200 && json.influx === 'spooling' && json
    }, { timeoutMs: 10_000, message: 'readyz to report spooling' })
    expect(body.writerBacklog).toBeGreaterThanOrEqual(1)
    await ws.close()
  })
})
