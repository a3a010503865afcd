import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { SENSOR_KINDS } from '../domain.js'
import { AppError } from '../errors.js'
import { continuousQueries, ensureDatabase } from '../storage/influx-admin.js'
import { influxStatements } from '../storage/influx-http.js'
import { benchDistrict, benchRegistry } from './bench-registry.js'
import { startBenchEngine, type BenchEngine } from './bench-engine.js'
import { spawnJson, type JsonChild } from './child-process.js'
import { freePort } from './managed-process.js'
import { startInfluxd, type Influxd } from './influxd.js'
import { calibrate } from './calibrate.js'
import { machineInfo, procStats } from './proc-stats.js'

/** How long each part of the benchmark runs; `quick` fits in 2 minutes, `smoke` only proves the harness. */
export interface BenchProfile {
  /** Wall-clock seconds publishers run flat out in each throughput phase. */
  windowS: number
  /** Points "InfluxDB alone" writes. */
  influxPoints: number
  /** Seconds of the latency phase (of which the first LATENCY_WARMUP_S are not measured). */
  latencyS: number
  /** Event-time seconds of readings the naive baseline gets (a fifth of the throughput registry's sensors each). */
  baselineEventS: number
  /** Copies of the Xihu sample in the 100k-sensor registry (247 copies: 100,035 sensors). */
  bigCopies: number
  /** Readings per sensor sent to the 100k-sensor engine. */
  bigReadingsPerSensor: number
  /** Wall-clock seconds of the memory soak at 80 % of the end-to-end QoS 1 rate; 0 skips it. */
  soakS: number
  /**
   * How long a phase's `DROP DATABASE` may take before the run goes on without it (dropPhaseDatabase). A quick run's
   * drops answer within seconds; after the full run's soak (ten million points and more) one took minutes.
   */
  dropDeadlineS: number
}

/** The profiles `--smoke`, `--quick` and the full run use. */
export const BENCH_PROFILES = {
  smoke: { windowS: 1, influxPoints: 20_000, latencyS: 3, baselineEventS: 1, bigCopies: 5, bigReadingsPerSensor: 1, soakS: 3, dropDeadlineS: 60 },
  quick: { windowS: 2.5, influxPoints: 150_000, latencyS: 8, baselineEventS: 1, bigCopies: 247, bigReadingsPerSensor: 1, soakS: 0, dropDeadlineS: 60 },
  full: { windowS: 20, influxPoints: 2_000_000, latencyS: 30, baselineEventS: 10, bigCopies: 247, bigReadingsPerSensor: 5, soakS: 600, dropDeadlineS: 300 },
} as const satisfies Record<string, BenchProfile>

/** Options of one benchmark run. */
export interface BenchOptions {
  profile: BenchProfile
  /** Copies of the Xihu sample in the throughput registry; default 25 (10,125 sensors in 25 districts). */
  copies?: number
  /** Publisher processes per single-reading phase; default 2. */
  publishers?: number
  /** Websocket clients subscribed to everything during the end-to-end phases; default 3. */
  wsClients?: number
  /** Directory for `--cpu-prof` profiles of the engines; unset: no profiling. */
  profileDir?: string
  /** Phases to run (default all): influx, ingest, e2e, latency, soak, big, baseline. */
  phases?: ReadonlySet<string>
  /** Progress lines (stderr). */
  log: (line: string) => void
}

type Mode = 'qos0' | 'qos1' | 'batched'

/** The memory soak: RSS sampled while the engine takes a steady load, and whether it stays flat. */
export interface SoakResult {
  seconds: number
  /** Offered messages per second (80 % of the end-to-end QoS 1 rate), one reading each, every sensor at its registry interval. */
  ratePerS: number
  readings: number
  rssFirstMb: number
  rssLastMb: number
  /** Least-squares slope of RSS over the soak after its first fifth (warm-up), MB per minute. */
  slopeMbPerMin: number
  /** The slope over the measured span adds at most max(5 % of the mean RSS, 20 MB). */
  flat: boolean
  /**
   * The engine's V8 heap in use at the start and the end (its `/metrics`), MB: what of the RSS is JavaScript objects
   * (live or not yet collected); the rest is the heap's reserve, buffers and native memory.
   */
  heapUsedFirstMb: number
  heapUsedLastMb: number
  /** RSS at the end of each whole minute of the soak, MB. */
  rssByMinuteMb: number[]
  /** Event-time seconds per wall-clock second of the soak's publisher. */
  eventSpeed: number
  /** Readings per second the publisher got acknowledged, first publish to last acknowledgement. */
  achievedPerS: number
  /** Readings counted in InfluxDB over the soak's event time, once the writer has drained. */
  stored: number
  /** Every acknowledged reading stored, none beyond those published. */
  zeroLoss: boolean
}

/** Readings per event-time second of a registry whose sensors each report at their `intervalS`. */
export function registryReadingsPerS(sensors: readonly { intervalS: number }[]): number {
  return sensors.reduce((sum, s) => sum + 1 / s.intervalS, 0)
}

/** Least-squares slope and flatness of RSS samples `[seconds, MB]`, the first fifth (warm-up) left out. */
export function rssTrend(samples: readonly (readonly [number, number])[]): { slopeMbPerMin: number; flat: boolean } {
  const measured = samples.slice(Math.floor(samples.length / 5))
  if (measured.length < 2) return { slopeMbPerMin: 0, flat: true }
  const n = measured.length
  const mx = measured.reduce((a, [x]) => a + x, 0) / n
  const my = measured.reduce((a, [, y]) => a + y, 0) / n
  const sxx = measured.reduce((a, [x]) => a + (x - mx) ** 2, 0)
  const sxy = measured.reduce((a, [x, y]) => a + (x - mx) * (y - my), 0)
  const slopePerS = sxx === 0 ? 0 : sxy / sxx
  const span = (measured[n - 1] as readonly [number, number])[0] - (measured[0] as readonly [number, number])[0]
  return { slopeMbPerMin: Number((slopePerS * 60).toFixed(2)), flat: slopePerS * span <= Math.max(0.05 * my, 20) }
}

