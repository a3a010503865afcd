import { beforeAll, describe, expect, it } from 'vitest'
import { BUNDLED_REGISTRY } from '../../config.js'
import type { Registry } from '../../domain.js'
import { loadRegistry } from '../../registry/load-registry.js'
import { generateMessages } from '../../simulators/generate-messages.js'

/** Local midnight of a Friday: the rushes of parking-rush.json fall at 07:00-10:30 and 17:30-21:30. */
const START = Date.parse('2026-11-27T00:00:00+08:00')
const H = 3_600_000

describe('scenario parking-rush', () => {
  let registry: Registry
  let rows: Map<string, { ts: number; occupied: number; capacity: number }[]>
  beforeAll(() => {
    registry = loadRegistry(BUNDLED_REGISTRY)
    rows = new Map()
    for (const m of generateMessages({ registry, scenario: 'parking-rush', seed: 1, start: START, durationS: 24 * 3600 })) {
      if (!m.topic.includes('/parking/')) continue
      const p = JSON.parse(m.payload) as { ts: number; occupied: number; capacity: number }
      rows.set(m.sensor, [...(rows.get(m.sensor) ?? []), p])
    }
  })
  const full = (r: { occupied: number; capacity: number }): boolean => r.capacity - r.occupied <= Math.max(2, Math.ceil(0.03 * r.capacity))
  const lotsFullBetween = (from: number, to: number): string[] =>
    [...rows].filter(([, list]) => list.some((r) => r.ts >= START + from * H && r.ts < START + to * H && full(r))).map(([id]) => id)

  it('fills several lots to full in the morning rush and in the evening rush', () => {
    expect(lotsFullBetween(7, 11).length).toBeGreaterThanOrEqual(4)
    expect(lotsFullBetween(17.5, 22).length).toBeGreaterThanOrEqual(4)
  })

  it('releases them: nobody is full at night or in the early afternoon', () => {
    expect(lotsFullBetween(0, 6.5)).toEqual([])
    expect(lotsFullBetween(12, 17)).toEqual([])
    expect(lotsFullBetween(22.5, 24)).toEqual([])
  })

  it('never reports more cars than spaces or fewer than none', () => {
    for (const list of rows.values()) for (const r of list) expect(r.occupied >= 0 && r.occupied <= r.capacity && Number.isInteger(r.occupied)).toBe(true)
  })

  it('is deterministic for a seed and a start', () => {
    const payloads = (seed: number): string[] => [...generateMessages({ registry, scenario: 'parking-rush', seed, start: START + 8 * H, durationS: 1800 })].map((m) => m.payload)
    expect(payloads(3)).toEqual(payloads(3))
    expect(payloads(4)).not.toEqual(payloads(3))
  })
})
