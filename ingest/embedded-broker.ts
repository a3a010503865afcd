import { createServer as createHttpServer, type IncomingMessage, type Server as HttpServer } from 'node:http'
import { createServer as createNetServer, type AddressInfo, type Server as NetServer } from 'node:net'
import type { Duplex } from 'node:stream'
import { Aedes, type AuthenticateError, type Client, type PublishPacket } from 'aedes'
import type { Logger } from 'pino'
import { WebSocketServer, createWebSocketStream } from 'ws'
import { isWithholdAck, type Broker, type BrokerMessage, type MessageHandler, type PublishOptions } from '../ports.js'
import { attachMqttFront, type TakenPublish } from './mqtt-front.js'
import { createHandlerTable, isValidTopicName, topicMatches, type HandlerErrorSink } from './topic-match.js'

/** A connected MQTT client, as the auth hooks see it. */
export interface BrokerClient {
  /** Client identifier of the CONNECT packet (aedes assigns one when it was empty). */
  readonly id: string
  /** User name of the CONNECT packet, if any. */
  readonly username: string | undefined
  /** Peer address (TCP or the websocket's socket). */
  readonly remoteAddress: string | undefined
}

/** Options of the embedded broker. */
export interface EmbeddedBrokerOptions {
  /** Address of the TCP and websocket listeners; default 127.0.0.1. */
  host?: string
  /** TCP port; 0 picks a free one (read it from `port` after `start()`); default 1883. */
  port?: number
  /** MQTT-over-websocket port; 0 picks a free one; unset: no websocket listener. */
  wsPort?: number
  /**
   * Largest MQTT packet a client may send, in bytes, fixed header included; a client that announces a bigger one
   * is disconnected and counted in `stats.oversizedPackets`; default 262144 (256 KiB, SPEC §4).
   */
  maxPacketBytes?: number
  /** Parent logger; the broker logs through a `{ module: 'embedded-broker' }` child. */
  logger: Logger
  /** Accepts or refuses a CONNECT; false answers CONNACK 5 "not authorized" [MQTT-3.2.2-5]; default accept all. */
  authenticate?: (client: BrokerClient, password: Buffer | undefined) => boolean | Promise<boolean>
  /**
   * Authorizes a client PUBLISH before any handler runs; false closes the connection, as MQTT 3.1.1 has no
   * negative acknowledgement [MQTT-3.3.5-2]; `client` is null for the will of a client long gone; default allow all.
   */
  authorizePublish?: (client: BrokerClient | null, message: BrokerMessage) => boolean | Promise<boolean>
  /** Authorizes one filter of a SUBSCRIBE; false grants it as failure 0x80 [MQTT-3.9.3]; default allow all. */
  authorizeSubscribe?: (client: BrokerClient, filter: string) => boolean | Promise<boolean>
}

/** Every default of the embedded broker in one place. */
export const EMBEDDED_BROKER_DEFAULTS = {
  host: '127.0.0.1',
  port: 1883,
  maxPacketBytes: 262_144,
} as const

/** Counters of the embedded broker, for /metrics. */
export interface EmbeddedBrokerStats {
  /** Clients connected now (CONNACK sent). */
  clients: number
  /** Connections closed because they sent a packet above `maxPacketBytes`. */
  oversizedPackets: number
  /** PUBLISH packets received from clients (wills included). */
  messagesIn: number
}

/** The embedded aedes broker behind the Broker port, plus what the durability path needs to shed load. */
export interface EmbeddedBroker extends Broker {
  readonly kind: 'embedded'
  /** TCP port: the bound one after `start()` (0 resolved), the configured one before. */
  readonly port: number
  /** Websocket port, bound after `start()`; undefined without a websocket listener. */
  readonly wsPort: number | undefined
  readonly stats: EmbeddedBrokerStats
  /** Whether new connections are being refused. */
  readonly refusing: boolean
  /** While true, every CONNECT is answered CONNACK 3 "server unavailable" and closed [MQTT-3.2.2-5]. */
  refuseConnections(refuse: boolean): void
  /**
   * Closes client connections (unacknowledged QoS ≥ 1 messages stay with their senders [MQTT-4.4.0-1]);
   * with `qosPublishersOnly`, only those that have published with QoS ≥ 1. Resolves with how many were closed.
   */
  closeClients(options?: { qosPublishersOnly?: boolean }): Promise<number>
}

