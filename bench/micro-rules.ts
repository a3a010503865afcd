/**
 * In-process micro-benchmark of the rules engine's per-reading path: the default rules over a bench registry, fed
 * simulated readings in batches as ingest hands them to `onReadings`. Reports CPU µs per reading (`process.cpuUsage`
 * around the `onReadings` calls only, so the generator and other processes on the machine do not count), then CPU ms per
 * `tick` (every 5 s in the engine) with every sensor live.
 *
 * `tick` mode: the engine as it runs live, readings arriving between ticks. After `--readings` readings (every sensor
 * heard from), `--ticks` rounds of `--between` readings then one `tick` a second after the latest arrival (nothing
 * due: no sensor silent); reports the CPU of each tick (median, p99, max, and the first, which checks every subject
 * against the registry), then of 20 ticks at which every sensor is silent (everything due).
 *
 *   npx tsx bench/micro-rules.ts [--copies 25] [--readings 500000] [--batch 100] [--scenario load|normal] [--runs 1]
 *   npx tsx bench/micro-rules.ts tick [--copies 25] [--readings 200000] [--ticks 200] [--between 2000] [--runs 1]
 *
 * Add `node --cpu-prof` (`node --cpu-prof --import tsx bench/micro-rules.ts`) for a profile.
 */
import { parseArgs } from 'node:util'
import type { Reading, Registry } from '../domain.js'
import { simulatedReading } from './load-points.js'
import { BUNDLED_RULES } from '../config.js'
import { indexRegistry } from '../registry/registry-index.js'
import { loadRules } from '../rules/load-rules.js'
import { createRulesEngine } from '../rules/rules-engine.js'
import { generateMessages } from '../simulators/generate-messages.js'
import { benchRegistry } from './bench-registry.js'

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    copies: { type: 'string', default: '25' },
    readings: { type: 'string' },
    batch: { type: 'string', default: '100' },
    scenario: { type: 'string', default: 'load' },
    runs: { type: 'string', default: '1' },
    ticks: { type: 'string', default: '200' },
    between: { type: 'string', default: '2000' },
  },
})
const mode = positionals[0] ?? 'readings'
if (mode !== 'readings' && mode !== 'tick') throw new Error(`unknown mode '${mode}' (readings or tick)`)
const copies = Number(values.copies)
const total = Number(values.readings ?? (mode === 'tick' ? 200_000 : 500_000))
const batch = Number(values.batch)
const runs = Number(values.runs)
const scenario = values.scenario

const registry: Registry = benchRegistry(copies)
const index = indexRegistry(registry)
const START = Date.UTC(2026, 6, 1, 0, 0, 0)
const CHUNK = 20_000

/** Readings of the scenario, as ingest would accept them; every 211th is flagged suspect and every 503rd bad, so the fault rule has work. */
function* readings(): Generator<Reading> {
  let n = 0
  for (const m of generateMessages({ registry, scenario, seed: 1, start: START, ...(scenario === 'load' ? { load: { intervalS: 1 } } : {}) })) {
    const sensor = index.sensor(m.sensor)
    if (sensor === undefined) continue
    n++
    const quality = n % 503 === 0 ? 'bad' : n % 211 === 0 ? 'suspect' : 'good'
    yield simulatedReading(sensor, m.payload, quality, quality === 'good' ? '' : 'spike')
  }
}

function run(): { usPerReading: number; conditions: number; msPerTick: number } {
  const engine = createRulesEngine({ rules: loadRules(BUNDLED_RULES, index), registry: () => index })
  const source = readings()
  let done = 0
  let cpuUs = 0
  let conditions = 0
  let lastTs = START
  while (done < total) {
    const chunk: Reading[] = []
    for (let i = 0; i < CHUNK && done + chunk.length < total; i++) {
      const next = source.next()
      if (next.done === true) break
      chunk.push(next.value)
    }
    if (chunk.length === 0) break
    const before = process.cpuUsage()
    for (let i = 0; i < chunk.length; i += batch) conditions += engine.onReadings(chunk.slice(i, i + batch)).length
    const used = process.cpuUsage(before)
    cpuUs += used.user + used.system
    done += chunk.length
    lastTs = (chunk[chunk.length - 1] as Reading).ts
  }
  // The engine ticks every 5 s of wall time (stale sensors, data-gap holds, the sweep); one second after the last reading, nothing is stale.
  const ticks = 20
  const before = process.cpuUsage()
  for (let i = 0; i < ticks; i++) conditions += engine.tick(lastTs + 1_000).length
  const used = process.cpuUsage(before)
  return { usPerReading: cpuUs / done, conditions, msPerTick: (used.user + used.system) / 1000 / ticks }
}

