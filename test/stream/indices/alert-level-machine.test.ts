import { describe, expect, it } from 'vitest'
import {
  alertLevelMachine,
  classGapLevel,
  clearAlertCandidates,
  INITIAL_ALERT_STATE,
  INITIAL_CLEAR_ALERT_STATE,
  SMOOTH_ALERT_OPTIONS,
  smoothAlertCandidates,
  stepClearAlert,
  stepSmoothAlert,
  type AlertMachineState,
  type ClearAlertInput,
  type ClearAlertState,
} from '../../../stream/indices/alert-level-machine.js'
import type { RainTotals } from '../../../stream/indices/rain-totals.js'
import { smoothWaterIndex } from '../../../stream/indices/smooth-water-index.js'
import { fresh, GAUGE_PARAMS, HOUR, MANHOLE_PARAMS, manholeAtFill, MIN, PIPE_PARAMS, sensor, T0 } from './fixtures.js'

describe('the §4 walk-through (smooth, one underpass with Dc 27, every other component at 100, raining)', () => {
  // t range, depth cm, SWI, candidate, level after
  const ROWS: [number, number, number, number, number, number][] = [
    [0, 0, 3, 95.5, 0, 0],
    [1, 1, 8, 75.9, 1, 0],
    [2, 2, 10, 73.2, 1, 1],
    [3, 3, 16, 58.8, 2, 1],
    [4, 4, 22, 52.1, 2, 2],
    [5, 5, 28, 38.9, 3, 2],
    [6, 6, 31, 35.8, 3, 3],
    [7, 7, 30, 36.8, 3, 3],
    [8, 8, 26, 47.6, 2, 3],
    [9, 9, 23, 51.0, 2, 3],
    [10, 37, 20, 54.3, 2, 3],
    [38, 45, 20, 54.3, 2, 2],
    [46, 75, 8, 75.9, 1, 2],
    [76, 80, 8, 75.9, 1, 1],
    [81, 110, 1, 100, 0, 1],
    [111, 111, 1, 100, 0, 0],
  ]
  // 3 mm in the last hour: raining, every reading corroborated, rain pressure below orange.
  const rain: RainTotals = { mm30: 1.5, mm60: 3, r3h: 3, r6h: 3, r12h: 3 }
  const tunnel = sensor('TD-1', 'tunnel_depth', { closureCm: 27 })
  const others = (now: number) => [
    fresh(sensor('MH-1', 'manhole_level', MANHOLE_PARAMS, 300), now, manholeAtFill(0.4)),
    fresh(sensor('PL-1', 'pipe_level', PIPE_PARAMS, 300), now, 0.3),
    fresh(sensor('WL-1', 'water_level', GAUGE_PARAMS, 300), now, 2.8),
    fresh(sensor('SD-1', 'sediment', { pipeDiameterM: 1.0 }, 3600), now, 0.05),
  ]

  const steps: { t: number; depth: number; swi: number; candidate: number; level: number }[] = []
  let state: AlertMachineState = INITIAL_ALERT_STATE
  for (const [from, to, depth] of ROWS) {
    for (let t = from; t <= to; t++) {
      const now = T0 + t * MIN
      const index = smoothWaterIndex({ sensors: [fresh(tunnel, now, depth), ...others(now)], rain, now })
      if (index.value === null) throw new Error(index.reason)
      const candidates = smoothAlertCandidates({ value: index.value, rainPressure: index.rainPressure }, SMOOTH_ALERT_OPTIONS.margin)
      state = stepSmoothAlert(state, { value: index.value, rainPressure: index.rainPressure }, now)
      steps.push({ t, depth, swi: index.value, candidate: candidates?.candidate ?? -1, level: state.level })
    }
  }

  it.each(ROWS)('t %d–%d min, depth %d cm: SWI %d, candidate %d, level after %d', (from, to, depth, swi, candidate, level) => {
    for (const step of steps.filter((s) => s.t >= from && s.t <= to)) {
      expect(step).toEqual({ t: step.t, depth, swi, candidate, level })
    }
  })

  it('starts the down-timer at t = 8 (index − 5 = 42.6 is yellow)', () => {
    expect(smoothAlertCandidates({ value: 47.6, rainPressure: 0 }, 5)).toEqual({ candidate: 2, pessimistic: 2 })
  })
})

