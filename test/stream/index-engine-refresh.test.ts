import { pino } from 'pino'
import { afterEach, describe, expect, it } from 'vitest'
import { benchRegistry } from '../../bench/bench-registry.js'
import { indexRegistry } from '../../registry/registry-index.js'
import { createIndexEngine, type IndexEngine } from '../../stream/index-engine.js'
import { waitFor } from '../helpers/wait-for.js'

describe('index refresh on the real clock', () => {
  let engine: IndexEngine | undefined
  afterEach(() => engine?.close())

  it('recomputes every key a few at a time, so the loop is never held for all of them', async () => {
    const registry = indexRegistry(benchRegistry(8))
    const keys = registry.registry.segments.length + new Set(registry.registry.segments.map((s) => s.district)).size
    expect(keys).toBeGreaterThan(100)
    engine = createIndexEngine({ registry: () => registry, clock: { now: () => Date.now() }, latenessS: 120, logger: pino({ level: 'silent' }), refreshMs: 50 })
    const seen = new Set<string>()
    let inTurn = 0
    let maxInTurn = 0
    let turnEnd: NodeJS.Immediate | undefined
    engine.updates$.subscribe((u) => {
      if (!u.refresh) return
      seen.add(u.key)
      inTurn++
      maxInTurn = Math.max(maxInTurn, inTurn)
      turnEnd ??= setImmediate(() => {
        turnEnd = undefined
        inTurn = 0
      })
    })
    await waitFor(() => seen.size === keys, { timeoutMs: 10_000, message: `a refresh of all ${keys} keys` })
    expect(maxInTurn).toBeGreaterThan(0)
    // 16 per slice; on a loaded machine two slices' timers can fall between two check phases, so this counts
    // up to 32. All of them at once (the refresh before slicing) would be every key.
    expect(maxInTurn).toBeLessThanOrEqual(32)
    expect(maxInTurn).toBeLessThan(keys / 4)
  })
})
