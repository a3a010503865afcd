import { describe, expect, it } from 'vitest'
import { centroids, fitProjection } from '../../dashboards/web/src/projection.js'

describe('fitProjection', () => {
  const corners = [
    { lat: 30.2, lon: 120.0 },
    { lat: 30.3, lon: 120.2 },
  ]

  it('puts the north-west corner top left and the south-east corner bottom right, inside the padding', () => {
    const p = fitProjection(corners, 1000, 20)
    expect(p.project(30.3, 120.0)).toEqual({ x: 20, y: 20 })
    const se = p.project(30.2, 120.2)
    expect(se.x).toBe(980)
    expect(se.y).toBeCloseTo(p.height - 20, 0)
  })

  it('keeps the ground aspect: a degree of longitude is cos(latitude) of a degree of latitude', () => {
    const p = fitProjection(corners, 1000, 0)
    const k = Math.cos((30.25 * Math.PI) / 180)
    expect(p.height).toBeCloseTo((1000 * 0.1) / (0.2 * k), 0)
  })

  it('centres a north-south line of points and bounds the height', () => {
    const p = fitProjection([{ lat: 30.2, lon: 120.1 }, { lat: 30.3, lon: 120.1 }], 400, 10)
    expect(p.project(30.25, 120.1).x).toBe(200)
    expect(p.height).toBeLessThanOrEqual(2 * 380 + 20)
  })

  it('centres a single point and survives no points or bad coordinates', () => {
    expect(fitProjection([{ lat: 30, lon: 120 }], 500, 10).project(30, 120)).toEqual({ x: 250, y: 250 })
    expect(fitProjection([], 500, 10).height).toBe(500)
    expect(fitProjection([{ lat: Number.NaN, lon: 120 }], 500, 10).height).toBe(500)
  })
})

describe('centroids', () => {
  it('averages the points of each group', () => {
    const c = centroids(
      [
        { lat: 30, lon: 120, s: 'a' },
        { lat: 32, lon: 122, s: 'a' },
        { lat: 31, lon: 121, s: 'b' },
      ],
      (p) => p.s,
    )
    expect(c.get('a')).toEqual({ lat: 31, lon: 121, count: 2 })
    expect(c.get('b')).toEqual({ lat: 31, lon: 121, count: 1 })
  })
})
