import { mkdirSync } from 'node:fs'
import { join } from 'node:path'
import { monitorEventLoopDelay } from 'node:perf_hooks'
import type { Logger } from 'pino'
import { readingJson } from './api/reading-json.js'
import { histogram, type MetricFamily } from './api/metrics.js'
import { buildServer, type ApiServer } from './api/server.js'
import { indicesSnapshotProvider } from './api/index-routes.js'
import { parkingSnapshot } from './api/parking-routes.js'
import { createWsHub, type WsHub } from './api/ws-hub.js'
import { retentionMs, type Config } from './config.js'
import { DEAD_LETTER_REASONS, LEVEL_NUMBER, type Reading } from './domain.js'
import { createDeadLetters, type DeadLetters } from './ingest/dead-letters.js'
import { createEmbeddedBroker, type EmbeddedBroker } from './ingest/embedded-broker.js'
import { createExternalBroker } from './ingest/external-broker.js'
import { createIngest, type Ingest } from './ingest/ingest-pipeline.js'
import { createAlertManager, alertSettingsOf, type AlertManager } from './rules/alert-manager.js'
import { createEngineAlerts } from './rules/engine-alerts.js'
import { loadRules, parseRules } from './rules/load-rules.js'
import type { Condition } from './rules/condition.js'
import type { RuleSet } from './rules/rule-schema.js'
import { createRulesEngine, type RulesEngine } from './rules/rules-engine.js'
import { openAlertStore, type AlertStore } from './storage/alert-store.js'
import { createLogger } from './logger.js'
import { WithholdAck, systemClock, type Broker, type Clock, type MessageHandler } from './ports.js'
import { loadRegistry } from './registry/load-registry.js'
import { indexRegistry, type RegistryIndex } from './registry/registry-index.js'
import { createInfluxQuery } from './storage/influx-query.js'
import { readingPayload } from './storage/influx-line.js'
import { createInfluxWriter, type InfluxWriter } from './storage/influx-writer.js'
import type { RejectedReading } from './storage/wal-record.js'
import { createWriteAheadLog, type WalAppendResult, type WriteAheadLog } from './storage/write-ahead-log.js'
import { createIndexEngine, type IndexEngine } from './stream/index-engine.js'
import { createParkingBoards, type ParkingBoards } from './stream/parking-boards.js'
import { createQualityStage } from './stream/quality-stage.js'
import { sensorState, type SensorState } from './stream/sensor-state.js'
import { waterIndexLines } from './stream/water-index-lines.js'

/** How long the HTTP server waits at shutdown for responses still being read before it cuts their connections. */
const API_CLOSE_GRACE_MS = 2_000

/** Parts a caller may swap, e.g. in tests; production defaults otherwise. */
export interface AppOverrides {
  clock?: Clock
  logger?: Logger
  broker?: Broker
  writer?: InfluxWriter
  wal?: WriteAheadLog
}

/** The composed engine. */
export interface App {
  readonly config: Config
  readonly logger: Logger
  readonly api: ApiServer
  readonly broker: Broker
  readonly ingest: Ingest
  readonly writer: InfluxWriter
  readonly wal: WriteAheadLog
  readonly hub: WsHub
  readonly deadLetters: DeadLetters
  readonly sensors: SensorState
  readonly indices: IndexEngine
  readonly parking: ParkingBoards
  readonly alerts: AlertManager
  readonly alertStore: AlertStore
  readonly rules: RulesEngine
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
/** Which code runs: `bundle` when bin/citywater.js loaded dist/citywater.mjs, else `sources` (through tsx). */
function runningCode(): 'bundle' | 'sources' {
  return (globalThis as Record<symbol, unknown>)[Symbol.for('citywater.code')] === 'bundle' ? 'bundle' : 'sources'
}

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
  const wal = overrides.wal ?? (await createWriteAheadLog({
    dir: join(config.dataDir, 'wal'),
    maxBytes: config.walMaxBytes,
    syncMs: config.walSyncMs,
    logger,
    clock,
  }))
  const writer = overrides.writer ?? createInfluxWriter({
    ...influx,
    source: wal,
    retention: config.influxRetention,
    maxBackoffMs: config.influxMaxBackoffMs,
    // Graceful shutdown gives InfluxDB this long to take what the log holds; the rest waits in the log.
    closeTimeoutMs: 10_000,
    logger,
    clock,
    // A point InfluxDB refuses is quarantined where it can be replayed, never retried forever.
    onRejected: (lines, reason) => {
      for (const { line, point } of lines) {
        deadLetters.put({
          receivedAt: clock.now(),
          topic: point !== null ? `${config.topicPrefix}/${point.tags.district ?? ''}/${point.measurement}/${point.tags.sensor ?? ''}` : `${config.topicPrefix}/unknown`,
          reason: 'schema',
          detail: `InfluxDB refused the point: ${reason}`,
          payload: Buffer.from(point !== null ? JSON.stringify(readingPayload(point)) : line),
        })
      }
    },
  })

