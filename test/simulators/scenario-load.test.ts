import { createHash } from 'node:crypto'
import { describe, expect, it } from 'vitest'
import { BUNDLED_REGISTRY } from '../../config.js'
import type { DeadLetter } from '../../domain.js'
import { createIngest } from '../../ingest/ingest-pipeline.js'
import { indexRegistry } from '../../registry/registry-index.js'
import { loadRegistry } from '../../registry/load-registry.js'
import { generateMessages } from '../../simulators/generate-messages.js'
import type { GenerateOptions, SimulatedMessage } from '../../simulators/generate-messages.js'
import { loadScenario } from '../../simulators/scenario-load.js'
import { SCENARIOS } from '../../simulators/scenario.js'
import type { ScenarioFactory } from '../../simulators/scenario.js'

const START = Date.parse('2026-11-27T08:00:00+08:00')

/** Every message through the real ingest pipeline; returns the accepted readings' keys and the dead letters. */
function ingestAll(messages: readonly SimulatedMessage[], registry: ReturnType<typeof loadRegistry>) {
  const index = indexRegistry(registry)
  let now = START
  const letters: DeadLetter[] = []
  const ingest = createIngest({
    registry: () => index,
    topicPrefix: 'city',
    retentionMs: 30 * 86_400_000,
    districts: null,
    deadLetters: { put: (l) => void letters.push(l), close: async () => {} },
    clock: { now: () => now },
  })
  const keys: string[] = []
  for (const m of messages) {
    now = m.ts
    for (const r of ingest.handle({ topic: m.topic, payload: Buffer.from(m.payload), qos: 1 }).accepted) keys.push(`${r.sensor}@${r.ts}`)
  }
  return { keys, letters, duplicates: ingest.stats.duplicates }
}

describe('load scenario', () => {
  const registry = loadRegistry(BUNDLED_REGISTRY)
  const n = registry.sensors.length
  const options: GenerateOptions = { registry, scenario: 'load', seed: 3, start: START, durationS: 10 }

  it('sends every sensor every second of event time, each reading valid and distinct', () => {
    const messages = [...generateMessages(options)]
    expect(messages).toHaveLength(n * 10)
    const { keys, letters, duplicates } = ingestAll(messages, registry)
    expect(letters).toEqual([])
    expect(duplicates).toBe(0)
    expect(keys).toHaveLength(n * 10)
    expect(new Set(keys).size).toBe(n * 10)
    expect(messages.every((m, i) => i === 0 || (messages[i - 1]?.ts ?? 0) <= m.ts)).toBe(true)
  })

  it('is byte-identical for the same seed and start', () => {
    const digest = (o: GenerateOptions): string => {
      const h = createHash('sha256')
      for (const m of generateMessages(o)) h.update(m.topic).update('\n').update(m.payload).update('\n')
      return h.digest('hex')
    }
    expect(digest(options)).toBe(digest({ ...options }))
    expect(digest({ ...options, seed: 4 })).not.toBe(digest(options))
  })

  it('batches up to 100 readings per gateway message, losing and repeating none', () => {
    const messages = [...generateWith(loadScenario({ batch: 100, intervalS: 0.5 }), registry)]
    const total = messages.reduce((sum, m) => sum + (m.readings ?? 1), 0)
    expect(total).toBe(n * 20)
    for (const m of messages) {
      expect(m.topic).toBe('city/xihu/gateway/LOAD-xihu')
      expect(m.readings).toBeGreaterThan(0)
      expect(m.readings).toBeLessThanOrEqual(100)
      const body = JSON.parse(m.payload) as Array<{ sensor: string; ts: number }>
      expect(body).toHaveLength(m.readings ?? 0)
      for (const r of body) expect(r.ts).toBeLessThanOrEqual(m.ts)
    }
    expect(messages.filter((m) => m.readings === 100).length).toBeGreaterThan(n * 20 / 100 - 25)
    const { keys, letters, duplicates } = ingestAll(messages, registry)
    expect(letters).toEqual([])
    expect(duplicates).toBe(0)
    expect(new Set(keys).size).toBe(n * 20)
  })

  it("sends every sensor at its registry interval with intervalS 'registry', each reading valid and distinct", () => {
    const durationS = 900
    const messages = [...generateWith(loadScenario({ intervalS: 'registry' }), registry, durationS)]
    const bySensor = new Map<string, number[]>()
    for (const m of messages) {
      const list = bySensor.get(m.sensor) ?? []
      list.push(m.ts)
      bySensor.set(m.sensor, list)
    }
    expect(bySensor.size).toBe(n)
    for (const s of registry.sensors) {
      const ts = bySensor.get(s.id) ?? []
      expect(ts).toHaveLength(Math.ceil(durationS / s.intervalS))
      for (let i = 1; i < ts.length; i++) expect((ts[i] as number) - (ts[i - 1] as number)).toBe(s.intervalS * 1000)
    }
    // The registry has more than one cadence, so this is not the fixed-interval schedule.
    expect(new Set(registry.sensors.map((s) => s.intervalS)).size).toBeGreaterThan(1)
    const { keys, letters, duplicates } = ingestAll(messages, registry)
    expect(letters).toEqual([])
    expect(duplicates).toBe(0)
    expect(new Set(keys).size).toBe(messages.length)
  })

  it('rejects a batch above 100 and an interval below 1 ms', () => {
    expect(() => loadScenario({ batch: 101 })).toThrow(/batch/)
    expect(() => loadScenario({ intervalS: 0.0001 })).toThrow(/intervalS/)
  })
})

/** Runs the generator with an unregistered factory, by registering it under a test name for the call. */
function* generateWith(factory: ScenarioFactory, registry: ReturnType<typeof loadRegistry>, durationS = 10): Generator<SimulatedMessage> {
  const table = SCENARIOS as Record<string, ScenarioFactory>
  table['load-test-batch'] = factory
  try {
    yield* generateMessages({ registry, scenario: 'load-test-batch', seed: 3, start: START, durationS })
  } finally {
    delete table['load-test-batch']
  }
}
