// Event time running ahead of the engine clock (a gateway back-filling buffered readings, a load test replaying at
// 60 s of event time per 1.25 s of wall time): each reading's lag is nearly a minute below the previous one's, more
// than the slack apart from the first, yet a sensor's readings stay one run.
import { describe, expect, it } from 'vitest'
import { duplicateFilter } from '../../ingest/duplicate-filter.js'

const HORIZON = 86_400_000
const STEP = 60_000
const TICK = 1250
const T0 = 1_780_000_000_000
/** The first reading is a day old when it arrives. */
const TS0 = T0 - HORIZON

function replay(sensors: number, readings: number) {
  const clock = { t: T0 }
  const filter = duplicateFilter({ clock: { now: () => clock.t } })
  for (let k = 0; k < readings; k++) {
    clock.t = T0 + k * TICK
    for (let s = 0; s < sensors; s++) expect(filter.seen(`S${s}`, TS0 + k * STEP)).toBe(false)
  }
  return { clock, filter }
}

/** Acceptance time of reading k, and the time by which it is forgotten: ts + the run's highest lag (its first's) + horizon. */
const acceptedAt = (k: number) => T0 + k * TICK
const bound = (k: number) => TS0 + k * STEP + (T0 - TS0) + HORIZON

describe('duplicateFilter with event time running ahead of the clock', () => {
  it('holds each sensor as one run, answers every resend within the horizon, and forgets all after the bound', () => {
    const sensors = 100
    const readings = 2000
    const { clock, filter } = replay(sensors, readings)
    expect(filter.size).toBe(sensors * readings)
    expect(filter.stats()).toEqual({ sensors, runs: sensors, runPairs: sensors * readings, lists: 0, listValues: 0, objects: 0 })
    // Resent at the end of the replay and again just before the first reading's horizon: all duplicates.
    for (const t of [acceptedAt(readings - 1), acceptedAt(0) + HORIZON - 1]) {
      clock.t = t
      for (let s = 0; s < sensors; s++) {
        for (let k = 0; k < readings; k++) if (!filter.seen(`S${s}`, TS0 + k * STEP)) throw new Error(`S${s} #${k} forgotten at ${t}`)
      }
    }
    expect(filter.stats()).toMatchObject({ runs: sensors, lists: 0, objects: 0 })
    // The last reading is remembered until its bound, lagMax − its lag = 1999 · 58.75 s past its horizon ...
    clock.t = bound(readings - 1) - 1
    for (let s = 0; s < sensors; s++) expect(filter.seen(`S${s}`, TS0 + (readings - 1) * STEP)).toBe(true)
    expect(filter.size).toBe(sensors)
    // ... and nothing is left after it: every resend is taken as new.
    clock.t = bound(readings - 1)
    for (let s = 0; s < sensors; s++) {
      for (let k = 0; k < readings; k += 100) expect(filter.seen(`S${s}`, TS0 + k * STEP)).toBe(false)
    }
    expect(filter.size).toBe(sensors * (readings / 100))
  })

  it('forgets reading k no earlier than its horizon and exactly at its bound, as a prefix', () => {
    const readings = 2000
    for (const k of [0, 1, 7, 8, 999, 1999]) {
      const { clock, filter } = replay(1, readings)
      const ts = TS0 + k * STEP
      clock.t = acceptedAt(k) + HORIZON - 1
      expect(filter.seen('S0', ts), `#${k} at its horizon`).toBe(true)
      clock.t = bound(k) - 1
      expect(filter.seen('S0', ts), `#${k} before its bound`).toBe(true)
      expect(filter.size).toBe(readings - k)
      clock.t = bound(k)
      expect(filter.seen('S0', ts + STEP), `#${k + 1} still held`).toBe(k + 1 < readings)
      expect(filter.size).toBe(readings - k - 1 + (k + 1 < readings ? 0 : 1))
      expect(filter.seen('S0', ts), `#${k} at its bound`).toBe(false)
    }
  })

  it('keeps the lag bound when the drift stops: later readings with a steady lag open a run of their own', () => {
    const { clock, filter } = replay(1, 100)
    // From now on one reading a minute, on time with the clock (lag steady at its last value).
    const lastLag = acceptedAt(99) - (TS0 + 99 * STEP)
    for (let k = 100; k < 200; k++) {
      clock.t = TS0 + k * STEP + lastLag + 10
      expect(filter.seen('S0', TS0 + k * STEP)).toBe(false)
    }
    expect(filter.stats()).toMatchObject({ runs: 2, runPairs: 200, lists: 0 })
    // A steady reading is forgotten within the horizon and the slack of its acceptance, not the drift's spread.
    clock.t = TS0 + 150 * STEP + lastLag + 10 + HORIZON + 60_000
    expect(filter.seen('S0', TS0 + 150 * STEP)).toBe(false)
  })
})
