import { Duplex } from 'node:stream'
import type { BrokerMessage } from '../ports.js'

/**
 * Receives the whole packets a framer cut from one connection's bytes, in order: `packet[start]` is the fixed
 * header's first byte, `bodyStart` the first byte after the remaining length, `end` one past the packet's last
 * byte. `packet` is a read chunk the receiver must not keep beyond the call, except when `owned` is true: the
 * packet then came in several chunks and was assembled into a buffer of its own.
 */
export type PacketSink = (packet: Buffer, start: number, bodyStart: number, end: number, owned: boolean) => void

/** What a framer reports besides packets. */
export interface PacketFramerEvents {
  /** A fixed header announced a packet of `bytes` above the limit: called before its body is read; the framer stops. */
  onOversize(bytes: number): void
  /** A remaining length longer than four bytes [MQTT-2.2.3]: the framer stops. */
  onMalformed(): void
}

/**
 * Cuts one connection's byte stream into MQTT packets: one type byte, a remaining length in up to four 7-bit
 * bytes [MQTT-2.2.3], then the body. A packet wholly inside a chunk is handed over in place; one that spans
 * chunks is assembled into a buffer of its announced size, so a packet trickling in byte by byte costs one
 * copy, not one per chunk. Above `limit` bytes (fixed header included) it calls `onOversize` as soon as the
 * header is read, before the body is buffered, and takes nothing more.
 */
export function createPacketFramer(limit: number, onPacket: PacketSink, events: PacketFramerEvents): (chunk: Buffer) => void {
  // a fixed header split across chunks (at most 5 bytes)
  const header = Buffer.alloc(5)
  let headerBytes = 0
  // a packet spanning chunks, assembled to its announced size
  let partial: Buffer | undefined
  let partialFilled = 0
  let partialBodyStart = 0
  let stopped = false

  /** Reads a fixed header at `at`: the packet's total size and its header size, -1 if incomplete, -2 if malformed. */
  function readHeader(buf: Buffer, at: number): { total: number; headerSize: number } | -1 | -2 {
    let remaining = 0
    let multiplier = 1
    for (let k = 1; k <= 4; k++) {
      if (at + k >= buf.length) return -1
      const byte = buf[at + k] as number
      remaining += (byte & 0x7f) * multiplier
      if ((byte & 0x80) === 0) return { total: 1 + k + remaining, headerSize: 1 + k }
      multiplier *= 128
    }
    return -2
  }

  return (input) => {
    if (stopped) return
    let chunk = input
    let i = 0
    if (partial !== undefined) {
      const take = Math.min(partial.length - partialFilled, chunk.length)
      chunk.copy(partial, partialFilled, 0, take)
      partialFilled += take
      i = take
      if (partialFilled < partial.length) return
      const whole = partial
      partial = undefined
      onPacket(whole, 0, partialBodyStart, whole.length, true)
    } else if (headerBytes > 0) {
      // the rare header split across reads: join its bytes with this chunk once
      chunk = Buffer.concat([header.subarray(0, headerBytes), chunk])
      headerBytes = 0
    }
    while (i < chunk.length && !stopped) {
      const head = readHeader(chunk, i)
      if (head === -1) {
        headerBytes = chunk.length - i
        chunk.copy(header, 0, i)
        return
      }
      if (head === -2) {
        stopped = true
        events.onMalformed()
        return
      }
      if (head.total > limit) {
        stopped = true
        events.onOversize(head.total)
        return
      }
      const end = i + head.total
      if (end <= chunk.length) {
        onPacket(chunk, i, i + head.headerSize, end, false)
        i = end
        continue
      }
      partial = Buffer.allocUnsafe(head.total)
      partialFilled = chunk.length - i
      partialBodyStart = head.headerSize
      chunk.copy(partial, 0, i)
      return
    }
  }
}

/** A client PUBLISH the front takes for the engine; handed on to the engine's handlers as it is. */
export interface TakenPublish extends BrokerMessage {
  readonly topic: string
  /** The payload in a buffer of its own (not a view of a read chunk). */
  readonly payload: Buffer
  readonly qos: 0 | 1
  readonly retain: boolean
  /** Packet identifier; 0 at QoS 0. */
  readonly messageId: number
}

/** What the front asks of the broker that owns the connection. */
export interface MqttFrontOptions {
  /** Largest packet accepted, in bytes, fixed header included. */
  maxPacketBytes: number
  /** Called once when a header announces a packet above the limit; the front reads no more (the caller closes). */
  onOversize(bytes: number): void
  /**
   * Whether PUBLISH packets may be taken now: the client is connected (CONNACK sent) and speaks MQTT 3.1 or
   * 3.1.1. Until then every packet goes to the broker, in order.
   */
  ready(): boolean
  /**
   * Whether the engine takes a PUBLISH on `topic` (a valid topic name, not in `$` namespaces). When it does, `publish`
   * is called for that packet before anything else of the front's, so what this looked up may be kept for it.
   */
  takes(topic: string): boolean
  /**
   * Handles a taken PUBLISH. `done(null)` once it may be acknowledged (its durable work done); `done(err)` closes
   * the connection without acknowledging it or anything after it. Called in packet order.
   */
  publish(message: TakenPublish, done: (err: Error | null) => void): void
  /** Called once per read that took at least one PUBLISH: the broker's keepalive must see the client alive. */
  onActivity(): void
  /** Most PUBLISH packets of the connection taken and not yet done before it stops reading; default 4,096. */
  maxInFlight?: number
}

