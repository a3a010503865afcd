import { describe, expect, it } from 'vitest'
import { ACTIVE_CADENCE_MS, advanceZoneAlert, CALM_CADENCE_MS, INITIAL_ZONE_ALERT, MAX_CATCH_UP_MS, resolveZoneAlert, settleZoneAlert, smoothCadenceMs, zoneAlertDue, type ZoneEvaluation } from '../../stream/zone-alert.js'
import { HOUR, MIN, T0 } from './indices/fixtures.js'

const dry = (value: number | null): ZoneEvaluation => ({ value, rainPressure: 0, raining: false })
const wet = (value: number | null): ZoneEvaluation => ({ value, rainPressure: 0, raining: true })

describe('smoothCadenceMs (INDICES.md §4)', () => {
  it.each([
    [false, 0, CALM_CADENCE_MS],
    [true, 0, ACTIVE_CADENCE_MS],
    [false, 1, ACTIVE_CADENCE_MS],
    [true, 3, ACTIVE_CADENCE_MS],
  ] as const)('raining %s, level %d: every %d ms', (raining, level, cadence) => {
    expect(smoothCadenceMs(raining, level)).toBe(cadence)
  })
})

describe('zone alert evaluations in event time', () => {
  it('opens an evaluation when the zone time lies on a boundary, and none off a boundary', () => {
    expect(settleZoneAlert(INITIAL_ZONE_ALERT, T0 + 30_000)).toBe(INITIAL_ZONE_ALERT)
    expect(settleZoneAlert(INITIAL_ZONE_ALERT, T0)).toMatchObject({ at: T0, pending: true })
  })

  it('redoes the open evaluation from the state before it while data for the same instant arrives', () => {
    const open = settleZoneAlert(INITIAL_ZONE_ALERT, T0)
    const first = resolveZoneAlert(open, () => wet(50))
    expect(first).toMatchObject({ at: T0, pending: false, after: { recent: [2] } })
    const again = resolveZoneAlert(settleZoneAlert(first, T0), () => wet(90))
    // the 50 is replaced, not followed, by the 90
    expect(again).toMatchObject({ at: T0, after: { recent: [0], level: 0 } })
  })

  it('runs every boundary before a new reading with the data as it was, switching cadence as it goes', () => {
    const seen: number[] = []
    let s = resolveZoneAlert(settleZoneAlert(INITIAL_ZONE_ALERT, T0), () => dry(95))
    expect(s.cadenceMs).toBe(CALM_CADENCE_MS)
    // dry and calm: 5-min boundaries before 12 min are 5 and 10
    s = advanceZoneAlert(s, T0 + 2 * MIN, T0 + 12 * MIN, (at) => {
      seen.push((at - T0) / MIN)
      return at >= T0 + 5 * MIN ? wet(50) : dry(95)
    })
    // raining from 5 on: every minute after 5
    expect(seen).toEqual([5, 6, 7, 8, 9, 10, 11])
    expect(s).toMatchObject({ at: T0 + 11 * MIN, cadenceMs: ACTIVE_CADENCE_MS, after: { level: 2 } })
  })

  it('a reading at the boundary itself is not evaluated by advance but opened by settle', () => {
    const seen: number[] = []
    const s = advanceZoneAlert(resolveZoneAlert(settleZoneAlert(INITIAL_ZONE_ALERT, T0), () => wet(90)), T0, T0 + MIN, (at) => {
      seen.push(at)
      return wet(90)
    })
    expect(seen).toEqual([])
    expect(settleZoneAlert(s, T0 + MIN)).toMatchObject({ at: T0 + MIN, pending: true })
  })

  it('says whether an advance has work, exactly: none means the state comes back untouched and nothing is evaluated', () => {
    // States met along a zone's life: none yet, open, resolved calm and active, each advanced over many spans.
    const states = [INITIAL_ZONE_ALERT, settleZoneAlert(INITIAL_ZONE_ALERT, T0)]
    states.push(resolveZoneAlert(states[1]!, () => dry(95)), resolveZoneAlert(states[1]!, () => wet(50)))
    let due = 0
    let idle = 0
    for (const state of states) {
      for (const from of [T0, T0 + 20_000, T0 + MIN, T0 + 4 * MIN + 59_999]) {
        for (const span of [1, 30_000, MIN - 1, MIN, MIN + 1, 5 * MIN, 5 * MIN + 1, 2 * HOUR]) {
          const until = from + span
          let evaluated = 0
          const after = advanceZoneAlert(state, from, until, () => {
            evaluated++
            return wet(50)
          })
          if (zoneAlertDue(state, from, until)) {
            due++
            expect(evaluated, `${from - T0} +${span}`).toBeGreaterThan(0)
          } else {
            idle++
            expect(after, `${from - T0} +${span}`).toBe(state)
            expect(evaluated).toBe(0)
          }
        }
      }
    }
    expect(due).toBeGreaterThan(0)
    expect(idle).toBeGreaterThan(0)
  })

  it('catches up at most MAX_CATCH_UP_MS of evaluations after a long gap', () => {
    let calls = 0
    const s = resolveZoneAlert(settleZoneAlert(INITIAL_ZONE_ALERT, T0), () => wet(50))
    advanceZoneAlert(s, T0, T0 + 24 * HOUR, () => {
      calls++
      return wet(50)
    })
    expect(calls).toBe(MAX_CATCH_UP_MS / ACTIVE_CADENCE_MS)
  })

  it('holds the level through a null index (dataGap)', () => {
    let s = resolveZoneAlert(settleZoneAlert(INITIAL_ZONE_ALERT, T0), () => wet(50))
    s = advanceZoneAlert(s, T0, T0 + 2 * MIN, () => wet(50))
    expect(s.after.level).toBe(2)
    s = advanceZoneAlert(s, T0 + 2 * MIN, T0 + 5 * MIN, () => wet(null))
    expect(s.after).toMatchObject({ level: 2, dataGap: true })
  })
})
