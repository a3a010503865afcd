import type { Duplex } from 'node:stream'
import type { Logger } from 'pino'
import { WebSocket } from 'ws'
import { ENGINE_DISTRICT, type Reading } from '../domain.js'
import { AppError } from '../errors.js'
import { readingJsonText } from './reading-json.js'

/** Websocket channels of SPEC §12. */
export const CHANNELS = ['indices', 'alerts', 'parking', 'readings'] as const
export type Channel = (typeof CHANNELS)[number]
export type EventType = 'index' | 'alert' | 'parking' | 'reading'

/** Bytes of frames queued for one client in a turn above which they are written at once, before the turn ends. */
const FLUSH_BYTES = 65_536

/** Bytes of the header of an unmasked server frame with a payload of `n` bytes (RFC 6455 §5.2). */
function frameHeaderBytes(n: number): number {
  return n < 126 ? 2 : n < 65_536 ? 4 : 10
}

/**
 * The text frames, each as a whole unmasked websocket frame (FIN, opcode 1, no extension bits: RFC 6455 §5.2),
 * back to back in one buffer: what one write to the socket sends.
 */
export function encodeTextFrames(frames: readonly string[]): Buffer {
  let total = 0
  const sizes = new Array<number>(frames.length)
  for (let i = 0; i < frames.length; i++) {
    const n = Buffer.byteLength(frames[i] as string)
    sizes[i] = n
    total += frameHeaderBytes(n) + n
  }
  const buf = Buffer.allocUnsafe(total)
  let off = 0
  for (let i = 0; i < frames.length; i++) {
    const n = sizes[i] as number
    buf[off++] = 0x81
    if (n < 126) {
      buf[off++] = n
    } else if (n < 65_536) {
      buf[off++] = 126
      buf.writeUInt16BE(n, off)
      off += 2
    } else {
      buf[off++] = 127
      buf.writeUInt32BE(Math.floor(n / 2 ** 32), off)
      buf.writeUInt32BE(n >>> 0, off + 4)
      off += 8
    }
    off += buf.write(frames[i] as string, off)
  }
  return buf
}

const CHANNEL_OF: Record<EventType, Channel> = { index: 'indices', alert: 'alerts', parking: 'parking', reading: 'readings' }

/** An engine event as the hub receives it. */
export interface HubEvent {
  type: EventType
  /** Conflation key: the latest event per key replaces older unsent ones (sensor id, segment id, lot id). */
  key: string
  district: string
  /** The sensor, for the `sensors` filter; absent for events that are not about one sensor. */
  sensor?: string
  data: unknown
}

/** A client's subscription; null means no filter. */
export interface Subscription {
  channels: ReadonlySet<Channel>
  districts: ReadonlySet<string> | null
  sensors: ReadonlySet<string> | null
}

/** Produces the current state of a channel for a subscription. */
export type SnapshotProvider = (subscription: Subscription) => unknown[]

/** Options of the hub. */
export interface WsHubOptions {
  logger: Logger
  /** Bytes buffered on a socket above which events are queued and conflated; read live, so it can be tuned at run time. Default 1 MiB. */
  highWaterBytes?: number
  /** Alert events kept for `since` resumption. Default 10,000. */
  replayBufferSize?: number
  /** Queued alert events per client above which the client is closed with 1013. Default 10,000. */
  maxQueuedAlerts?: number
  /** How often queued events of slow clients are retried, in milliseconds. Default 50. */
  drainIntervalMs?: number
  /** Seq to start from, e.g. restored after a restart. Default 0. */
  initialSeq?: number
  /** Alert events of an earlier run, oldest first, so `since` resumes across a restart. */
  replay?: readonly { seq: number; frame: string; district?: string; sensor?: string }[]
  /** Called with every alert event, so it can be kept durably (the alert store's event log). */
  onAlertEvent?: (seq: number, frame: string, meta: { district: string; sensor?: string }) => void
}

interface Client {
  socket: WebSocket
  subscription: Subscription | undefined
  /** Conflated events waiting for a slow socket: key → frame, in first-queued order. */
  pending: Map<string, string>
  /** Alert frames waiting for a slow socket; never dropped. */
  alerts: string[]
  /** Frames sent in this event-loop turn, not yet written: they go out in one write when the turn ends. */
  out: string[]
  /** Their length in characters (bytes for ASCII), counted against the flush size and the high-water mark. */
  outChars: number
}

