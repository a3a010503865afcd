import { describe, expect, it } from 'vitest'
import { distanceM, nashCdf, pondingDepthCm, riverRiseM, routedRain, sewerRiseM } from '../../simulators/hydrology.js'
import type { RainDepth } from '../../simulators/hydrology.js'
import { rainDepth } from '../../simulators/timeline.js'
import type { RainPhase } from '../../simulators/timeline.js'

const H = 3600
/** 40 mm/h from hour 1 to hour 3, dry otherwise. */
const phases: RainPhase[] = [{ startS: H, durationS: 2 * H, fromMmH: 40, toMmH: 40 }]
const rain: RainDepth = (t0, t1) => rainDepth(phases, t0, t1)

describe('hydrology', () => {
  it('integrates a linear rain ramp exactly', () => {
    expect(rainDepth([{ startS: 0, durationS: H, fromMmH: 0, toMmH: 60 }], 0, H)).toBeCloseTo(30, 9)
    expect(rainDepth(phases, 0, 2 * H)).toBeCloseTo(40, 9)
    expect(rainDepth(phases, 4 * H, 5 * H)).toBe(0)
  })

  it.each([1, 2, 3])('nashCdf(n = %i) rises from 0 to 1', (n) => {
    expect(nashCdf(0, n)).toBe(0)
    expect(nashCdf(1, n)).toBeGreaterThan(0)
    expect(nashCdf(40, n)).toBeCloseTo(1, 9)
  })

  it('is zero before the rain, rises with it toward the rain rate, and recedes after it', () => {
    const res = { kS: 900, n: 2 }
    expect(routedRain(rain, 0.5 * H, res)).toBe(0)
    const early = routedRain(rain, 1.25 * H, res)
    const late = routedRain(rain, 2.9 * H, res)
    expect(early).toBeGreaterThan(0)
    expect(late).toBeGreaterThan(early)
    expect(late).toBeCloseTo(40, 0)
    const after = [3.25, 3.5, 4, 5].map((h) => routedRain(rain, h * H, res))
    for (let i = 1; i < after.length; i++) expect(after[i]).toBeLessThan(after[i - 1] as number)
    expect(after.at(-1)).toBeLessThan(0.5)
  })

  it('peaks later and lower downstream (travel delay and slower reservoirs)', () => {
    const peak = (res: { kS: number; n: number; delayS?: number }): { t: number; q: number } => {
      let best = { t: 0, q: 0 }
      for (let t = 0; t < 12 * H; t += 300) {
        const q = routedRain(rain, t, res)
        if (q > best.q) best = { t, q }
      }
      return best
    }
    const upstream = peak({ kS: 4500, n: 3 })
    const downstream = peak({ kS: 4500, n: 3, delayS: 3000 })
    expect(downstream.t - upstream.t).toBeGreaterThanOrEqual(2700)
    expect(downstream.q).toBeCloseTo(upstream.q, 6)
    expect(peak({ kS: 9000, n: 3 }).q).toBeLessThan(upstream.q)
  })

  it('maps routed rain to depths and levels', () => {
    expect(pondingDepthCm(10, 20, 1)).toBe(0)
    expect(pondingDepthCm(50, 20, 0.9)).toBeCloseTo(27, 9)
    expect(sewerRiseM(0, 60, { invertM: 0.1, pipeDiameterM: 0.6, depthM: 3 }, 0.3)).toBe(0)
    const geometry = { invertM: 0.1, pipeDiameterM: 0.6, depthM: 3 }
    // At the design rain: halfway from the crown (0.7) to the rim (3): 1.85 m.
    expect(0.3 + sewerRiseM(60, 60, geometry, 0.3)).toBeCloseTo(1.85, 9)
    // Never more than 70 % of the way to the rim.
    expect(0.3 + sewerRiseM(600, 60, geometry, 0.3)).toBeLessThanOrEqual(0.7 + 0.7 * 2.3 + 1e-9)
    expect(riverRiseM(16, 16, 2.9, 3.5)).toBeCloseTo(0.6, 9)
  })

  it('measures distances on the sphere', () => {
    expect(distanceM(30, 120, 30.01, 120)).toBeCloseTo(1112, -1)
  })
})
