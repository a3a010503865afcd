import { describe, expect, it } from 'vitest'
import type { Quality } from '../../../domain.js'
import { rainTotals, rainTotalsOfColumns } from '../../../stream/indices/rain-totals.js'
import type { TimedValue } from '../../../stream/indices/timed-value.js'
import { HeldReadings } from '../../../stream/sensor-history.js'
import { HOUR, MIN, T0 } from './fixtures.js'

describe('rainTotalsOfColumns gives the totals rainTotals gives over the same readings', () => {
  // Three gauges over 13 h, one reading every 5 min: some bad, some without rain_mm, one with NaN, one gauge never raining.
  const qualities: Quality[] = ['good', 'good', 'suspect', 'bad']
  const gauges = [0, 1, 2].map((g) => {
    const held = new HeldReadings()
    const values: TimedValue[] = []
    for (let i = 0; i < 13 * 12; i++) {
      const ts = T0 + i * 5 * MIN
      const quality = qualities[(i + g) % 4] as Quality
      const fields: Record<string, number> = {}
      if (i % 7 !== 3) fields.rain_mm = g === 2 ? 0 : i === 40 ? Number.NaN : ((i * 37 + g * 11) % 19) * 0.1
      held.put(ts, quality, fields)
      if (fields.rain_mm !== undefined) values.push({ ts, value: fields.rain_mm, quality })
    }
    held.dropOldest(5)
    return { held, values: values.filter((v) => v.ts >= T0 + 25 * MIN) }
  })
  it.each([T0 + 2 * HOUR, T0 + 6 * HOUR + 2 * MIN, T0 + 13 * HOUR, T0 + 20 * HOUR])('at %i', (now) => {
    expect(rainTotalsOfColumns(gauges.map((g) => g.held), now)).toEqual(rainTotals(gauges.map((g) => g.values), now))
    expect(rainTotalsOfColumns([gauges[2]?.held as HeldReadings], now)).toEqual(rainTotals([gauges[2]?.values ?? []], now))
    expect(rainTotalsOfColumns([], now)).toEqual(rainTotals([], now))
  })
})