/** One throughput measurement. */
export interface PhaseResult {
  /** Messages (single readings) or readings (batches) per second from the first publish to the last one stored. */
  rate: number
  readings: number
  messages: number
  seconds: number
  /** End to end: readings counted in InfluxDB for the phase (null for ingest only). */
  stored: number | null
  /** End to end: stored equals published. */
  zeroLoss: boolean | null
  /** Engine CPU per 1,000 readings, ms. */
  cpuMsPer1k: number
  /**
   * End to end and the baseline: InfluxDB's CPU over the phase per 1,000 readings, ms (null for ingest only). With the
   * engine, the publishers and InfluxDB on the same cores, what each takes shows where the end-to-end rate goes.
   */
  influxCpuMsPer1k: number | null
  /**
   * End to end: continuous-query runs InfluxDB completed during the phase (null for ingest only). The rollups
   * re-aggregate two hours of raw points each run (SPEC §10), which shows in InfluxDB's CPU.
   */
  continuousQueries: number | null
  /** The publisher processes' CPU from their start signal to their stop signal, per 1,000 readings they published, ms (null for the baseline's). */
  publishersCpuMsPer1k: number | null
  /** End to end: the websocket clients' process, its CPU over the phase per 1,000 readings, ms (null without clients). */
  clientsCpuMsPer1k: number | null
  /**
   * The engine's write-ahead log over the phase: its group commits (one write and one fdatasync each) and their
   * fdatasync's mean latency, ms (null when it made none). At QoS 1 a message waits for the commit running when it
   * arrives and then for its own, so these say how much of a publisher's in-flight window the disk holds. Null for
   * the baseline, which keeps no log (and the mean when no commit ran).
   */
  logCommits: number | null
  fsyncMeanMs: number | null
}

/** Everything the run measured; `summary` is the JSON line. */
export interface BenchResult {
  summary: {
    /** `calibrationMs`: CPU time of a fixed workload at the run's start and end (bench/calibrate.ts); lower is faster. */
    machine: ReturnType<typeof machineInfo> & { influxdb: string; calibrationMs: { start: number; end: number } }
    influxAlone: { pointsPerS: number }
    engine: {
      qos0: number
      qos1: number
      batched: number
      ingestOnly: { qos0: number; qos1: number; batched: number }
      /**
       * End to end, the rate the machine's cores allow if the engine added no CPU of its own: cores divided by the CPU per
       * reading of the engine ingesting only, InfluxDB alone, and the end-to-end phase's publishers and websocket
       * clients (null unless the influx, ingest and e2e phases all ran). Not a target of the issue: it shows how much
       * of the gap to the ceilings is the two cores being shared.
       */
      machineCeiling: { qos0: number; qos1: number; batched: number } | null
      latencyMs: { p50: number; p99: number }
      /** The memory soak (full run only; null when skipped). */
      soak: SoakResult | null
      rssMb: number
      rssMb100kSensors: number
      cpuMsPer1kReadings: number
      zeroLoss: boolean
    }
    baseline: { qos1: number; cpuMsPer1kReadings: number; zeroLoss: boolean }
  }
  phases: Record<string, PhaseResult>
}

const MODES: Record<Mode, { qos: 0 | 1; batch: number }> = { qos0: { qos: 0, batch: 1 }, qos1: { qos: 1, batch: 1 }, batched: { qos: 1, batch: 100 } }
/** Event-time seconds between two readings of a sensor in the load scenario (its default). */
const INTERVAL_S = 1
/** Event-time speed of the flat-out publishers: pacing never holds them back (their event time stays in the past). */
const FLAT_OUT_SPEED = 1000
/** Wall-clock seconds the soak's publisher may run past the soak's length, which its event time allows for. */
const SOAK_OVERRUN_S = 30
/** Seconds of the latency run not measured: the probe's connections and the JIT warming up. */
const LATENCY_WARMUP_S = 2
/**
 * Messages the soak's one publisher may have awaiting their PUBACK. It stands for 10,125 sensors, each with at most one
 * message in flight; with the simulator's default of 1,000 the acknowledgement latency of a loaded engine (about 130 ms
 * of group commit and queueing) capped it below the rate it was asked for.
 */
const SOAK_MAX_INFLIGHT = 5000
const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms))

/** Polls `probe` every `everyMs` until it returns a value; rejects after `timeoutMs` naming `what`. */
async function until<T>(probe: () => Promise<T | undefined>, what: string, timeoutMs: number, everyMs = 50): Promise<T> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const value = await probe()
    if (value !== undefined) return value
    if (Date.now() > deadline) throw new Error(`benchmark: ${what} did not happen within ${timeoutMs / 1000} s`)
    await sleep(everyMs)
  }
}

/** Milliseconds of CPU per 1,000 readings, to one decimal. */
function per1k(cpuMs: number, readings: number): number {
  return Number(((cpuMs * 1000) / Math.max(1, readings)).toFixed(1))
}

/**
 * Readings (or messages) per second that `cores` allow when every reading costs the ingest-only engine's CPU, InfluxDB
 * alone's CPU per point, and the end-to-end phase's publishers' and websocket clients' CPU.
 */
export function cpuCeiling(cores: number, phases: Record<string, PhaseResult>, mode: Mode, influxAloneCpuPer1k: number): number {
  const ingest = phases[`ingest-only ${mode}`]
  const e2e = phases[`end-to-end ${mode}`]
  if (ingest === undefined || e2e === undefined) return Number.NaN
  const msPer1k = ingest.cpuMsPer1k + influxAloneCpuPer1k + (e2e.publishersCpuMsPer1k ?? 0) + (e2e.clientsCpuMsPer1k ?? 0)
  return Math.round((cores * 1_000_000) / Math.max(0.001, msPer1k))
}

/** Where an engine's drain stands: what it accepted and still has to write, and what it refused or dropped. */
interface DrainState {
  accepted: number
  backlog: number
  rejected: number
  duplicates: number
}