/** Every default of the front in one place. */
export const MQTT_FRONT_DEFAULTS = {
  maxInFlight: 4096,
} as const

/** Why the front is not reading its connection: each reason a bit, reading resumes when none is left. */
const PAUSED_BY_BROKER = 1
const PAUSED_BY_IN_FLIGHT = 2
const PAUSED_BY_WRITES = 4
const PAUSED_FOR_TURN = 8

/** Acknowledged entries of the PUBACK queue dropped at once, at the least. */
const ACK_COMPACT_AT = 1024

/**
 * Bytes of one connection handled in one event-loop turn before the front yields until the next: libuv reads a
 * busy socket up to 32 times per turn, and a turn that handles megabytes of messages starves everything else (the
 * InfluxDB writer, the HTTP API, other clients).
 */
const BYTES_PER_TURN = 65_536

/** Deepest topic the front takes; deeper ones go to the broker, which refuses them (aedes' default limit). */
const MAX_TOPIC_LEVELS = 100

const CODE_SLASH = 0x2f

/**
 * Puts a front before the broker on one connection and returns the stream to give the broker instead of the
 * connection. The front reads the connection, cuts it into packets, and takes the client PUBLISH packets the
 * engine handles (QoS 0 and 1, on a topic `takes` accepts, once `ready`): it hands each to `publish`, answers
 * PUBACK itself in packet order once each is done, and reads on meanwhile, up to `maxInFlight` packets
 * awaiting their `done`. Every other packet (CONNECT, SUBSCRIBE, PINGREQ, QoS 2, other topics, anything
 * malformed) goes to the broker byte for byte, in order. What the broker writes and the PUBACKs go to the
 * connection through one ordered path, so packets never interleave. Ending or destroying either side ends the
 * other.
 */