export interface WsHub {
  /** Current engine event seq. */
  readonly seq: number
  readonly clients: number
  /** Number of clients subscribed to a channel. */
  subscribers(channel: Channel): number
  setSnapshotProvider(channel: Channel, provider: SnapshotProvider): void
  /** Sends an event to every matching client; returns its seq. */
  publish(event: HubEvent): number
  /**
   * Publishes a `reading` event (key and sensor: the reading's sensor) whose data is `readingJson(reading)`; the frame
   * is built once, as a string, and only when a client takes it. Returns its seq.
   */
  publishReading(reading: Reading): number
  /** Serves one websocket connection. */
  accept(socket: WebSocket): void
  close(): void
}

/** Parses a client's subscribe message into a Subscription, or throws CW_ERR_WS_MESSAGE. */
export function parseSubscribe(raw: string): { subscription: Subscription; since?: number } {
  let msg: unknown
  try {
    msg = JSON.parse(raw)
  } catch {
    throw new AppError('CW_ERR_WS_MESSAGE', ['not JSON'])
  }
  if (msg === null || typeof msg !== 'object' || Array.isArray(msg)) throw new AppError('CW_ERR_WS_MESSAGE', ['expected a JSON object'])
  const m = msg as Record<string, unknown>
  if (m.type !== 'subscribe') throw new AppError('CW_ERR_WS_MESSAGE', [`unknown type '${String(m.type)}'; expected 'subscribe'`], [{ path: 'type' }])
  const list = (key: string): string[] | null => {
    const v = m[key]
    if (v === undefined) return null
    if (!Array.isArray(v) || !v.every((x) => typeof x === 'string')) throw new AppError('CW_ERR_WS_MESSAGE', [`${key} must be an array of strings`], [{ path: key }])
    return v as string[]
  }
  const channels = list('channels')
  const unknown = channels?.filter((c) => !(CHANNELS as readonly string[]).includes(c)) ?? []
  if (unknown.length > 0) throw new AppError('CW_ERR_WS_MESSAGE', [`unknown channel '${unknown[0]}'; channels are ${CHANNELS.join(', ')}`], [{ path: 'channels' }])
  const districts = list('districts')
  const sensors = list('sensors')
  if (m.since !== undefined && (typeof m.since !== 'number' || !Number.isInteger(m.since) || m.since < 0)) {
    throw new AppError('CW_ERR_WS_MESSAGE', ['since must be a non-negative integer seq'], [{ path: 'since' }])
  }
  const subscription: Subscription = {
    channels: new Set((channels ?? CHANNELS) as Channel[]),
    districts: districts === null ? null : new Set(districts),
    sensors: sensors === null ? null : new Set(sensors),
  }
  return m.since === undefined ? { subscription } : { subscription, since: m.since as number }
}

/** True when the event passes the subscription's filters. */
export function matches(subscription: Subscription, event: Pick<HubEvent, 'type' | 'district' | 'sensor'>): boolean {
  if (!subscription.channels.has(CHANNEL_OF[event.type])) return false
  // Alerts about the engine itself concern every district.
  if (subscription.districts !== null && !subscription.districts.has(event.district) && event.district !== ENGINE_DISTRICT) return false
  if (subscription.sensors !== null && event.sensor !== undefined && !subscription.sensors.has(event.sensor)) return false
  return true
}

/**
 * The websocket fan-out of SPEC §12: snapshot then events with a rising seq, filters per client,
 * conflation of readings, indices and parking for slow clients, alert events never dropped
 * (a client too far behind is closed with 1013 and resumes with `since`).
 */
