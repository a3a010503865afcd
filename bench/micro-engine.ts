// The engine the in-process micro-benchmarks drive: the whole app behind the in-memory broker, its writer paused
// (InfluxDB on a closed port, as in the benchmark's "ingest only"), logging off, the log bounded at 8 GiB.
import { join } from 'node:path'
import { pino } from 'pino'
import { buildApp, type App } from '../app.js'
import { buildConfig } from '../config.js'
import { createMemoryBroker, type MemoryBroker } from '../ingest/memory-broker.js'

/** Builds and starts the app with the registry file `registry`, its data under `dir`. */
export async function startMicroEngine(dir: string, registry: string): Promise<{ app: App; broker: MemoryBroker }> {
  const broker = createMemoryBroker()
  const config = {
    ...buildConfig({}),
    registry,
    dataDir: join(dir, 'data'),
    mqttPort: 0,
    httpPort: 0,
    influxUrl: 'http://127.0.0.1:9',
    influxDb: 'micro',
    logLevel: 'silent' as const,
    walMaxBytes: 8 * 2 ** 30,
  }
  const app = await buildApp(config, { broker, logger: pino({ level: 'silent' }) })
  await app.start()
  return { app, broker }
}