/** Distinct subscription filters matched one by one against taken messages before every message is relayed. */
const RELAY_FILTERS_MAX = 64

function listen(server: NetServer | HttpServer, port: number, host: string): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once('error', reject)
    server.listen(port, host, () => {
      server.off('error', reject)
      resolve((server.address() as AddressInfo).port)
    })
  })
}

function closeServer(server: NetServer | HttpServer): Promise<void> {
  return new Promise((resolve) => server.close(() => resolve()))
}

function asError(err: unknown): Error {
  return err instanceof Error ? err : new Error(String(err))
}

function toBuffer(payload: string | Buffer): Buffer {
  return typeof payload === 'string' ? Buffer.from(payload) : payload
}

/**
 * Creates the embedded MQTT 3.1.1 broker (aedes) with a TCP listener and, with `wsPort`, an MQTT-over-websocket
 * listener. It is a full broker: every topic is relayed between clients. `subscribe()` registers engine handlers
 * that run on every client PUBLISH of a matching topic, before it is acknowledged (PUBACK, PUBREC) or routed, so
 * durable work done by a handler precedes the acknowledgement (SPEC §5). A failing handler is logged and the message
 * still acknowledged and relayed. Messages the engine publishes go to client subscribers only, never to engine
 * handlers. `subscribe()` may be called before `start()`; do so to have no message arrive unhandled.
 *
 * Each connection has a front (`attachMqttFront`) ahead of aedes: once the client is connected, it takes the QoS 0
 * and 1 PUBLISH packets on the engine's topics, runs the handlers and answers PUBACK itself, in packet order, while
 * it reads on; it relays such a message through aedes only when it is retained or a client holds a subscription
 * that may match it. Everything else (CONNECT, SUBSCRIBE, QoS 2, other topics) goes to aedes, which runs the
 * handlers of what it gets inside its `authorizePublish` hook. aedes alone reads a client's next packets only once
 * every packet of its last read is acknowledged, so a QoS 1 publisher would wait for a log commit per read.
 */
