import { createHash } from 'node:crypto'
import { describe, expect, it } from 'vitest'
import { BUNDLED_REGISTRY } from '../../config.js'
import type { DeadLetter, DeadLetterReason, Quality } from '../../domain.js'
import { createIngest } from '../../ingest/ingest-pipeline.js'
import type { DeadLetterSink } from '../../ports.js'
import { indexRegistry } from '../../registry/registry-index.js'
import { loadRegistry } from '../../registry/load-registry.js'
import { expectedOutcomes, faultPlan, FAULTS_PER_CYCLE } from '../../simulators/fault-plan.js'
import type { ExpectedFlag, ExpectedOutcomes } from '../../simulators/fault-plan.js'
import { generateMessages } from '../../simulators/generate-messages.js'
import type { GenerateOptions, SimulatedMessage } from '../../simulators/generate-messages.js'
import { createQualityStage } from '../../stream/quality-stage.js'
import { sensorState } from '../../stream/sensor-state.js'

const START = Date.parse('2026-11-27T08:00:00+08:00')
const HOUR_S = 3600
const DAY_MS = 86_400_000

function digest(messages: Iterable<SimulatedMessage>): string {
  const hash = createHash('sha256')
  for (const m of messages) hash.update(m.topic).update('\n').update(m.payload).update('\n')
  return hash.digest('hex')
}

describe('faults scenario', () => {
  const registry = loadRegistry(BUNDLED_REGISTRY)
  const durationS = 13 * HOUR_S
  const options: GenerateOptions = { registry, scenario: 'faults', seed: 7, start: START, durationS }
  const end = START + durationS * 1000

  it('plans every kind of fault once or more within the run, from the seed', () => {
    const plan = faultPlan(registry, 7, START, end)
    for (const [type, n] of Object.entries(FAULTS_PER_CYCLE)) {
      expect(plan.faults.filter((f) => f.type === type).length, type).toBeGreaterThanOrEqual(n)
    }
    const sensors = plan.faults.filter((f) => f.ts < START + 12 * 3_600_000).map((f) => f.sensor)
    expect(new Set(sensors).size).toBe(sensors.length)
    expect(faultPlan(registry, 7, START, end)).toEqual(plan)
    expect(faultPlan(registry, 8, START, end)).not.toEqual(plan)
  })

  it('publishes byte-identical runs for the same seed and start, and other runs otherwise', () => {
    const short: GenerateOptions = { ...options, durationS: 6 * HOUR_S }
    const a = digest(generateMessages(short))
    expect(digest(generateMessages({ ...short, registry: loadRegistry(BUNDLED_REGISTRY) }))).toBe(a)
    expect(digest(generateMessages({ ...short, seed: 8 }))).not.toBe(a)
    expect(digest(generateMessages({ ...short, start: START + 60_000 }))).not.toBe(a)
  })

  /** Runs a generated message stream through the real ingest pipeline, quality stage and sensor state, on a clock at the latest slot. */
  function throughEngine(run: GenerateOptions, stale: ExpectedOutcomes['stale']) {
    const index = indexRegistry(registry)
    let now = START
    const clock = { now: () => now }
    const letters: DeadLetter[] = []
    const sink: DeadLetterSink = { put: (l) => void letters.push(l), close: async () => {} }
    const ingest = createIngest({ registry: () => index, topicPrefix: 'city', retentionMs: 30 * DAY_MS, districts: null, deadLetters: sink, clock })
    const quality = createQualityStage({ registry: () => index, latenessS: 120, clock })
    const state = sensorState()
    const flags = new Map<string, { sensor: string; ts: number; quality: Quality; reason: string }>()
    const pendingStale = [...stale]
    const staleSeen: string[] = []
    let late = 0
    let published = 0
    let outside = 0
    for (const m of generateMessages(run)) {
      if (m.ts < now) throw new Error(`slot went back at ${m.topic}`)
      // Before the clock passes a drop-out's end, the silent sensor must be stale (and online just before).
      for (let i = pendingStale.length - 1; i >= 0; i--) {
        const s = pendingStale[i]
        if (s === undefined || m.ts < s.resumeTs) continue
        const sensor = index.sensor(s.sensor)
        if (sensor !== undefined && state.status(sensor, s.staleAt) === 'stale' && state.status(sensor, s.staleAt - 2) === 'online') staleSeen.push(s.sensor)
        pendingStale.splice(i, 1)
      }
      now = m.ts
      published++
      const { accepted } = ingest.handle({ topic: m.topic, payload: Buffer.from(m.payload), qos: 1 })
      for (const r of accepted) if (!(r.ts >= START && r.ts < START + (run.durationS ?? 0) * 1000)) outside++
      const { readings, reflagged } = quality.assess(accepted)
      for (const r of [...readings, ...reflagged]) {
        state.update(r)
        if (r.qualityReason.startsWith('late')) late++
        flags.set(`${r.sensor}@${r.ts}`, { sensor: r.sensor, ts: r.ts, quality: r.quality, reason: r.qualityReason })
      }
    }
    const byReason: Partial<Record<DeadLetterReason, number>> = {}
    for (const l of letters) byReason[l.reason] = (byReason[l.reason] ?? 0) + 1
    const flagged = [...flags.values()]
      .filter((f) => f.quality !== 'good')
      .map((f) => ({ sensor: f.sensor, ts: f.ts, quality: f.quality, reasonPrefix: f.reason.split(';')[0] ?? '' }))
    return { published, byReason, duplicates: ingest.stats.duplicates, flagged, late, staleSeen, outside }
  }

  it('has every fault caught by the right flag, dead-letter reason, duplicate count or staleness', () => {
    const expected = expectedOutcomes(faultPlan(registry, 7, START, end))
    const run = throughEngine(options, expected.stale)
    // The same run without faults: whatever `normal` itself gets flagged is the baseline the faults add to.
    const baseline = throughEngine({ ...options, scenario: 'normal' }, [])
    expect(run.published).toBeGreaterThan(50_000)
    expect(run.outside).toBe(0)
    expect(baseline.byReason).toEqual({})
    expect(run.byReason).toEqual(expected.deadLetters)
    expect(run.duplicates).toBe(expected.duplicates)

    const key = (f: ExpectedFlag): string => `${f.sensor}@${new Date(f.ts).toISOString()} ${f.quality} ${f.reasonPrefix}`
    const base = new Set(baseline.flagged.map(key))
    const got = run.flagged.filter((f) => !base.has(key(f))).sort((a, b) => a.ts - b.ts || (a.sensor < b.sensor ? -1 : 1))
    expect(got).toEqual(expected.flags)
    expect(expected.flags.length).toBeGreaterThan(5)
    // Reversed bursts stay within the lateness: nothing is late.
    expect(run.late).toBe(0)
    expect(run.staleSeen.sort()).toEqual(expected.stale.map((s) => s.sensor).sort())
  })

  it('keeps publishing faults cycle after cycle in an endless run', () => {
    let injected = 0
    for (const m of generateMessages({ registry, scenario: 'faults', seed: 7, start: START })) {
      if (m.ts >= START + 24 * 3_600_000) break
      if (m.sensor.startsWith('ZZ-')) injected++
    }
    expect(injected).toBe(2 * FAULTS_PER_CYCLE.unknown_sensor)
  })
})