async function drainState(engine: BenchEngine): Promise<DrainState> {
  const m = await engine.metrics()
  return {
    accepted: m.get('citywater_readings_accepted_total') ?? 0,
    backlog: m.get('citywater_influx_backlog_points') ?? Number.NaN,
    rejected: m.get('citywater_readings_rejected_total') ?? 0,
    duplicates: m.get('citywater_readings_duplicate_total') ?? 0,
  }
}

/** A drain's state for a timeout's error, so the next run's diagnosis knows where it stuck. */
function drainReport(state: DrainState): string {
  return `accepted ${state.accepted}, InfluxDB backlog ${state.backlog}, rejected ${state.rejected}, duplicates ${state.duplicates}`
}

/** Continuous-query runs InfluxDB has completed since it started (`SHOW STATS FOR 'cq'`, queryOk plus queryFail). */
async function continuousQueryRuns(url: string): Promise<number> {
  const [result] = await influxStatements({ url, database: '', timeoutMs: 30_000 }, "SHOW STATS FOR 'cq'")
  const series = result?.series?.[0]
  const row = series?.values?.[0] ?? []
  let n = 0
  series?.columns.forEach((column, i) => {
    if (column === 'queryOk' || column === 'queryFail') n += Number(row[i] ?? 0)
  })
  return n
}

/** Readings stored in `database` with `from ≤ time < to` over every sensor-kind measurement. */
async function countStored(url: string, database: string, from: number, to: number, field = '"quality"'): Promise<number> {
  const q = `SELECT count(${field}) FROM "autogen"./^(${SENSOR_KINDS.join('|')})$/ WHERE time >= ${from}ms AND time < ${to}ms`
  const [result] = await influxStatements({ url, database, timeoutMs: 60_000 }, q, { epoch: 'ms', db: database })
  if (result?.error !== undefined) throw new Error(`benchmark: counting stored readings failed: ${result.error}`)
  let n = 0
  // With count(*) a row holds one count per field: a point is counted once, by its most frequent field.
  for (const s of result?.series ?? []) for (const row of s.values ?? []) n += Math.max(0, ...row.slice(1).map((v) => Number(v ?? 0)))
  return n
}

interface SimulatorSummary {
  published: number
  readings: number
  readingsAcknowledged: number
  readingsFailed: number
  firstPublishAt: number | null
  lastSettledAt: number | null
  firstTs: number | null
  lastTs: number | null
}

/**
 * Drops a measured phase's database, so InfluxDB does not compact it during a later phase; a slow drop is logged with
 * its time. InfluxDB at times gives a drop no answer at all (twice in sixteen quick runs, with at most a few hundred
 * thousand points to drop): a drop not answered within `timeoutMs` is logged, with whether InfluxDB still answers a
 * ping, and left behind, and the run goes on (the later phases write databases of their own). Returns whether the
 * drop was answered. A drop InfluxDB refuses, or an InfluxDB that cannot be reached, throws.
 */
export async function dropPhaseDatabase(url: string, database: string, timeoutMs: number, log: (line: string) => void): Promise<boolean> {
  const started = performance.now()
  let dropped: { error?: string } | undefined
  try {
    ;[dropped] = await influxStatements({ url, database, timeoutMs }, `DROP DATABASE "${database}"`, { db: database })
  } catch (err) {
    if (!(err instanceof AppError && err.code === 'CW_ERR_INFLUX_UNAVAILABLE' && err.message.includes('no answer within'))) throw err
    const pingStarted = performance.now()
    const ping = await fetch(`${url}/ping`, { signal: AbortSignal.timeout(5_000) }).then(
      (res) => (res.ok ? `answered a ping in ${Math.round(performance.now() - pingStarted)} ms` : `answered a ping with HTTP ${res.status}`),
      () => 'gave a ping no answer within 5 s either',
    )
    log(`InfluxDB gave DROP DATABASE ${database} no answer within ${timeoutMs / 1000} s (it ${ping}); going on, that database left behind`)
    return false
  }
  if (dropped?.error !== undefined) throw new Error(`benchmark: dropping database ${database} failed: ${dropped.error}`)
  const seconds = (performance.now() - started) / 1000
  if (seconds > 10) log(`dropping database ${database} took ${seconds.toFixed(0)} s`)
  return true
}

