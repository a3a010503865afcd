import { parseArgs } from 'node:util'
import { BENCH_PROFILES, runBench, type BenchResult } from './run-bench.js'

const USAGE = `Usage: citywater bench [options]

Starts a private InfluxDB and the engine (embedded broker, full pipeline, websocket
clients subscribed to everything), drives it with the simulator's load mode from
separate processes and measures, in one run:
  - InfluxDB alone: the same points written straight to it in 5,000-point batches
  - ingest only (writer paused, log on) and end to end with zero loss (count in
    InfluxDB = count published): single readings at QoS 0 and 1, gateway batches of 100
  - publish-to-websocket latency p50/p99 at 5,000 messages/s
  - memory over a soak at 80 % of the sustained rate (full run: 10 minutes), an engine
    of its own whose sensors report at their registry intervals
  - peak RSS, and peak RSS with a registry of 100,000 sensors
  - CPU per 1,000 readings: the engine's, InfluxDB's, the publishers' and the websocket
    clients', and from them what the machine's cores allow end to end
  - the naive baseline: an mqtt.js subscriber writing each reading with the influx client
Prints a table, then one JSON object as the last line.

Options:
  --quick            short phases; the whole run within 2 minutes
  --copies N         districts in the throughput registry, 405 sensors each (default 25)
  --publishers N     simulator processes for single-reading phases (default 2)
  --phases LIST      comma list of influx, ingest, e2e, latency, soak, big, baseline (default all)
  --soak S           seconds of the memory soak at 80 % of the end-to-end QoS 1 rate
                     (default 600 in the full run; --quick skips it)
  --cpu-prof DIR     write V8 CPU profiles of the engines to DIR (node --cpu-prof)
  --help             this text
`

const fmt = (n: number): string => (Number.isFinite(n) ? Math.round(n).toLocaleString('en-US') : '-')
const pct = (n: number, of: number): string => (of > 0 && Number.isFinite(n) ? `${Math.round((100 * n) / of)} %` : '-')

/** The human-readable table: every figure beside its ceiling and target. */
export function benchTable(result: BenchResult): string {
  const { summary: s } = result
  const e = s.engine
  const rows: string[][] = [['figure', 'measured', 'ceiling / reference', 'target', 'met']]
  const ceiling = (mode: 'qos0' | 'qos1' | 'batched'): number => Math.min(s.influxAlone.pointsPerS || Number.POSITIVE_INFINITY, e.ingestOnly[mode] || Number.POSITIVE_INFINITY)
  const yes = (ok: boolean): string => (ok ? 'yes' : 'NO')
  rows.push(['InfluxDB alone, points/s', fmt(s.influxAlone.pointsPerS), '', '', ''])
  const ingestTargets = { qos0: 60_000, qos1: 30_000, batched: 300_000 }
  for (const mode of ['qos0', 'qos1', 'batched'] as const) {
    const unit = mode === 'batched' ? 'readings/s, batches of 100' : `msg/s, QoS ${mode === 'qos0' ? 0 : 1}`
    rows.push([`ingest only, ${unit}`, fmt(e.ingestOnly[mode]), '', `>= ${fmt(ingestTargets[mode])}`, yes(e.ingestOnly[mode] >= ingestTargets[mode])])
  }
  for (const mode of ['qos0', 'qos1', 'batched'] as const) {
    const unit = mode === 'batched' ? 'readings/s, batches of 100' : `msg/s, QoS ${mode === 'qos0' ? 0 : 1}`
    const c = ceiling(mode)
    rows.push([`end to end, zero loss, ${unit}`, fmt(e[mode]), `${fmt(c)} (${pct(e[mode], c)})`, '>= 90 % of min(alone, ingest)', yes(e[mode] >= 0.9 * c && e.zeroLoss)])
  }
  if (e.machineCeiling !== null) {
    // Not a target: the same ceilings' CPU per reading, plus the load's, summed over the shared cores.
    for (const mode of ['qos0', 'qos1', 'batched'] as const) {
      const unit = mode === 'batched' ? 'readings/s, batches of 100' : `msg/s, QoS ${mode === 'qos0' ? 0 : 1}`
      const allowed = Math.min(ceiling(mode), e.machineCeiling[mode])
      rows.push([`end to end against what ${s.machine.cores} cores allow, ${unit}`, pct(e[mode], allowed), fmt(allowed), '', ''])
    }
  }
  rows.push(['naive baseline, QoS 1, msg/s', fmt(s.baseline.qos1), '', '', ''])
  const times = s.baseline.qos1 > 0 ? e.qos1 / s.baseline.qos1 : Number.NaN
  rows.push(['engine / baseline at QoS 1', Number.isFinite(times) ? `${times.toFixed(1)} x` : '-', '', '>= 5 x', yes(times >= 5)])
  rows.push(['latency p50 at 5,000 msg/s, ms', fmt(e.latencyMs.p50), '', '', ''])
  rows.push(['latency p99 at 5,000 msg/s, ms', fmt(e.latencyMs.p99), '', '<= 50', yes(e.latencyMs.p99 <= 50)])
  if (e.soak !== null) {
    rows.push([`memory over a ${Math.round(e.soak.seconds)} s soak at ${fmt(e.soak.ratePerS)} msg/s offered (${fmt(e.soak.achievedPerS)} acknowledged), MB`, `${e.soak.rssFirstMb} -> ${e.soak.rssLastMb}`, `${e.soak.slopeMbPerMin} MB/min`, 'flat', yes(e.soak.flat)])
    rows.push(['V8 heap in use over the soak, MB', `${e.soak.heapUsedFirstMb} -> ${e.soak.heapUsedLastMb}`, '', '', ''])
    rows.push([`soak readings stored (event time at ${e.soak.eventSpeed}x)`, `${fmt(e.soak.stored)} of ${fmt(e.soak.readings)}`, '', 'zero loss', yes(e.soak.zeroLoss)])
  }
  rows.push(['peak RSS, MB', fmt(e.rssMb), '', '', ''])
  rows.push(['peak RSS with 100,000 sensors, MB', fmt(e.rssMb100kSensors), '', '<= 512', yes(e.rssMb100kSensors > 0 && e.rssMb100kSensors <= 512)])
  rows.push(['engine CPU per 1,000 readings, ms', String(e.cpuMsPer1kReadings), `baseline ${s.baseline.cpuMsPer1kReadings}`, '', ''])
  const widths = rows[0]?.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? '').length))) ?? []
  const line = (r: string[]): string => `| ${r.map((c, i) => c.padEnd(widths[i] ?? 0)).join(' | ')} |`
  const rule = `|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`
  const m = s.machine
  return [`machine: ${m.cpu}, ${m.cores} cores, ${m.memoryGb} GiB, Node ${m.node}, InfluxDB ${m.influxdb}; calibration ${m.calibrationMs.start} ms at the start, ${m.calibrationMs.end} at the end`, line(rows[0] ?? []), rule, ...rows.slice(1).map(line), ''].join('\n')
}

