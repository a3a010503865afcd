import type { Duplex } from 'node:stream'
import { pino } from 'pino'
import { afterEach, describe, expect, it } from 'vitest'
import { WebSocket, WebSocketServer } from 'ws'
import { readingJson, readingJsonText } from '../../api/reading-json.js'
import { createWsHub, type WsHub, type WsHubOptions } from '../../api/ws-hub.js'
import type { Reading } from '../../domain.js'

const logger = pino({ level: 'silent' })
const cleanups: (() => Promise<void> | void)[] = []
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c()
})

/** A raw client: every text frame as received, in order. */
interface RawClient {
  socket: WebSocket
  raw: string[]
  /** Resolves once a frame satisfies the predicate (including ones already received). */
  until(predicate: (frame: string) => boolean, timeoutMs?: number): Promise<void>
  closed: Promise<{ code: number }>
}

async function serve(options: WsHubOptions = { logger }): Promise<{ hub: WsHub; server: WebSocket[]; connect(): Promise<RawClient> }> {
  const hub = createWsHub(options)
  const wss = new WebSocketServer({ port: 0, host: '127.0.0.1' })
  await new Promise<void>((resolve) => wss.once('listening', () => resolve()))
  const server: WebSocket[] = []
  wss.on('connection', (socket) => {
    server.push(socket)
    hub.accept(socket)
  })
  cleanups.push(() => new Promise<void>((resolve) => { hub.close(); wss.close(() => resolve()) }))
  const { port } = wss.address() as { port: number }
  return {
    hub,
    server,
    async connect() {
      const socket = new WebSocket(`ws://127.0.0.1:${port}`)
      const raw: string[] = []
      const waiters: { predicate: (f: string) => boolean; resolve: () => void }[] = []
      socket.on('message', (data) => {
        const frame = data.toString()
        raw.push(frame)
        for (const w of [...waiters]) if (w.predicate(frame)) { waiters.splice(waiters.indexOf(w), 1); w.resolve() }
      })
      const closed = new Promise<{ code: number }>((resolve) => socket.once('close', (code) => resolve({ code })))
      await new Promise<void>((resolve, reject) => {
        socket.once('open', () => resolve())
        socket.once('error', reject)
      })
      cleanups.push(() => {
        if (socket.readyState !== WebSocket.CLOSED) socket.terminate()
      })
      return {
        socket,
        raw,
        closed,
        until(predicate, timeoutMs = 5000) {
          if (raw.some(predicate)) return Promise.resolve()
          return new Promise((resolve, reject) => {
            const timer = setTimeout(() => reject(new Error(`no matching frame within ${timeoutMs} ms; got ${raw.slice(-3).join(' ')}`)), timeoutMs)
            waiters.push({ predicate, resolve: () => { clearTimeout(timer); resolve() } })
          })
        },
      }
    },
  }
}

async function subscribed(connect: () => Promise<RawClient>, subscription: Record<string, unknown> = {}): Promise<RawClient> {
  const client = await connect()
  client.socket.send(JSON.stringify({ type: 'subscribe', ...subscription }))
  await client.until((f) => f.startsWith('{"type":"snapshot"'))
  return client
}

const base: Reading = {
  sensor: 'WL-0001',
  kind: 'water_level',
  district: 'xihu',
  segment: 'river-1',
  ts: Date.UTC(2026, 5, 1, 8, 0, 0, 123),
  fields: { level_m: 3.215 },
  quality: 'good',
  qualityReason: '',
  tsSource: 'device',
  receivedAt: Date.UTC(2026, 5, 1, 8, 0, 1),
}

const frameOf = (f: string) => JSON.parse(f) as { type: string; seq: number; data: Record<string, unknown> }