export function createEmbeddedBroker(options: EmbeddedBrokerOptions): EmbeddedBroker {
  const host = options.host ?? EMBEDDED_BROKER_DEFAULTS.host
  const maxPacketBytes = options.maxPacketBytes ?? EMBEDDED_BROKER_DEFAULTS.maxPacketBytes
  const log = options.logger.child({ module: 'embedded-broker' })
  const table = createHandlerTable()
  const connections = new Map<Duplex, Client>()
  const remoteAddresses = new WeakMap<Duplex, string | undefined>()
  const usernames = new WeakMap<Client, string | undefined>()
  const qosPublishers = new WeakSet<Client>()
  const oversized = new WeakSet<Duplex>()
  const stats = { oversizedPackets: 0, messagesIn: 0 }
  let port = options.port ?? EMBEDDED_BROKER_DEFAULTS.port
  let wsPort = options.wsPort
  let aedes: Aedes | undefined
  let tcpServer: NetServer | undefined
  let httpServer: HttpServer | undefined
  let wsServer: WebSocketServer | undefined
  let refusing = false
  let closing: Promise<void> | undefined

  function clientView(client: Client): BrokerClient {
    return { id: client.id, username: usernames.get(client), remoteAddress: remoteAddresses.get(client.conn) }
  }

  function authenticate(client: Client, username: string | undefined, password: Buffer | undefined, done: (err: AuthenticateError | null, ok: boolean | null) => void): void {
    if (refusing) {
      // CONNACK 3 "Server unavailable", then close [MQTT-3.2.2-5]
      done(Object.assign(new Error('server unavailable: not accepting connections'), { returnCode: 3 }) as AuthenticateError, false)
      return
    }
    usernames.set(client, username)
    const hook = options.authenticate
    if (hook === undefined) return done(null, true)
    Promise.resolve()
      .then(() => hook(clientView(client), password))
      .then(
        (ok) => done(null, ok === true),
        (err: unknown) => {
          log.error({ err, clientId: client.id }, 'authenticate hook failed')
          done(Object.assign(new Error('server unavailable'), { returnCode: 3 }) as AuthenticateError, false)
        },
      )
  }

  /**
   * Decides a client PUBLISH for aedes' `authorizePublish`: `done(null)` acknowledges and routes it, `done(err)`
   * closes the connection.
   */
  function admitPublish(client: Client | null, packet: PublishPacket, done: (err: Error | null) => void): void {
    if (client !== null && oversized.has(client.conn)) return done(new Error('packet above the size limit'))
    // $SYS/ is the broker's own namespace (aedes' default check, kept because this hook replaces it)
    if (packet.topic.startsWith('$SYS/')) return done(new Error('$SYS/ topic is reserved'))
    admit(client, { topic: packet.topic, payload: toBuffer(packet.payload), qos: packet.qos }, done)
  }

  /**
   * Authorizes a client PUBLISH and runs the engine handlers: `done(null)` once it may be acknowledged,
   * `done(err)` to close the connection. Without an authorization hook and with handlers that finish at once
   * (QoS 0), `done` is called before this returns, without a promise per message.
   */
  function admit(client: Client | null, message: BrokerMessage, done: (err: Error | null) => void, handlers?: readonly MessageHandler[]): void {
    const hook = options.authorizePublish
    if (hook === undefined) return deliver(client, message, done, handlers)
    Promise.resolve()
      .then(() => hook(client === null ? null : clientView(client), message))
      .then(
        (ok) => ok,
        (err: unknown) => {
          log.error({ err, topic: message.topic }, 'authorizePublish hook failed')
          return false
        },
      )
      .then((ok) => {
        // [MQTT-3.3.5-2] no negative acknowledgement in 3.1.1: close the connection
        if (!ok) done(new Error(`not authorized to publish on ${message.topic}`))
        else deliver(client, message, done, handlers)
      })
  }

  /**
   * Filters clients have been granted, to know which taken messages must also be relayed; never shrinks (a
   * persistent session keeps its subscriptions while offline). Past `RELAY_FILTERS_MAX` distinct filters, or
   * with a `$`-prefixed one (shared subscriptions), every message is relayed and aedes matches.
   */
  const relayFilters = new Set<string>()
  let relayEverything = false

  function granted(filter: string): void {
    if (relayEverything || relayFilters.has(filter)) return
    if (filter.startsWith('$') || relayFilters.size >= RELAY_FILTERS_MAX) relayEverything = true
    else relayFilters.add(filter)
  }

  function wanted(topic: string): boolean {
    if (relayEverything) return true
    for (const filter of relayFilters) if (topicMatches(filter, topic)) return true
    return false
  }

  /**
   * A PUBLISH the front took for the engine: admitted and handled as aedes would, then relayed through aedes when
   * a client may have subscribed to it or it is retained. The front acknowledges it.
   */
  function takePublish(client: Client, taken: TakenPublish, handlers: readonly MessageHandler[], done: (err: Error | null) => void): void {
    // the taken message goes to the handlers as it is; a closure only for one to relay
    if (!taken.retain && !wanted(taken.topic)) return admit(client, taken, done, handlers)
    const relayed = (err: Error | null): void => {
      if (err === null && aedes !== undefined) {
        aedes.publish({ cmd: 'publish', topic: taken.topic, payload: taken.payload, qos: taken.qos, retain: taken.retain, dup: false }, (relayErr) => {
          if (relayErr) log.debug({ err: relayErr.message, topic: taken.topic }, 'relay failed')
        })
      }
      done(err)
    }
    admit(client, taken, relayed, handlers)
  }

  /** Per client, what logs its messages' handler failures: made once per connection, not per message. */
  const failureSinks = new WeakMap<Client, HandlerErrorSink>()
  const willFailed: HandlerErrorSink = (err, topic) => log.error({ err, topic }, 'message handler failed')
  function handlerFailed(client: Client | null): HandlerErrorSink {
    if (client === null) return willFailed
    let sink = failureSinks.get(client)
    if (sink === undefined) {
      sink = (err, topic) => log.error({ err, topic, clientId: client.id }, 'message handler failed')
      failureSinks.set(client, sink)
    }
    return sink
  }

  /**
   * Runs the engine handlers of an admitted message (`matched`: the topic's handlers, if already looked up), then
   * `done`: with the WithholdAck when one withholds the PUBACK.
   */
  function deliver(client: Client | null, message: BrokerMessage, done: (err: Error | null) => void, matched?: readonly MessageHandler[]): void {
    if (client !== null) {
      stats.messagesIn++
      if (message.qos > 0) qosPublishers.add(client)
    }
    const handlers = matched ?? table.matching(message.topic)
    if (handlers.length === 0) return done(null)
    let ran: Promise<void> | undefined
    try {
      ran = table.run(handlers, message, handlerFailed(client))
    } catch (err) {
      // WithholdAck: no PUBACK; aedes closes the connection and the client resends after reconnecting
      return done(asError(err))
    }
    if (ran === undefined) return done(null)
    ran.then(
      () => done(null),
      (err: unknown) => done(asError(err)),
    )
  }

  function accept(socket: Duplex, remoteAddress: string | undefined, req?: IncomingMessage): void {
    if (aedes === undefined || closing !== undefined) {
      socket.destroy()
      return
    }
    let client: Client | undefined
    // the handlers of the topic `takes` last accepted: the front calls `publish` for that packet right after
    let matched: readonly MessageHandler[] = []
    // aedes reads and writes through the front, which takes the engine's PUBLISH packets ahead of it
    const conn = attachMqttFront(socket, {
      maxPacketBytes,
      onOversize(bytes) {
        if (oversized.has(socket)) return
        // both: aedes' hook checks its stream, the websocket listener the socket
        oversized.add(socket)
        oversized.add(conn)
        stats.oversizedPackets++
        log.warn({ clientId: client?.id ?? undefined, remoteAddress, bytes, limit: maxPacketBytes }, 'packet above the size limit, connection closed')
        socket.destroy()
      },
      ready: () => client !== undefined && client.connected && !client.closed && (client.version === 3 || client.version === 4),
      takes: (topic) => (matched = table.matching(topic)).length > 0,
      publish: (taken, done) => takePublish(client as Client, taken, matched, done),
      onActivity() {
        // aedes restarts a client's keepalive timer on every packet it handles [MQTT-3.1.2-24]; taken packets
        // never reach it, so the front restarts it once per read
        ;(client as unknown as { _keepaliveTimer?: NodeJS.Timeout | null })._keepaliveTimer?.refresh()
      },
    })
    remoteAddresses.set(conn, remoteAddress)
    client = aedes.handle(conn, req)
    connections.set(socket, client)
    socket.once('close', () => connections.delete(socket))
  }

  async function start(): Promise<void> {
    if (aedes !== undefined) return
    const broker = await Aedes.createBroker({
      authenticate,
      authorizePublish(client, packet, callback) {
        admitPublish(client, packet, callback)
      },
      authorizeSubscribe(client, subscription, callback) {
        const hook = options.authorizeSubscribe
        if (hook === undefined) {
          granted(subscription.topic)
          return callback(null, subscription)
        }
        Promise.resolve()
          .then(() => hook(clientView(client), subscription.topic))
          .then(
            (ok) => {
              if (ok) granted(subscription.topic)
              callback(null, ok ? subscription : null)
            },
            (err: unknown) => {
              log.error({ err, filter: subscription.topic }, 'authorizeSubscribe hook failed')
              callback(null, null)
            },
          )
      },
    })
    broker.on('clientError', (client, err) => log.debug({ clientId: client.id, err: err.message }, 'client error'))
    broker.on('connectionError', (_client, err) => log.debug({ err: err.message }, 'connection error'))
    aedes = broker
    try {
      tcpServer = createNetServer({ noDelay: true }, (socket) => accept(socket, socket.remoteAddress))
      port = await listen(tcpServer, port, host)
      if (wsPort !== undefined) {
        httpServer = createHttpServer((_req, res) => {
          res.writeHead(426, { 'content-type': 'text/plain' }).end('MQTT over websocket: upgrade required\n')
        })
        wsServer = new WebSocketServer({
          server: httpServer,
          // one MQTT packet per websocket message from common clients; the guard still checks the MQTT framing
          maxPayload: maxPacketBytes,
          // [MQTT-6.0.0-3] the subprotocol is "mqtt" ("mqttv3.1" for 3.1 clients)
          handleProtocols: (protocols) => (protocols.has('mqtt') ? 'mqtt' : protocols.has('mqttv3.1') ? 'mqttv3.1' : false),
        })
        wsServer.on('connection', (ws, req) => {
          const stream = createWebSocketStream(ws)
          ws.on('error', (err: Error & { code?: string }) => {
            if (err.code === 'WS_ERR_UNSUPPORTED_MESSAGE_LENGTH' && !oversized.has(stream)) {
              oversized.add(stream)
              stats.oversizedPackets++
              log.warn({ remoteAddress: req.socket.remoteAddress, limit: maxPacketBytes }, 'websocket message above the size limit, connection closed')
            }
          })
          accept(stream, req.socket.remoteAddress, req)
        })
        wsServer.on('error', (err) => log.error({ err }, 'websocket server error'))
        wsPort = await listen(httpServer, wsPort, host)
      }
    } catch (err) {
      await close()
      throw err
    }
    log.info({ host, port, wsPort }, 'embedded mqtt broker listening')
  }

  function close(): Promise<void> {
    if (aedes === undefined) return Promise.resolve()
    closing ??= shutdown(aedes).finally(() => {
      closing = undefined
    })
    return closing
  }

  async function shutdown(broker: Aedes): Promise<void> {
    const closed: Promise<void>[] = []
    if (tcpServer?.listening) closed.push(closeServer(tcpServer))
    if (httpServer?.listening) closed.push(closeServer(httpServer))
    for (const ws of wsServer?.clients ?? []) ws.terminate()
    wsServer?.close()
    await new Promise<void>((resolve) => broker.close(() => resolve()))
    for (const conn of connections.keys()) conn.destroy()
    await Promise.all(closed)
    aedes = undefined
    tcpServer = undefined
    httpServer = undefined
    wsServer = undefined
    log.info('embedded mqtt broker closed')
  }

  function refuseConnections(refuse: boolean): void {
    if (refuse !== refusing) log.warn({ refuse }, refuse ? 'refusing new mqtt connections' : 'accepting mqtt connections again')
    refusing = refuse
  }

  async function closeClients(closeOptions: { qosPublishersOnly?: boolean } = {}): Promise<number> {
    const targets = [...connections.values()].filter((client) => closeOptions.qosPublishersOnly !== true || qosPublishers.has(client))
    await Promise.all(targets.map((client) => new Promise<void>((resolve) => client.close(() => resolve()))))
    if (targets.length > 0) log.warn({ closed: targets.length, qosPublishersOnly: closeOptions.qosPublishersOnly === true }, 'closed mqtt client connections')
    return targets.length
  }

  return {
    kind: 'embedded',
    get connected() {
      return aedes !== undefined && closing === undefined
    },
    get port() {
      return port
    },
    get wsPort() {
      return wsPort
    },
    get stats() {
      return { clients: aedes?.connectedClients ?? 0, ...stats }
    },
    get refusing() {
      return refusing
    },
    start,
    async subscribe(filter: string, handler: MessageHandler) {
      table.add(filter, handler)
    },
    publish(topic: string, payload: string | Buffer, publishOptions: PublishOptions = {}) {
      return new Promise<void>((resolve, reject) => {
        if (aedes === undefined || closing !== undefined) return reject(new Error('embedded broker is not running'))
        if (!isValidTopicName(topic)) return reject(new Error(`invalid MQTT topic name '${topic}'`))
        const packet: PublishPacket = {
          cmd: 'publish',
          topic,
          payload: toBuffer(payload),
          qos: publishOptions.qos ?? 0,
          retain: publishOptions.retain ?? false,
          dup: false,
        }
        aedes.publish(packet, (err) => (err ? reject(err) : resolve()))
      })
    },
    refuseConnections,
    closeClients,
    async setAccepting(accepting: boolean) {
      refuseConnections(!accepting)
      if (!accepting) await closeClients({ qosPublishersOnly: true })
    },
    close,
  }
}
