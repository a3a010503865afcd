import { mkdirSync } from 'node:fs'
import { join } from 'node:path'
import { monitorEventLoopDelay } from 'node:perf_hooks'
import type { Logger } from 'pino'
import { readingJson } from './api/reading-json.js'
import type { MetricFamily } from './api/metrics.js'
import { buildServer, type ApiServer } from './api/server.js'
import { createWsHub, type WsHub } from './api/ws-hub.js'
import { retentionMs, type Config } from './config.js'
import { DEAD_LETTER_REASONS, type Reading } from './domain.js'
import { createDeadLetters, type DeadLetters } from './ingest/dead-letters.js'
import { createEmbeddedBroker, type EmbeddedBroker } from './ingest/embedded-broker.js'
import { createExternalBroker } from './ingest/external-broker.js'
import { createIngest, type Ingest } from './ingest/ingest-pipeline.js'
import { createLogger } from './logger.js'
import { systemClock, type Broker, type Clock, type MessageHandler } from './ports.js'
import { loadRegistry } from './registry/load-registry.js'
import { indexRegistry, type RegistryIndex } from './registry/registry-index.js'
import { createInfluxQuery } from './storage/influx-query.js'
import { createInfluxWriter, type InfluxWriter } from './storage/influx-writer.js'
import { sensorState, type SensorState } from './stream/sensor-state.js'

/** Parts a caller may swap, e.g. in tests; production defaults otherwise. */
export interface AppOverrides {
  clock?: Clock
  logger?: Logger
  broker?: Broker
  writer?: InfluxWriter
}

/** The composed engine. */
export interface App {
  readonly config: Config
  readonly logger: Logger
  readonly api: ApiServer
  readonly broker: Broker
  readonly ingest: Ingest
  readonly writer: InfluxWriter
  readonly hub: WsHub
  readonly deadLetters: DeadLetters
  readonly sensors: SensorState
  /** The registry in force. */
  registry(): RegistryIndex
  /** Re-reads the registry file; on error keeps the current one and throws. */
  reloadRegistry(): RegistryIndex
  /** Bound HTTP port after start. */
  readonly httpPort: number
  /** Bound MQTT TCP port of the embedded broker after start; undefined with an external broker. */
  readonly mqttPort: number | undefined
  start(): Promise<void>
  close(): Promise<void>
}