/** `citywater bench`: runs the benchmark, prints the table and the JSON line; resolves with the exit status. */
export async function benchCli(argv: string[]): Promise<number> {
  let values
  try {
    ;({ values } = parseArgs({
      args: argv,
      strict: true,
      allowPositionals: false,
      options: {
        quick: { type: 'boolean' },
        // Hidden: a few seconds per phase, to test the harness and the JSON shape, not the speed.
        smoke: { type: 'boolean' },
        copies: { type: 'string' },
        publishers: { type: 'string' },
        phases: { type: 'string' },
        soak: { type: 'string' },
        'cpu-prof': { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
    }))
  } catch (err) {
    process.stderr.write(`citywater bench: ${(err as Error).message.split('\n')[0]}\n`)
    return 2
  }
  if (values.help === true) {
    process.stdout.write(USAGE)
    return 0
  }
  const integer = (name: string, raw: string | undefined): number | undefined => {
    if (raw === undefined) return undefined
    const n = Number(raw)
    if (!Number.isInteger(n) || n < 1) throw new Error(`--${name} must be an integer >= 1, got '${raw}'`)
    return n
  }
  let copies: number | undefined
  let publishers: number | undefined
  let soakS: number | undefined
  try {
    copies = integer('copies', values.copies)
    publishers = integer('publishers', values.publishers)
    soakS = integer('soak', values.soak)
  } catch (err) {
    process.stderr.write(`citywater bench: ${(err as Error).message}\n`)
    return 2
  }
  const base = values.smoke === true ? BENCH_PROFILES.smoke : values.quick === true ? BENCH_PROFILES.quick : BENCH_PROFILES.full
  const profile = soakS === undefined ? base : { ...base, soakS }
  const started = Date.now()
  const result = await runBench({
    profile,
    ...(copies !== undefined ? { copies } : values.smoke === true ? { copies: 2 } : {}),
    // The smoke run only proves the harness: one publisher process per phase spares process start-ups.
    ...(publishers !== undefined ? { publishers } : values.smoke === true ? { publishers: 1 } : {}),
    ...(values.phases !== undefined ? { phases: new Set(values.phases.split(',').map((p) => p.trim())) } : {}),
    ...(values['cpu-prof'] !== undefined ? { profileDir: values['cpu-prof'] } : {}),
    log: (line) => process.stderr.write(`bench: ${line}\n`),
  })
  process.stderr.write(`bench: done in ${Math.round((Date.now() - started) / 1000)} s\n`)
  process.stdout.write(benchTable(result))
  process.stdout.write(`${JSON.stringify(result.summary)}\n`)
  return 0
}
