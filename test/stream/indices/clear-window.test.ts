import { describe, expect, it } from 'vitest'
import {
  clearConfidence,
  clearMean,
  clearMinValidCount,
  clearWindow,
  clearWindowMs,
  expectedClearParameters,
  stationMedian,
} from '../../../stream/indices/clear-window.js'
import type { TimedValue } from '../../../stream/indices/timed-value.js'
import { HOUR, MIN, sensor, T0 } from './fixtures.js'

describe('clear-water windows (INDICES.md §1 Windows)', () => {
  it.each([
    // intervalS, W (h), min valid count
    [60, 2, 60],
    [300, 2, 12],
    [600, 2, 6],
    [1800, 2, 2],
    [3600, 3, 1],
    [14400, 12, 1],
  ])('a station every %d s has W = %d h and needs %d good readings', (intervalS, hours, count) => {
    expect(clearWindowMs(intervalS)).toBe(hours * HOUR)
    expect(clearMinValidCount(intervalS)).toBe(count)
  })

  it.each([
    ['do_mgl', [6.8, 6.81], 6.8],
    ['do_mgl', [6.8, 6.83], 6.82],
    ['nh3n_mgl', [0.042, 0.043], 0.042],
    ['nh3n_mgl', [0.043, 0.044], 0.044],
    ['tp_mgl', [0.1, 0.2, 0.2], 0.167],
    ['codmn_mgl', [3.6], 3.6],
    ['ph', [7, 8], 7.26],
    ['ph', [7.4, 7.4], 7.4],
    ['ph', [6, 9], 6.3],
  ] as const)('the mean of %s %o is %d (half to even; pH through 10^−pH)', (p, values, mean) => {
    expect(clearMean(p, values)).toBe(mean)
  })

  it.each([
    ['do_mgl', [6.8], 6.8],
    ['do_mgl', [6.8, 7.0], 6.9],
    ['do_mgl', [5, 6.8, 7.0], 6.8],
    ['do_mgl', [5, 6, 7, 100], 6.5],
    ['ph', [7, 8], 7.26],
    ['ph', [6, 7, 9], 7],
  ] as const)('the station median of %s %o is %d', (p, values, median) => {
    expect(stationMedian(p, values)).toBe(median)
  })

  const hourly = (n: number, value: number, quality: TimedValue['quality'] = 'good'): TimedValue[] =>
    Array.from({ length: n }, (_, i) => ({ ts: T0 - i * HOUR, value, quality }))

  it('an hourly station is valid with one good reading in the trailing 3 h', () => {
    const w = clearWindow({ parameter: 'do_mgl', readings: [{ ts: T0 - 2 * HOUR, value: 6.5, quality: 'good' }], latestTs: T0, intervalS: 3600 })
    expect(w).toMatchObject({ value: 6.5, valid: true, held: false, count: 1 })
  })

  it('excludes readings at exactly W before the latest and suspect readings', () => {
    const readings: TimedValue[] = [
      { ts: T0 - 3 * HOUR, value: 1, quality: 'good' },
      { ts: T0 - 2 * HOUR, value: 6, quality: 'good' },
      { ts: T0 - HOUR, value: 7, quality: 'good' },
      { ts: T0, value: 30, quality: 'suspect' },
    ]
    expect(clearWindow({ parameter: 'do_mgl', readings, latestTs: T0, intervalS: 3600 })).toMatchObject({ value: 6.5, count: 2 })
  })

  it('a 5-minute station needs 12 good readings in 2 h', () => {
    const readings = Array.from({ length: 12 }, (_, i): TimedValue => ({ ts: T0 - i * 5 * MIN, value: 0.5, quality: i === 0 ? 'suspect' : 'good' }))
    expect(clearWindow({ parameter: 'nh3n_mgl', readings, latestTs: T0, intervalS: 300 })).toMatchObject({ valid: false, value: null, count: 11 })
  })

  it('an invalid window holds the last valid value for at most W more', () => {
    const readings = hourly(3, 6, 'suspect')
    const lastValid = { value: 6.2, ts: T0 - 3 * HOUR }
    expect(clearWindow({ parameter: 'do_mgl', readings, latestTs: T0, intervalS: 3600, lastValid })).toMatchObject({ value: 6.2, valid: false, held: true })
    expect(clearWindow({ parameter: 'do_mgl', readings, latestTs: T0 + 1, intervalS: 3600, lastValid })).toMatchObject({ value: null, held: false })
  })

  it('confidence is the share of expected windows (measures among the five) that are valid', () => {
    const a = sensor('WQ-1', 'water_quality', { measures: ['do_mgl', 'nh3n_mgl', 'codmn_mgl', 'tp_mgl', 'ph', 'temp_c'] }, 3600)
    const b = sensor('WQ-2', 'water_quality', { measures: ['do_mgl', 'ph', 'turbidity_ntu'] }, 3600)
    expect(expectedClearParameters(b)).toEqual(['do_mgl', 'ph'])
    expect(
      clearConfidence([
        { sensor: a, valid: new Set(['do_mgl', 'nh3n_mgl', 'tp_mgl', 'ph'] as const) },
        { sensor: b, valid: new Set(['do_mgl'] as const) },
      ]),
    ).toBeCloseTo(5 / 7, 12)
    expect(clearConfidence([])).toBe(0)
  })
})
