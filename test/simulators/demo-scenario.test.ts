import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { BUNDLED_REGISTRY } from '../../config.js'
import { loadRegistry } from '../../registry/load-registry.js'
import { demoScenario } from '../../simulators/demo-scenario.js'
import { generateMessages } from '../../simulators/generate-messages.js'
import { parseScenarioFile } from '../../simulators/scenario-file.js'

describe('the demo scenario', () => {
  it('is a valid scenario file whose storms take underpasses past closure depth and let them drain again', () => {
    const file = demoScenario(2)
    expect(() => parseScenarioFile(file, 'demo')).not.toThrow()
    const registry = loadRegistry(BUNDLED_REGISTRY)
    const path = join(mkdtempSync(join(tmpdir(), 'cw-demo-scn-')), 'demo.json')
    writeFileSync(path, JSON.stringify(file))
    const start = Date.parse('2026-11-27T00:00:00Z')
    const peaks = new Map<number, number>()
    const lows = new Map<number, number>()
    for (const m of generateMessages({ registry, scenario: path, seed: 1, start, speed: 1, durationS: 2 * 3600 })) {
      if (!m.topic.includes('/tunnel_depth/')) continue
      const { ts, depth_cm } = JSON.parse(m.payload) as { ts: number; depth_cm: number }
      const half = Math.floor((ts - start) / 1_800_000)
      peaks.set(half, Math.max(peaks.get(half) ?? 0, depth_cm))
      // The deepest underpass just before the next storm: it has drained well below the closure depth.
      if ((ts - start) % 1_800_000 < 60_000 && ts > start + 60_000) lows.set(half, Math.max(lows.get(half) ?? 0, depth_cm))
    }
    // Every half hour a storm: from dry ground the first stays below closure (yellow); each later one takes some
    // underpass past 27 cm, and they drain before the next.
    expect(peaks.get(0)).toBeGreaterThan(15)
    expect([...peaks.entries()].filter(([half]) => half > 0).every(([, p]) => p > 27)).toBe(true)
    expect([...lows.values()].every((d) => d < 15)).toBe(true)
  })
})
