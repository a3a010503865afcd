import { describe, expect, it } from 'vitest'
import { sensorValue } from '../../../stream/indices/sensor-value.js'
import type { TimedValue } from '../../../stream/indices/timed-value.js'
import { MIN } from './fixtures.js'

const r = (ts: number, value: number, quality: TimedValue['quality'] = 'good'): TimedValue => ({ ts, value, quality })

describe('sensorValue reads readings in time order in one pass, as it reads them in any order', () => {
  it.each([
    ['the median of the last three good within 15 min', [r(0, 9), r(MIN, 3), r(2 * MIN, 7), r(3 * MIN, 5)], { value: 5, ts: 3 * MIN }],
    ['the latest when the last three span more than 15 min', [r(0, 3), r(10 * MIN, 7), r(16 * MIN, 5)], { value: 5, ts: 16 * MIN }],
    ['suspect, bad and non-finite values skipped', [r(0, 1), r(MIN, 50, 'suspect'), r(2 * MIN, 2), r(3 * MIN, Number.NaN), r(4 * MIN, 4), r(5 * MIN, 60, 'bad')], { value: 2, ts: 4 * MIN }],
    ['equal times kept in their order', [r(0, 8), r(0, 1), r(MIN, 4)], { value: 4, ts: MIN }],
    ['fewer than three good ones: the latest', [r(0, 8), r(MIN, 1)], { value: 1, ts: MIN }],
    ['no good one', [r(0, 8, 'suspect')], undefined],
  ])('%s', (_name, ordered, expected) => {
    expect(sensorValue(ordered)).toEqual(expected)
    // the same readings out of order give the same value
    expect(sensorValue([...ordered].reverse())).toEqual(expected)
  })
})