  /** Readings line protocol cannot carry never reach the log: they go to the dead letters like any bad reading. */
  function deadLetterUnstorable(rejected: readonly RejectedReading[]): void {
    for (const { reading: r, reason } of rejected) {
      deadLetters.put({
        receivedAt: clock.now(),
        topic: `${config.topicPrefix}/${r.district}/${r.kind}/${r.sensor}`,
        reason: 'schema',
        detail: `reading cannot be stored: ${reason}`,
        payload: Buffer.from(JSON.stringify({ ts: r.ts, ...(r.seq !== undefined ? { seq: r.seq } : {}), ...r.fields })),
      })
    }
  }
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
  const quality = createQualityStage({ registry: () => registry, latenessS: config.latenessS, clock })
  const sensors = sensorState()
  let ruleSet: RuleSet = loadRules(config.rules, registry)
  const rulesEngine = createRulesEngine({ rules: ruleSet, registry: () => registry })
  const alertStore = openAlertStore({ file: join(config.dataDir, 'alerts.sqlite'), clock })
  const hub = createWsHub({
    logger,
    initialSeq: alertStore.lastSeq(),
    replay: alertStore.eventsSince(0),
    // Alert events are kept with the alerts, so `since` resumes across a restart (SPEC §12).
    onAlertEvent: (seq, frame, meta) => alertStore.appendEvent(seq, frame, meta),
  })
  const engineAlerts = createEngineAlerts({ hub, broker, clock, logger })
  const alerts = createAlertManager({
    store: alertStore,
    clock,
    settings: alertSettingsOf(ruleSet),
    notify: {
      mqtt: (topic, payload, retain) => broker.publish(topic, payload, { qos: 1, retain }),
      ws: (alert) => {
        const sensor = registry.sensor(alert.subject) !== undefined ? { sensor: alert.subject } : {}
        hub.publish({ type: 'alert', key: alert.id, district: alert.district, ...sensor, data: alert })
      },
      points: (lines, minTs, maxTs) => {
        wal.appendPoints(lines, minTs, maxTs).catch((err: unknown) => log.debug({ err }, 'alert events not stored'))
      },
    },
    logger,
  })
  rulesEngine.restore(alertStore.active().map((a) => ({ rule: a.rule, subject: a.subject, level: LEVEL_NUMBER[a.level] })))
  /** Conditions from the rules go to the alert manager; one failure never stops the stream. */
  const applyConditions = (conditions: readonly Condition[]): void => {
    if (conditions.length === 0) return
    try {
      alerts.apply(conditions)
    } catch (err) {
      log.error({ err }, 'applying alert conditions failed')
    }
  }
  hub.setSnapshotProvider('alerts', (sub) => [
    ...engineAlerts.active(),
    ...alerts.active().filter((a) => sub.districts === null || sub.districts.has(a.district)),
  ])
  const nearAlert = ({ bytes, maxBytes }: { bytes: number; maxBytes: number }) =>
    engineAlerts.raise('wal-near-full', 'orange', bytes, maxBytes, `Write-ahead log at ${Math.round((100 * bytes) / maxBytes)} % of its bound: InfluxDB is not keeping up or is down`)
  wal.on('near', nearAlert)
  wal.on('full', ({ bytes, maxBytes }) => engineAlerts.raise('wal-near-full', 'red', bytes, maxBytes, 'Write-ahead log full: publishers are refused until InfluxDB confirms what the log holds'))
  wal.on('space', nearAlert)
  wal.on('normal', () => engineAlerts.clear('wal-near-full'))

