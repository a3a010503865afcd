// Micro-benchmark of the duplicate filter (ingest/duplicate-filter.ts) against the per-reading Map it replaced. Run:
//   npx tsx bench/micro-duplicates.ts [--copies N] [--seconds N]
// benchRegistry(25) sensor ids (10,125 sensors), each reporting every second for 300 s (3,037,500 pairs), readings of a
// second interleaved across the sensors and accepted 0–99 ms after their ts on a fake engine clock. Variants:
//   regular: ts exactly a second apart; jittered: ts a second apart ± 0–5 ms (a drifting device clock);
//   steady: regular with a 60 s horizon, so every reading also expires one (the shape of a full 24 h horizon).
// Per variant: bytes per remembered pair (heap used plus ArrayBuffer stores after a full GC, less the same before the
// filter was made, over the pairs held), CPU µs per `seen` that accepts (process.cpuUsage, this process only) and per
// `seen` that finds a duplicate (a resend of a random earlier reading of the sensor, within the horizon).
//
// Measured (Node 20.20, 2 cores with other work running on the machine; five runs while the filter was tuned, the
// last on the committed code; ranges as seen, CPU moving most with the machine's other load):
//                     bytes/pair    µs/seen accept   µs/seen duplicate   held
//   regular   old     79.8–80.0     1.03–1.20        1.14–1.54           231 MB
//             new      1.3–1.45     0.10–0.16        0.08–0.13             4 MB (10,125 runs, one per sensor)
//   jittered  old     78.7–80.2     1.38–1.66        1.00–1.49           232 MB
//             new     10.1–10.2     0.40–0.64        0.60–0.77            30 MB (one list per sensor, no runs)
//   steady    old     40–93         1.33–1.53        0.75–0.95           23–54 MB (60 s horizon, ~612 k pairs)
//             new      6.6–7.1      0.14–0.25        0.07–0.18             4 MB (617 k pairs: the 1 % slack)
// Since a sensor with one run or one value is a row of a table of typed arrays instead of a Track, a Segment and a
// Float64Array (two runs each of the committed code before and after, Node 20.20):
//   regular   bytes/pair 1.05–1.17 -> 0.12–0.28, µs/seen accept 0.13–0.23 -> 0.17, duplicate 0.13–0.16 -> 0.10
//   jittered  unchanged (10.4–10.5 bytes/pair: one list per sensor, an object as before)
//   steady    bytes/pair 7.4 -> 1.8, µs accept 0.14–0.18 -> 0.12–0.13, duplicate 0.08–0.10 -> 0.09
// The filter holds a regular series as one row per sensor, about 100 bytes per sensor with its Map entry (it was
// about 440 with a Track) whatever the horizon or rate, so its bytes per pair fall with the pairs held (300 here;
// 86,400 in a day). The old Map held 86,400 entries
// per sensor for 24 h: about 6.9 MB per sensor, 70 GB for 10,125 sensors. Jittered timestamps are listed in
// Float64Arrays: 8 bytes each plus up to half again of spare capacity (24 h at 1 Hz: about 0.8 MB per sensor).
import { duplicateFilter, type DuplicateFilter } from '../ingest/duplicate-filter.js'
import type { Clock } from '../ports.js'
import { benchRegistry } from './bench-registry.js'
import { arg, gc } from './micro-support.js'

/** The implementation before the runs: per sensor, a Map from ts to acceptance time in acceptance order. */
function oldDuplicateFilter(options: { horizonMs?: number; clock: Clock }): DuplicateFilter {
  const horizonMs = options.horizonMs ?? 86_400_000
  const { clock } = options
  const bySensor = new Map<string, Map<number, number>>()
  let size = 0
  return {
    get size() {
      return size
    },
    seen(sensor, ts) {
      const now = clock.now()
      let accepted = bySensor.get(sensor)
      if (accepted === undefined) {
        accepted = new Map()
        bySensor.set(sensor, accepted)
      }
      for (const [oldTs, at] of accepted) {
        if (now - at < horizonMs) break
        accepted.delete(oldTs)
        size -= 1
      }
      const at = accepted.get(ts)
      if (at !== undefined) return true
      accepted.set(ts, now)
      size += 1
      return false
    },
    forget(sensor, ts) {
      if (bySensor.get(sensor)?.delete(ts) === true) size -= 1
    },
  }
}

