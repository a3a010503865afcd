import { describe, expect, it } from 'vitest'
import { CLEAR_ALERT_OPTIONS, INITIAL_CLEAR_ALERT_STATE, stepClearAlert } from '../../../stream/indices/alert-level-machine.js'
import { clearWaterIndex, type ClearIndex } from '../../../stream/indices/clear-water-index.js'
import type { ClearValues } from '../../../stream/indices/clear-subscores.js'
import { districtClearIndex, type DistrictClearSegment } from '../../../stream/indices/district-clear-index.js'
import { MIN, T0 } from './fixtures.js'

const A: ClearValues = { do_mgl: 6.8, nh3n_mgl: 0.42, codmn_mgl: 3.6, tp_mgl: 0.12, ph: 7.4 }
const B: ClearValues = { do_mgl: 4.1, nh3n_mgl: 1.32, codmn_mgl: 5.2, tp_mgl: 0.18, ph: 7.9 }

function indexOf(values: ClearValues, targetClass = 3): ClearIndex {
  const r = clearWaterIndex(values, { waterType: 'river', targetClass })
  if (r.value === null) throw new Error(r.reason)
  return r
}

describe('clear-water worked examples (INDICES.md §1, river, target class III)', () => {
  it.each([
    ['A', A, [85.333333, 82.285714, 82.0, 76.0, 98.0], 83.304762, 76.60873, 76.6, 3, 'good', 'tp_mgl'],
    ['B', B, [51.0, 47.2, 68.0, 64.0, 95.5], 60.5, 48.812121, 48.8, 4, 'slightly_polluted', 'nh3n_mgl'],
  ] as const)('segment %s: sub-scores, S, index and class', (_name, values, subs, mean, raw, value, cls, grade, limiting) => {
    const r = indexOf(values)
    const s = r.subScores
    ;[s.do_mgl, s.nh3n_mgl, s.codmn_mgl, s.tp_mgl, s.ph].forEach((got, i) => expect(got).toBeCloseTo(subs[i] as number, 6))
    expect(r.mean).toBeCloseTo(mean, 6)
    expect(r.raw).toBeCloseTo(raw, 6)
    expect(r.value).toBe(value)
    expect(r.class).toBe(cls)
    expect(r.grade).toBe(grade)
    expect(r.limiting).toBe(limiting)
    expect(r.flags).toEqual([])
    expect(r.confidence).toBe(1)
  })

  it('gives q = 0.304365 for A and 0.251894 for B', () => {
    const q = (r: ClearIndex, sMin: number, upper: number) => (2 * (r.raw - sMin)) / (upper - sMin)
    expect(q(indexOf(A), 76, 80)).toBeCloseTo(0.304365, 6)
    expect(q(indexOf(B), 47.2, 60)).toBeCloseTo(0.251894, 6)
  })

  it('A has no exceedance of class III; B exceeds on DO and NH3-N', () => {
    expect(indexOf(A).exceedances).toEqual([])
    expect(indexOf(B).exceedances).toEqual([
      { parameter: 'do_mgl', value: 4.1, limit: 5, multiple: 0.18 },
      { parameter: 'nh3n_mgl', value: 1.32, limit: 1.0, multiple: 0.32 },
    ])
  })

  it('B, one class below target, raises a blue alert after two evaluations', () => {
    const input = { value: indexOf(B).value, limiting: indexOf(B).limiting, targetClass: 3, doMgl: 4.1, nh3nMgl: 1.32 }
    const s1 = stepClearAlert(INITIAL_CLEAR_ALERT_STATE, input, T0, CLEAR_ALERT_OPTIONS)
    expect(s1.level).toBe(0)
    const s2 = stepClearAlert(s1, input, T0 + 5 * MIN, CLEAR_ALERT_OPTIONS)
    expect(s2.level).toBe(1)
  })
})

