import { connect as netConnect, createServer, type AddressInfo, type Server, type Socket } from 'node:net'
import type { Duplex } from 'node:stream'
import { pino } from 'pino'
import { afterEach, describe, expect, it } from 'vitest'
import { createEmbeddedBroker, type EmbeddedBroker } from '../../ingest/embedded-broker.js'
import { attachMqttFront, createPacketFramer, type TakenPublish } from '../../ingest/mqtt-front.js'
import type { BrokerMessage, MessageHandler } from '../../ports.js'
import { deferred, nextEvent, waitFor, type Deferred } from '../helpers/wait-for.js'

const logger = pino({ level: 'silent' })

function remainingLength(n: number): number[] {
  const bytes: number[] = []
  let x = n
  do {
    let b = x % 128
    x = Math.floor(x / 128)
    if (x > 0) b |= 0x80
    bytes.push(b)
  } while (x > 0)
  return bytes
}

function mqttPacket(first: number, body: Buffer): Buffer {
  return Buffer.concat([Buffer.from([first, ...remainingLength(body.length)]), body])
}

function str(s: string): Buffer {
  const b = Buffer.from(s)
  return Buffer.concat([Buffer.from([b.length >> 8, b.length & 0xff]), b])
}

/** CONNECT, MQTT 3.1.1, clean session. */
function connectPacket(clientId: string, keepaliveS = 60): Buffer {
  return mqttPacket(0x10, Buffer.concat([str('MQTT'), Buffer.from([4, 0x02, keepaliveS >> 8, keepaliveS & 0xff]), str(clientId)]))
}

function publishPacket(topic: string, payload: string, qos: 0 | 1 | 2 = 0, messageId = 0, retain = false): Buffer {
  const id = qos > 0 ? Buffer.from([messageId >> 8, messageId & 0xff]) : Buffer.alloc(0)
  return mqttPacket(0x30 | (qos << 1) | (retain ? 1 : 0), Buffer.concat([str(topic), id, Buffer.from(payload)]))
}

const PINGREQ = Buffer.from([0xc0, 0x00])

/** The packet identifiers of the PUBACKs `socket` receives, as they arrive (the only packets a bare front writes). */
function pubackIds(socket: Socket): number[] {
  const ids: number[] = []
  socket.on('data', (b: Buffer) => {
    for (let i = 0; i + 3 < b.length; i += 4) ids.push(b.readUInt16BE(i + 2))
  })
  return ids
}

/** What a raw client received, packet by packet: the type and, for acknowledgements, the packet identifier. */
interface Received {
  type: number
  id?: number
  /** A PUBLISH's payload. */
  payload?: string
}

/** A raw MQTT client over TCP that records every packet it receives. */
class RawClient {
  readonly received: Received[] = []
  constructor(readonly socket: Socket) {
    const frame = createPacketFramer(
      1 << 20,
      (p, start, bodyStart, end) => {
        const type = (p[start] as number) >> 4
        if (type === 3) {
          const qos = ((p[start] as number) >> 1) & 3
          const payloadStart = bodyStart + 2 + p.readUInt16BE(bodyStart) + (qos > 0 ? 2 : 0)
          this.received.push({ type, payload: p.toString('utf8', payloadStart, end) })
        } else this.received.push(type === 4 || type === 5 || type === 7 ? { type, id: p.readUInt16BE(bodyStart) } : { type })
      },
      { onOversize: () => {}, onMalformed: () => {} },
    )
    socket.on('data', frame)
    socket.on('error', () => {})
  }

  static async connect(port: number, clientId: string, keepaliveS = 60): Promise<RawClient> {
    const socket = netConnect({ port, host: '127.0.0.1' })
    await nextEvent(socket, 'connect')
    const client = new RawClient(socket)
    socket.write(connectPacket(clientId, keepaliveS))
    await waitFor(() => client.received.some((r) => r.type === 2), { message: 'CONNACK' })
    return client
  }

  pubacks(): number[] {
    return this.received.filter((r) => r.type === 4).map((r) => r.id as number)
  }

