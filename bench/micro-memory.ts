// In-process micro-benchmark of the engine's memory per sensor: the app behind the in-memory broker (writer paused,
// as in the benchmark's "ingest only") with a registry of `--copies` Xihu districts, fed `--per-sensor` readings of
// every sensor in gateway batches of 100 at QoS 1. Prints the live heap (after full collections) once started and
// once every reading is in, and the bytes each sensor added. `--snapshot FILE` writes a heap snapshot at the end;
// `npx tsx bench/heap-owners.ts FILE` then says which stage holds what.
//   npx tsx bench/micro-memory.ts [--copies 247] [--per-sensor 1] [--snapshot FILE]
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { setImmediate as turn } from 'node:timers/promises'
import { writeHeapSnapshot } from 'node:v8'
import { generateMessages } from '../simulators/generate-messages.js'
import { benchRegistry } from './bench-registry.js'
import { startMicroEngine } from './micro-engine.js'
import { arg, gc } from './micro-support.js'

const copies = arg('copies', 247)
const perSensor = arg('per-sensor', 1)
const snapshotAt = process.argv.indexOf('--snapshot')
const snapshot = snapshotAt < 0 ? undefined : process.argv[snapshotAt + 1]

const mb = (bytes: number): number => Math.round(bytes / 1e5) / 10
const live = (): { heapMb: number; rssMb: number } => {
  gc()
  const m = process.memoryUsage()
  return { heapMb: mb(m.heapUsed + m.external), rssMb: mb(m.rss) }
}

const dir = mkdtempSync(join(tmpdir(), 'citywater-micro-memory-'))
try {
  const registry = benchRegistry(copies)
  const sensors = registry.sensors.length
  const registryFile = join(dir, 'registry.json')
  writeFileSync(registryFile, JSON.stringify(registry))
  const start = Math.floor((Date.now() - 3_600_000) / 1000) * 1000
  const messages: { topic: string; payload: Buffer }[] = []
  for (const m of generateMessages({ registry, scenario: 'load', start, load: { intervalS: 1, batch: 100 } })) {
    messages.push({ topic: m.topic, payload: Buffer.from(m.payload) })
    if (messages.length * 100 >= sensors * perSensor) break
  }
  registry.sensors.length = 0
  const before = live()
  const { app, broker } = await startMicroEngine(dir, registryFile)
  const started = live()
  for (let i = 0; i < messages.length; i += 20) {
    const acks: Promise<void>[] = []
    for (const m of messages.slice(i, i + 20)) acks.push(broker.inject(m.topic, m.payload, 1))
    await Promise.all(acks)
    await turn()
  }
  // The messages are the benchmark's, not the engine's: they are in every figure (freed only after the last one), and
  // what the in-memory broker double keeps of every message the engine published is the double's.
  const fed = messages.length
  broker.published.length = 0
  const after = live()
  if (snapshot !== undefined) writeHeapSnapshot(snapshot)
  await app.close()
  messages.length = 0
  console.log(
    JSON.stringify({
      node: process.version,
      sensors,
      messages: fed,
      readingsPerSensor: perSensor,
      startedHeapMb: Math.round((started.heapMb - before.heapMb) * 10) / 10,
      heapMb: Math.round((after.heapMb - before.heapMb) * 10) / 10,
      bytesPerSensor: Math.round(((after.heapMb - started.heapMb) * 1e6) / sensors),
      rssMb: after.rssMb,
    }),
  )
} finally {
  rmSync(dir, { recursive: true, force: true })
}