/** Composition root: builds every part from the config; `start()` wires and listens. */
export async function buildApp(config: Config, overrides: AppOverrides = {}): Promise<App> {
  const clock = overrides.clock ?? systemClock
  const logger = overrides.logger ?? createLogger({ level: config.logLevel })
  const log = logger.child({ module: 'app' })
  let registry = indexRegistry(loadRegistry(config.registry))
  mkdirSync(config.dataDir, { recursive: true })

  const broker: Broker = overrides.broker ?? (config.mqttUrl !== undefined
    ? createExternalBroker({ url: config.mqttUrl, logger })
    : createEmbeddedBroker({ host: config.mqttHost, port: config.mqttPort, ...(config.mqttWsPort !== undefined ? { wsPort: config.mqttWsPort } : {}), logger }))

  const deadLetters = createDeadLetters({
    dir: join(config.dataDir, 'deadletter'),
    maxBytes: config.dlqMaxBytes,
    publish: (topic, payload) => broker.publish(topic, payload, { qos: 0 }),
    clock,
    logger,
  })
  const influx = {
    url: config.influxUrl,
    database: config.influxDb,
    ...(config.influxUser !== undefined ? { username: config.influxUser } : {}),
    ...(config.influxPassword !== undefined ? { password: config.influxPassword } : {}),
  }
  const writer = overrides.writer ?? createInfluxWriter({
    ...influx,
    retention: config.influxRetention,
    maxBackoffMs: config.influxMaxBackoffMs,
    logger,
    // A point InfluxDB refuses is quarantined where it can be replayed, never retried forever.
    onRejected: (readings, reason) => {
      for (const r of readings) {
        deadLetters.put({
          receivedAt: clock.now(),
          topic: `${config.topicPrefix}/${r.district}/${r.kind}/${r.sensor}`,
          reason: 'schema',
          detail: `InfluxDB refused the point: ${reason}`,
          payload: Buffer.from(JSON.stringify({ ts: r.ts, ...(r.seq !== undefined ? { seq: r.seq } : {}), ...r.fields })),
        })
      }
    },
  })
  const query = createInfluxQuery(influx)
  const rawRetentionMs = retentionMs(config.influxRetention)
  const ingest = createIngest({
    registry: () => registry,
    topicPrefix: config.topicPrefix,
    retentionMs: rawRetentionMs,
    districts: config.districts,
    deadLetters,
    clock,
  })
  const sensors = sensorState()
  const hub = createWsHub({ logger })
  hub.setSnapshotProvider('readings', (sub) => {
    const out = []
    for (const sensor of registry.registry.sensors) {
      if (sub.districts !== null && !sub.districts.has(sensor.district)) continue
      if (sub.sensors !== null && !sub.sensors.has(sensor.id)) continue
      const last = sensors.last(sensor.id)
      if (last !== undefined) out.push(readingJson(last))
    }
    return out
  })

  const loopDelay = monitorEventLoopDelay({ resolution: 20 })
  let started = false
  let closing = false

  const api = await buildServer({
    logger,
    clock,
    registry: () => registry,
    sensors,
    hub,
    readiness: () => {
      const influxState = writer.status === 'ok' ? 'ok' : 'spooling'
      const ready = started && !closing && broker.connected
      return {
        ready,
        body: {
          status: ready ? 'ready' : closing ? 'closing' : 'not_ready',
          broker: broker.connected ? 'up' : 'down',
          brokerKind: broker.kind,
          influx: influxState,
          writerBacklog: writer.backlog,
          writerRetrying: writer.retrying,
          sensors: registry.registry.sensors.length,
        },
      }
    },
    metrics: () => metrics(),
    readings: ({ sensor, from, to, every }) =>
      query.readingsOf({ sensor: sensor.id, kind: sensor.kind, from, to, retentionMs: rawRetentionMs, ...(every !== undefined ? { every } : {}) }),
  })

  function onAccepted(readings: readonly Reading[]): void {
    writer.write(readings)
    const live = hub.subscribers('readings') > 0
    for (const r of readings) {
      sensors.update(r)
      if (live) hub.publish({ type: 'reading', key: r.sensor, district: r.district, sensor: r.sensor, data: readingJson(r) })
    }
  }

  const handler: MessageHandler = (message) => {
    try {
      const { accepted } = ingest.handle(message)
      if (accepted.length > 0) onAccepted(accepted)
    } catch (err) {
      // One message's failure never stalls the others.
      log.error({ err, topic: message.topic }, 'message handling failed')
    }
  }

  function metrics(): MetricFamily[] {
    const s = ingest.stats
    const w = writer.stats
    const counter = (name: string, help: string, value: number): MetricFamily => ({ name, help, type: 'counter', samples: [{ value }] })
    const gauge = (name: string, help: string, value: number): MetricFamily => ({ name, help, type: 'gauge', samples: [{ value }] })
    const families: MetricFamily[] = [
      counter('citywater_messages_received_total', 'MQTT messages received on sensor and gateway topics', s.messages),
      counter('citywater_readings_received_total', 'Readings received, accepted or not', s.received),
      counter('citywater_readings_accepted_total', 'Readings accepted', s.accepted),
      {
        name: 'citywater_readings_rejected_total',
        help: 'Readings and messages rejected to the dead letters, by reason',
        type: 'counter',
        samples: DEAD_LETTER_REASONS.map((reason) => ({ labels: { reason }, value: deadLetters.counts[reason] })),
      },
      counter('citywater_readings_duplicate_total', 'Readings dropped as duplicates of an accepted (sensor, ts)', s.duplicates),
      counter('citywater_readings_seq_missed_total', 'Readings missing by gaps in seq', s.seqMissed),
      counter('citywater_device_restarts_total', 'Drops of seq to a small number', s.deviceRestarts),
      counter('citywater_messages_foreign_district_total', 'Messages of districts this instance does not own', s.foreign),
      gauge('citywater_deadletter_bytes', 'Bytes held in the dead-letter files', deadLetters.bytes),
      counter('citywater_influx_points_written_total', 'Points confirmed by InfluxDB', w.pointsWritten),
      counter('citywater_influx_write_errors_total', 'Failed InfluxDB write attempts', w.writeErrors),
      gauge('citywater_influx_backlog_points', 'Points waiting to be written to InfluxDB', writer.backlog),
      gauge('citywater_influx_retrying', '1 while the writer is backing off after failures', writer.retrying ? 1 : 0),
      {
        name: 'citywater_influx_write_latency_seconds',
        help: 'InfluxDB write request latency',
        type: 'histogram',
        samples: [
          ...w.latency.buckets.map((b) => ({ suffix: '_bucket', labels: { le: String(b.le) }, value: b.count })),
          { suffix: '_bucket', labels: { le: '+Inf' }, value: w.latency.count },
          { suffix: '_sum', value: w.latency.sum },
          { suffix: '_count', value: w.latency.count },
        ],
      },
      gauge('citywater_ws_clients', 'Connected websocket clients', hub.clients),
      gauge('citywater_event_loop_lag_seconds', 'Event-loop delay, mean over the last interval', Number.isFinite(loopDelay.mean) ? loopDelay.mean / 1e9 : 0),
      gauge('citywater_event_loop_lag_p99_seconds', 'Event-loop delay, 99th percentile over the last interval', loopDelay.percentile(99) / 1e9),
      gauge('citywater_registry_sensors', 'Sensors in the registry', registry.registry.sensors.length),
      gauge('citywater_process_resident_memory_bytes', 'Resident set size', process.memoryUsage.rss()),
    ]
    if ('stats' in broker) {
      const b = (broker as EmbeddedBroker).stats
      families.push(gauge('citywater_mqtt_clients', 'Clients connected to the embedded broker', b.clients))
      families.push(counter('citywater_mqtt_oversized_packets_total', 'Connections closed for a packet above 256 KiB', b.oversizedPackets))
    }
    loopDelay.reset()
    return families
  }

  let httpPort = 0
  return {
    config,
    logger,
    api,
    broker,
    ingest,
    writer,
    hub,
    deadLetters,
    sensors,
    registry: () => registry,
    reloadRegistry() {
      const next = indexRegistry(loadRegistry(config.registry))
      registry = next
      sensors.retain(new Set(next.registry.sensors.map((s) => s.id)))
      log.info({ sensors: next.registry.sensors.length, segments: next.registry.segments.length }, 'registry reloaded')
      return next
    },
    get httpPort() {
      return httpPort
    },
    get mqttPort() {
      return broker.kind === 'embedded' ? (broker as EmbeddedBroker).port : undefined
    },
    async start() {
      loopDelay.enable()
      await writer.start()
      await api.listen({ host: config.httpHost, port: config.httpPort })
      const address = api.server.address()
      httpPort = typeof address === 'object' && address !== null ? address.port : config.httpPort
      await broker.start()
      // Consumers are wired before the subscription, so no message arrives unhandled.
      const filters = config.districts === null ? [`${config.topicPrefix}/#`] : config.districts.map((d) => `${config.topicPrefix}/${d}/#`)
      for (const filter of filters) await broker.subscribe(filter, handler)
      started = true
      log.info({ http: `http://${config.httpHost}:${httpPort}`, mqtt: broker.kind === 'embedded' ? `mqtt://${config.mqttHost}:${(broker as EmbeddedBroker).port}` : config.mqttUrl, sensors: registry.registry.sensors.length }, 'citywater started')
    },
    async close() {
      if (closing) return
      closing = true
      hub.close()
      await broker.close().catch((err: unknown) => log.warn({ err }, 'broker close failed'))
      await api.close().catch((err: unknown) => log.warn({ err }, 'api close failed'))
      await writer.close().catch((err: unknown) => log.warn({ err }, 'writer close failed'))
      await deadLetters.close()
      loopDelay.disable()
      log.info('citywater stopped')
    },
  }
}