  /** A round trip through the connection's ordered write path: what the server wrote before it has arrived. */
  async ping(): Promise<void> {
    const before = this.received.filter((r) => r.type === 13).length
    this.socket.write(PINGREQ)
    await waitFor(() => this.received.filter((r) => r.type === 13).length > before, { message: 'PINGRESP' })
  }
}

describe('createPacketFramer', () => {
  function publishHeader(remaining: number): Buffer {
    return Buffer.from([0x30, ...remainingLength(remaining)])
  }

  it('cuts packets out of any chunking, handing whole ones over in place and assembling the others', () => {
    const stream = Buffer.concat([
      publishPacket('a/b', 'x'.repeat(200), 1, 7),
      PINGREQ,
      publishPacket('c', ''),
      mqttPacket(0x30, Buffer.alloc(20_000, 1)),
      Buffer.from([0xe0, 0x00]),
    ])
    for (const size of [1, 2, 3, 7, 64, 1000, stream.length]) {
      const packets: string[] = []
      const owned: boolean[] = []
      const frame = createPacketFramer(1 << 20, (p, start, bodyStart, end, own) => {
        packets.push(p.subarray(start, end).toString('hex'))
        expect(bodyStart - start).toBe(1 + remainingLength(end - bodyStart).length)
        owned.push(own)
      }, { onOversize: () => expect.fail('no oversize'), onMalformed: () => expect.fail('no malformed') })
      for (let i = 0; i < stream.length; i += size) frame(stream.subarray(i, i + size))
      expect(packets.join('')).toBe(stream.toString('hex'))
      expect(packets).toHaveLength(5)
      if (size === stream.length) expect(owned).toEqual([false, false, false, false, false])
      if (size === 64) expect(owned).toEqual([true, false, false, true, false])
    }
  })

  it('reports the first header announcing a packet above the limit, whatever the chunking, and takes nothing more', () => {
    const sizes: number[] = []
    let packets = 0
    const frame = createPacketFramer(100, () => packets++, { onOversize: (n) => sizes.push(n), onMalformed: () => {} })
    const small = Buffer.concat([publishHeader(50), Buffer.alloc(50)])
    const stream = Buffer.concat([small, small, publishHeader(200), Buffer.alloc(10), small])
    for (const byte of stream) frame(Buffer.from([byte]))
    expect(sizes).toEqual([1 + 2 + 200])
    expect(packets).toBe(2)
  })

  it('accepts a packet of exactly the limit and zero-length packets', () => {
    const sizes: number[] = []
    let packets = 0
    const frame = createPacketFramer(100, () => packets++, { onOversize: (n) => sizes.push(n), onMalformed: () => {} })
    frame(Buffer.concat([Buffer.from([0xc0, 0x00]), publishHeader(98), Buffer.alloc(98), Buffer.from([0xe0, 0x00])]))
    expect(sizes).toEqual([])
    expect(packets).toBe(3)
  })

  it('reads a four-byte remaining length and stops at a fifth', () => {
    const sizes: number[] = []
    createPacketFramer(262_144, () => {}, { onOversize: (n) => sizes.push(n), onMalformed: () => {} })(publishHeader(268_435_455))
    expect(sizes).toEqual([1 + 4 + 268_435_455])
    let malformed = 0
    createPacketFramer(262_144, () => {}, { onOversize: () => {}, onMalformed: () => malformed++ })(Buffer.from([0x30, 0x80, 0x80, 0x80, 0x80, 0x01]))
    expect(malformed).toBe(1)
  })
})