/** Runs the whole benchmark and returns its figures; every process it started is stopped, every temp dir removed. */
export async function runBench(options: BenchOptions): Promise<BenchResult> {
  const { profile, log } = options
  const copies = options.copies ?? 25
  const publishers = options.publishers ?? 2
  const wsClients = options.wsClients ?? 3
  const want = (phase: string): boolean => options.phases === undefined || options.phases.has(phase)
  const dir = await mkdtemp(join(tmpdir(), 'citywater-bench-'))
  const cleanups: (() => Promise<unknown>)[] = []
  const phases: Record<string, PhaseResult> = {}
  const nodeArgs = (name: string): string[] => (options.profileDir !== undefined ? ['--cpu-prof', `--cpu-prof-dir=${options.profileDir}`] : [])
  // Event time of the next phase's first reading: phases never share a (sensor, ts), and every ts lies in the past.
  // Far enough back for every phase's event time (10,125 readings per event-second), within the 2 h after which the
  // writer backfills rollups.
  let nextStart = Date.now() - 100 * 60_000

  try {
    const calibrationStart = calibrate()
    log(`calibration: ${calibrationStart} ms of CPU for a fixed workload (lower is a faster machine)`)
    log('starting a private InfluxDB')
    const influxd: Influxd = await startInfluxd({ cqRunInterval: '10s' })
    cleanups.push(() => influxd.stop())
    const influxUrl = influxd.url
    /** InfluxDB's CPU time so far, ms (0 when it cannot be read). */
    const influxCpuMs = (): number => (influxd.pid === undefined ? 0 : (procStats(influxd.pid)?.cpuMs ?? 0))
    const influxVersion = (await fetch(`${influxUrl}/ping`)).headers.get('x-influxdb-version') ?? 'unknown'
    const dropDatabase = async (database: string): Promise<void> => {
      await dropPhaseDatabase(influxUrl, database, profile.dropDeadlineS * 1000, log)
    }

    // The throughput registry, and each publisher's share of its districts (disjoint sensors: no duplicates).
    const registryFile = join(dir, 'registry.json')
    await writeFile(registryFile, JSON.stringify(benchRegistry(copies)))
    const shareFiles = async (n: number): Promise<string[]> => {
      const files: string[] = []
      for (let p = 0; p < n; p++) {
        const districts = new Set(Array.from({ length: copies }, (_, c) => c).filter((c) => c % n === p).map(benchDistrict))
        const file = join(dir, `registry-${n}-${p}.json`)
        await writeFile(file, JSON.stringify(benchRegistry(copies, districts)))
        files.push(file)
      }
      return files
    }
    const shares = new Map<number, string[]>()
    const shareOf = async (n: number): Promise<string[]> => {
      let files = shares.get(n)
      if (files === undefined) shares.set(n, (files = await shareFiles(n)))
      return files
    }

    /** Publishes flat out with `count` simulator processes for the window, stops them, returns their summaries. */
    const drive = async (engine: { mqttUrl: string; seen: () => Promise<number> }, mode: Mode, count: number, windowS: number): Promise<{ summaries: SimulatorSummary[]; from: number; to: number; publishersCpuMs: number }> => {
      const { qos, batch } = MODES[mode]
      const start = nextStart
      const files = await shareOf(count)
      // Each publisher connects, says it is ready and waits: they start together, so the measured span (from the
      // first publish) holds no publisher still starting up (over 800 ms apart when each started on its own).
      const sims: JsonChild[] = files.map((file) =>
        spawnJson('bin/citywater.js', [
          'simulate', '--broker', engine.mqttUrl, '--scenario', 'load', '--interval', String(INTERVAL_S), '--batch', String(batch),
          '--qos', String(qos), '--start', String(start), '--speed', String(FLAT_OUT_SPEED), '--registry', file, '--json', '--wait-go',
        ], { stdin: true }),
      )
      // Their CPU from 'go' to the stop signal: publishing only, not their start-up nor the wait for the last PUBACKs.
      const simsCpuMs = (): number => sims.reduce((ms, s) => ms + (procStats(s.pid)?.cpuMs ?? 0), 0)
      let publishersCpuMs = 0
      try {
        await Promise.all(sims.map((s) => s.line((l) => l.ready === true, 60_000, 'a publisher connecting')))
        publishersCpuMs = -simsCpuMs()
        for (const s of sims) s.child.stdin?.end('go\n')
        const before = await engine.seen()
        await until(async () => ((await engine.seen()) > before ? true : undefined), 'the first reading of the publishers', 30_000)
        await sleep(windowS * 1000)
        publishersCpuMs += simsCpuMs()
      } finally {
        for (const s of sims) s.child.kill('SIGINT')
      }
      const summaries: SimulatorSummary[] = []
      for (const s of sims) {
        await s.exited
        const line = s.lines.find((l) => 'readings' in l)
        // Stopped while still booting, before its signal handler (installed before it connects): it published nothing.
        if (line === undefined && s.child.signalCode === 'SIGINT') continue
        if (line === undefined) throw new Error(`benchmark: a publisher printed no summary: ${s.stderr()}`)
        summaries.push(line as unknown as SimulatorSummary)
      }
      const to = Math.max(start, ...summaries.map((s) => s.lastTs ?? start)) + 1
      nextStart = to + 1000
      return { summaries, from: start, to, publishersCpuMs }
    }

    /**
     * Before a phase's clock starts, one reading from every sensor in gateway batches at QoS 1 (and, end to end, stored):
     * a running engine has met its sensors, while a fresh one spends its first seconds creating every sensor's state
     * in every stage (and warming its JIT), which a short phase would measure instead of the sustained rate.
     * The readings' event time is `at` when given, else the next phase's start (which then moves past them).
     */
    const warm = async (engine: BenchEngine, endToEnd: boolean, at?: number): Promise<void> => {
      const start = at ?? nextStart
      const sim = spawnJson('bin/citywater.js', ['simulate', '--broker', engine.mqttUrl, '--scenario', 'load', '--interval', String(INTERVAL_S), '--batch', '100', '--qos', '1', '--start', String(start), '--speed', '1000', '--duration', String(INTERVAL_S / 1000), '--registry', registryFile, '--json'])
      const line = await sim.line((l) => 'readings' in l, 120_000, 'the warm-up publisher')
      if (at === undefined) nextStart = start + INTERVAL_S * 1000 + 1000
      const readings = line.readingsAcknowledged as number
      await until(
        async () => {
          const m = await engine.metrics()
          return (m.get('citywater_readings_accepted_total') ?? 0) >= readings && (!endToEnd || m.get('citywater_influx_backlog_points') === 0) ? true : undefined
        },
        'the warm-up readings',
        120_000,
      )
    }

    /** The websocket clients subscribed to every channel of an engine (they count frames, never parse them). */
    const subscribeClients = async (engine: BenchEngine): Promise<JsonChild> => {
      const clients = spawnJson('bench/ws-clients.ts', [JSON.stringify({ httpUrl: engine.httpUrl, mqttUrl: engine.mqttUrl, registry: registryFile, clients: wsClients, rate: 0, durationS: 0, warmupS: 0 })])
      cleanups.push(() => clients.stop())
      await clients.line((l) => l.ready === true, 30_000, 'websocket clients')
      return clients
    }

    /** One flat-out phase: rate from the first publish until every reading is ingested (and, end to end, stored). */
    const throughput = async (engine: BenchEngine, mode: Mode, endToEnd: boolean, db: string, clients?: JsonChild): Promise<PhaseResult> => {
      const accepted = async (): Promise<number> => (await engine.metrics()).get('citywater_readings_accepted_total') ?? 0
      // The log's commits so far and their fdatasync seconds, from one reading of /metrics.
      const fsyncs = (m: Map<string, number>): { n: number; s: number } => ({ n: m.get('citywater_wal_fsync_duration_seconds_count') ?? 0, s: m.get('citywater_wal_fsync_duration_seconds_sum') ?? 0 })
      const metricsBefore = await engine.metrics()
      const acceptedBefore = metricsBefore.get('citywater_readings_accepted_total') ?? 0
      const fsyncsBefore = fsyncs(metricsBefore)
      const cpuBefore = engine.stats()?.cpuMs ?? 0
      const influxCpuBefore = influxCpuMs()
      const clientsCpuMs = (): number => (clients === undefined ? 0 : (procStats(clients.pid)?.cpuMs ?? 0))
      const clientsCpuBefore = clientsCpuMs()
      const cqBefore = endToEnd ? await continuousQueryRuns(influxUrl) : 0
      const count = MODES[mode].batch > 1 ? 1 : publishers
      const { summaries, from, to, publishersCpuMs } = await drive({ mqttUrl: engine.mqttUrl, seen: accepted }, mode, count, profile.windowS)
      // Acknowledged readings must all be kept; a reading whose PUBACK the drain did not wait for may be kept too.
      const readings = summaries.reduce((n, s) => n + (MODES[mode].qos === 0 ? s.readings : s.readingsAcknowledged), 0)
      const published = summaries.reduce((n, s) => n + s.readings, 0)
      const messages = summaries.reduce((n, s) => n + s.readings / MODES[mode].batch, 0)
      const firstAt = Math.min(...summaries.map((s) => s.firstPublishAt ?? Date.now()))
      let last: DrainState = { accepted: 0, backlog: Number.NaN, rejected: 0, duplicates: 0 }
      const endAt = await until(
        async () => {
          const state = await drainState(engine)
          last = { ...state, accepted: state.accepted - acceptedBefore }
          const ingested = last.accepted >= readings
          const drained = !endToEnd || last.backlog === 0
          return ingested && drained ? Date.now() : undefined
        },
        `${mode} ${endToEnd ? 'storing' : 'ingesting'} ${readings} readings`,
        300_000,
      ).catch((err: Error) => {
        throw new Error(`${err.message} (${drainReport(last)}; rejected and duplicates counted since the engine started)`)
      })
      const cpuMs = (engine.stats()?.cpuMs ?? cpuBefore) - cpuBefore
      const influxCpu = influxCpuMs() - influxCpuBefore
      const clientsCpu = clientsCpuMs() - clientsCpuBefore
      const fsyncsAfter = fsyncs(await engine.metrics())
      const logCommits = fsyncsAfter.n - fsyncsBefore.n
      const fsyncMeanMs = logCommits > 0 ? Number((((fsyncsAfter.s - fsyncsBefore.s) * 1000) / logCommits).toFixed(2)) : null
      const continuousQueries = endToEnd ? (await continuousQueryRuns(influxUrl)) - cqBefore : null
      const seconds = (endAt - firstAt) / 1000
      const stored = endToEnd ? await countStored(influxUrl, db, from, to) : null
      const perS = (MODES[mode].batch > 1 ? readings : messages) / seconds
      const zeroLoss = stored === null ? null : stored >= readings && stored <= published
      return { rate: Math.round(perS), readings, messages: Math.round(messages), seconds: Number(seconds.toFixed(2)), stored, zeroLoss, cpuMsPer1k: per1k(cpuMs, readings), influxCpuMsPer1k: endToEnd ? per1k(influxCpu, readings) : null, continuousQueries, publishersCpuMsPer1k: per1k(publishersCpuMs, published), clientsCpuMsPer1k: clients === undefined ? null : per1k(clientsCpu, readings), logCommits, fsyncMeanMs }
    }

    const report = (name: string, r: PhaseResult): void => {
      phases[name] = r
      const load = [...(r.publishersCpuMsPer1k === null ? [] : [`publishers ${r.publishersCpuMsPer1k}`]), ...(r.clientsCpuMsPer1k === null ? [] : [`websocket clients ${r.clientsCpuMsPer1k}`])]
      log(`${name}: ${r.rate.toLocaleString('en-US')}/s (${r.readings.toLocaleString('en-US')} readings in ${r.seconds} s, ${r.cpuMsPer1k} ms CPU per 1,000${r.stored === null ? '' : `, stored ${r.stored.toLocaleString('en-US')}${r.zeroLoss ? '' : ' LOSS'}`}${r.influxCpuMsPer1k === null ? '' : `; InfluxDB ${r.influxCpuMsPer1k} ms CPU per 1,000`}${r.continuousQueries === null ? '' : `, ${r.continuousQueries} continuous queries ran`}${load.length === 0 ? '' : `; ${load.join(', ')} ms CPU per 1,000`}${r.logCommits === null ? '' : `; log ${r.logCommits.toLocaleString('en-US')} commits${r.fsyncMeanMs === null ? '' : `, fdatasync ${r.fsyncMeanMs} ms mean`}`})`)
    }

    // 1. InfluxDB alone: the same points, straight to it.
    let influxAlone = 0
    let influxAloneCpuPer1k = Number.NaN
    if (want('influx')) {
      log('influxdb alone')
      const aloneCpuBefore = influxCpuMs()
      const alone = spawnJson('bench/influx-alone.ts', [JSON.stringify({ url: influxUrl, database: 'bench_alone', registry: registryFile, points: profile.influxPoints, start: nextStart, intervalS: INTERVAL_S, batchSize: 5000, inFlight: 1 })])
      const line = await alone.line((l) => 'pointsPerS' in l, 300_000, 'influxdb alone')
      influxAlone = line.pointsPerS as number
      const aloneCpuPer1k = per1k(influxCpuMs() - aloneCpuBefore, profile.influxPoints)
      influxAloneCpuPer1k = aloneCpuPer1k
      nextStart += Math.ceil(profile.influxPoints / (copies * 405)) * INTERVAL_S * 1000 + 1000
      // Measured: drop its data, or InfluxDB compacts it a few seconds later, at over a core for about seven
      // seconds, in the middle of the next phase (ingest only measured a third lower with it).
      await dropDatabase('bench_alone')
      log(`influxdb alone: ${influxAlone.toLocaleString('en-US')} points/s (InfluxDB ${aloneCpuPer1k} ms CPU per 1,000)`)
    }

    // 2. Ingest only: the writer paused (InfluxDB unreachable), the log on.
    const ingestOnly = { qos0: 0, qos1: 0, batched: 0 }
    if (want('ingest')) {
      log('ingest only (writer paused, log on)')
      const engine = await startBenchEngine({ registry: registryFile, influxUrl: `http://127.0.0.1:${await freePort()}`, influxDb: 'bench_ingest', nodeArgs: nodeArgs('engine-ingest-only') })
      try {
        await warm(engine, false)
        for (const mode of ['qos0', 'qos1', 'batched'] as const) {
          const r = await throughput(engine, mode, false, 'bench_ingest')
          report(`ingest-only ${mode}`, r)
          ingestOnly[mode] = r.rate
        }
      } finally {
        // Its log is thrown away: no need to give the paused writer its 10 s at shutdown, unless it is to write a profile.
        await engine.stop(options.profileDir === undefined ? 'SIGKILL' : undefined)
      }
    }

    // 3. End to end, with websocket clients subscribed to everything, then the latency at a fixed rate.
    const endToEnd = { qos0: 0, qos1: 0, batched: 0 }
    let latency = { p50: Number.NaN, p99: Number.NaN }
    let soak: SoakResult | null = null
    let rssMb = 0
    let e2eCpu = 0
    let zeroLoss = true
    if (want('e2e') || want('latency')) {
      log('end to end')
      const db = 'citywater'
      // The engine's database made first and its rollup queries' first runs let pass: a new database's queries all
      // run within seconds to a minute of its making, and those runs landed in the QoS 1 and batches phases of every
      // run. A running deployment meets them only at their five-minute boundaries (each phase logs how many ran).
      const cqBefore = await continuousQueryRuns(influxUrl)
      const cqStarted = performance.now()
      await ensureDatabase({ url: influxUrl, database: db })
      await until(async () => ((await continuousQueryRuns(influxUrl)) - cqBefore >= continuousQueries(db).length ? true : undefined), 'the rollup queries\' first runs', 120_000, 250)
      log(`the rollup queries' first runs passed in ${((performance.now() - cqStarted) / 1000).toFixed(1)} s`)
      const engine = await startBenchEngine({ registry: registryFile, influxUrl, influxDb: db, nodeArgs: nodeArgs('engine-end-to-end') })
      try {
        const clients = await subscribeClients(engine)
        await warm(engine, true)
        if (want('e2e')) {
          let cpu = 0
          let n = 0
          for (const mode of ['qos0', 'qos1', 'batched'] as const) {
            const r = await throughput(engine, mode, true, db, clients)
            report(`end-to-end ${mode}`, r)
            endToEnd[mode] = r.rate
            zeroLoss &&= r.zeroLoss === true
            cpu += r.cpuMsPer1k * r.readings
            n += r.readings
          }
          e2eCpu = Number((cpu / Math.max(1, n)).toFixed(1))
        }
        if (want('latency')) {
          log('latency at 5,000 messages/s')
          // The probe stamps its readings with the wall clock: bring the engine's event time there first, outside the
          // measured window (a reading from every sensor a minute back), so the catch-up is not what is measured.
          await warm(engine, true, Math.floor(Date.now() / 1000) * 1000 - 60_000)
          const probe = spawnJson('bench/ws-clients.ts', [JSON.stringify({ httpUrl: engine.httpUrl, mqttUrl: engine.mqttUrl, registry: registryFile, clients: 0, rate: 5000, durationS: profile.latencyS, warmupS: LATENCY_WARMUP_S })])
          const line = await probe.line((l) => 'p99' in l, (profile.latencyS + 60) * 1000, 'latency probe')
          latency = { p50: line.p50 as number, p99: line.p99 as number }
          log(`latency: p50 ${latency.p50} ms, p99 ${latency.p99} ms (${String(line.received)} of ${String(line.sent)} readings seen)`)
        }
        await clients.stop()
        rssMb = Math.round(engine.stats()?.peakRssMb ?? 0)
      } finally {
        await engine.stop()
      }
      await dropDatabase(db)
    }

    // 4. The memory soak, at 80 % of the sustained end-to-end QoS 1 rate: an engine of its own whose sensors report at
    // their registry intervals, event time running as fast as that rate needs (about 200x), so the windows of 2 to 3 h
    // are full within the first minute and those of 12 and 24 h (rain; the duplicate filter, the flat-line tests, which
    // hold little per sensor) within about 3 and 7 minutes, instead of filling for hours at one reading a second.
    if (want('soak') && profile.soakS > 0) {
      const ratePerS = Math.max(100, Math.round(0.8 * (endToEnd.qos1 > 0 ? endToEnd.qos1 : 2500)))
      const perEventS = registryReadingsPerS(benchRegistry(copies).sensors)
      const speed = ratePerS / perEventS
      // The last reading at least a minute before the clock: the event time the soak covers, plus what the publisher
      // may run past its time (it starts before the first reading is seen and stops at a signal), SOAK_OVERRUN_S of
      // wall time at the soak's speed, plus a minute. Without the overrun a loaded machine's fraction of a second took
      // a smoke soak's last readings past the engine's 5-minute future limit: refused as ts_future, yet acknowledged.
      const from = Math.floor((Date.now() - ((profile.soakS + SOAK_OVERRUN_S) * speed + 60) * 1000) / 1000) * 1000
      log(`memory soak: ${profile.soakS} s at ${ratePerS.toLocaleString('en-US')} messages/s, every sensor at its registry interval, event time at ${speed.toFixed(0)}x`)
      const db = 'bench_soak'
      const engine = await startBenchEngine({ registry: registryFile, influxUrl, influxDb: db, nodeArgs: nodeArgs('engine-soak') })
      try {
        const clients = await subscribeClients(engine)
        const metric = async (name: string): Promise<number> => (await engine.metrics()).get(name) ?? 0
        const heapUsedMb = async (): Promise<number> => Math.round((await metric('citywater_process_heap_used_bytes')) / 1e6)
        const heapUsedFirstMb = await heapUsedMb()
        const t0 = Date.now()
        const samples: [number, number][] = []
        const sample = (): void => {
          const rss = engine.stats()?.rssMb
          if (rss !== undefined) samples.push([(Date.now() - t0) / 1000, rss])
        }
        sample()
        const sampler = setInterval(sample, Math.max(250, (profile.soakS * 1000) / 120))
        // Once a minute, where the RSS is: the V8 heap reserved and in use, and memory outside the heap.
        const rssByMinuteMb: number[] = []
        const minutes = setInterval(() => {
          void engine.metrics().then(
            (m) => {
              const mbOf = (name: string): number => Math.round((m.get(name) ?? 0) / 1e6)
              const rss = Math.round(engine.stats()?.rssMb ?? 0)
              rssByMinuteMb.push(rss)
              log(`memory soak, minute ${rssByMinuteMb.length}: RSS ${rss} MB, V8 heap ${mbOf('citywater_process_heap_total_bytes')} MB reserved, ${mbOf('citywater_process_heap_used_bytes')} MB in use, ${mbOf('citywater_process_external_memory_bytes')} MB outside it`)
            },
            () => {},
          )
        }, 60_000)
        const sim = spawnJson('bin/citywater.js', [
          'simulate', '--broker', engine.mqttUrl, '--scenario', 'load', '--interval', 'registry', '--qos', '1', '--start', String(from),
          '--speed', String(speed), '--rate', String(ratePerS), '--max-inflight', String(SOAK_MAX_INFLIGHT), '--registry', registryFile, '--json',
        ])
        let summary: SimulatorSummary
        try {
          await until(async () => ((await metric('citywater_readings_accepted_total')) > 0 ? true : undefined), 'the first reading of the soak', 30_000)
          await sleep(profile.soakS * 1000)
          sim.child.kill('SIGINT')
          summary = (await sim.line((l) => 'readings' in l, 60_000, 'the soak publisher')) as unknown as SimulatorSummary
        } finally {
          clearInterval(sampler)
          clearInterval(minutes)
          sim.child.kill('SIGINT')
        }
        sample()
        const heapUsedLastMb = await heapUsedMb()
        const trend = rssTrend(samples)
        // Nothing lost: every acknowledged reading stored once the writer has drained.
        const readings = summary.readingsAcknowledged
        let last: DrainState = { accepted: 0, backlog: Number.NaN, rejected: 0, duplicates: 0 }
        await until(
          async () => {
            last = await drainState(engine)
            return last.accepted >= readings && last.backlog === 0 ? true : undefined
          },
          'the soak draining',
          300_000,
          200,
        ).catch((err: Error) => {
          throw new Error(`${err.message} (${readings} readings acknowledged; ${drainReport(last)})`)
        })
        const stored = await countStored(influxUrl, db, from, (summary.lastTs ?? from) + 1)
        soak = {
          seconds: Number((samples[samples.length - 1]?.[0] ?? 0).toFixed(1)),
          ratePerS,
          readings: summary.readings,
          eventSpeed: Number(speed.toFixed(1)),
          achievedPerS: Math.round(readings / Math.max(0.001, ((summary.lastSettledAt ?? Date.now()) - (summary.firstPublishAt ?? t0)) / 1000)),
          rssFirstMb: Math.round(samples[0]?.[1] ?? 0),
          rssLastMb: Math.round(samples[samples.length - 1]?.[1] ?? 0),
          ...trend,
          heapUsedFirstMb,
          heapUsedLastMb,
          rssByMinuteMb,
          stored,
          zeroLoss: stored >= readings && stored <= summary.readings,
        }
        zeroLoss &&= soak.zeroLoss
        log(`memory soak: ${soak.achievedPerS.toLocaleString('en-US')} readings/s acknowledged of ${ratePerS.toLocaleString('en-US')} offered`)
        log(`memory soak: RSS ${soak.rssFirstMb} -> ${soak.rssLastMb} MB, ${soak.slopeMbPerMin} MB/min, ${soak.flat ? 'flat' : 'GROWING'}; V8 heap in use ${soak.heapUsedFirstMb} -> ${soak.heapUsedLastMb} MB; stored ${stored.toLocaleString('en-US')} of ${readings.toLocaleString('en-US')} acknowledged${soak.zeroLoss ? '' : ' LOSS'}`)
        await clients.stop()
      } finally {
        await engine.stop()
      }
      await dropDatabase(db)
    }

    // 5. Peak RSS with 100,000 sensors: every sensor sends readings, in gateway batches, through the full pipeline.
    let rss100k = 0
    if (want('big')) {
      const bigFile = join(dir, 'registry-big.json')
      const big = benchRegistry(profile.bigCopies)
      await writeFile(bigFile, JSON.stringify(big))
      log(`${big.sensors.length.toLocaleString('en-US')} sensors`)
      const engine = await startBenchEngine({ registry: bigFile, influxUrl, influxDb: 'bench_big', nodeArgs: nodeArgs('engine-100k'), startTimeoutMs: 120_000 })
      try {
        const start = nextStart
        const durationS = profile.bigReadingsPerSensor * INTERVAL_S
        const sim = spawnJson('bin/citywater.js', ['simulate', '--broker', engine.mqttUrl, '--scenario', 'load', '--interval', String(INTERVAL_S), '--batch', '100', '--qos', '1', '--start', String(start), '--speed', '1000', '--duration', String(durationS / 1000), '--registry', bigFile, '--json'])
        const line = await sim.line((l) => 'readings' in l, 300_000, 'the 100k-sensor publisher')
        nextStart = start + durationS * 1000 + 1000
        const readings = line.readingsAcknowledged as number
        // Acknowledged means in the log and in live state: the memory is taken; InfluxDB may still be catching up.
        await until(async () => (((await engine.metrics()).get('citywater_readings_accepted_total') ?? 0) >= readings ? true : undefined), 'the 100k-sensor engine ingesting', 300_000, 200)
        rss100k = Math.round(engine.stats()?.peakRssMb ?? 0)
        log(`${big.sensors.length.toLocaleString('en-US')} sensors: ${readings.toLocaleString('en-US')} readings, peak RSS ${rss100k} MB`)
      } finally {
        await engine.stop()
      }
      await dropDatabase('bench_big')
    }

    // 6. The naive baseline: bare aedes, an mqtt.js subscriber writing each reading with the influx client.
    let baseline = { qos1: 0, cpuMsPer1kReadings: 0, zeroLoss: false }
    if (want('baseline')) {
      log('naive baseline (aedes + mqtt.js subscriber + influx client, one write per reading)')
      const broker = spawnJson('bench/aedes-broker.ts', [])
      cleanups.push(() => broker.stop())
      const { port } = (await broker.line((l) => 'port' in l, 30_000, 'baseline broker')) as { port: number }
      const mqttUrl = `mqtt://127.0.0.1:${port}`
      const subscriber = spawnJson('bench/baseline-subscriber.ts', [JSON.stringify({ broker: mqttUrl, influxUrl, database: 'bench_baseline', registry: registryFile })])
      cleanups.push(() => subscriber.stop())
      await subscriber.line((l) => l.ready === true, 30_000, 'baseline subscriber')
      const written = (): number => Number([...subscriber.lines].reverse().find((l) => 'written' in l)?.written ?? 0)
      const cpuBefore = (procStats(subscriber.pid)?.cpuMs ?? 0) + (procStats(broker.pid)?.cpuMs ?? 0)
      const influxCpuBefore = influxCpuMs()
      // A fixed count rather than a window: aedes acknowledges at once, so a window would queue far more than the
      // subscriber can write in the time the benchmark has. One publisher, a fifth of the districts.
      const [share] = await shareOf(5)
      const from = nextStart
      const sim = spawnJson('bin/citywater.js', ['simulate', '--broker', mqttUrl, '--scenario', 'load', '--interval', String(INTERVAL_S), '--qos', '1', '--start', String(from), '--speed', String(FLAT_OUT_SPEED), '--duration', String((profile.baselineEventS * INTERVAL_S) / FLAT_OUT_SPEED), '--registry', share as string, '--json'])
      const summary = (await sim.line((l) => 'readings' in l, 600_000, 'the baseline publisher')) as unknown as SimulatorSummary
      const to = (summary.lastTs ?? from) + 1
      nextStart = to + 1000
      const readings = summary.readingsAcknowledged
      const firstAt = summary.firstPublishAt ?? Date.now()
      const endAt = await until(async () => (written() >= readings ? Date.now() : undefined), 'the baseline writing every reading', 600_000, 100)
      const cpuMs = (procStats(subscriber.pid)?.cpuMs ?? 0) + (procStats(broker.pid)?.cpuMs ?? 0) - cpuBefore
      const influxCpu = influxCpuMs() - influxCpuBefore
      // The baseline stores no quality field: every sensor kind has one required field, counted through count(*).
      const stored = await countStored(influxUrl, 'bench_baseline', from, to, '*')
      const seconds = (endAt - firstAt) / 1000
      const r: PhaseResult = { rate: Math.round(readings / seconds), readings, messages: readings, seconds: Number(seconds.toFixed(2)), stored, zeroLoss: stored === readings, cpuMsPer1k: per1k(cpuMs, readings), influxCpuMsPer1k: per1k(influxCpu, readings), continuousQueries: null, publishersCpuMsPer1k: null, clientsCpuMsPer1k: null, logCommits: null, fsyncMeanMs: null }
      report('baseline qos1', r)
      baseline = { qos1: r.rate, cpuMsPer1kReadings: r.cpuMsPer1k, zeroLoss: r.zeroLoss === true }
      await subscriber.stop()
      await broker.stop()
    }

    // 7. What the machine's cores allow end to end: each mode's CPU per reading as the ceilings measured it (the
    // engine ingesting only, InfluxDB alone) plus the load the end-to-end phase carried (its publishers and websocket
    // clients), all sharing the cores.
    const cores = machineInfo().cores
    const machineCeiling: { qos0: number; qos1: number; batched: number } | null = (['qos0', 'qos1', 'batched'] as const).every((m) => phases[`ingest-only ${m}`] !== undefined && phases[`end-to-end ${m}`] !== undefined) && Number.isFinite(influxAloneCpuPer1k)
      ? {
          qos0: cpuCeiling(cores, phases, 'qos0', influxAloneCpuPer1k),
          qos1: cpuCeiling(cores, phases, 'qos1', influxAloneCpuPer1k),
          batched: cpuCeiling(cores, phases, 'batched', influxAloneCpuPer1k),
        }
      : null
    if (machineCeiling !== null) log(`what ${cores} cores allow end to end: ${machineCeiling.qos0.toLocaleString('en-US')} / ${machineCeiling.qos1.toLocaleString('en-US')} msg/s, ${machineCeiling.batched.toLocaleString('en-US')} readings/s`)

    const calibrationEnd = calibrate()
    log(`calibration at the end: ${calibrationEnd} ms`)
    return {
      summary: {
        machine: { ...machineInfo(), influxdb: influxVersion, calibrationMs: { start: calibrationStart, end: calibrationEnd } },
        influxAlone: { pointsPerS: influxAlone },
        engine: { ...endToEnd, ingestOnly, machineCeiling, latencyMs: latency, soak, rssMb, rssMb100kSensors: rss100k, cpuMsPer1kReadings: e2eCpu, zeroLoss },
        baseline,
      },
      phases,
    }
  } finally {
    for (const cleanup of cleanups.reverse()) await cleanup().catch(() => undefined)
    await rm(dir, { recursive: true, force: true })
  }
}
