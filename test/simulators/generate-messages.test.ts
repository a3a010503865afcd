import { createHash } from 'node:crypto'
import { describe, expect, it } from 'vitest'
import { BUNDLED_REGISTRY } from '../../config.js'
import { loadRegistry } from '../../registry/load-registry.js'
import { generateMessages } from '../../simulators/generate-messages.js'
import type { GenerateOptions } from '../../simulators/generate-messages.js'
import { fixtureRegistry } from '../helpers/fixture-registry.js'

const START = Date.parse('2026-11-27T08:00:00+08:00')

/** A digest of the whole run: topics, payloads and their order. */
function digest(options: GenerateOptions): { count: number; sha: string } {
  const hash = createHash('sha256')
  let count = 0
  for (const m of generateMessages(options)) {
    hash.update(m.topic).update('\n').update(m.payload).update('\n')
    count++
  }
  return { count, sha: hash.digest('hex') }
}

describe('generateMessages', () => {
  const registry = loadRegistry(BUNDLED_REGISTRY)
  const base: GenerateOptions = { registry, seed: 1, start: START, speed: 60, durationS: 60 }

  it('gives byte-identical runs for the same seed and start', () => {
    const a = digest(base)
    expect(a.count).toBeGreaterThan(4000)
    expect(digest({ ...base, registry: loadRegistry(BUNDLED_REGISTRY) })).toEqual(a)
  })

  it('differs for another seed but keeps the same topics and timeline', () => {
    const a = [...generateMessages(base)]
    const b = [...generateMessages({ ...base, seed: 2 })]
    expect(b.map((m) => `${m.topic} ${m.ts}`)).toEqual(a.map((m) => `${m.topic} ${m.ts}`))
    const differing = a.filter((m, i) => m.payload !== b[i]?.payload).length
    expect(differing / a.length).toBeGreaterThan(0.5)
  })

  it('gives the same readings for the same instants when started later (only seq differs)', () => {
    const later = START + 3_600_000
    const strip = (payload: string): string => payload.replace(/"seq":\d+,/, '')
    const first = new Map([...generateMessages({ ...base, durationS: 120 })].map((m) => [`${m.sensor}@${m.ts}`, strip(m.payload)]))
    let overlap = 0
    for (const m of generateMessages({ ...base, start: later })) {
      const same = first.get(`${m.sensor}@${m.ts}`)
      if (same === undefined) continue
      overlap++
      expect(strip(m.payload)).toBe(same)
    }
    expect(overlap).toBeGreaterThan(1000)
  })

  it('uses the topic prefix, and counts seq per sensor from 1', () => {
    const messages = [...generateMessages({ registry: fixtureRegistry(), start: START, durationS: 600, topicPrefix: 'town' })]
    expect(messages).toHaveLength(10 * 10)
    expect(messages[0]).toMatchObject({ topic: 'town/xihu/flow/FL-1', ts: START, seq: 1 })
    expect(messages[0]?.payload).toMatch(/^\{"ts":\d+,"seq":1,"flow_m3s":[0-9.]+,"velocity_ms":[0-9.]+\}$/)
    const last = messages.filter((m) => m.sensor === 'WL-1').at(-1)
    expect(last).toMatchObject({ topic: 'town/xihu/water_level/WL-1', seq: 10, ts: START + 9 * 60_000 })
  })

  it('is endless without a duration and lazy', () => {
    const it = generateMessages({ registry, start: START })
    let n = 0
    for (const m of it) {
      if (++n === 20_000) {
        expect(m.ts).toBeGreaterThan(START)
        break
      }
    }
    expect(n).toBe(20_000)
  })

  it.each([
    [{ speed: 0 }, /speed/],
    [{ durationS: -1 }, /durationS/],
    [{ scenario: 'tsunami' }, /unknown scenario 'tsunami'/],
    [{ start: 1.5 }, /start/],
  ])('rejects %j', (bad, message) => {
    expect(() => generateMessages({ ...base, ...bad }).next()).toThrow(message)
  })
})
