/**
 * In-process micro-benchmark of the rules engine's per-reading path: the default rules over a bench registry, fed
 * simulated readings in batches as ingest hands them to `onReadings`. Reports CPU µs per reading (`process.cpuUsage`
 * around the `onReadings` calls only, so the generator and other processes on the machine do not count), then CPU ms per
 * `tick` (every 5 s in the engine) with every sensor live.
 *
 *   npx tsx bench/micro-rules.ts [--copies 25] [--readings 500000] [--batch 100] [--scenario load|normal] [--runs 1]
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

const { values } = parseArgs({
  options: {
    copies: { type: 'string', default: '25' },
    readings: { type: 'string', default: '500000' },
    batch: { type: 'string', default: '100' },
    scenario: { type: 'string', default: 'load' },
    runs: { type: 'string', default: '1' },
  },
})
const copies = Number(values.copies)
const total = Number(values.readings)
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

console.log(`rules micro-benchmark: ${registry.sensors.length} sensors, ${total} readings (${scenario}), batches of ${batch}, Node ${process.version}`)
for (let i = 0; i < runs; i++) {
  const { usPerReading, conditions, msPerTick } = run()
  console.log(`run ${i + 1}: ${usPerReading.toFixed(2)} µs CPU per reading, ${msPerTick.toFixed(2)} ms CPU per tick, ${conditions} conditions`)
}