describe('clear-water coverage and output', () => {
  it.each([
    [{ nh3n_mgl: 0.4, tp_mgl: 0.1, codmn_mgl: 3, ph: 7 }, 'no value for do_mgl'],
    [{ do_mgl: 7, tp_mgl: 0.1, codmn_mgl: 3, ph: 7 }, 'no value for nh3n_mgl'],
    [{ tp_mgl: 0.1, codmn_mgl: 3, ph: 7 }, 'no value for do_mgl and nh3n_mgl'],
    [{ do_mgl: 7, nh3n_mgl: 0.4 }, 'only 2 of 5 parameters have a value (at least 3 needed)'],
  ] as ClearValues[][])('is null with a reason for %o', (values, reason) => {
    expect(clearWaterIndex(values, { waterType: 'river' })).toEqual({ value: null, reason })
  })

  it('is degraded with 3 or 4 parameters', () => {
    const r = clearWaterIndex({ do_mgl: 6.8, nh3n_mgl: 0.42, tp_mgl: 0.12 }, { waterType: 'river', flags: ['held'] })
    expect(r.value).not.toBeNull()
    expect((r as ClearIndex).flags).toEqual(['held', 'degraded'])
  })

  it('uses lake limits for total phosphorus', () => {
    const lake = clearWaterIndex(A, { waterType: 'lake', targetClass: 3 }) as ClearIndex
    expect(lake.subScores.tp_mgl).toBeCloseTo(36, 9)
    expect(lake.class).toBe(5)
    expect(lake.limiting).toBe('tp_mgl')
    expect(lake.exceedances).toEqual([{ parameter: 'tp_mgl', value: 0.12, limit: 0.05, multiple: 1.4 }])
  })

  it('scores everything at 100 as exactly 100', () => {
    const r = indexOf({ do_mgl: 9.5, nh3n_mgl: 0, tp_mgl: 0, codmn_mgl: 0, ph: 7 })
    expect(r.value).toBe(100)
    expect(r.class).toBe(1)
  })

  it('gives no exceedance for pH and none for a value on the target limit', () => {
    const r = indexOf({ do_mgl: 5, nh3n_mgl: 1.0, tp_mgl: 0.2, codmn_mgl: 6, ph: 10 })
    expect(r.exceedances).toEqual([])
    expect(r.class).toBe(6)
    expect(r.limiting).toBe('ph')
  })

  it('breaks a tie between lowest sub-scores by weight, then table order', () => {
    // DO 5 and NH3-N 1.0 both score 60 with weight 0.25: DO comes first in the table; TP 0.2 (60, weight 0.2) loses.
    expect(indexOf({ do_mgl: 5, nh3n_mgl: 1.0, tp_mgl: 0.2, codmn_mgl: 3, ph: 7 }).limiting).toBe('do_mgl')
    expect(indexOf({ do_mgl: 8, nh3n_mgl: 0.3, tp_mgl: 0.2, codmn_mgl: 6, ph: 7 }).limiting).toBe('tp_mgl')
  })
})

describe('districtClearIndex', () => {
  const seg = (segment: string, type: 'river' | 'lake', values: ClearValues): DistrictClearSegment => ({
    segment,
    type,
    values,
    index: clearWaterIndex(values, { waterType: type, targetClass: 3 }),
  })

  it('blends rivers and lakes separately from parameter means and keeps the lower', () => {
    const segments = [seg('a', 'river', A), seg('b', 'river', B), seg('lake-1', 'lake', { do_mgl: 8, nh3n_mgl: 0.1, tp_mgl: 0.02, codmn_mgl: 3, ph: 8 })]
    const d = districtClearIndex(segments)
    if (d.value === null) throw new Error(d.reason)
    // River means: DO 5.45, NH3-N 0.87, COD 4.4, TP 0.15, pH −log10((10^−7.4 + 10^−7.9)/2) = 7.58.
    const river = d.river as ClearIndex
    expect(river.values).toEqual({ do_mgl: 5.45, nh3n_mgl: 0.87, tp_mgl: 0.15, codmn_mgl: 4.4, ph: 7.58 })
    expect(d.lake?.value).not.toBeNull()
    expect(d.value).toBe(Math.min(river.value, (d.lake as ClearIndex).value))
    expect(d.worstSegment).toBe('b')
    expect(d.classCounts).toEqual({ '3': 1, '4': 1, '2': 1 })
  })

  it('is null when no segment can make an index', () => {
    expect(districtClearIndex([seg('a', 'river', { tp_mgl: 0.1 })]).value).toBeNull()
    expect(districtClearIndex([])).toEqual({ value: null, reason: 'no river or lake segment' })
  })
})