describe('reading frames', () => {
  it.each<[string, Reading]>([
    ['a good reading', base],
    ['a reading with seq', { ...base, seq: 42 }],
    ['several fields, with a negative zero and a whole number', { ...base, kind: 'water_quality', fields: { do_mgl: 7.5, ph: -0, temp_c: 20 } }],
    ['a flagged reading with reasons', { ...base, quality: 'suspect', qualityReason: 'late;flat:level_m' }],
    ['ids that need escaping', { ...base, sensor: 'WL-"1"\\\u2028', segment: 'rivière\n' }],
    ['no fields', { ...base, fields: {} }],
    ['a non-finite field', { ...base, fields: { level_m: Number.NaN } }],
    ['a seq of 0', { ...base, seq: 0 }],
    ['the last millisecond of a second', { ...base, ts: Date.UTC(2026, 5, 1, 7, 59, 59, 999) }],
    ['a time before 1970', { ...base, ts: -1_234_567 }],
    ['a fractional time', { ...base, ts: Date.UTC(2026, 5, 1, 8, 0, 0, 5) + 0.75 }],
    ['a year past 9999', { ...base, ts: 253_402_300_800_123 }],
  ])('are byte-identical to JSON.stringify(readingJson(r)) for %s', (_, r) => {
    expect(readingJsonText(r)).toBe(JSON.stringify(readingJson(r)))
    // The kept time and flags texts give the same text the second time.
    expect(readingJsonText(r)).toBe(JSON.stringify(readingJson(r)))
  })

  it('gives the text of JSON.stringify for a run of times in and across seconds, days and years', () => {
    let ts = Date.UTC(2025, 11, 31, 23, 59, 58, 1)
    for (let i = 0; i < 5_000; i++) {
      ts += (i * 7_919) % 1_733
      const r = { ...base, ts, receivedAt: ts + (i % 3) }
      expect(readingJsonText(r)).toBe(JSON.stringify(readingJson(r)))
    }
  })

  it('follows a sensor whose tags change (a registry reload) and flags that change from one reading to the next', () => {
    const moves: Array<Partial<Reading>> = [
      {},
      { segment: 'river-2' },
      { district: 'gongshu', segment: 'river-2' },
      { kind: 'flow', fields: { flow_m3s: 2 } },
      { quality: 'suspect', qualityReason: 'late' },
      { quality: 'suspect', qualityReason: 'late', tsSource: 'server' },
      { quality: 'bad', qualityReason: 'range:level_m' },
      {},
    ]
    for (const move of moves) {
      const r = { ...base, ...move }
      expect(readingJsonText(r)).toBe(JSON.stringify(readingJson(r)))
    }
  })

  it('throws like readingJson on an invalid time', () => {
    expect(() => readingJsonText({ ...base, ts: Number.NaN })).toThrow(RangeError)
  })

  it('publishReading sends the frame publish sends with readingJson as data', async () => {
    const { hub, connect } = await serve()
    const client = await subscribed(connect, { channels: ['readings'] })
    hub.publish({ type: 'reading', key: base.sensor, district: base.district, sensor: base.sensor, data: readingJson(base) })
    hub.publishReading(base)
    await client.until((f) => f.includes('"seq":2'))
    const [first, second] = client.raw.slice(1)
    expect(second).toBe((first as string).replace('"seq":1', '"seq":2'))
  })

  it('publishReading applies the district and sensor filters', async () => {
    const { hub, connect } = await serve()
    const client = await subscribed(connect, { districts: ['xihu'], sensors: ['WL-0002'] })
    hub.publishReading(base)
    hub.publishReading({ ...base, sensor: 'WL-0002', district: 'gongshu' })
    hub.publishReading({ ...base, sensor: 'WL-0002' })
    await client.until((f) => f.includes('"seq":3'))
    expect(client.raw.slice(1).map((f) => frameOf(f).seq)).toEqual([3])
  })
})