  const indices = createIndexEngine({ registry: () => registry, clock, latenessS: config.latenessS, logger })
  hub.setSnapshotProvider('indices', indicesSnapshotProvider(indices))
  const parking = createParkingBoards({
    registry: () => registry,
    zoneAlertLevel: (zone) => indices.zoneAlertLevel(zone),
    publish: (topic, payload) => broker.publish(topic, payload, { qos: 1, retain: true }),
    onLot: (lot) => hub.publish({ type: 'parking', key: lot.id, district: lot.district, data: lot }),
    clock,
    logger,
  })
  hub.setSnapshotProvider('parking', parkingSnapshot(parking))
  const indexUpdates = indices.updates$.subscribe((u) => {
    // The entry as /api/indices lists it, plus `at`: the event time of its latest input (charts plot it there).
    const data = u.eventTime === null ? u.data : { ...u.data, at: new Date(u.eventTime).toISOString() }
    hub.publish({ type: 'index', key: u.key, district: u.district, data })
    applyConditions(rulesEngine.onIndexUpdate(u))
    const lines = waterIndexLines(u)
    // Computed values go through the same log as readings: an InfluxDB outage delays them, never loses them.
    if (lines.length > 0 && u.eventTime !== null) {
      wal.appendPoints(lines, u.eventTime, u.eventTime).catch((err: unknown) => log.debug({ err, key: u.key }, 'index point not stored'))
    }
  })
  const zoneAlertChanges = indices.zoneAlerts$.subscribe(() => parking.refresh())
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

