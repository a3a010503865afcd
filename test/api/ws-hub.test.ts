import { pino } from 'pino'
import { afterEach, describe, expect, it } from 'vitest'
import { WebSocketServer } from 'ws'
import { createWsHub, parseSubscribe, type WsHub } from '../../api/ws-hub.js'
import { connectWs, type WsTestClient } from '../helpers/ws-client.js'

const logger = pino({ level: 'silent' })
const cleanups: (() => Promise<void> | void)[] = []
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c()
})

async function serve(options: Parameters<typeof createWsHub>[0] = { logger }): Promise<{ hub: WsHub; connect(): Promise<WsTestClient> }> {
  const hub = createWsHub(options)
  const wss = new WebSocketServer({ port: 0, host: '127.0.0.1' })
  await new Promise<void>((resolve) => wss.once('listening', () => resolve()))
  wss.on('connection', (socket) => hub.accept(socket))
  cleanups.push(() => new Promise<void>((resolve) => { hub.close(); wss.close(() => resolve()) }))
  const { port } = wss.address() as { port: number }
  return {
    hub,
    async connect() {
      const client = await connectWs(`ws://127.0.0.1:${port}`)
      cleanups.push(() => client.close())
      return client
    },
  }
}

const reading = (sensor: string, district: string, value: number) => ({ type: 'reading' as const, key: sensor, district, sensor, data: { sensor, value } })

describe('websocket hub', () => {
  it('answers a subscription with a snapshot, then events with a rising seq', async () => {
    const { hub, connect } = await serve()
    hub.setSnapshotProvider('readings', () => [{ sensor: 'WL-1', value: 1 }])
    const client = await connect()
    client.send({ type: 'subscribe', channels: ['readings'] })
    const snapshot = await client.next((f) => f.type === 'snapshot')
    expect(snapshot).toEqual({ type: 'snapshot', seq: 0, data: { readings: [{ sensor: 'WL-1', value: 1 }] } })
    hub.publish(reading('WL-1', 'xihu', 2))
    hub.publish(reading('WL-2', 'xihu', 3))
    expect(await client.next((f) => f.type === 'reading')).toEqual({ type: 'reading', seq: 1, data: { sensor: 'WL-1', value: 2 } })
    expect(await client.next((f) => f.type === 'reading')).toEqual({ type: 'reading', seq: 2, data: { sensor: 'WL-2', value: 3 } })
  })

  it('filters by channel, district and sensor', async () => {
    const { hub, connect } = await serve()
    const client = await connect()
    client.send({ type: 'subscribe', channels: ['readings'], districts: ['xihu'], sensors: ['WL-2'] })
    await client.next((f) => f.type === 'snapshot')
    hub.publish(reading('WL-1', 'xihu', 1))
    hub.publish(reading('WL-2', 'gongshu', 2))
    hub.publish({ type: 'index', key: 'river-1', district: 'xihu', data: { segment: 'river-1' } })
    hub.publish(reading('WL-2', 'xihu', 3))
    const frame = await client.next((f) => f.type === 'reading')
    expect(frame).toMatchObject({ seq: 4, data: { sensor: 'WL-2', value: 3 } })
    expect(client.frames).toEqual([])
  })

  it('answers invalid messages with an error event and keeps the connection open', async () => {
    const { hub, connect } = await serve()
    const client = await connect()
    client.send('not json')
    expect(await client.next((f) => f.type === 'error')).toMatchObject({ error: 'CW_ERR_WS_MESSAGE', message: expect.stringMatching(/not JSON/) })
    client.send({ type: 'subscribe', channels: ['weather'] })
    expect(await client.next((f) => f.type === 'error')).toMatchObject({ error: 'CW_ERR_WS_MESSAGE', message: expect.stringMatching(/weather/) })
    client.send({ type: 'subscribe', channels: ['readings'] })
    await client.next((f) => f.type === 'snapshot')
    hub.publish(reading('WL-1', 'xihu', 1))
    expect(await client.next((f) => f.type === 'reading')).toMatchObject({ data: { sensor: 'WL-1' } })
  })

  it('conflates readings per sensor for a slow client but never drops alerts', async () => {
    const options = { logger, highWaterBytes: 0, drainIntervalMs: 10 }
    const { hub, connect } = await serve(options)
    const client = await connect()
    client.send({ type: 'subscribe' })
    await client.next((f) => f.type === 'snapshot')
    // With a high-water mark of 0 the socket counts as slow: every event queues.
    for (let i = 0; i < 100; i++) hub.publish(reading('WL-1', 'xihu', i))
    for (let i = 0; i < 5; i++) hub.publish({ type: 'alert', key: `a-${i}`, district: 'xihu', data: { id: `a-${i}` } })
    hub.publish(reading('WL-2', 'xihu', 7))
    options.highWaterBytes = 1_048_576
    const last = await client.next((f) => f.type === 'reading' && (f.data as { sensor: string }).sensor === 'WL-2')
    expect(last).toMatchObject({ seq: 106 })
    const readings = client.frames.filter((f) => f.type === 'reading')
    const alerts = client.frames.filter((f) => f.type === 'alert')
    expect(alerts.map((f) => (f.data as { id: string }).id)).toEqual(['a-0', 'a-1', 'a-2', 'a-3', 'a-4'])
    // Alerts drain first, in order; the 100 queued readings of WL-1 were conflated to the latest.
    expect(readings.map((f) => (f.data as { value: number }).value)).toEqual([99])
  })

  it('resumes with since: missed alert transitions, or a fresh snapshot with resumed false', async () => {
    const { hub, connect } = await serve({ logger, replayBufferSize: 3 })
    for (let i = 1; i <= 5; i++) hub.publish({ type: 'alert', key: `a-${i}`, district: 'xihu', data: { id: `a-${i}` } })
    const resumed = await connect()
    resumed.send({ type: 'subscribe', channels: ['alerts'], since: 3 })
    expect(await resumed.next((f) => f.type === 'snapshot')).toMatchObject({ seq: 5, resumed: true })
    expect(await resumed.next((f) => f.type === 'alert')).toMatchObject({ seq: 4, data: { id: 'a-4' } })
    expect(await resumed.next((f) => f.type === 'alert')).toMatchObject({ seq: 5, data: { id: 'a-5' } })
    const tooOld = await connect()
    tooOld.send({ type: 'subscribe', channels: ['alerts'], since: 1 })
    expect(await tooOld.next((f) => f.type === 'snapshot')).toMatchObject({ seq: 5, resumed: false })
  })

  it.each([
    ['{"type":"subscribe","districts":"xihu"}', /districts must be an array/],
    ['{"type":"subscribe","since":-2}', /since/],
    ['{"type":"unsubscribe"}', /unknown type/],
    ['[1]', /object/],
  ])('parseSubscribe rejects %s', (raw, why) => {
    expect(() => parseSubscribe(raw)).toThrow(why)
  })
})