describe('websocket hub batching', () => {
  /** Counts the hub's writes to a server socket's underlying stream. */
  function countWrites(socket: WebSocket): { count: () => number } {
    const raw = (socket as unknown as { _socket: Duplex })._socket
    let writes = 0
    const write = raw.write.bind(raw) as (...args: unknown[]) => boolean
    raw.write = ((...args: unknown[]) => {
      writes++
      return write(...args)
    }) as typeof raw.write
    return { count: () => writes }
  }

  it('writes a burst published in one turn as one write of whole frames when the turn ends', async () => {
    const { hub, server, connect } = await serve()
    const client = await subscribed(connect)
    const writes = countWrites(server[0] as WebSocket)
    hub.publishReading(base)
    hub.publishReading({ ...base, sensor: 'WL-0002' })
    hub.publish({ type: 'alert', key: 'a-1', district: 'xihu', data: { id: 'a-1' } })
    expect(writes.count()).toBe(0)
    await new Promise((resolve) => setImmediate(resolve))
    expect(writes.count()).toBe(1)
    await client.until((f) => f.includes('"seq":3'))
    expect(client.raw.slice(1).map((f) => frameOf(f).seq)).toEqual([1, 2, 3])
  })

  it('writes a burst at once when its queued frames reach 64 KiB, without waiting for the turn to end', async () => {
    const { hub, server, connect } = await serve()
    const client = await subscribed(connect)
    const writes = countWrites(server[0] as WebSocket)
    hub.publish({ type: 'index', key: 'river-1', district: 'xihu', data: { text: 'x'.repeat(70_000) } })
    expect(writes.count()).toBe(1)
    hub.publishReading(base)
    expect(writes.count()).toBe(1)
    await client.until((f) => f.includes('"seq":2'))
    expect(writes.count()).toBe(2)
    expect(client.raw.slice(1).map((f) => frameOf(f).seq)).toEqual([1, 2])
  })

  it('frames payloads of every length class intact, multi-byte characters included', async () => {
    const { hub, connect } = await serve()
    const client = await subscribed(connect, { channels: ['indices'] })
    // Frame text lengths around the 126 and 65,536 byte boundaries of the header forms (RFC 6455 §5.2).
    const emptyFrameBytes = Buffer.byteLength(JSON.stringify({ type: 'index', seq: 1, data: { t: '' } }))
    const texts: string[] = []
    for (const bytes of [0, 125, 126, 127, 65_535, 65_536, 70_000]) texts.push('y'.repeat(Math.max(0, bytes - emptyFrameBytes)))
    texts.push('é水'.repeat(30_000))
    texts.forEach((t, i) => hub.publish({ type: 'index', key: `k-${i}`, district: 'xihu', data: { t } }))
    await client.until((f) => f.includes(`"seq":${texts.length},`))
    expect(client.raw.slice(1).map((f) => frameOf(f).data.t)).toEqual(texts)
    const lengths = client.raw.slice(1).map((f) => Buffer.byteLength(f))
    expect(lengths.slice(1, 7)).toEqual([125, 126, 127, 65_535, 65_536, 70_000])
  })

  it('delivers every frame of bursts to every client, in seq order, alerts among readings', async () => {
    const { hub, connect } = await serve()
    const clients = [await subscribed(connect), await subscribed(connect), await subscribed(connect)]
    let last = 0
    for (let turn = 0; turn < 20; turn++) {
      for (let i = 0; i < 50; i++) {
        if (i === 25) last = hub.publish({ type: 'alert', key: `a-${turn}`, district: 'xihu', data: { id: `a-${turn}` } })
        else last = hub.publishReading({ ...base, sensor: `WL-${i}`, ts: base.ts + turn * 1000 })
      }
      await new Promise((resolve) => setImmediate(resolve))
    }
    for (const client of clients) {
      await client.until((f) => f.includes(`"seq":${last},`))
      const seqs = client.raw.slice(1).map((f) => frameOf(f).seq)
      expect(seqs).toEqual(Array.from({ length: last }, (_, i) => i + 1))
      expect(client.raw.slice(1).filter((f) => frameOf(f).type === 'alert')).toHaveLength(20)
    }
  })

  it('encodes a turn\'s frames once for clients that queued the same ones, and apart for a client whose differ', async () => {
    const { hub, server, connect } = await serve()
    const all = [await subscribed(connect), await subscribed(connect)]
    const hedong = await subscribed(connect, { districts: ['hedong'] })
    const chunks = server.map((socket) => {
      const raw = (socket as unknown as { _socket: Duplex })._socket
      const written: unknown[] = []
      const write = raw.write.bind(raw) as (...args: unknown[]) => boolean
      raw.write = ((...args: unknown[]) => {
        written.push(args[0])
        return write(...args)
      }) as typeof raw.write
      return written
    })
    let last = 0
    // One turn of small frames, then one whose frames pass 64 KiB mid-turn (written at once, per client, in turn).
    for (const n of [40, 400]) {
      for (let i = 0; i < n; i++) last = hub.publishReading({ ...base, sensor: `WL-${i}`, district: i % 4 === 0 ? 'hedong' : 'xihu' })
      await new Promise((resolve) => setImmediate(resolve))
    }
    for (const client of [...all, hedong]) await client.until((f) => frameOf(f).seq === (client === hedong ? last - 3 : last))
    const [a, b, h] = chunks as [unknown[], unknown[], unknown[]]
    expect(a.length).toBeGreaterThan(2)
    expect(b).toHaveLength(a.length)
    a.forEach((chunk, i) => expect(b[i]).toBe(chunk))
    for (const chunk of h) expect(a).not.toContain(chunk)
    expect(all[0]?.raw).toEqual(all[1]?.raw)
    const hedongSeqs = hedong.raw.slice(1).map((f) => frameOf(f).seq)
    expect(hedongSeqs).toEqual([...Array.from({ length: 10 }, (_, i) => 1 + 4 * i), ...Array.from({ length: 100 }, (_, i) => 41 + 4 * i)])
    expect(hedong.raw.slice(1).every((f) => frameOf(f).data.district === 'hedong')).toBe(true)
  })

  it('still conflates readings to the latest per sensor for a slow client, and keeps every alert in order', async () => {
    const options = { logger, highWaterBytes: 0, drainIntervalMs: 10 }
    const { hub, connect } = await serve(options)
    const client = await subscribed(connect)
    for (let i = 0; i < 100; i++) hub.publishReading({ ...base, ts: base.ts + i * 1000, fields: { level_m: i } })
    for (let i = 0; i < 3; i++) hub.publish({ type: 'alert', key: `a-${i}`, district: 'xihu', data: { id: `a-${i}` } })
    for (let i = 0; i < 10; i++) hub.publishReading({ ...base, sensor: 'WL-0002', ts: base.ts + i * 1000, fields: { level_m: i } })
    options.highWaterBytes = 1_048_576
    await client.until((f) => f.includes('"sensor":"WL-0002"'))
    const frames = client.raw.slice(1).map(frameOf)
    expect(frames.filter((f) => f.type === 'alert').map((f) => f.data.id)).toEqual(['a-0', 'a-1', 'a-2'])
    const readings = frames.filter((f) => f.type === 'reading')
    expect(readings.map((f) => [f.data.sensor, (f.data.values as { level_m: number }).level_m])).toEqual([['WL-0001', 99], ['WL-0002', 9]])
    expect(readings.map((f) => f.seq)).toEqual([100, 113])
  })

  it('closes a client too far behind on alerts with 1013', async () => {
    const { hub, connect } = await serve({ logger, highWaterBytes: 0, maxQueuedAlerts: 5, drainIntervalMs: 60_000 })
    const client = await subscribed(connect)
    for (let i = 0; i < 7; i++) hub.publish({ type: 'alert', key: `a-${i}`, district: 'xihu', data: { id: `a-${i}` } })
    expect((await client.closed).code).toBe(1013)
    expect(hub.clients).toBe(0)
  })
})
