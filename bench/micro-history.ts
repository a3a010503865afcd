// Memory of the index engine's held readings alone, typed arrays included. Run:
//   npx tsx bench/micro-history.ts [--copies N] [--per-sensor N]
// The readings of the load scenario over benchRegistry(copies) (default 25: 10,125 sensors), --per-sensor N (default
// 300) a second apart, go straight into the index engine (no quality stage, whose own history is not counted here),
// in gateway batches of 100 with no index computation; then, after a full GC, the heap and the array buffers it holds
// (process.memoryUsage: `external` already includes `arrayBuffers`, so they are not added twice) per held reading,
// and the CPU of the inserts per reading.
import { pino } from 'pino'
import { VirtualTimeScheduler } from 'rxjs'
import type { Reading } from '../domain.js'
import { indexRegistry } from '../registry/registry-index.js'
import { createIndexEngine } from '../stream/index-engine.js'
import { benchRegistry } from './bench-registry.js'
import { loadReadings } from './load-points.js'
import { arg, gc } from './micro-support.js'

const BATCH = 100
const START = Date.UTC(2026, 5, 1)

const registry = benchRegistry(arg('copies', 25))
const index = indexRegistry(registry)
const perSensor = arg('per-sensor', 300)
gc()
// Before the readings are generated, as micro-stream measures: what they leave behind is the engine's.
const before = process.memoryUsage()
let readings: Reading[] | undefined = [...loadReadings(registry, START, 1, registry.sensors.length * perSensor)]
let wall = START
const engine = createIndexEngine({ registry: () => index, clock: { now: () => wall }, latenessS: 60, logger: pino({ level: 'silent' }), scheduler: new VirtualTimeScheduler() })
const t0 = process.cpuUsage()
for (let i = 0; i < readings.length; i += BATCH) {
  wall += 10
  engine.update(readings.slice(i, i + BATCH))
}
const cpu = process.cpuUsage(t0)
const count = readings.length
readings = undefined
gc()
const after = process.memoryUsage()
const { readings: held, sensors } = engine.stats()
const heap = after.heapUsed - before.heapUsed
const buffers = after.arrayBuffers - before.arrayBuffers
const mb = (b: number) => Math.round(b / 1_048_576)
process.stdout.write(
  `${JSON.stringify({
    node: process.version,
    sensors: registry.sensors.length,
    heldSensors: sensors,
    readings: count,
    heldReadings: held,
    heapMB: mb(heap),
    arrayBuffersMB: mb(buffers),
    bytesPerHeldReading: Math.round((heap + buffers) / held),
    insertCpuUsPerReading: Math.round(((cpu.user + cpu.system) * 100) / count) / 100,
  })}\n`,
)
