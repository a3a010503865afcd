import { randomBytes } from 'node:crypto'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import mqtt, { type MqttClient } from 'mqtt'
import { afterEach, describe, expect, inject, it } from 'vitest'
import { createInfluxQuery, type InfluxQuery } from '../../storage/influx-query.js'
import { spawnEngine, type EngineProcess } from '../helpers/engine-process.js'
import { startInfluxProxy } from '../helpers/influx-proxy.js'
import { startInfluxd } from '../helpers/influxd.js'
import { startMosquitto } from '../helpers/mosquitto.js'
import { startTestApp } from '../helpers/test-app.js'
import { waitFor, withTimeout } from '../helpers/wait-for.js'
import { connectWs } from '../helpers/ws-client.js'

const cleanups: (() => Promise<unknown> | void)[] = []
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await Promise.resolve().then(c).catch(() => {})
})

const GAUGES = Array.from({ length: 40 }, (_, i) => `WL-${String(i + 1).padStart(4, '0')}`)
const T0 = Date.now() - 3_600_000

/** The n-th test reading: a gauge and a distinct timestamp. */
const nth = (n: number) => ({ sensor: GAUGES[n % GAUGES.length] as string, ts: T0 + n })
const publishNth = (client: MqttClient, n: number) => {
  const { sensor, ts } = nth(n)
  return client.publishAsync(`city/xihu/water_level/${sensor}`, JSON.stringify({ ts, level_m: 3 + (n % 100) / 1000 }), { qos: 1 })
}

async function countPoints(influx: InfluxQuery): Promise<number> {
  const rows = await influx.query('SELECT count("level_m") FROM "water_level"').catch(() => [])
  return Number(rows[0]?.count ?? 0)
}

async function storedTimes(influx: InfluxQuery): Promise<Set<number>> {
  const rows = await influx.query('SELECT "level_m" FROM "water_level"')
  return new Set(rows.map((r) => Date.parse(r.time as string)))
}

/** Publishes readings from..to with at most `window` unacknowledged, recording the acknowledged ones; `stop()` ends it early. */
async function publishRange(client: MqttClient, from: number, to: number, window = 500, acked?: Set<number>, stop: () => boolean = () => false): Promise<void> {
  const inFlight = new Set<Promise<unknown>>()
  for (let n = from; n < to && !stop(); n++) {
    const p = publishNth(client, n).then(() => acked?.add(n))
    inFlight.add(p)
    void p.finally(() => inFlight.delete(p)).catch(() => {})
    if (inFlight.size >= window) await Promise.race(inFlight)
  }
  await Promise.all(inFlight)
}

