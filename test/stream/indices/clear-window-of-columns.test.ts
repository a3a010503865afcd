import { describe, expect, it } from 'vitest'
import type { Quality } from '../../../domain.js'
import { clearWindow, clearWindowOfColumns } from '../../../stream/indices/clear-window.js'
import type { TimedValue } from '../../../stream/indices/timed-value.js'
import { HeldReadings } from '../../../stream/sensor-history.js'
import { HOUR, MIN, T0 } from './fixtures.js'

interface FieldsReading {
  ts: number
  quality: Quality
  fields: Record<string, number>
}

/** The readings of one field, as `clearWindow` takes them. */
const valuesOf = (readings: readonly FieldsReading[], field: string): TimedValue[] =>
  readings.flatMap((r) => (r.fields[field] === undefined ? [] : [{ ts: r.ts, value: r.fields[field] as number, quality: r.quality }]))

describe('clearWindowOfColumns reads the parameter from the columns of the readings, with the window clearWindow gives', () => {
  // intervalS 300: W = 2 h, valid with 12 good readings
  const readings: FieldsReading[] = []
  for (let i = 0; i < 30; i++) {
    const fields: Record<string, number> = { do_mgl: 6 + (i % 7) * 0.013, ph: 7 + (i % 5) * 0.11 }
    if (i % 4 !== 0) fields.nh3n_mgl = 0.4 + i * 0.001
    if (i === 7) fields.ph = Number.NaN
    readings.push({ ts: T0 + i * 5 * MIN, quality: i % 9 === 0 ? 'suspect' : i === 20 ? 'bad' : 'good', fields })
  }
  const columns = new HeldReadings()
  // Out of order, after three older ones pruned from the front: insertions that move rows, rows that do not start at 0.
  for (const k of [1, 2, 3]) columns.put(T0 - k * MIN, 'good', { do_mgl: 1, tp_mgl: 0.1 })
  for (const r of [...readings.slice(10), ...readings.slice(0, 10).reverse()]) columns.put(r.ts, r.quality, r.fields)
  columns.dropOldest(3)
  it.each([
    ['do_mgl', T0 + 145 * MIN],
    ['ph', T0 + 145 * MIN],
    ['nh3n_mgl', T0 + 145 * MIN],
    ['nh3n_mgl', T0 + 60 * MIN],
    ['tp_mgl', T0 + 145 * MIN],
  ] as const)('%s, window ending at %i', (parameter, latestTs) => {
    const lastValid = { value: 0.5, ts: latestTs - HOUR }
    for (const extra of [{}, { lastValid }]) {
      const expected = clearWindow({ parameter, readings: valuesOf(readings, parameter), latestTs, intervalS: 300, ...extra })
      expect(clearWindowOfColumns({ parameter, readings: columns, latestTs, intervalS: 300, ...extra })).toEqual(expected)
    }
  })
})