export function createWsHub(options: WsHubOptions): WsHub {
  const log = options.logger.child({ module: 'ws-hub' })
  const replaySize = options.replayBufferSize ?? 10_000
  const maxQueuedAlerts = options.maxQueuedAlerts ?? 10_000
  const highWater = (): number => options.highWaterBytes ?? 1_048_576
  const clients = new Set<Client>()
  const providers = new Map<Channel, SnapshotProvider>()
  const replay: { seq: number; district: string; sensor?: string; frame: string }[] = (options.replay ?? [])
    .slice(-(options.replayBufferSize ?? 10_000))
    .map((e) => ({ seq: e.seq, district: e.district ?? '', frame: e.frame, ...(e.sensor !== undefined ? { sensor: e.sensor } : {}) }))
  const perChannel: Record<Channel, number> = { indices: 0, alerts: 0, parking: 0, readings: 0 }
  let seq = options.initialSeq ?? 0
  /** Reused for the filters of each reading, so a reading allocates nothing before its frame. */
  const probe: { type: EventType; district: string; sensor: string } = { type: 'reading', district: '', sensor: '' }
  const drainTimer = setInterval(drainAll, options.drainIntervalMs ?? 50)
  drainTimer.unref()

  const onSent = (err?: Error): void => {
    if (err) log.debug({ err }, 'ws send failed')
  }

  // Frames sent in one event-loop turn go out in one write per client: queued as strings, then encoded as whole
  // websocket frames into one buffer and written to the underlying socket in setImmediate (or once a turn's frames
  // reach FLUSH_BYTES). Per frame, ws's own send would encode the string, write a header and a payload chunk
  // and keep a write request for each: at tens of thousands of frames a second that was a sixth of the engine's busy time.
  // `ws` has no public way to write whole frames; its maintainers point to `_socket`. Only text frames go this way
  // (no compression is negotiated: the server's perMessageDeflate is off), whole, while the socket is open; ws's own
  // control frames (pong, close) are whole frames too, so the stream stays a sequence of whole frames.
  const batched: Client[] = []
  let flushScheduled = false

  // Clients with the same subscription queue the same frames in a turn: the buffer encoded for one is written to the
  // next when its frames are the very same strings, in the same order (each frame is built once per event).
  let lastFrames: string[] = []
  let lastBuffer: Buffer | undefined

  function flushAll(): void {
    flushScheduled = false
    for (const client of batched) flush(client)
    batched.length = 0
    lastFrames = []
    lastBuffer = undefined
  }

  function sameFrames(a: readonly string[], b: readonly string[]): boolean {
    if (a.length !== b.length) return false
    for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false
    return true
  }

  function flush(client: Client): void {
    const frames = client.out
    if (frames.length === 0) return
    client.out = []
    client.outChars = 0
    const raw = (client.socket as unknown as { _socket?: Duplex | null })._socket
    if (raw == null || client.socket.readyState !== WebSocket.OPEN) return
    if (lastBuffer === undefined || !sameFrames(frames, lastFrames)) {
      lastBuffer = encodeTextFrames(frames)
      lastFrames = frames
    }
    raw.write(lastBuffer)
  }

  function send(client: Client, frame: string): void {
    if (client.socket.readyState !== WebSocket.OPEN) {
      // Closing or closed: ws reports the failure to the callback.
      client.socket.send(frame, onSent)
      return
    }
    if (client.out.length === 0) {
      batched.push(client)
      if (!flushScheduled) {
        flushScheduled = true
        setImmediate(flushAll)
      }
    }
    client.out.push(frame)
    client.outChars += frame.length
    // A large burst goes out in writes of this size, so queued frames never make a fast client look slow.
    if (client.outChars >= FLUSH_BYTES) flush(client)
  }

  /** What a client has not yet taken: bytes buffered by ws and its socket, plus this turn's frames. */
  function backlog(client: Client): number {
    return client.socket.bufferedAmount + client.outChars
  }

  function drain(client: Client): void {
    while (client.alerts.length > 0 && backlog(client) < highWater()) send(client, client.alerts.shift() as string)
    if (client.alerts.length > 0) return
    for (const [key, frame] of client.pending) {
      if (backlog(client) >= highWater()) return
      client.pending.delete(key)
      send(client, frame)
    }
  }

  function drainAll(): void {
    for (const client of clients) if (client.pending.size > 0 || client.alerts.length > 0) drain(client)
  }

  function deliver(client: Client, type: EventType, eventKey: string, frame: string): void {
    const slow = client.pending.size > 0 || client.alerts.length > 0 || backlog(client) >= highWater()
    if (!slow) return send(client, frame)
    if (type === 'alert') {
      client.alerts.push(frame)
      if (client.alerts.length > maxQueuedAlerts) {
        log.warn({ queued: client.alerts.length }, 'ws client too far behind, closing')
        client.socket.close(1013, 'too far behind; reconnect with since')
        remove(client)
      }
      return
    }
    const key = `${type}:${eventKey}`
    client.pending.delete(key)
    client.pending.set(key, frame)
  }

  function setSubscription(client: Client, subscription: Subscription | undefined): void {
    for (const c of client.subscription?.channels ?? []) perChannel[c] -= 1
    client.subscription = subscription
    for (const c of subscription?.channels ?? []) perChannel[c] += 1
  }

  function remove(client: Client): void {
    if (!clients.delete(client)) return
    setSubscription(client, undefined)
  }

  function snapshot(subscription: Subscription): Record<string, unknown[]> {
    const data: Record<string, unknown[]> = {}
    for (const channel of subscription.channels) data[channel] = providers.get(channel)?.(subscription) ?? []
    return data
  }

  function subscribe(client: Client, raw: string): void {
    let parsed: ReturnType<typeof parseSubscribe>
    try {
      parsed = parseSubscribe(raw)
    } catch (err) {
      const e = err as AppError
      send(client, JSON.stringify({ type: 'error', error: e.code, message: e.message, details: e.details }))
      return
    }
    const { subscription, since } = parsed
    setSubscription(client, subscription)
    client.pending.clear()
    client.alerts = []
    const oldest = replay[0]?.seq ?? seq + 1
    const canResume = since !== undefined && since <= seq && since + 1 >= oldest
    if (canResume) {
      send(client, JSON.stringify({ type: 'snapshot', seq, resumed: true, data: snapshot(subscription) }))
      for (const item of replay) if (item.seq > since && matches(subscription, { type: 'alert', district: item.district, ...(item.sensor ? { sensor: item.sensor } : {}) })) send(client, item.frame)
      return
    }
    const frame: Record<string, unknown> = { type: 'snapshot', seq, data: snapshot(subscription) }
    if (since !== undefined) frame.resumed = false
    send(client, JSON.stringify(frame))
  }

  return {
    get seq() {
      return seq
    },
    get clients() {
      return clients.size
    },
    subscribers(channel) {
      return perChannel[channel]
    },
    setSnapshotProvider(channel, provider) {
      providers.set(channel, provider)
    },
    publish(event) {
      seq += 1
      const channel = CHANNEL_OF[event.type]
      if (event.type === 'alert') {
        const frame = JSON.stringify({ type: event.type, seq, data: event.data })
        replay.push({ seq, district: event.district, ...(event.sensor ? { sensor: event.sensor } : {}), frame })
        if (replay.length > replaySize) replay.shift()
        options.onAlertEvent?.(seq, frame, { district: event.district, ...(event.sensor ? { sensor: event.sensor } : {}) })
      }
      if (perChannel[channel] === 0) return seq
      let frame: string | undefined
      for (const client of clients) {
        if (client.subscription === undefined || !matches(client.subscription, event)) continue
        frame ??= JSON.stringify({ type: event.type, seq, data: event.data })
        deliver(client, event.type, event.key, frame)
      }
      return seq
    },
    publishReading(reading) {
      seq += 1
      if (perChannel.readings === 0) return seq
      probe.district = reading.district
      probe.sensor = reading.sensor
      let frame: string | undefined
      for (const client of clients) {
        if (client.subscription === undefined || !matches(client.subscription, probe)) continue
        frame ??= `{"type":"reading","seq":${seq},"data":${readingJsonText(reading)}}`
        deliver(client, 'reading', reading.sensor, frame)
      }
      return seq
    },
    accept(socket) {
      const client: Client = { socket, subscription: undefined, pending: new Map(), alerts: [], out: [], outChars: 0 }
      clients.add(client)
      socket.on('message', (data, isBinary) => {
        if (isBinary) {
          send(client, JSON.stringify({ type: 'error', error: 'CW_ERR_WS_MESSAGE', message: 'Invalid websocket message: binary frames are not accepted', details: [] }))
          return
        }
        subscribe(client, data.toString())
      })
      socket.on('close', () => remove(client))
      socket.on('error', (err) => {
        log.debug({ err }, 'ws client error')
        remove(client)
      })
    },
    close() {
      clearInterval(drainTimer)
      flushAll()
      for (const client of clients) client.socket.close(1001, 'engine shutting down')
      clients.clear()
    },
  }
}
