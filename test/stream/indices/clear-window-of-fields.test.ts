import { describe, expect, it } from 'vitest'
import { clearWindow, clearWindowOfFields, type FieldsReading } from '../../../stream/indices/clear-window.js'
import type { TimedValue } from '../../../stream/indices/timed-value.js'
import { HOUR, MIN, T0 } from './fixtures.js'

/** The readings of one field, as `clearWindow` takes them. */
const valuesOf = (readings: readonly FieldsReading[], field: string): TimedValue[] =>
  readings.flatMap((r) => (r.fields[field] === undefined ? [] : [{ ts: r.ts, value: r.fields[field] as number, quality: r.quality }]))

describe('clearWindowOfFields reads the parameter from each reading\'s fields, with the window clearWindow gives', () => {
  // intervalS 300: W = 2 h, valid with 12 good readings
  const readings: FieldsReading[] = []
  for (let i = 0; i < 30; i++) {
    const fields: Record<string, number> = { do_mgl: 6 + (i % 7) * 0.013, ph: 7 + (i % 5) * 0.11 }
    if (i % 4 !== 0) fields.nh3n_mgl = 0.4 + i * 0.001
    if (i === 7) fields.ph = Number.NaN
    readings.push({ ts: T0 + i * 5 * MIN, quality: i % 9 === 0 ? 'suspect' : i === 20 ? 'bad' : 'good', fields })
  }
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
      expect(clearWindowOfFields({ parameter, readings, latestTs, intervalS: 300, ...extra })).toEqual(expected)
    }
  })
})