describe('attachMqttFront on a real socket', () => {
  let server: Server | undefined
  let client: Socket | undefined
  let onTake = (_taken: { message: TakenPublish; done: (err: Error | null) => void }): void => {}
  const serverSockets: Socket[] = []

  afterEach(async () => {
    client?.destroy()
    // a paused socket does not see its peer go
    for (const socket of serverSockets.splice(0)) socket.destroy()
    await new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve()))
    server = undefined
    client = undefined
    onTake = () => {}
  })

  /** A server whose one connection gets a front taking every PUBLISH; returns the stream the broker would get. */
  async function frontPair(maxInFlight: number): Promise<{ taken: { message: TakenPublish; done: (err: Error | null) => void }[]; inner: Duplex; client: Socket }> {
    const taken: { message: TakenPublish; done: (err: Error | null) => void }[] = []
    const innerReady = deferred<Duplex>()
    server = createServer((socket) => {
      serverSockets.push(socket)
      const inner = attachMqttFront(socket, {
          maxPacketBytes: 1 << 16,
          maxInFlight,
          onOversize: () => socket.destroy(),
          ready: () => true,
          takes: (topic) => topic.startsWith('city/'),
          publish: (message, done) => {
            taken.push({ message, done })
            onTake({ message, done })
          },
          onActivity: () => {},
        })
      // what the broker would do with a failed connection
      inner.on('error', () => {})
      innerReady.resolve(inner)
    })
    await new Promise<void>((resolve) => (server as Server).listen(0, '127.0.0.1', () => resolve()))
    client = netConnect({ port: (server.address() as AddressInfo).port, host: '127.0.0.1' })
    await nextEvent(client, 'connect')
    return { taken, inner: await innerReady.promise, client }
  }

  it('stops reading at maxInFlight packets awaiting done and reads on below half of it', async () => {
    const { taken, client } = await frontPair(4)
    const acks = pubackIds(client)
    // the first four one read at a time; a read is taken whole, the cap applies to the reads after it
    for (let id = 1; id <= 4; id++) {
      client.write(publishPacket(`city/s/${id}`, '{}', 1, id))
      await waitFor(() => taken.length === id, { message: `message ${id} taken` })
    }
    for (let id = 5; id <= 10; id++) client.write(publishPacket(`city/s/${id}`, '{}', 1, id))
    // four awaiting done: paused. Finishing one leaves three (not below half): still paused; two more leave one
    taken[0]?.done(null)
    await waitFor(() => acks.length === 1, { message: 'PUBACK 1' })
    expect(taken).toHaveLength(4)
    taken[1]?.done(null)
    taken[2]?.done(null)
    // one left, below half: reading resumes and takes the six waiting
    await waitFor(() => taken.length === 10, { message: 'reading resumed' })
    for (const t of taken.slice(3)) t.done(null)
    await waitFor(() => acks.length === 10, { message: 'every PUBACK' })
    expect(acks).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10])
    expect(taken.map((t) => t.message.topic)).toEqual(Array.from({ length: 10 }, (_, i) => `city/s/${i + 1}`))
  })

  it('yields the event loop after 64 KiB of one connection, so one busy publisher does not starve the rest', async () => {
    const { taken, client } = await frontPair(2)
    // two messages awaiting done hold the front's reading, while 200 KB more wait in the socket
    for (let id = 1; id <= 2; id++) {
      client.write(publishPacket('city/hold', '{}', 1, id))
      await waitFor(() => taken.length === id, { message: `message ${id} taken` })
    }
    const packets = Array.from({ length: 3000 }, (_, i) => publishPacket(`city/s/${i % 50}`, `{"v":${i},"pad":"${'x'.repeat(40)}"}`))
    const all = Buffer.concat(packets)
    expect(all.length).toBeGreaterThan(3 * 65_536)
    client.write(all)
    // a check-phase callback queued by the first take after resuming runs once the reads of that turn are over
    let atNextTurn: number | undefined
    onTake = (t) => {
      t.done(null)
      if (taken.length === 3) setImmediate(() => (atNextTurn = taken.length - 2))
    }
    for (const t of taken.slice(0, 2)) t.done(null)
    await waitFor(() => taken.length === 3002, { message: 'every message taken' })
    expect(atNextTurn).toBeGreaterThan(0)
    expect(atNextTurn).toBeLessThan(2000)
  })

  it('acknowledges a long stream in order while a publisher always has messages in flight', async () => {
    const { taken, client } = await frontPair(100_000)
    const acks = pubackIds(client)
    // each message finishes only when the next one is taken, so one is always awaited
    let finished = 0
    onTake = () => {
      if (taken.length >= 2) (taken[finished++] as (typeof taken)[number]).done(null)
    }
    const n = 5000
    for (let start = 1; start <= n; start += 500) {
      client.write(Buffer.concat(Array.from({ length: 500 }, (_, k) => publishPacket(`city/s/${k % 7}`, '{}', 1, start + k))))
      await waitFor(() => taken.length === start + 499, { message: `messages up to ${start + 499} taken` })
    }
    await waitFor(() => acks.length === n - 1, { message: 'every PUBACK but the last' })
    ;(taken[n - 1] as (typeof taken)[number]).done(null)
    await waitFor(() => acks.length === n, { message: 'the last PUBACK' })
    expect(acks).toEqual(Array.from({ length: n }, (_, i) => i + 1))
  })

  it('passes every packet it does not take to the broker byte for byte, in order, and the broker writes through it', async () => {
    const { taken, inner, client } = await frontPair(100)
    const toBroker: Buffer[] = []
    inner.on('data', (b: Buffer) => toBroker.push(b))
    const notTaken = [
      connectPacket('x'),
      publishPacket('other/topic', 'hello', 1, 3),
      publishPacket('city/qos2', 'two', 2, 4),
      publishPacket('city/+/wild', 'w'),
      publishPacket('$SYS/city', 's'),
      publishPacket('city/\u00e9', 'multi-byte topic'),
      mqttPacket(0x38, Buffer.concat([str('city/dup-at-qos0'), Buffer.from('d')])),
      publishPacket('city/zero-id', 'z', 1, 0),
      PINGREQ,
    ]
    client.write(Buffer.concat([notTaken[0] as Buffer, publishPacket('city/a', 'taken', 0), ...notTaken.slice(1)]))
    const expected = Buffer.concat(notTaken)
    await waitFor(() => Buffer.concat(toBroker).length >= expected.length, { message: 'the packets passed on' })
    expect(Buffer.concat(toBroker).toString('hex')).toBe(expected.toString('hex'))
    expect(taken.map((t) => [t.message.topic, t.message.payload.toString(), t.message.qos])).toEqual([['city/a', 'taken', 0]])

    const got: Buffer[] = []
    client.on('data', (b: Buffer) => got.push(b))
    inner.write(Buffer.from([0xd0, 0x00])) // PINGRESP, as the broker would write it
    await waitFor(() => Buffer.concat(got).length === 2, { message: 'the broker write' })
    expect(Buffer.concat(got).toString('hex')).toBe('d000')
  })

  it('gives a failed publish a closed connection without its PUBACK', async () => {
    const { taken, client } = await frontPair(100)
    const acks = pubackIds(client)
    const closed = nextEvent(client, 'close')
    client.write(Buffer.concat([publishPacket('city/1', 'one', 1, 1), publishPacket('city/2', 'two', 1, 2), publishPacket('city/3', 'three', 1, 3)]))
    await waitFor(() => taken.length === 3, { message: 'three taken' })
    expect(taken.map((t) => t.message.payload.toString())).toEqual(['one', 'two', 'three'])
    taken[0]?.done(null)
    await waitFor(() => acks.length === 1, { message: 'PUBACK 1' })
    taken[2]?.done(null)
    taken[1]?.done(new Error('not durable'))
    await closed
    expect(acks).toEqual([1])
  })
})

