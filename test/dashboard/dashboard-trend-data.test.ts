import { describe, expect, it } from 'vitest'
import { createTrendStore } from '../../dashboards/web/src/trend-data.js'
import type { HistoryPoint, IndexEntry } from '../../dashboards/web/src/types.js'

const T0 = Date.parse('2026-11-27T10:00:00.000Z')
const MIN = 60_000
const point = (segment: string, index: 'clear' | 'smooth', minutes: number, value: number): HistoryPoint => ({
  district: 'xihu', segment, index, time: new Date(T0 + minutes * MIN).toISOString(), value,
})

describe('createTrendStore', () => {
  it('aligns the series of one index on their times, district first, null where a series has no point', () => {
    const store = createTrendStore({ windowMs: 60 * MIN, bucketMs: MIN })
    store.addHistory([point('zone-4', 'smooth', 5, 60), point('_all', 'smooth', 0, 70), point('_all', 'smooth', 5, 65), point('xixi-river-1', 'clear', 0, 80)])
    const { series, data } = store.aligned('smooth', T0 + 10 * MIN)
    expect(series.map((s) => s.segment)).toEqual(['_all', 'zone-4'])
    expect(data).toEqual([[T0 / 1000, (T0 + 5 * MIN) / 1000], [70, 65], [null, 60]])
  })

  it('appends live values, one per bucket, replacing within the bucket', () => {
    const store = createTrendStore({ windowMs: 60 * MIN, bucketMs: MIN })
    const entry = (v: number): IndexEntry => ({ segment: 'zone-4', district: 'xihu', type: 'drainage', clear: null, smooth: { value: v, band: 'yellow' } })
    expect(store.addLive(entry(55.7), T0 + 1_000)).toBe(true)
    expect(store.addLive(entry(55.7), T0 + 20_000)).toBe(false)
    expect(store.addLive(entry(54.1), T0 + 30_000)).toBe(true)
    expect(store.addLive(entry(50), T0 + MIN + 1)).toBe(true)
    expect(store.series('smooth')[0]?.points).toEqual([[T0, 54.1], [T0 + MIN, 50]])
  })

  it('plots a live event at its event time `at`, in order even when it is older than the last point', () => {
    const store = createTrendStore({ windowMs: 12 * 60 * MIN, bucketMs: MIN })
    const entry = (v: number, minutes: number): IndexEntry => ({ segment: 'zone-4', district: 'xihu', type: 'drainage', clear: null, smooth: { value: v, band: 'yellow' }, at: new Date(T0 + minutes * MIN).toISOString() })
    const now = T0 + 600 * MIN
    expect(store.addLive(entry(90, 10), now)).toBe(true)
    expect(store.addLive(entry(80, 30), now)).toBe(true)
    expect(store.addLive(entry(85, 20), now)).toBe(true)
    expect(store.addLive(entry(85, 20), now)).toBe(false)
    expect(store.series('smooth')[0]?.points).toEqual([[T0 + 10 * MIN, 90], [T0 + 20 * MIN, 85], [T0 + 30 * MIN, 80]])
  })

  it('skips indices without a value and files district entries under _all', () => {
    const store = createTrendStore({ windowMs: 60 * MIN, bucketMs: MIN })
    store.addLive({ district: 'xihu', clear: { value: null, reason: 'no_inputs' }, smooth: { value: 90, band: 'normal' } }, T0)
    expect(store.series('clear')).toEqual([])
    expect(store.series('smooth').map((s) => s.segment)).toEqual(['_all'])
  })

  it('drops points older than the window', () => {
    const store = createTrendStore({ windowMs: 30 * MIN, bucketMs: MIN })
    store.addHistory([point('_all', 'clear', 0, 70), point('_all', 'clear', 40, 71)])
    expect(store.aligned('clear', T0 + 60 * MIN).data).toEqual([[(T0 + 40 * MIN) / 1000], [71]])
  })

  it('keeps history that arrives after live values in time order', () => {
    const store = createTrendStore({ windowMs: 60 * MIN, bucketMs: MIN })
    store.addLive({ district: 'xihu', clear: { value: 72, class: 3 }, smooth: null }, T0 + 30 * MIN)
    store.addHistory([point('_all', 'clear', 10, 70), point('_all', 'clear', 30, 71.5)])
    expect(store.series('clear')[0]?.points).toEqual([[T0 + 10 * MIN, 70], [T0 + 30 * MIN, 71.5]])
  })
})
