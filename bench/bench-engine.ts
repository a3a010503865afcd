import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { spawnJson, type JsonChild } from './child-process.js'
import { procStats, type ProcStats } from './proc-stats.js'

/** Options of an engine started for the benchmark. */
export interface BenchEngineOptions {
  /** Registry file. */
  registry: string
  /** InfluxDB base URL; a closed port pauses the writer (ingest only: the log fills, nothing drains). */
  influxUrl: string
  /** Database. */
  influxDb: string
  /** Extra node options, e.g. `--cpu-prof`. */
  nodeArgs?: readonly string[]
  /** Deadline for the 'citywater started' log line, ms; default 60000. */
  startTimeoutMs?: number
}

/** An engine in its own process, measured from outside through /proc and its /metrics. */
export interface BenchEngine {
  readonly pid: number
  readonly httpUrl: string
  readonly mqttUrl: string
  readonly process: JsonChild
  /** Unlabelled samples of /metrics by name (labelled ones summed). */
  metrics(): Promise<Map<string, number>>
  stats(): ProcStats | null
  /** SIGTERM (the engine drains and checkpoints) or `signal`, then removes its data dir. */
  stop(signal?: NodeJS.Signals): Promise<void>
}

/** Starts `citywater start` with an embedded broker on a free port and a fresh data dir. */
export async function startBenchEngine(options: BenchEngineOptions): Promise<BenchEngine> {
  const dataDir = await mkdtemp(join(tmpdir(), 'citywater-bench-'))
  const env = {
    CITYWATER_LOG_LEVEL: 'info',
    CITYWATER_DATA_DIR: dataDir,
    CITYWATER_MQTT_PORT: '0',
    CITYWATER_HTTP_PORT: '0',
    CITYWATER_REGISTRY: options.registry,
    CITYWATER_INFLUX_URL: options.influxUrl,
    CITYWATER_INFLUX_DB: options.influxDb,
    CITYWATER_INFLUX_MAX_BACKOFF_MS: '1000',
    CITYWATER_WAL_MAX_BYTES: String(8 * 2 ** 30),
  }
  const child = spawnJson('bin/citywater.js', ['start'], { env, ...(options.nodeArgs !== undefined ? { nodeArgs: options.nodeArgs } : {}) })
  let started: Record<string, unknown>
  try {
    started = await child.line((l) => l.msg === 'citywater started', options.startTimeoutMs ?? 60_000, 'engine start')
  } catch (err) {
    await child.stop('SIGKILL')
    await rm(dataDir, { recursive: true, force: true })
    throw err
  }
  const httpUrl = started.http as string
  return {
    pid: child.pid,
    httpUrl,
    mqttUrl: started.mqtt as string,
    process: child,
    async metrics() {
      const res = await fetch(`${httpUrl}/metrics`, { signal: AbortSignal.timeout(10_000) })
      const text = await res.text()
      const out = new Map<string, number>()
      for (const line of text.split('\n')) {
        if (line === '' || line.startsWith('#')) continue
        const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})? (\S+)$/.exec(line)
        if (m === null) continue
        const name = m[1] as string
        out.set(name, (out.get(name) ?? 0) + Number(m[3]))
      }
      return out
    },
    stats: () => procStats(child.pid),
    async stop(signal = 'SIGTERM') {
      await child.stop(signal, 30_000)
      await rm(dataDir, { recursive: true, force: true })
    },
  }
}
