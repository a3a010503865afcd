import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { PointColumns, PointSeries, ratePerHour } from '../../rules/evaluate-rate.js'

/** The least-squares slope per hour over plain points, as the rule defines it: the reference for the typed series. */
function slope(points: readonly { ts: number; v: number }[]): number | undefined {
  const first = points[0]
  if (first === undefined || points.length < 2) return undefined
  const xs = points.map((p) => (p.ts - first.ts) / 3_600_000)
  const mx = xs.reduce((a, b) => a + b, 0) / xs.length
  const my = points.reduce((a, p) => a + p.v, 0) / points.length
  let sxy = 0
  let sxx = 0
  points.forEach((p, i) => {
    const dx = (xs[i] as number) - mx
    sxy += dx * (p.v - my)
    sxx += dx * dx
  })
  return sxx === 0 ? undefined : sxy / sxx
}

describe('PointSeries', () => {
  it('keeps exactly the points within the window behind the latest, in order, whatever the growth and compaction', () => {
    fc.assert(
      fc.property(fc.array(fc.record({ dt: fc.integer({ min: 1, max: 120_000 }), v: fc.double({ min: -10, max: 10, noNaN: true }) }), { maxLength: 400 }), fc.integer({ min: 60_000, max: 3_600_000 }), (steps, windowMs) => {
        const series = new PointSeries()
        const plain: { ts: number; v: number }[] = []
        let ts = 1_700_000_000_000
        for (const s of steps) {
          ts += s.dt
          series.push(ts, s.v, windowMs)
          plain.push({ ts, v: s.v })
          while ((plain[0] as { ts: number }).ts < ts - windowMs) plain.shift()
          expect(Array.from({ length: series.length }, (_, i) => ({ ts: series.ts(i), v: series.v(i) }))).toEqual(plain)
          const span = ts - (plain[0] as { ts: number }).ts
          expect(ratePerHour(series, windowMs, 3)).toBe(plain.length < 3 || span < windowMs / 2 ? undefined : slope(plain))
        }
      }),
      { numRuns: 200 },
    )
  })

  it('refuses a point that is not after the last one', () => {
    const series = new PointSeries()
    series.push(1000, 1, 60_000)
    expect(() => series.push(1000, 2, 60_000)).toThrow(RangeError)
  })

  it('gives a steady rise of 0.6 m/h over an hour of one reading a second', () => {
    const series = new PointSeries()
    for (let i = 0; i <= 7200; i++) series.push(i * 1000, 2 + (0.6 * i) / 3600, 3_600_000)
    expect(series.length).toBe(3601)
    expect(ratePerHour(series, 3_600_000, 6)).toBeCloseTo(0.6, 9)
  })
})

describe('PointColumns: many subjects’ series in one table', () => {
  it('holds a single point in the row’s columns and makes the row’s array at the second', () => {
    const cols = new PointColumns(3)
    const s = new PointSeries(cols, 2)
    s.push(1000, 1.5, 60_000)
    expect(cols.pairs[2]).toBeUndefined()
    expect([s.length, s.ts(0), s.v(0)]).toEqual([1, 1000, 1.5])
    // A point that pushes the single one out of the window replaces it, still without an array.
    s.push(100_000, 2.5, 60_000)
    expect(cols.pairs[2]).toBeUndefined()
    expect([s.length, s.ts(0), s.v(0)]).toEqual([1, 100_000, 2.5])
    s.push(101_000, 3, 60_000)
    expect(cols.pairs[2]).toBeDefined()
    expect(Array.from({ length: s.length }, (_, i) => [s.ts(i), s.v(i)])).toEqual([
      [100_000, 2.5],
      [101_000, 3],
    ])
    expect(() => s.push(101_000, 3, 60_000)).toThrow(RangeError)
    cols.clear(2)
    expect([s.length, cols.pairs[2]]).toEqual([0, undefined])
  })

  it('rows pushed in any interleaving match a PointSeries of their own each', () => {
    fc.assert(
      fc.property(fc.array(fc.record({ row: fc.nat({ max: 3 }), dt: fc.integer({ min: 1, max: 90_000 }), v: fc.double({ min: -10, max: 10, noNaN: true }) }), { maxLength: 400 }), (xs) => {
        const cols = new PointColumns(4)
        const own = Array.from({ length: 4 }, () => new PointSeries())
        const ts = [0, 0, 0, 0]
        for (const x of xs) {
          ts[x.row] = (ts[x.row] as number) + x.dt
          const a = new PointSeries(cols, x.row)
          const b = own[x.row] as PointSeries
          a.push(ts[x.row] as number, x.v, 300_000)
          b.push(ts[x.row] as number, x.v, 300_000)
          expect(Array.from({ length: a.length }, (_, i) => [a.ts(i), a.v(i)])).toEqual(Array.from({ length: b.length }, (_, i) => [b.ts(i), b.v(i)]))
        }
      }),
      { numRuns: 200 },
    )
  })
})
