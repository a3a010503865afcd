import { describe, expect, it } from 'vitest'
import { duplicateFilter } from '../../ingest/duplicate-filter.js'

describe('duplicateFilter', () => {
  it('reports a (sensor, ts) seen within the horizon and forgets it after', () => {
    let now = 0
    const filter = duplicateFilter({ clock: { now: () => now }, horizonMs: 1000 })
    expect(filter.seen('A', 5)).toBe(false)
    expect(filter.seen('A', 5)).toBe(true)
    expect(filter.seen('B', 5)).toBe(false)
    expect(filter.seen('A', 6)).toBe(false)
    now = 999
    expect(filter.seen('A', 5)).toBe(true)
    now = 1000
    expect(filter.seen('A', 7)).toBe(false)
    expect(filter.seen('A', 5)).toBe(false)
  })

  it('keeps memory bounded by the horizon', () => {
    let now = 0
    const filter = duplicateFilter({ clock: { now: () => now }, horizonMs: 100 })
    for (let i = 0; i < 10_000; i++) {
      now = i
      filter.seen('A', i)
    }
    expect(filter.size).toBeLessThanOrEqual(101)
  })
})

describe('duplicateFilter.forget', () => {
  it('takes a pair back so the same reading is accepted again', () => {
    const filter = duplicateFilter({ clock: { now: () => 0 } })
    expect(filter.seen('A', 1)).toBe(false)
    filter.forget('A', 1)
    expect(filter.size).toBe(0)
    expect(filter.seen('A', 1)).toBe(false)
    expect(filter.seen('A', 1)).toBe(true)
  })
})
