// In-process micro-benchmark of the whole engine behind the broker: the app (ingest, quality, the write-ahead log
// with its group commit and fdatasync, indices, parking, rules, sensor state, websocket hub) fed through the
// in-memory broker double, so neither MQTT parsing nor publisher processes count. CPU per message is this
// process's user + system time (all its threads) by process.cpuUsage, so other load on the machine barely moves it.
// The writer is paused (InfluxDB on a closed port), as in the benchmark's "ingest only".
//   npx tsx bench/micro-app.ts [--messages N] [--copies N] [--batch 1|100] [--qos 0|1] [--per-turn N]
// --per-turn: messages handed over per event-loop turn (aedes hands over what one socket read holds); default 50.
// Add `node --cpu-prof --import tsx` for a profile. --alloc-profile FILE: where the measured messages allocate, as a
// V8 sampling heap profile that counts collected objects too (open it in Chrome DevTools, Memory tab); the JSON then
// gives the bytes allocated per message.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Session } from 'node:inspector/promises'
import { setImmediate as turn } from 'node:timers/promises'
import { generateMessages } from '../simulators/generate-messages.js'
import { benchRegistry } from './bench-registry.js'
import { startMicroEngine } from './micro-engine.js'
import { arg } from './micro-support.js'

const copies = arg('copies', 25)
const count = arg('messages', 200_000)
const batch = arg('batch', 1)
const qos = arg('qos', 0) as 0 | 1
const perTurn = arg('per-turn', 50)
const allocAt = process.argv.indexOf('--alloc-profile')
const allocProfile = allocAt < 0 ? undefined : process.argv[allocAt + 1]

interface SamplingNode {
  selfSize: number
  children: SamplingNode[]
}
const bytesOf = (node: SamplingNode): number => node.children.reduce((sum, child) => sum + bytesOf(child), node.selfSize)

const dir = mkdtempSync(join(tmpdir(), 'citywater-micro-app-'))
try {
  const registry = benchRegistry(copies)
  const registryFile = join(dir, 'registry.json')
  writeFileSync(registryFile, JSON.stringify(registry))
  const start = Math.floor((Date.now() - 3_600_000) / 1000) * 1000
  const messages: { topic: string; payload: Buffer }[] = []
  for (const m of generateMessages({ registry, scenario: 'load', start, load: { intervalS: 1, batch } })) {
    messages.push({ topic: m.topic, payload: Buffer.from(m.payload) })
    if (messages.length >= count) break
  }
  const { app, broker } = await startMicroEngine(dir, registryFile)
  // Warm up on the first tenth, unmeasured.
  const warm = Math.floor(messages.length / 10)
  const run = async (from: number, to: number): Promise<void> => {
    for (let i = from; i < to; i += perTurn) {
      const end = Math.min(to, i + perTurn)
      const acks: Promise<void>[] = []
      for (let j = i; j < end; j++) {
        const m = messages[j] as { topic: string; payload: Buffer }
        const ack = broker.inject(m.topic, m.payload, qos)
        if (qos > 0) acks.push(ack)
      }
      if (acks.length > 0) await Promise.all(acks)
      await turn()
    }
  }
  await run(0, warm)
  const t0 = process.cpuUsage()
  const w0 = performance.now()
  const session = allocProfile === undefined ? undefined : new Session()
  if (session !== undefined) {
    session.connect()
    // Sampled every 4 KiB; objects the collector has freed since are kept, so the profile is what was allocated.
    await session.post('HeapProfiler.startSampling', { samplingInterval: 4096, includeObjectsCollectedByMajorGC: true, includeObjectsCollectedByMinorGC: true } as never)
  }
  await run(warm, messages.length)
  const used = process.cpuUsage(t0)
  const wallMs = performance.now() - w0
  let allocatedBytesPerMessage: number | undefined
  if (session !== undefined && allocProfile !== undefined) {
    const { profile } = (await session.post('HeapProfiler.stopSampling')) as { profile: { head: SamplingNode } }
    session.disconnect()
    writeFileSync(allocProfile, JSON.stringify(profile))
    allocatedBytesPerMessage = Math.round(bytesOf(profile.head) / (messages.length - warm))
  }
  const measured = messages.length - warm
  const cpuUs = used.user + used.system
  await app.close()
  console.log(
    JSON.stringify({
      node: process.version,
      messages: measured,
      readingsPerMessage: batch,
      qos,
      perTurn,
      cpuUsPerMessage: Math.round((cpuUs / measured) * 100) / 100,
      cpuUsPerReading: Math.round((cpuUs / measured / batch) * 100) / 100,
      wallMs: Math.round(wallMs),
      ...(allocatedBytesPerMessage !== undefined ? { allocatedBytesPerMessage } : {}),
    }),
  )
} finally {
  rmSync(dir, { recursive: true, force: true })
}