describe('alertLevelMachine', () => {
  const opts = { nUp: 2, margin: 5, tDownMs: 30 * MIN }
  const run = (evaluations: ([number, number] | null)[], start: AlertMachineState = INITIAL_ALERT_STATE) =>
    evaluations.reduce<AlertMachineState[]>((acc, e, i) => {
      const prev = acc[acc.length - 1] ?? start
      acc.push(alertLevelMachine(prev, e === null ? null : { candidate: e[0] as 0, pessimistic: e[1] as 0 }, T0 + i * MIN, opts))
      return acc
    }, [])

  it('raises several levels at once to the minimum of the last nUp candidates', () => {
    expect(run([[4, 4], [3, 3]]).map((s) => s.level)).toEqual([0, 3])
    expect(run([[4, 4], [4, 4], [4, 4]]).map((s) => s.level)).toEqual([0, 4, 4])
  })

  it('a null index holds the level, flags dataGap, and breaks the run of candidates', () => {
    const states = run([[2, 2], [2, 2], null, [3, 3], null, [3, 3], [3, 3]])
    expect(states.map((s) => s.level)).toEqual([0, 2, 2, 2, 2, 2, 3])
    expect(states.map((s) => s.dataGap)).toEqual([false, false, true, false, true, false, false])
  })

  it('a null index restarts the down-timer', () => {
    const start: AlertMachineState = { level: 2, recent: [2, 2], downSince: null, dataGap: false }
    const evals: ([number, number] | null)[] = Array.from({ length: 20 }, () => [0, 0])
    evals.push(null)
    for (let i = 0; i < 40; i++) evals.push([0, 0])
    const states = run(evals, start)
    // Timer from t = 0, reset by the gap at t = 20, restarted at t = 21: one level down at t = 51.
    expect(states.findIndex((s) => s.level === 1)).toBe(51)
  })

  it('steps down one level at a time and restarts the timer', () => {
    const start: AlertMachineState = { level: 3, recent: [3, 3], downSince: null, dataGap: false }
    const states = run(Array.from({ length: 100 }, () => [0, 0] as [number, number]), start)
    expect(states.findIndex((s) => s.level === 2)).toBe(30)
    expect(states.findIndex((s) => s.level === 1)).toBe(60)
    expect(states.findIndex((s) => s.level === 0)).toBe(90)
  })

  it('a pessimistic candidate back at the level stops the down-timer', () => {
    const start: AlertMachineState = { level: 2, recent: [2, 2], downSince: null, dataGap: false }
    const evals: [number, number][] = Array.from({ length: 60 }, (_, i) => (i === 20 ? [1, 2] : [1, 1]))
    expect(run(evals, start).findIndex((s) => s.level === 1)).toBe(51)
  })
})