describe('durability', () => {
  it('keeps every reading acknowledged while InfluxDB was down: all 20,000 stored, none twice', async () => {
    const influxd = await startInfluxd()
    cleanups.push(() => influxd.stop())
    const t = await startTestApp({ config: { influxUrl: influxd.url, influxMaxBackoffMs: 500 } })
    cleanups.push(() => t.close())
    const client = await t.client()
    await publishRange(client, 0, 5_000)
    await influxd.stop({ keepData: true })
    await publishRange(client, 5_000, 20_000)
    await waitFor(async () => (await fetch(`${t.http}/readyz`).then((r) => r.json()) as { influx: string }).influx === 'spooling', { timeoutMs: 15_000, message: 'the writer to notice the outage' })
    expect(t.app.writer.backlog).toBeGreaterThan(0)
    await influxd.start()
    await waitFor(async () => (await countPoints(t.influx)) === 20_000, { timeoutMs: 60_000, message: '20,000 points in InfluxDB' })
    // A later reading proves the writer has gone past every one of them; none was written twice.
    await publishNth(client, 20_000)
    await waitFor(async () => (await countPoints(t.influx)) === 20_001, { timeoutMs: 15_000, message: 'the marker reading' })
    const perSensor = await t.influx.query('SELECT count("level_m") FROM "water_level" GROUP BY "sensor"')
    expect(perSensor.reduce((sum, r) => sum + Number(r.count), 0)).toBe(20_001)
  }, 120_000)

  it('keeps every acknowledged reading across a SIGKILL of the engine', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'cw-kill-'))
    cleanups.push(() => rmSync(dataDir, { recursive: true, force: true }))
    const database = `t_${randomBytes(6).toString('hex')}`
    const env = { CITYWATER_HTTP_PORT: '0', CITYWATER_MQTT_PORT: '0', CITYWATER_DATA_DIR: dataDir, CITYWATER_INFLUX_URL: inject('influxUrl'), CITYWATER_INFLUX_DB: database }
    const influx = createInfluxQuery({ url: inject('influxUrl'), database })
    const first: EngineProcess = spawnEngine(env)
    cleanups.push(() => void first.child.kill('SIGKILL'))
    const { mqtt: url } = await first.started()
    const client = await mqtt.connectAsync(url, { reconnectPeriod: 0 })
    const acked = new Set<number>()
    let killed = false
    // Publishes until the kill; messages in flight then are never acknowledged, and so not counted.
    void publishRange(client, 0, 1_000_000, 200, acked, () => killed).catch(() => {})
    await waitFor(() => acked.size >= 3_000, { timeoutMs: 30_000, message: '3,000 acknowledged readings' })
    first.child.kill('SIGKILL')
    killed = true
    await first.exited
    const ackedAtKill = new Set(acked)
    client.end(true)

    const second = spawnEngine(env)
    cleanups.push(async () => {
      second.child.kill('SIGTERM')
      await second.exited
    })
    await second.started()
    await waitFor(async () => (await countPoints(influx)) >= ackedAtKill.size, { timeoutMs: 60_000, message: 'the acknowledged readings in InfluxDB' })
    const stored = await storedTimes(influx)
    const missing = [...ackedAtKill].filter((n) => !stored.has(nth(n).ts))
    expect(missing).toEqual([])
    expect(second.logs.some((l) => typeof l.msg === 'string' && /replay|unconfirmed/i.test(l.msg))).toBe(true)
  }, 120_000)

  it('gets the readings published while an external Mosquitto was restarting', async () => {
    const broker = await startMosquitto()
    cleanups.push(() => broker.stop())
    const t = await startTestApp({ external: true, config: { mqttUrl: broker.url } })
    cleanups.push(() => t.close())
    await waitFor(() => t.app.broker.connected, { message: 'the engine connected to Mosquitto' })
    const device = await mqtt.connectAsync(broker.url, { clientId: `dev-${randomBytes(4).toString('hex')}`, clean: false, reconnectPeriod: 100 })
    cleanups.push(() => device.endAsync(true))
    await publishRange(device, 0, 100)
    await broker.stop()
    await waitFor(() => !t.app.broker.connected, { message: 'the engine to see the outage' })
    // Published into the gap: the device queues them and sends them once Mosquitto is back.
    const gap = publishRange(device, 100, 300)
    await broker.start()
    await withTimeout(gap, 20_000, 'the gap readings acknowledged by Mosquitto')
    await waitFor(async () => (await countPoints(t.influx)) === 300, { timeoutMs: 30_000, message: 'all 300 readings in InfluxDB' })
  }, 60_000)

  it('pushes websocket readings while InfluxDB holds a write unanswered', async () => {
    const proxy = await startInfluxProxy(inject('influxUrl'))
    cleanups.push(() => proxy.close())
    const t = await startTestApp({ config: { influxUrl: proxy.url } })
    cleanups.push(() => t.close())
    await waitFor(() => t.app.writer.status === 'ok', { timeoutMs: 10_000, message: 'the writer ready' })
    const ws = await connectWs(t.ws)
    cleanups.push(() => ws.close())
    ws.send({ type: 'subscribe', channels: ['readings'] })
    await ws.next((f) => f.type === 'snapshot')
    const client = await t.client()
    proxy.mode = 'hold'
    await publishNth(client, 1)
    await withTimeout(proxy.nextHeld('/write'), 10_000, 'a write held by the proxy')
    await publishNth(client, 2)
    const frame = await ws.next((f) => f.type === 'reading' && (f.data as { ts: string }).ts === new Date(nth(2).ts).toISOString(), 5_000)
    expect(frame.data).toMatchObject({ sensor: nth(2).sensor })
    expect(proxy.holding).toBeGreaterThan(0)
    proxy.release()
    await waitFor(async () => (await countPoints(t.influx)) === 2, { timeoutMs: 15_000, message: 'both readings written once released' })
  })

  it('at the log bound refuses publishers, loses nothing acknowledged, and recovers when InfluxDB returns', async () => {
    const proxy = await startInfluxProxy(inject('influxUrl'))
    cleanups.push(() => proxy.close())
    const t = await startTestApp({ config: { influxUrl: proxy.url, walMaxBytes: 1_048_576, influxMaxBackoffMs: 200 } })
    cleanups.push(() => t.close())
    await waitFor(() => t.app.writer.status === 'ok', { timeoutMs: 10_000, message: 'the writer ready' })
    proxy.mode = 'down'
    // A device that keeps retrying after CONNACK 3 (mqtt.js gives up on a refused CONNACK unless told not to).
    const device = await mqtt.connectAsync(t.mqttUrl, { clientId: `dev-${randomBytes(4).toString('hex')}`, clean: false, reconnectPeriod: 100, reconnectOnConnackError: true })
    cleanups.push(() => device.endAsync(true))
    let closes = 0
    device.on('close', () => closes++)
    const acked = new Set<number>()
    // About 150 bytes a reading: 12,000 readings overflow a 1 MiB log.
    const publishing = publishRange(device, 0, 12_000, 200, acked)
    await waitFor(() => t.app.wal.full, { timeoutMs: 30_000, message: 'the log to fill' })
    await waitFor(() => closes > 0, { timeoutMs: 10_000, message: 'the publisher to be disconnected' })
    const metrics = await (await fetch(`${t.http}/metrics`)).text()
    expect(metrics).toContain('citywater_wal_full 1')
    expect(acked.size).toBeLessThan(12_000)

    proxy.mode = 'pass'
    await withTimeout(publishing, 60_000, 'every reading acknowledged after recovery')
    await waitFor(async () => (await countPoints(t.influx)) === 12_000, { timeoutMs: 60_000, message: 'all 12,000 readings in InfluxDB' })
    // InfluxDB holds the points a moment before the writer has its answer and the log drops their segments.
    await waitFor(() => !t.app.wal.full, { timeoutMs: 10_000, message: 'the log below its bound again' })
    expect(t.app.wal.full).toBe(false)
  }, 120_000)
})