type Make = (options: { horizonMs?: number; clock: Clock }) => DuplicateFilter

/** Heap used plus ArrayBuffer backing stores (the Float64Array lists live outside the JS heap). */
function held(): number {
  const m = process.memoryUsage()
  return m.heapUsed + m.arrayBuffers
}

function cpuUs(from: NodeJS.CpuUsage): number {
  const d = process.cpuUsage(from)
  return d.user + d.system
}

const START = Date.UTC(2026, 5, 1)
const ids = benchRegistry(arg('copies', 25)).sensors.map((s) => s.id)
const SECONDS = arg('seconds', 300)

/** Deterministic 0..n-1 from (a, b). */
function hash(a: number, b: number, n: number): number {
  let h = Math.imul(a ^ 0x9e3779b9, 0x85ebca6b) ^ Math.imul(b + 0x632be5ab, 0xc2b2ae35)
  h ^= h >>> 13
  h = Math.imul(h, 0x27d4eb2f)
  h ^= h >>> 16
  return (h >>> 0) % n
}

interface Variant {
  jitter: boolean
  horizonMs?: number
}

function run(make: Make, variant: Variant, sensors: readonly string[], seconds: number) {
  const clock = { t: START }
  const options: { horizonMs?: number; clock: Clock } = { clock: { now: () => clock.t } }
  if (variant.horizonMs !== undefined) options.horizonMs = variant.horizonMs
  gc()
  const heap0 = held()
  let filter: DuplicateFilter | undefined = make(options)
  const n = sensors.length
  let accepted = 0
  const t0 = process.cpuUsage()
  for (let i = 0; i < seconds; i++) {
    const second = START + i * 1000
    for (let j = 0; j < n; j++) {
      const ts = variant.jitter ? second + hash(i, j, 11) - 5 : second
      clock.t = second + hash(j, i, 100)
      if (!filter.seen(sensors[j] as string, ts)) accepted++
    }
  }
  const acceptUs = cpuUs(t0) / (seconds * n)
  const pairs = filter.size
  gc()
  const heap = held() - heap0
  // Resends of earlier readings: every one is a duplicate (within the horizon).
  const last = START + (seconds - 1) * 1000
  const oldest = variant.horizonMs === undefined ? 0 : Math.max(0, seconds - variant.horizonMs / 1000 + 2)
  const resends = Math.min(1_000_000, seconds * n)
  let dups = 0
  const t1 = process.cpuUsage()
  for (let k = 0; k < resends; k++) {
    const j = k % n
    const i = oldest + hash(k, j, seconds - oldest)
    clock.t = last + 500
    const ts = START + i * 1000 + (variant.jitter ? hash(i, j, 11) - 5 : 0)
    if (filter.seen(sensors[j] as string, ts)) dups++
  }
  const dupUs = cpuUs(t1) / resends
  const stats = 'stats' in filter ? (filter as ReturnType<typeof duplicateFilter>).stats() : undefined
  filter = undefined
  return {
    accepted,
    pairs,
    heapMB: Math.round(heap / 1_048_576),
    bytesPerPair: Math.round((heap / pairs) * 100) / 100,
    usPerSeenAccept: Math.round(acceptUs * 1000) / 1000,
    usPerSeenDuplicate: Math.round(dupUs * 1000) / 1000,
    duplicatesFound: dups,
    resends,
    ...(stats !== undefined ? { runs: stats.runs, listValues: stats.listValues } : {}),
  }
}

const variants: Record<string, Variant> = {
  regular: { jitter: false },
  jittered: { jitter: true },
  steady: { jitter: false, horizonMs: 60_000 },
}
const impls: Record<string, Make> = { old: oldDuplicateFilter, new: duplicateFilter }

// Warm up both implementations on a few sensors, unmeasured.
for (const make of Object.values(impls)) for (const v of Object.values(variants)) run(make, v, ids.slice(0, 200), 120)

const out: Record<string, unknown> = { node: process.version, sensors: ids.length, seconds: SECONDS }
for (const [name, v] of Object.entries(variants)) {
  for (const [impl, make] of Object.entries(impls)) out[`${name}.${impl}`] = run(make, v, ids, SECONDS)
}
process.stdout.write(`${JSON.stringify(out, null, 1)}\n`)