/** CPU ms of one call (this process's threads, so a collection running meanwhile counts), and its wall ms. */
function cpuOf(f: () => unknown): { cpu: number; wall: number } {
  const before = process.cpuUsage()
  const t0 = performance.now()
  f()
  const wall = performance.now() - t0
  const used = process.cpuUsage(before)
  return { cpu: (used.user + used.system) / 1000, wall }
}

interface Spread {
  first: number
  median: number
  p99: number
  max: number
}

function spread(xs: number[]): Spread {
  const first = xs[0] as number
  const rest = xs.slice(1).sort((a, b) => a - b)
  const at = (q: number): number => rest[Math.min(rest.length - 1, Math.floor(q * rest.length))] as number
  return { first, median: at(0.5), p99: at(0.99), max: rest[rest.length - 1] as number }
}

function tickRun(): { cpu: Spread; wall: Spread; allDue: Spread; conditions: number } {
  const engine = createRulesEngine({ rules: loadRules(BUNDLED_RULES, index), registry: () => index })
  const source = readings()
  let lastReceived = START
  let conditions = 0
  const feed = (n: number): void => {
    let chunk: Reading[] = []
    for (let i = 0; i < n; i++) {
      const next = source.next()
      if (next.done === true) break
      chunk.push(next.value)
      lastReceived = Math.max(lastReceived, next.value.receivedAt)
      if (chunk.length === batch) {
        conditions += engine.onReadings(chunk).length
        chunk = []
      }
    }
    if (chunk.length > 0) conditions += engine.onReadings(chunk).length
  }
  feed(total)
  const ticks = Number(values.ticks)
  const between = Number(values.between)
  const cpu: number[] = []
  const wall: number[] = []
  for (let i = 0; i < ticks; i++) {
    feed(between)
    const t = cpuOf(() => (conditions += engine.tick(lastReceived + 1_000).length))
    cpu.push(t.cpu)
    wall.push(t.wall)
  }
  // A day later every sensor is silent: every one is due (stale, data-gap holds), at every tick from then on.
  const allDue: number[] = []
  for (let i = 0; i < 20; i++) allDue.push(cpuOf(() => (conditions += engine.tick(lastReceived + 86_400_000 + i * 5_000).length)).cpu)
  return { cpu: spread(cpu), wall: spread(wall), allDue: spread(allDue), conditions }
}

if (mode === 'tick') {
  console.log(`rules tick micro-benchmark: ${registry.sensors.length} sensors, ${total} readings (${scenario}) then ${values.ticks} ticks ${values.between} readings apart, Node ${process.version}`)
  for (let i = 0; i < runs; i++) {
    const r = tickRun()
    const f = (x: Spread): string => `median ${x.median.toFixed(3)}, p99 ${x.p99.toFixed(3)}, max ${x.max.toFixed(3)}, first ${x.first.toFixed(3)}`
    console.log(`run ${i + 1}: tick with nothing due, ms CPU: ${f(r.cpu)}; ms wall: ${f(r.wall)}`)
    console.log(`       tick with every sensor silent, ms CPU: ${f(r.allDue)} (the first raises every stale alert); ${r.conditions} conditions`)
  }
  process.exit(0)
}

console.log(`rules micro-benchmark: ${registry.sensors.length} sensors, ${total} readings (${scenario}), batches of ${batch}, Node ${process.version}`)
for (let i = 0; i < runs; i++) {
  const { usPerReading, conditions, msPerTick } = run()
  console.log(`run ${i + 1}: ${usPerReading.toFixed(2)} µs CPU per reading, ${msPerTick.toFixed(2)} ms CPU per tick, ${conditions} conditions`)
}