describe('graceful shutdown', () => {
  it('on SIGTERM stops intake, drains the log into InfluxDB and exits 0; a second signal exits at once', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'cw-term-'))
    cleanups.push(() => rmSync(dataDir, { recursive: true, force: true }))
    const database = `t_${randomBytes(6).toString('hex')}`
    const influx = createInfluxQuery({ url: inject('influxUrl'), database })
    const env = { CITYWATER_HTTP_PORT: '0', CITYWATER_MQTT_PORT: '0', CITYWATER_DATA_DIR: dataDir, CITYWATER_INFLUX_URL: inject('influxUrl'), CITYWATER_INFLUX_DB: database }
    const engine = spawnEngine(env)
    cleanups.push(() => void engine.child.kill('SIGKILL'))
    const { mqtt: url, pid } = await engine.started()
    const client = await mqtt.connectAsync(url, { reconnectPeriod: 0 })
    await publishRange(client, 0, 2_000)
    process.kill(pid, 'SIGTERM')
    expect(await withTimeout(engine.exited, 20_000, 'the engine to exit')).toBe(0)
    client.end(true)
    expect(await countPoints(influx)).toBe(2_000)
    expect(engine.logs.some((l) => l.msg === 'citywater stopped')).toBe(true)

    // Now with InfluxDB unreachable the drain would wait its deadline: the second SIGTERM cuts it short.
    const stuck = spawnEngine({ ...env, CITYWATER_INFLUX_URL: 'http://127.0.0.1:9' })
    cleanups.push(() => void stuck.child.kill('SIGKILL'))
    const second = await stuck.started()
    const device = await mqtt.connectAsync(second.mqtt, { reconnectPeriod: 0 })
    await publishRange(device, 2_000, 2_100)
    device.end(true)
    process.kill(second.pid, 'SIGTERM')
    await waitFor(() => stuck.logs.some((l) => l.msg === 'shutting down'), { message: 'the first signal taken' })
    process.kill(second.pid, 'SIGTERM')
    expect(await withTimeout(stuck.exited, 5_000, 'the engine to exit at the second signal')).toBe(130)

    // What the stuck engine could not write waits in the log: the next start writes it.
    const third = spawnEngine(env)
    cleanups.push(async () => {
      third.child.kill('SIGTERM')
      await third.exited
    })
    await third.started()
    await waitFor(async () => (await countPoints(influx)) === 2_100, { timeoutMs: 30_000, message: 'the readings left in the log written after restart' })
  }, 90_000)
})