describe('clear-water candidates (INDICES.md §4)', () => {
  it.each([
    [1, 3, 0],
    [3, 3, 0],
    [4, 3, 1],
    [5, 3, 2],
    [5, 2, 3],
    [5, 1, 3],
    [6, 5, 3],
    [6, 3, 3],
  ] as const)('class %d against target %d gives %d', (cls, target, level) => {
    expect(classGapLevel(cls, target)).toBe(level)
  })

  const base: ClearAlertInput = { value: 48.8, limiting: 'nh3n_mgl', targetClass: 3, doMgl: 4.1, nh3nMgl: 1.32 }

  it.each([
    ['segment B', base, { candidate: 1, pessimistic: 1 }],
    ['B near the class IV/V edge: c′ from 48.8 − 2 is still IV', { ...base, value: 41.9 }, { candidate: 1, pessimistic: 2 }],
    ['acute DO < 2.0', { ...base, doMgl: 1.9 }, { candidate: 4, pessimistic: 4 }],
    ['acute NH3-N > 8.0', { ...base, nh3nMgl: 8.1 }, { candidate: 4, pessimistic: 4 }],
    ['DO 2.0 and NH3-N 8.0 are not acute but hold an acute alert', { ...base, doMgl: 2.0, nh3nMgl: 8.0 }, { candidate: 1, pessimistic: 4 }],
    ['DO 2.4 holds an acute alert', { ...base, doMgl: 2.4 }, { candidate: 1, pessimistic: 4 }],
    ['NH3-N 7.1 holds an acute alert', { ...base, nh3nMgl: 7.1 }, { candidate: 1, pessimistic: 4 }],
    ['DO 2.5 and NH3-N 7.0 release it', { ...base, doMgl: 2.5, nh3nMgl: 7.0 }, { candidate: 1, pessimistic: 1 }],
    ['a null index without acute readings', { ...base, value: null }, null],
    ['a null index with an acute reading', { ...base, value: null, doMgl: 1.0 }, { candidate: 4, pessimistic: 4 }],
  ] as [string, ClearAlertInput, unknown][])('%s', (_case, input, expected) => {
    expect(clearAlertCandidates(input, null, T0, 2)).toEqual(expected)
  })

  it('a pH-limited class 6 gives at most 1 until it has lasted 24 h', () => {
    const bloom: ClearAlertInput = { value: 12.3, limiting: 'ph', targetClass: 3, doMgl: 9, nh3nMgl: 0.2 }
    let state: ClearAlertState = INITIAL_CLEAR_ALERT_STATE
    const levels: number[] = []
    for (let t = 0; t <= 24 * 12 + 1; t++) {
      state = stepClearAlert(state, bloom, T0 + t * 5 * MIN)
      levels.push(state.level)
    }
    expect(state.phClass6Since).toBe(T0)
    expect(levels[1]).toBe(1)
    expect(levels[24 * 12 - 1]).toBe(1)
    expect(levels[24 * 12 + 1]).toBe(3)
    // A class 6 limited by ammonia is not capped.
    expect(clearAlertCandidates({ ...bloom, limiting: 'nh3n_mgl' }, null, T0, 2)?.candidate).toBe(3)
  })

  it('the pH grace restarts when the pH-limited class 6 ends', () => {
    const bloom: ClearAlertInput = { value: 12.3, limiting: 'ph', targetClass: 3 }
    let state = stepClearAlert(INITIAL_CLEAR_ALERT_STATE, bloom, T0)
    state = stepClearAlert(state, { ...bloom, value: 70 }, T0 + 12 * HOUR)
    expect(state.phClass6Since).toBeNull()
    state = stepClearAlert(state, bloom, T0 + 13 * HOUR)
    expect(state.phClass6Since).toBe(T0 + 13 * HOUR)
  })

  it('an acute alert steps down only 60 min after release, one level at a time', () => {
    let state: ClearAlertState = INITIAL_CLEAR_ALERT_STATE
    const acute: ClearAlertInput = { value: 30, limiting: 'do_mgl', targetClass: 3, doMgl: 1.5, nh3nMgl: 1 }
    state = stepClearAlert(state, acute, T0)
    state = stepClearAlert(state, acute, T0 + 5 * MIN)
    expect(state.level).toBe(4)
    // DO 2.3: no longer acute, not released: the level holds however long it lasts.
    for (let t = 2; t < 40; t++) state = stepClearAlert(state, { ...acute, doMgl: 2.3 }, T0 + t * 5 * MIN)
    expect(state.level).toBe(4)
    // Released (DO 3.0, class V → level 2): 60 min later one level down.
    const released = { ...acute, value: 35, doMgl: 3.0 }
    const times: number[] = []
    for (let t = 40; t < 80; t++) {
      const before = state.level
      state = stepClearAlert(state, released, T0 + t * 5 * MIN)
      if (state.level !== before) times.push(t - 40)
    }
    expect(times).toEqual([12, 24])
    expect(state.level).toBe(2)
  })
})

describe('smooth-water candidates (INDICES.md §4)', () => {
  it.each([
    [96.6, 0, { candidate: 0, pessimistic: 0 }],
    [96.6, 2, { candidate: 0, pessimistic: 0 }],
    [96.6, 3, { candidate: 1, pessimistic: 1 }],
    [96.6, 4, { candidate: 1, pessimistic: 1 }],
    [55.7, 4, { candidate: 2, pessimistic: 2 }],
    [85, 0, { candidate: 0, pessimistic: 0 }],
    [84.9, 0, { candidate: 0, pessimistic: 1 }],
    [18, 0, { candidate: 4, pessimistic: 4 }],
  ] as const)('index %d under rain level %d gives %o', (value, rainPressure, expected) => {
    expect(smoothAlertCandidates({ value, rainPressure }, 5)).toEqual(expected)
  })

  it('orange rain pressure alone raises a blue pre-warning after two evaluations, never more', () => {
    let state = INITIAL_ALERT_STATE
    for (let t = 0; t < 10; t++) state = stepSmoothAlert(state, { value: 100, rainPressure: 4 }, T0 + t * MIN)
    expect(state.level).toBe(1)
  })
})