describe('websocket hub across a restart', () => {
  it('hands every alert event to onAlertEvent and resumes since from a replayed log', async () => {
    const kept: { seq: number; frame: string; district: string }[] = []
    const first = await serve({ logger, onAlertEvent: (seq, frame, meta) => void kept.push({ seq, frame, district: meta.district }) })
    for (let i = 1; i <= 3; i++) first.hub.publish({ type: 'alert', key: `a-${i}`, district: 'xihu', data: { id: `a-${i}` } })
    first.hub.publish(reading('WL-1', 'xihu', 1))
    expect(kept.map((k) => k.seq)).toEqual([1, 2, 3])

    const second = await serve({ logger, initialSeq: first.hub.seq, replay: kept })
    const client = await second.connect()
    client.send({ type: 'subscribe', channels: ['alerts'], since: 1 })
    expect(await client.next((f) => f.type === 'snapshot')).toMatchObject({ seq: 4, resumed: true })
    expect(await client.next((f) => f.type === 'alert')).toMatchObject({ seq: 2, data: { id: 'a-2' } })
    expect(await client.next((f) => f.type === 'alert')).toMatchObject({ seq: 3, data: { id: 'a-3' } })
    second.hub.publish({ type: 'alert', key: 'a-4', district: 'xihu', data: { id: 'a-4' } })
    expect(await client.next((f) => f.type === 'alert')).toMatchObject({ seq: 5, data: { id: 'a-4' } })
  })
})
