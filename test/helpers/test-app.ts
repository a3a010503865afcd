import { randomBytes } from 'node:crypto'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import mqtt, { type MqttClient } from 'mqtt'
import { pino } from 'pino'
import { inject } from 'vitest'
import { buildApp, type App, type AppOverrides } from '../../app.js'
import { buildConfig, type Config } from '../../config.js'
import { createExternalBroker } from '../../ingest/external-broker.js'
import { createInfluxQuery, type InfluxQuery } from '../../storage/influx-query.js'

/** A running engine for a test, with its private database and data dir. */
export interface TestApp {
  app: App
  config: Config
  /** http://127.0.0.1:PORT */
  http: string
  /** ws://127.0.0.1:PORT/ws */
  ws: string
  /** The broker sensors publish to. */
  mqttUrl: string
  influx: InfluxQuery
  /** Connects an mqtt.js client to the engine's broker. */
  client(options?: mqtt.IClientOptions): Promise<MqttClient>
  close(): Promise<void>
}

/** Starts an engine on free ports with a fresh database and data dir; `external` uses the private Mosquitto. */
export async function startTestApp(options: { external?: boolean; config?: Partial<Config>; overrides?: AppOverrides } = {}): Promise<TestApp> {
  const dataDir = options.config?.dataDir ?? mkdtempSync(join(tmpdir(), 'cw-app-'))
  const database = `t_${randomBytes(6).toString('hex')}`
  const mosquittoUrl = inject('mosquittoUrl')
  const config: Config = {
    ...buildConfig({}),
    mqttPort: 0,
    httpPort: 0,
    influxUrl: inject('influxUrl'),
    influxDb: database,
    dataDir,
    logLevel: 'silent',
    ...(options.external ? { mqttUrl: mosquittoUrl } : {}),
    ...options.config,
  }
  const brokerUrl = config.mqttUrl ?? mosquittoUrl
  const logger = pino({ level: process.env.CITYWATER_TEST_LOG ?? 'silent' })
  const overrides: AppOverrides = { logger, ...options.overrides }
  if (options.external && overrides.broker === undefined) {
    overrides.broker = createExternalBroker({ url: brokerUrl, clientId: `cw-test-${database}`, logger, reconnectPeriodMs: 100 })
  }
  const app = await buildApp(config, overrides)
  await app.start()
  const mqttUrl = options.external ? brokerUrl : `mqtt://127.0.0.1:${app.mqttPort}`
  const clients: MqttClient[] = []
  return {
    app,
    config,
    http: `http://127.0.0.1:${app.httpPort}`,
    ws: `ws://127.0.0.1:${app.httpPort}/ws`,
    mqttUrl,
    influx: createInfluxQuery({ url: config.influxUrl, database: config.influxDb }),
    async client(clientOptions = {}) {
      const client = await mqtt.connectAsync(mqttUrl, { reconnectPeriod: 0, ...clientOptions })
      clients.push(client)
      return client
    },
    async close() {
      await Promise.all(clients.map((c) => c.endAsync(true)))
      await app.close()
      // A data dir the caller passed in is theirs to keep (restart tests).
      if (options.config?.dataDir === undefined) rmSync(dataDir, { recursive: true, force: true })
    },
  }
}