export function attachMqttFront(connection: Duplex, options: MqttFrontOptions): Duplex {
  const maxInFlight = options.maxInFlight ?? MQTT_FRONT_DEFAULTS.maxInFlight
  let pausedBy = 0
  let inFlight = 0
  let failed = false
  let tookThisRead = false

  // PUBACKs owed, in packet order: the packet identifier and whether its publish is done
  // (entry k of the arrays is the connection's taken QoS 1 packet number ackBase + k; ackHead the next to acknowledge)
  let ackIds: number[] = []
  let ackReady: boolean[] = []
  let ackHead = 0
  let ackBase = 0
  let ackFlushScheduled = false

  function setPaused(bit: number, on: boolean): void {
    const before = pausedBy
    pausedBy = on ? pausedBy | bit : pausedBy & ~bit
    if (before === 0 && pausedBy !== 0) connection.pause()
    else if (before !== 0 && pausedBy === 0 && !connection.destroyed) connection.resume()
  }

  const broker = new Duplex({
    // the broker reads what the front passes on
    read() {
      setPaused(PAUSED_BY_BROKER, false)
    },
    // what the broker writes, and the front's PUBACKs, go to the connection in write order
    write(chunk: Buffer, _encoding, callback) {
      if (connection.destroyed) return callback()
      if (connection.write(chunk)) callback()
      else connection.once('drain', () => callback())
    },
    writev(chunks, callback) {
      if (connection.destroyed) return callback()
      connection.cork()
      let ok = true
      for (const { chunk } of chunks) ok = connection.write(chunk as Buffer)
      connection.uncork()
      if (ok) callback()
      else connection.once('drain', () => callback())
    },
    final(callback) {
      connection.end()
      callback()
    },
    destroy(err, callback) {
      if (!connection.destroyed) connection.destroy()
      callback(err)
    },
  })

  /** Passes `packet[start, end)` on to the broker. */
  function forward(packet: Buffer, start: number, end: number): void {
    if (!broker.push(packet.subarray(start, end))) setPaused(PAUSED_BY_BROKER, true)
  }

  function flushAcks(): void {
    ackFlushScheduled = false
    let n = 0
    while (ackHead + n < ackIds.length && ackReady[ackHead + n] === true) n++
    if (n === 0 || failed) return
    const out = Buffer.allocUnsafe(4 * n)
    for (let k = 0; k < n; k++) {
      const id = ackIds[ackHead + k] as number
      out[4 * k] = 0x40 // PUBACK
      out[4 * k + 1] = 2
      out[4 * k + 2] = id >> 8
      out[4 * k + 3] = id & 0xff
    }
    ackHead += n
    // drop what is acknowledged once it is most of the queue: a publisher that always has packets in flight never
    // empties it
    if (ackHead >= ACK_COMPACT_AT && ackHead * 2 >= ackIds.length) {
      ackIds = ackIds.slice(ackHead)
      ackReady = ackReady.slice(ackHead)
      ackBase += ackHead
      ackHead = 0
    }
    // a client that does not read its acknowledgements is not read either
    if (!broker.destroyed && !broker.write(out)) setPaused(PAUSED_BY_WRITES, true)
  }

  function fail(err: Error): void {
    if (failed) return
    failed = true
    broker.destroy(err)
  }

  /** A taken PUBLISH is done: one fewer awaited; a failure closes the connection. */
  function settled(err: Error | null): void {
    inFlight--
    if (inFlight < maxInFlight >> 1) setPaused(PAUSED_BY_IN_FLIGHT, false)
    if (err !== null) fail(err)
  }
  // one callback for every QoS 0 message, which owes no acknowledgement: no closure per message
  const doneAtQos0 = settled

  /** Takes a PUBLISH if it is one the engine handles; false leaves it to the broker. */
  function take(packet: Buffer, start: number, bodyStart: number, end: number, owned: boolean): boolean {
    const flags = (packet[start] as number) & 0x0f
    const qos = (flags >> 1) & 3
    if (qos > 1) return false
    if (qos === 0 && (flags & 0x08) !== 0) return false // DUP set at QoS 0 [MQTT-3.3.1-2]
    if (end - bodyStart < 2) return false
    const topicLength = packet.readUInt16BE(bodyStart)
    const topicEnd = bodyStart + 2 + topicLength
    const payloadStart = topicEnd + (qos === 1 ? 2 : 0)
    if (topicLength === 0 || payloadStart > end) return false
    let levels = 1
    for (let k = bodyStart + 2; k < topicEnd; k++) {
      const byte = packet[k] as number
      // '#', '+', '$' first, U+0000, or any byte of a multi-byte character: the broker's checks decide
      if (byte === 0x23 || byte === 0x2b || byte === 0 || byte >= 0x80) return false
      if (byte === CODE_SLASH) levels++
    }
    if (packet[bodyStart + 2] === 0x24 || levels > MAX_TOPIC_LEVELS) return false
    const topic = packet.toString('latin1', bodyStart + 2, topicEnd)
    let messageId = 0
    if (qos === 1) {
      messageId = packet.readUInt16BE(topicEnd)
      if (messageId === 0) return false // [MQTT-2.3.1-1]
    }
    if (!options.takes(topic)) return false
    const payload = owned ? packet.subarray(payloadStart, end) : Buffer.from(packet.subarray(payloadStart, end))
    const retain = (flags & 0x01) !== 0
    tookThisRead = true
    inFlight++
    if (inFlight >= maxInFlight) setPaused(PAUSED_BY_IN_FLIGHT, true)
    if (qos === 0) {
      options.publish({ topic, payload, qos, retain, messageId }, doneAtQos0)
      return true
    }
    const slot = ackBase + ackIds.length
    ackIds.push(messageId)
    ackReady.push(false)
    options.publish({ topic, payload, qos: 1, retain, messageId }, (err) => {
      settled(err)
      if (err !== null) return
      // a packet's entry is dropped only once it is acknowledged, so it is still there
      ackReady[slot - ackBase] = true
      if (slot - ackBase === ackHead && !ackFlushScheduled) {
        ackFlushScheduled = true
        process.nextTick(flushAcks)
      }
    })
    return true
  }

  // runs of consecutive packets for the broker within one read are passed on as one slice
  let runChunk: Buffer | undefined
  let runStart = 0
  let runEnd = 0

  function flushRun(): void {
    if (runChunk !== undefined) forward(runChunk, runStart, runEnd)
    runChunk = undefined
  }

  const frame = createPacketFramer(
    options.maxPacketBytes,
    (packet, start, bodyStart, end, owned) => {
      if (!failed && (packet[start] as number) >> 4 === 3 && options.ready() && take(packet, start, bodyStart, end, owned)) return
      if (runChunk === packet && runEnd === start) {
        runEnd = end
        return
      }
      flushRun()
      runChunk = packet
      runStart = start
      runEnd = end
    },
    {
      onOversize(bytes) {
        flushRun()
        options.onOversize(bytes)
      },
      onMalformed() {
        flushRun()
        fail(new Error('malformed remaining length'))
      },
    },
  )

  let bytesThisTurn = 0
  const nextTurn = (): void => {
    bytesThisTurn = 0
    setPaused(PAUSED_FOR_TURN, false)
  }

  connection.on('data', (chunk: Buffer) => {
    tookThisRead = false
    frame(chunk)
    flushRun()
    if (tookThisRead) options.onActivity()
    bytesThisTurn += chunk.length
    if (bytesThisTurn >= BYTES_PER_TURN && (pausedBy & PAUSED_FOR_TURN) === 0) {
      setPaused(PAUSED_FOR_TURN, true)
      setImmediate(nextTurn)
    }
  })
  connection.on('end', () => broker.push(null))
  connection.on('error', (err) => broker.destroy(err))
  connection.on('close', () => {
    if (!broker.destroyed) broker.destroy()
  })
  broker.on('drain', () => setPaused(PAUSED_BY_WRITES, false))
  return broker
}
