import { describe, expect, it } from 'vitest'
import {
  classLimit,
  classOfScore,
  classOfValue,
  clearSubscore,
  clearUpperEdge,
  doSubscore,
  gradeOfClass,
  phSubscore,
  type ClearParameter,
  type WaterBodyType,
  type WaterClass,
} from '../../../stream/indices/clear-subscores.js'

describe('clear-water sub-scores (INDICES.md §1 anchor checks)', () => {
  it.each([
    [0, 100],
    [0.15, 90],
    [0.5, 80],
    [1.0, 60],
    [1.5, 40],
    [2.0, 20],
    [3.0, 10],
    [4.0, 0],
    [9.0, 0],
  ])('NH3-N %d mg/L scores %d', (c, s) => {
    expect(clearSubscore('nh3n_mgl', c, 'river')).toBe(s)
  })

  it.each([
    [12, 100],
    [9, 100],
    [8.25, 95],
    [7.5, 90],
    [6, 80],
    [5, 60],
    [3, 40],
    [2, 20],
    [1, 10],
    [0, 0],
  ])('DO %d mg/L scores %d', (c, s) => {
    expect(doSubscore(c)).toBe(s)
  })

  it.each([
    [7, 100],
    [6, 90],
    [9, 90],
    [6.5, 95],
    [8, 95],
    [5.5, 10],
    [9.5, 10],
    [5, 0],
    [10, 0],
    [4, 0],
    [11, 0],
  ])('pH %d scores %d', (ph, s) => {
    expect(phSubscore(ph)).toBe(s)
  })

  it.each([
    ['river', 0.08, 82.5],
    ['lake', 0.08, 48.0],
    ['river', 0.02, 90],
    ['river', 0.4, 20],
    ['river', 0.8, 0],
    ['lake', 0.01, 90],
    ['lake', 0.2, 20],
  ] as const)('TP %s %d mg/L scores %d', (type, c, s) => {
    expect(clearSubscore('tp_mgl', c, type)).toBeCloseTo(s, 9)
  })

  it.each([
    [0, 100],
    [2, 90],
    [4, 80],
    [6, 60],
    [10, 40],
    [15, 20],
    [30, 0],
    [3.6, 82],
    [5.2, 68],
  ])('COD_Mn %d mg/L scores %d', (c, s) => {
    expect(clearSubscore('codmn_mgl', c, 'river')).toBeCloseTo(s, 9)
  })

  it.each([
    ['do_mgl', 6.8, 85.333333],
    ['nh3n_mgl', 0.42, 82.285714],
    ['codmn_mgl', 3.6, 82.0],
    ['tp_mgl', 0.12, 76.0],
    ['ph', 7.4, 98.0],
    ['do_mgl', 4.1, 51.0],
    ['nh3n_mgl', 1.32, 47.2],
    ['codmn_mgl', 5.2, 68.0],
    ['tp_mgl', 0.18, 64.0],
    ['ph', 7.9, 95.5],
  ] as const)('worked-example %s %d scores %d', (p, c, s) => {
    expect(clearSubscore(p, c, 'river')).toBeCloseTo(s, 6)
  })
})

describe('classes and grades', () => {
  it.each([
    [100, 1, 'excellent', 100],
    [90, 1, 'excellent', 100],
    [89.99, 2, 'excellent', 90],
    [80, 2, 'excellent', 90],
    [79.9, 3, 'good', 80],
    [60, 3, 'good', 80],
    [59.9, 4, 'slightly_polluted', 60],
    [40, 4, 'slightly_polluted', 60],
    [39.9, 5, 'moderately_polluted', 40],
    [20, 5, 'moderately_polluted', 40],
    [19.9, 6, 'heavily_polluted', 20],
    [0, 6, 'heavily_polluted', 20],
  ] as const)('a score of %d is class %d, %s, upper edge %d', (s, cls, grade, upper) => {
    expect(classOfScore(s)).toBe(cls)
    expect(gradeOfClass(cls as WaterClass)).toBe(grade)
    expect(clearUpperEdge(s)).toBe(upper)
  })

  it.each([
    ['nh3n_mgl', 'river', [0.15, 0.5, 1.0, 1.5, 2.0]],
    ['tp_mgl', 'river', [0.02, 0.1, 0.2, 0.3, 0.4]],
    ['tp_mgl', 'lake', [0.01, 0.025, 0.05, 0.1, 0.2]],
    ['codmn_mgl', 'lake', [2, 4, 6, 10, 15]],
    ['do_mgl', 'river', [7.5, 6, 5, 3, 2]],
  ] as const)('a value on a %s class limit (%s) belongs to the better class', (p, type, limits) => {
    limits.forEach((limit, i) => {
      expect(classLimit(p as ClearParameter, i + 1, type as WaterBodyType)).toBe(limit)
      expect(classOfValue(p as ClearParameter, limit, type as WaterBodyType)).toBe(i + 1)
    })
  })

  it('pH has no class limit', () => {
    expect(classLimit('ph', 3, 'river')).toBeUndefined()
  })
})