  /** Seconds since the oldest record InfluxDB has not confirmed was appended; 0 when all is confirmed. */
  const unconfirmedAgeS = (): number => {
    const at = wal.oldestUnconfirmedAt()
    return at === null ? 0 : Math.max(0, clock.now() - at) / 1000
  }

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
          walBytes: wal.bytes,
          walMaxBytes: wal.maxBytes,
          walFull: wal.full,
          walOldestUnconfirmedAgeS: unconfirmedAgeS(),
          sensors: registry.registry.sensors.length,
        },
      }
    },
    metrics: () => metrics(),
    indices: { engine: indices, query, clock, retentionMs: rawRetentionMs },
    alerts: {
      manager: alerts,
      store: alertStore,
      clock,
      rules: {
        get: () => ruleSet,
        replace(json) {
          // Validated whole before anything changes: a bad body leaves the rules in force untouched.
          const next = parseRules(json, { source: 'PUT /api/rules', registry: registry })
          const diff = ruleDiff(ruleSet, next)
          ruleSet = next
          alerts.update(alertSettingsOf(next))
          applyConditions(rulesEngine.replace(next))
          return { version: alertStore.ruleChanges().length + 1, diff }
        },
      },
    },
    parking: { parking },
    readings: ({ sensor, from, to, every }) =>
      query.readingsOf({ sensor: sensor.id, kind: sensor.kind, from, to, retentionMs: rawRetentionMs, ...(every !== undefined ? { every } : {}) }),
  })

  function onAccepted(readings: readonly Reading[]): void {
    indices.update(readings)
    parking.update(readings)
    applyConditions(rulesEngine.onReadings(readings))
    const live = hub.subscribers('readings') > 0
    for (const r of readings) {
      sensors.update(r)
      if (live) hub.publishReading(r)
    }
  }

  /** Readings of QoS 0 messages the full log could not take: still shown live, counted, logged once per episode. */
  let qos0Refused = 0
  let qos0RefusedLogged = false
  function refusedQos0(readings: number, err: unknown): void {
    qos0Refused += readings
    if (qos0RefusedLogged) return
    qos0RefusedLogged = true
    log.warn({ err }, 'write-ahead log refused qos 0 readings; counting them until space is freed')
  }

  /**
   * QoS 0 messages appended to the same group commit share its promise: one reaction per group counts their readings,
   * where one per message cost a promise and two closures for nothing to do.
   */
  let qos0Group: { stored: Promise<WalAppendResult>; readings: number } | undefined

  function watchQos0(stored: Promise<WalAppendResult>, readings: number): void {
    if (qos0Group?.stored === stored) {
      qos0Group.readings += readings
      return
    }
    const group = { stored, readings }
    qos0Group = group
    stored.then(
      ({ rejected }) => deadLetterUnstorable(rejected),
      (err: unknown) => refusedQos0(group.readings, err),
    )
  }

  /** A QoS 1 message is acknowledged once its readings are on disk. */
  async function ackWhenStored(stored: Promise<WalAppendResult>, accepted: readonly Reading[]): Promise<void> {
    try {
      deadLetterUnstorable((await stored).rejected)
    } catch (err) {
      // No PUBACK: the publisher keeps the message and resends it after reconnecting [MQTT-4.4.0-1].
      ingest.forget(accepted)
      throw new WithholdAck(err instanceof Error ? err.message : String(err))
    }
  }

  // Not async: a QoS 0 message (and one with nothing accepted) is done when this returns, without a promise.
  const handler: MessageHandler = (message) => {
    // Refused before ingest sees it, so the resend is not taken for a duplicate of a reading never stored.
    if (message.qos > 0 && wal.full) throw new WithholdAck('write-ahead log full')
    let accepted: readonly Reading[]
    let batch: readonly Reading[]
    try {
      const raw = ingest.handle(message).accepted
      if (raw.length === 0) return
      // Flags are set before the append, so the stored point carries them; a spike found now re-flags the
      // previous reading, stored again (same series and ts: InfluxDB overwrites) ahead of the new one.
      const assessed = quality.assess(raw)
      accepted = assessed.readings
      batch = assessed.reflagged.length === 0 ? accepted : [...assessed.reflagged, ...accepted]
    } catch (err) {
      // One message's failure never stalls the others.
      log.error({ err, topic: message.topic }, 'message handling failed')
      return
    }
    // Appended (encoded and queued for the group commit) before anything else, so the log keeps arrival order.
    const stored = wal.append(batch)
    // Live state and dashboards never wait for the disk.
    onAccepted(batch)
    if (message.qos === 0) {
      watchQos0(stored, accepted.length)
      return
    }
    return ackWhenStored(stored, accepted)
  }

  // At the bound the engine stops acknowledging: QoS >= 1 publishers are disconnected and new connections
  // refused until confirmed segments are deleted (SPEC §5).
  wal.on('full', () => void broker.setAccepting(false).catch((err: unknown) => log.error({ err }, 'refusing connections failed')))
  wal.on('space', () => {
    qos0RefusedLogged = false
    broker.setAccepting(true).catch((err: unknown) => log.error({ err }, 'accepting connections failed'))
  })

  function metrics(): MetricFamily[] {
    const s = ingest.stats
    const w = writer.stats
    const mem = process.memoryUsage()
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
      counter('citywater_readings_late_total', 'Readings behind their sensor watermark (flagged late)', quality.stats.late),
      counter('citywater_readings_reflagged_total', 'Readings whose flag a later reading changed (spikes)', quality.stats.reflagged),
      gauge('citywater_deadletter_bytes', 'Bytes held in the dead-letter files', deadLetters.bytes),
      counter('citywater_influx_points_written_total', 'Points confirmed by InfluxDB', w.pointsWritten),
      counter('citywater_influx_write_errors_total', 'Failed InfluxDB write attempts', w.writeErrors),
      gauge('citywater_influx_backlog_points', 'Points waiting to be written to InfluxDB', writer.backlog),
      gauge('citywater_influx_retrying', '1 while the writer is backing off after failures', writer.retrying ? 1 : 0),
      gauge('citywater_wal_bytes', 'Bytes in the write-ahead log segment files', wal.bytes),
      gauge('citywater_wal_max_bytes', 'Bound of the write-ahead log', wal.maxBytes),
      gauge('citywater_wal_segments', 'Write-ahead log segment files', wal.segments),
      gauge('citywater_wal_near', '1 while the write-ahead log is above 90 % of its bound', wal.near ? 1 : 0),
      gauge('citywater_wal_full', '1 while the write-ahead log refuses appends', wal.full ? 1 : 0),
      gauge('citywater_wal_oldest_unconfirmed_age_seconds', 'Age of the oldest record not yet confirmed by InfluxDB', unconfirmedAgeS()),
      counter('citywater_wal_refused_readings_total', 'QoS 0 readings the full write-ahead log could not keep', qos0Refused),
      counter('citywater_wal_appends_total', 'Records appended to the write-ahead log', wal.stats.records),
      counter('citywater_wal_points_appended_total', 'Points appended to the write-ahead log', wal.stats.pointsAppended),
      counter('citywater_wal_appends_refused_total', 'Appends refused because the write-ahead log was full', wal.stats.appendsRefused),
      counter('citywater_wal_fsyncs_total', 'Group commits of the write-ahead log (one fdatasync each)', wal.stats.fsyncs),
      counter('citywater_wal_corrupt_bytes_total', 'Bytes of corrupt write-ahead log records skipped', wal.stats.corruptBytesSkipped),
      counter('citywater_influx_backfills_total', 'Rollup backfills after a replay or late points', w.backfills),
      histogram('citywater_wal_fsync_duration_seconds', 'fdatasync latency of write-ahead log group commits', wal.stats.fsyncLatency),
      histogram('citywater_influx_write_latency_seconds', 'InfluxDB write request latency', w.latency),
      gauge('citywater_ws_clients', 'Connected websocket clients', hub.clients),
      gauge('citywater_event_loop_lag_seconds', 'Event-loop delay, mean over the last interval', Number.isFinite(loopDelay.mean) ? loopDelay.mean / 1e9 : 0),
      gauge('citywater_event_loop_lag_p99_seconds', 'Event-loop delay, 99th percentile over the last interval', loopDelay.percentile(99) / 1e9),
      gauge('citywater_registry_sensors', 'Sensors in the registry', registry.registry.sensors.length),
      gauge('citywater_process_resident_memory_bytes', 'Resident set size', mem.rss),
      gauge('citywater_process_heap_used_bytes', 'V8 heap in use (live objects and garbage not yet collected)', mem.heapUsed),
      gauge('citywater_process_heap_total_bytes', 'V8 heap reserved', mem.heapTotal),
      gauge('citywater_process_external_memory_bytes', 'Memory of buffers and other objects held outside the V8 heap', mem.external),
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
  let alertTimer: NodeJS.Timeout | undefined
  return {
    config,
    logger,
    api,
    broker,
    ingest,
    writer,
    wal,
    hub,
    deadLetters,
    sensors,
    indices,
    parking,
    alerts,
    alertStore,
    rules: rulesEngine,
    registry: () => registry,
    reloadRegistry() {
      const next = indexRegistry(loadRegistry(config.registry))
      registry = next
      sensors.retain(new Set(next.registry.sensors.map((s) => s.id)))
      parking.refresh()
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
      alerts.start()
      // Wall-clock work of the rules: stale sensors, escalation timeouts, held notifications.
      alertTimer = setInterval(() => {
        applyConditions(rulesEngine.tick(clock.now()))
        alerts.tick()
      }, 5_000)
      alertTimer.unref()
      started = true
      log.info({ http: `http://${config.httpHost}:${httpPort}`, mqtt: broker.kind === 'embedded' ? `mqtt://${config.mqttHost}:${(broker as EmbeddedBroker).port}` : config.mqttUrl, sensors: registry.registry.sensors.length, code: runningCode() }, 'citywater started')
    },
    async close() {
      if (closing) return
      closing = true
      hub.close()
      indexUpdates.unsubscribe()
      zoneAlertChanges.unsubscribe()
      clearInterval(alertTimer)
      indices.close()
      await parking.close()
      await alerts.close().catch((err: unknown) => log.warn({ err }, 'alert manager close failed'))
      await broker.close().catch((err: unknown) => log.warn({ err }, 'broker close failed'))
      // fastify closes idle keep-alive connections at once; a client that stopped reading a response holds
      // its connection busy, so after a grace period every connection still open is cut.
      const cut = setTimeout(() => api.server.closeAllConnections(), API_CLOSE_GRACE_MS)
      await api.close().catch((err: unknown) => log.warn({ err }, 'api close failed'))
      clearTimeout(cut)
      // The writer drains what the log holds (up to its close timeout) before the log writes its checkpoint.
      await writer.close().catch((err: unknown) => log.warn({ err }, 'writer close failed'))
      await wal.close().catch((err: unknown) => log.warn({ err }, 'wal close failed'))
      await deadLetters.close()
      alertStore.noteSeq(hub.seq)
      alertStore.close()
      loopDelay.disable()
      log.info('citywater stopped')
    },
  }
}

/** What PUT /api/rules changed, by rule id: added, removed and changed rules, and whether the settings changed. */
function ruleDiff(before: RuleSet, after: RuleSet): { added: string[]; removed: string[]; changed: string[]; settingsChanged: boolean } {
  const byId = (set: RuleSet) => new Map(set.rules.map((r) => [r.id, JSON.stringify(r)]))
  const a = byId(before)
  const b = byId(after)
  const { rules: _before, ...settingsBefore } = before
  const { rules: _after, ...settingsAfter } = after
  return {
    added: [...b.keys()].filter((id) => !a.has(id)),
    removed: [...a.keys()].filter((id) => !b.has(id)),
    changed: [...b.keys()].filter((id) => a.has(id) && a.get(id) !== b.get(id)),
    settingsChanged: JSON.stringify(settingsBefore) !== JSON.stringify(settingsAfter),
  }
}
