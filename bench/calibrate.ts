// The machine's speed at the moment, as one number: the CPU time of a fixed single-threaded workload shaped like the
// engine's per-message work (parse a small JSON payload, look a sensor up in a map of 10,000, build a line of line
// protocol). Shared virtual machines move by a quarter within minutes; the benchmark runs this at its start and end,
// so two runs on different stretches of a machine can be told apart from a change in the engine.

/** The workload: `n` small payloads parsed, counted per sensor and written as a line; returns the characters written. */
function work(ids: readonly string[], counts: Map<string, number>, n: number): number {
  let chars = 0
  for (let i = 0; i < n; i++) {
    const id = ids[(i * 7_919) % ids.length] as string
    const body = JSON.parse(`{"ts":${1_764_000_000_000 + i},"seq":${i},"level_m":${(i % 1000) / 100}}`) as { ts: number; level_m: number }
    counts.set(id, (counts.get(id) ?? 0) + 1)
    chars += `water_level,sensor=${id} level_m=${body.level_m} ${body.ts}`.length
  }
  return chars
}

/** A fixed workload's CPU time in milliseconds (user + system of this process); lower is faster. */
export function calibrate(iterations = 300_000): number {
  const ids = Array.from({ length: 10_000 }, (_, i) => `WL-${String(i).padStart(5, '0')}`)
  const counts = new Map<string, number>()
  // A tenth first, so that the measured pass runs compiled code.
  work(ids, counts, iterations / 10)
  const before = process.cpuUsage()
  const chars = work(ids, counts, iterations)
  const used = process.cpuUsage(before)
  // The result keeps the work from being optimised away.
  if (chars <= 0) throw new Error('calibration did no work')
  return Math.round((used.user + used.system) / 100) / 10
}
