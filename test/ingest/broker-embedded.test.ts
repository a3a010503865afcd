import { randomUUID } from 'node:crypto'
import { connect as netConnect } from 'node:net'
import { connectAsync, type IClientOptions, type MqttClient } from 'mqtt'
import { pino } from 'pino'
import { afterEach, describe, expect, it } from 'vitest'
import { createEmbeddedBroker, type EmbeddedBroker, type EmbeddedBrokerOptions } from '../../ingest/embedded-broker.js'
import type { BrokerMessage } from '../../ports.js'
import { deferred, nextEvent, waitFor } from '../helpers/wait-for.js'
import { brokerContract, mqttDevice } from './broker-contract.js'

const logger = pino({ level: 'silent' })

brokerContract('embedded aedes', async () => {
  const broker = createEmbeddedBroker({ port: 0, logger })
  await broker.start()
  const device = await mqttDevice(`mqtt://127.0.0.1:${broker.port}`)
  return {
    broker,
    device,
    deviceAckWaitsForHandlers: true,
    async close() {
      await device.close()
      await broker.close()
    },
  }
})

describe('createEmbeddedBroker', () => {
  const cleanups: (() => Promise<unknown>)[] = []
  afterEach(async () => {
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup()
  })

  async function startBroker(options: Partial<EmbeddedBrokerOptions> = {}): Promise<EmbeddedBroker> {
    const broker = createEmbeddedBroker({ port: 0, logger, ...options })
    cleanups.push(() => broker.close())
    await broker.start()
    return broker
  }

  async function client(url: string, options: IClientOptions = {}): Promise<MqttClient> {
    const c = await connectAsync(url, { clientId: `t-${randomUUID()}`, reconnectPeriod: 0, ...options })
    c.on('error', () => {})
    cleanups.push(() => c.endAsync(true))
    return c
  }

  function tcpUrl(broker: EmbeddedBroker): string {
    return `mqtt://127.0.0.1:${broker.port}`
  }

  it('binds a free port for port 0 and counts connected clients', async () => {
    const broker = await startBroker()
    expect(broker.port).toBeGreaterThan(0)
    expect(broker.wsPort).toBeUndefined()
    await client(tcpUrl(broker))
    await client(tcpUrl(broker))
    await waitFor(() => broker.stats.clients === 2, { message: 'two clients' })
  })

  it('relays every other topic between clients, as a full MQTT broker, retained messages included', async () => {
    const broker = await startBroker()
    await broker.subscribe('city/#', () => {})
    const a = await client(tcpUrl(broker))
    const b = await client(tcpUrl(broker))
    await a.publishAsync('home/garden/fountain', 'retained', { qos: 1, retain: true })
    await b.subscribeAsync('home/#', { qos: 1 })
    const [topic, payload, packet] = await nextEvent<[string, Buffer, { retain: boolean }]>(b, 'message')
    expect([topic, payload.toString(), packet.retain]).toEqual(['home/garden/fountain', 'retained', true])
    const live = nextEvent<[string, Buffer]>(b, 'message')
    await a.publishAsync('city/xihu/flow/F-1', '{"flow_m3s":1}', { qos: 1 })
    await b.subscribeAsync('city/#', { qos: 1 })
    await a.publishAsync('home/kitchen', 'live', { qos: 0 })
    const [liveTopic, livePayload] = await live
    expect([liveTopic, livePayload.toString()]).toEqual(['home/kitchen', 'live'])
  })

  it('relays sensor topics to other subscribers after the handler ran', async () => {
    const broker = await startBroker()
    const order: string[] = []
    await broker.subscribe('city/#', () => {
      order.push('handler')
    })
    const a = await client(tcpUrl(broker))
    const b = await client(tcpUrl(broker))
    await b.subscribeAsync('city/#', { qos: 1 })
    const relayed = nextEvent(b, 'message').then(() => order.push('relayed'))
    await a.publishAsync('city/xihu/flow/F-1', '{}', { qos: 1 })
    await relayed
    expect(order).toEqual(['handler', 'relayed'])
  })

  it('does not hand the engine its own publications', async () => {
    const broker = await startBroker()
    const seen: string[] = []
    await broker.subscribe('loop/#', (m) => {
      seen.push(m.topic)
    })
    const a = await client(tcpUrl(broker))
    await a.subscribeAsync('loop/#', { qos: 1 })
    const got = nextEvent(a, 'message')
    await broker.publish('loop/engine', 'from engine', { qos: 1 })
    await got
    await a.publishAsync('loop/client', 'from client', { qos: 1 })
    await waitFor(() => seen.length > 0)
    expect(seen).toEqual(['loop/client'])
    expect(broker.stats.messagesIn).toBe(1)
  })

  it('accepts subscriptions before start', async () => {
    const broker = createEmbeddedBroker({ port: 0, logger })
    cleanups.push(() => broker.close())
    const seen: BrokerMessage[] = []
    await broker.subscribe('early/+', (m) => {
      seen.push(m)
    })
    await broker.start()
    const a = await client(tcpUrl(broker))
    await a.publishAsync('early/1', 'x', { qos: 1 })
    expect(seen.map((m) => m.topic)).toEqual(['early/1'])
  })

  it('runs the handler of a QoS 2 publish before PUBREC, so before the client completes', async () => {
    const broker = await startBroker()
    const gate = deferred()
    const a = await client(tcpUrl(broker))
    await a.subscribeAsync('q2/marker', { qos: 0 })
    const seen: BrokerMessage[] = []
    await broker.subscribe('q2/in', async (m) => {
      seen.push(m)
      await broker.publish('q2/marker', 'running')
      await gate.promise
    })
    const received: string[] = []
    a.on('packetreceive', (packet) => received.push(packet.cmd))
    const marker = nextEvent(a, 'message')
    const done = a.publishAsync('q2/in', 'exactly once', { qos: 2 })
    await marker
    expect(received).toEqual(['publish'])
    gate.resolve()
    await done
    expect(received).toEqual(['publish', 'pubrec', 'pubcomp'])
    expect(seen.map((m) => m.qos)).toEqual([2])
  })

  it('speaks MQTT over websocket', async () => {
    const broker = await startBroker({ wsPort: 0 })
    expect(broker.wsPort).toBeGreaterThan(0)
    const seen: BrokerMessage[] = []
    await broker.subscribe('city/+/+/+', (m) => {
      seen.push(m)
    })
    const ws = await client(`ws://127.0.0.1:${broker.wsPort}`)
    await ws.subscribeAsync('citywater/#', { qos: 1 })
    await ws.publishAsync('city/xihu/water_level/WL-1', '{"level_m":3.2}', { qos: 1 })
    expect(seen.map((m) => [m.topic, m.payload.toString(), m.qos])).toEqual([['city/xihu/water_level/WL-1', '{"level_m":3.2}', 1]])
    const got = nextEvent<[string, Buffer]>(ws, 'message')
    await broker.publish('citywater/indices/xihu', '{"clear":88}')
    const [topic, payload] = await got
    expect([topic, payload.toString()]).toEqual(['citywater/indices/xihu', '{"clear":88}'])
  })

  it('closes a connection that sends a packet above 256 KiB, counts it, and keeps serving the others', async () => {
    const broker = await startBroker({ wsPort: 0 })
    const seen: string[] = []
    await broker.subscribe('big/#', (m) => {
      seen.push(`${m.topic}:${m.payload.length}`)
    })
    const topic = 'big/one'
    // PUBLISH QoS 0: 1 type byte + 3 length bytes + 2 + topic + payload
    const atLimit = 262_144 - 1 - 3 - 2 - topic.length
    const honest = await client(tcpUrl(broker))
    await honest.publishAsync(topic, Buffer.alloc(atLimit, 0x61), { qos: 0 })
    await waitFor(() => seen.length === 1, { message: 'the packet of exactly 256 KiB' })
    expect(broker.stats.oversizedPackets).toBe(0)

    const offender = await client(tcpUrl(broker))
    const closed = nextEvent(offender, 'close')
    offender.publish(topic, Buffer.alloc(atLimit + 1, 0x62), { qos: 1 })
    await closed
    expect(broker.stats.oversizedPackets).toBe(1)

    const wsOffender = await client(`ws://127.0.0.1:${broker.wsPort}`)
    const wsClosed = nextEvent(wsOffender, 'close')
    wsOffender.publish(topic, Buffer.alloc(400_000, 0x63), { qos: 0 })
    await wsClosed
    await waitFor(() => broker.stats.oversizedPackets === 2, { message: 'the websocket offender counted' })

    await honest.publishAsync('big/after', 'still here', { qos: 1 })
    expect(broker.stats.oversizedPackets).toBe(2)
    expect(seen).toEqual([`${topic}:${atLimit}`, 'big/after:10'])
  })

  it('closes a raw connection as soon as its fixed header announces too much, without waiting for the body', async () => {
    const broker = await startBroker()
    const socket = netConnect({ port: broker.port, host: '127.0.0.1' })
    await nextEvent(socket, 'connect')
    const closed = nextEvent(socket, 'close')
    socket.on('error', () => {})
    // CONNECT (MQTT 3.1.1, client id "x"), then a PUBLISH header announcing 200 MiB and only 10 bytes of it
    socket.write(Buffer.from([0x10, 13, 0, 4, 0x4d, 0x51, 0x54, 0x54, 4, 2, 0, 60, 0, 1, 0x78]))
    socket.write(Buffer.concat([Buffer.from([0x30, 0x80, 0x80, 0x80, 0x64]), Buffer.alloc(10)]))
    await closed
    expect(broker.stats.oversizedPackets).toBe(1)
  })

  it('refuses new connections with CONNACK 3 while refusing, and closes QoS 1 publishers on demand', async () => {
    const broker = await startBroker()
    const qosPublisher = await client(tcpUrl(broker))
    const listener = await client(tcpUrl(broker))
    await qosPublisher.publishAsync('x/1', 'x', { qos: 1 })
    await listener.publishAsync('x/0', 'x', { qos: 0 })
    await waitFor(() => broker.stats.messagesIn === 2)

    broker.refuseConnections(true)
    expect(broker.refusing).toBe(true)
    await expect(connectAsync(tcpUrl(broker), { reconnectPeriod: 0 })).rejects.toMatchObject({ code: 3 })
    const closed = nextEvent(qosPublisher, 'close')
    expect(await broker.closeClients({ qosPublishersOnly: true })).toBe(1)
    await closed
    expect(listener.connected).toBe(true)

    broker.refuseConnections(false)
    await client(tcpUrl(broker))
    expect(await broker.closeClients()).toBe(2)
  })

  it('passes authentication and authorization through its hooks', async () => {
    const seen: string[] = []
    const broker = await startBroker({
      authenticate: (c, password) => c.username === 'device-1' && password?.toString() === 'secret',
      authorizePublish: (c, m) => c?.username === 'device-1' && m.topic.startsWith('city/'),
      authorizeSubscribe: (_c, filter) => filter !== '#',
    })
    await broker.subscribe('#', (m) => {
      seen.push(m.topic)
    })
    await expect(connectAsync(tcpUrl(broker), { reconnectPeriod: 0, username: 'device-1', password: 'wrong' })).rejects.toMatchObject({ code: 5 })
    const device = await client(tcpUrl(broker), { username: 'device-1', password: 'secret' })
    await expect(device.subscribeAsync('#', { qos: 1 })).rejects.toMatchObject({ packet: { granted: [128] } })
    await device.publishAsync('city/xihu/flow/F-1', '{}', { qos: 1 })
    const closed = nextEvent(device, 'close')
    device.publish('elsewhere/x', '{}', { qos: 1 })
    await closed
    expect(seen).toEqual(['city/xihu/flow/F-1'])
  })

  it("closes a client that publishes into the broker's $SYS namespace", async () => {
    const broker = await startBroker()
    const seen: string[] = []
    await broker.subscribe('$SYS/#', (m) => {
      seen.push(m.topic)
    })
    const a = await client(tcpUrl(broker))
    const closed = nextEvent(a, 'close')
    a.publish('$SYS/fake', 'x', { qos: 1 })
    await closed
    expect(seen).toEqual([])
  })

  it('closes its listeners and every client connection on close', async () => {
    const broker = await startBroker({ wsPort: 0 })
    const tcp = await client(tcpUrl(broker))
    const ws = await client(`ws://127.0.0.1:${broker.wsPort}`)
    const raw = netConnect({ port: broker.port, host: '127.0.0.1' })
    raw.on('error', () => {})
    await nextEvent(raw, 'connect')
    const closed = Promise.all([nextEvent(tcp, 'close'), nextEvent(ws, 'close'), nextEvent(raw, 'close')])
    await broker.close()
    await closed
    expect(broker.connected).toBe(false)
    await expect(connectAsync(tcpUrl(broker), { reconnectPeriod: 0, connectTimeout: 2000 })).rejects.toThrow(/ECONNREFUSED/)
    await expect(broker.publish('x', 'y')).rejects.toThrow(/not running/)
  })
})