describe('the embedded broker with its front', () => {
  let broker: EmbeddedBroker | undefined
  const clients: RawClient[] = []

  afterEach(async () => {
    for (const c of clients.splice(0)) c.socket.destroy()
    await broker?.close()
    broker = undefined
  })

  /** A started broker whose engine handles `city/#` with `handler`. */
  async function start(handler: MessageHandler): Promise<EmbeddedBroker> {
    broker = createEmbeddedBroker({ port: 0, logger })
    await broker.subscribe('city/#', handler)
    await broker.start()
    return broker
  }

  async function raw(clientId: string, keepaliveS = 60): Promise<RawClient> {
    const c = await RawClient.connect((broker as EmbeddedBroker).port, clientId, keepaliveS)
    clients.push(c)
    return c
  }

  it('reads a QoS 1 publisher on while its earlier messages await their handlers, and acknowledges in packet order', async () => {
    const pending = new Map<string, Deferred<void>>()
    const events: string[] = []
    await start((m: BrokerMessage) => {
      const d = deferred<void>()
      pending.set(m.topic, d)
      return d.promise
    })
    const c = await raw('ordered')
    // separate writes, each waited for: aedes alone would read the second only once the first is acknowledged
    for (let id = 1; id <= 3; id++) {
      c.socket.write(publishPacket(`city/s/${id}`, '{}', 1, id))
      await waitFor(() => pending.has(`city/s/${id}`), { message: `message ${id} handled while earlier ones wait` })
    }
    pending.get('city/s/3')?.resolve()
    events.push('done 3')
    pending.get('city/s/2')?.resolve()
    events.push('done 2')
    // the connection's writes are ordered: anything written before the PINGRESP has arrived with it
    await c.ping()
    events.push(...c.pubacks().map((id) => `ack ${id}`))
    pending.get('city/s/1')?.resolve()
    events.push('done 1')
    await waitFor(() => c.pubacks().length === 3, { message: 'three PUBACKs' })
    events.push(...c.pubacks().map((id) => `ack ${id}`))
    expect(events).toEqual(['done 3', 'done 2', 'done 1', 'ack 1', 'ack 2', 'ack 3'])
  })

  it('hands the broker the PUBLISH packets that arrive with CONNECT, before the client is connected', async () => {
    const seen: string[] = []
    const b = await start((m: BrokerMessage) => {
      seen.push(m.payload.toString())
    })
    const socket = netConnect({ port: b.port, host: '127.0.0.1' })
    await nextEvent(socket, 'connect')
    const c = new RawClient(socket)
    clients.push(c)
    socket.write(Buffer.concat([connectPacket('eager'), publishPacket('city/a', 'first', 1, 1), publishPacket('city/a', 'second', 0)]))
    await waitFor(() => c.pubacks().length === 1 && seen.length === 2, { message: 'both handled, the QoS 1 one acknowledged' })
    socket.write(publishPacket('city/a', 'third', 1, 2))
    await waitFor(() => c.pubacks().length === 2, { message: 'the taken one acknowledged' })
    expect(seen).toEqual(['first', 'second', 'third'])
    expect(c.pubacks()).toEqual([1, 2])
  })

  it("keeps a client that only publishes taken messages alive past 1.5 × its keepalive [MQTT-3.1.2-24]", async () => {
    let seen = 0
    await start(() => {
      seen++
    })
    const c = await raw('busy', 1)
    let closed = false
    c.socket.on('close', () => (closed = true))
    // publish at QoS 0 until well past 1.5 s, then prove the connection still answers
    const until = Date.now() + 2_200
    let sent = 0
    while (Date.now() < until && !closed) {
      c.socket.write(publishPacket('city/keep', `${sent++}`))
      await waitFor(() => seen === sent || closed, { message: 'the message handled' })
    }
    c.socket.write(publishPacket('city/keep', 'last', 1, 9))
    await waitFor(() => c.pubacks().includes(9) || closed, { message: 'the last PUBACK' })
    expect(closed).toBe(false)
    expect(c.pubacks()).toEqual([9])
  })

  it('relays a taken message to a client subscribed to it, and keeps a taken retained message for later subscribers', async () => {
    const handled: string[] = []
    await start((m: BrokerMessage) => {
      handled.push(m.payload.toString())
    })
    const publisher = await raw('pub')
    publisher.socket.write(publishPacket('city/r/1', 'kept', 1, 1, true))
    await waitFor(() => publisher.pubacks().length === 1, { message: 'retained acknowledged' })
    const subscriber = await raw('sub')
    subscriber.socket.write(mqttPacket(0x82, Buffer.concat([Buffer.from([0, 1]), str('city/r/#'), Buffer.from([0])])))
    const payloads = (): string[] => subscriber.received.filter((r) => r.type === 3).map((r) => r.payload as string)
    await waitFor(() => payloads().length === 1, { message: 'the retained message' })
    publisher.socket.write(publishPacket('city/r/1', 'live', 0))
    await waitFor(() => payloads().length === 2, { message: 'the live message' })
    expect(payloads()).toEqual(['kept', 'live'])
    expect(handled).toEqual(['kept', 'live'])
  })
})
