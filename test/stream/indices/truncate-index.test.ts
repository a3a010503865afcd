import { describe, expect, it } from 'vitest'
import { roundHalfEven } from '../../../stream/indices/round-half-even.js'
import { truncateIndex } from '../../../stream/indices/truncate-index.js'

describe('truncateIndex', () => {
  it.each([
    // x, U, value
    [76.60873, 80, 76.6],
    [48.812121, 60, 48.8],
    [96.62, 100, 96.6],
    [55.736111, 60, 55.7],
    [50.99999999999, 60, 51.0],
    [79.99, 80, 79.9],
    [79.9999999, 80, 79.9],
    [100, 100, 100],
    [0, 20, 0],
    [19.95, 20, 19.9],
    [42, 60, 42],
  ])('truncates %d below band edge %d to %d', (x, upper, value) => {
    expect(truncateIndex(x, upper)).toBe(value)
  })
})

describe('roundHalfEven', () => {
  it.each([
    [0.0425, 3, 0.042],
    [0.0435, 3, 0.044],
    [6.805, 2, 6.8],
    [6.815, 2, 6.82],
    [7.125, 2, 7.12],
    [0.1235, 3, 0.124],
    [1.0004, 3, 1.0],
    [1.0006, 3, 1.001],
    [2.5, 0, 2],
    [3.5, 0, 4],
    [-0.0425, 3, -0.042],
    [0.3333333, 2, 0.33],
    // Near a tie but not one: 3,910,033.496 scaled is 0.0039 from the half (a property run found it).
    [391.0033496089967, 4, 391.0033],
    [391.0033503910033, 4, 391.0034],
    [1000.00005, 4, 1000],
    [999.99995, 4, 1000],
  ])('rounds %d to %d decimals as %d', (x, d, out) => {
    expect(roundHalfEven(x, d)).toBe(out)
  })
})
