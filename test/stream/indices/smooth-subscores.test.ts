import { describe, expect, it } from 'vitest'
import {
  bandOfSmooth,
  depthSubscore,
  effectiveHistoricMax,
  levelOfBand,
  riverLevelsOf,
  riverLevelSubscore,
  sedimentSubscore,
  smoothSubscore,
  smoothUpperEdge,
  wellGeometryOf,
  wellSubscore,
  type RiverLevels,
} from '../../../stream/indices/smooth-subscores.js'
import { GAUGE_PARAMS, MANHOLE_PARAMS, manholeAtFill, manholeAtSurcharge, PIPE_PARAMS, sensor } from './fixtures.js'

const LEVELS: RiverLevels = { ...GAUGE_PARAMS, nearMarginM: 0.2, offsetM: 0 }

describe('ponding and tunnel depth (INDICES.md §2, Dc 27)', () => {
  it.each([
    [-1, 100],
    [0, 100],
    [2, 100],
    [3, 93.333333333],
    [5, 80],
    [6, 78],
    [10, 70],
    [15, 60],
    [18, 55],
    [27, 40],
    [28, 38.461538462],
    [40, 20],
    [45, 10],
    [50, 0],
    [60, 0],
  ])('%d cm scores %d', (d, s) => {
    expect(depthSubscore(d)).toBeCloseTo(s, 8)
  })

  it('follows the closure depth of the sensor', () => {
    expect(depthSubscore(30, 30)).toBe(40)
    expect(depthSubscore(25, 25)).toBe(40)
    expect(smoothSubscore(sensor('TD', 'tunnel_depth', { closureCm: 30 }), 30)).toBe(40)
    expect(smoothSubscore(sensor('TD', 'tunnel_depth'), 27)).toBe(40)
  })
})

describe('manhole and pipe level (INDICES.md §2)', () => {
  const g = { invertM: 0.2, pipeDiameterM: 0.8, depthM: 3.2 }
  it.each([
    ['f 0', manholeAtFill(0), 100],
    ['f 0.35', manholeAtFill(0.35), 100],
    ['f 0.5', manholeAtFill(0.5), 100],
    ['f 0.62', manholeAtFill(0.62), 95.2],
    ['f 0.9', manholeAtFill(0.9), 84],
    ['f 1 (crown)', manholeAtFill(1), 80],
    ['r 0.3', manholeAtSurcharge(0.3), 68],
    ['r 0.5', manholeAtSurcharge(0.5), 60],
    ['rim', 3.2, 40],
    ['0.075 m above the rim', 3.275, 30],
    ['0.15 m above the rim', 3.35, 20],
    ['1 m above the rim', 4.2, 20],
  ])('%s scores %d', (_case, level, s) => {
    expect(wellSubscore(level, g)).toBeCloseTo(s, 8)
  })

  it('reads geometry from params; pipe_level has invert 0; no geometry, no score', () => {
    expect(wellGeometryOf(sensor('MH', 'manhole_level', MANHOLE_PARAMS))).toEqual(MANHOLE_PARAMS)
    expect(wellGeometryOf(sensor('MH', 'manhole_level', { pipeDiameterM: 0.8, depthM: 3 }))).toEqual({ invertM: 0, pipeDiameterM: 0.8, depthM: 3 })
    expect(wellGeometryOf(sensor('PL', 'pipe_level', PIPE_PARAMS))).toEqual({ invertM: 0, ...PIPE_PARAMS })
    expect(smoothSubscore(sensor('PL', 'pipe_level', PIPE_PARAMS), 1.0)).toBe(80)
    expect(smoothSubscore(sensor('MH', 'manhole_level', {}), 1.0)).toBeUndefined()
    expect(smoothSubscore(sensor('MH', 'manhole_level', { pipeDiameterM: 1, depthM: 1 }), 0.5)).toBeUndefined()
  })
})

describe('river level (INDICES.md §2: Hn 2.90, Hw 3.50, Hg 3.90, Hx 4.20)', () => {
  it.each([
    [2.0, 100],
    [2.85, 100],
    [2.9, 100],
    [3.1, 90],
    [3.3, 80],
    [3.38, 72],
    [3.5, 60],
    [3.7, 50],
    [3.9, 40],
    [4.2, 20],
    [4.45, 10],
    [4.7, 0],
    [6, 0],
  ])('%d m scores %d', (h, s) => {
    expect(riverLevelSubscore(h, LEVELS)).toBeCloseTo(s, 8)
  })

  it("uses Hx′ = max(Hx, Hg + 0.3) so a low historic maximum makes no cliff", () => {
    const low = { ...LEVELS, historicMaxLevelM: 3.8 }
    expect(effectiveHistoricMax(low)).toBeCloseTo(4.2, 12)
    expect(riverLevelSubscore(4.2, low)).toBeCloseTo(20, 8)
    expect(riverLevelSubscore(4.7, low)).toBe(0)
  })

  it('adds offsetM to level_m and defaults Δ to 0.2', () => {
    const levels = riverLevelsOf(sensor('WL', 'water_level', { ...GAUGE_PARAMS, offsetM: 1.0 }))
    expect(levels).toEqual({ ...LEVELS, offsetM: 1.0 })
    expect(riverLevelSubscore(2.5, levels as RiverLevels)).toBe(60)
    expect(riverLevelSubscore(3.35, { ...LEVELS, nearMarginM: 0.3 })).toBeCloseTo(70, 8)
  })
})

describe('sediment ratio (INDICES.md §2)', () => {
  it.each([
    [0, 100],
    [0.1, 100],
    [0.15, 90],
    [0.2, 80],
    [0.3, 60],
    [0.4, 40],
    [0.5, 20],
    [0.9, 20],
  ])('k %d scores %d', (k, s) => {
    expect(sedimentSubscore(k * 1.2, 1.2)).toBeCloseTo(s, 8)
  })
})

describe('bands', () => {
  it.each([
    [100, 'normal', 0, 100],
    [80, 'normal', 0, 100],
    [79.9, 'blue', 1, 80],
    [60, 'blue', 1, 80],
    [59.9, 'yellow', 2, 60],
    [40, 'yellow', 2, 60],
    [39.9, 'orange', 3, 40],
    [20, 'orange', 3, 40],
    [19.9, 'red', 4, 20],
    [0, 'red', 4, 20],
  ] as const)('%d is %s, level %d, upper edge %d', (s, band, level, upper) => {
    expect(bandOfSmooth(s)).toBe(band)
    expect(levelOfBand(band)).toBe(level)
    expect(smoothUpperEdge(s)).toBe(upper)
  })
})
