import { describe, expect, it } from 'vitest'
import { boardLine, fullBuffer, INITIAL_PARKING_STATE, leaveFullFree, parkingStatus, type ParkingState, type ParkingStatus } from '../../../stream/indices/parking-status.js'

describe('parking buffers (INDICES.md §5)', () => {
  it.each([
    // capacity, B, free needed to leave full
    [10, 2, 4],
    [50, 2, 4],
    [100, 3, 5],
    [120, 4, 7],
    [420, 13, 22],
    [600, 18, 30],
    [1000, 30, 50],
  ])('capacity %d: B = %d, leave full at free ≥ %d', (capacity, b, leave) => {
    expect(fullBuffer(capacity)).toBe(b)
    expect(leaveFullFree(capacity)).toBe(leave)
  })
})

describe('parking hysteresis, capacity 420 (B 13, leave full at free ≥ 22 twice, busy ≥ 85 %, leave busy below 82 %)', () => {
  // occupied, underground lot, zone alert level, status after, why
  const STEPS: [number, boolean, number, ParkingStatus, string][] = [
    [300, false, 0, 'available', '71.4 %'],
    [356, false, 0, 'available', '84.8 %: below 85 %'],
    [357, false, 0, 'busy', '85.0 %'],
    [350, false, 0, 'busy', '83.3 %: still at or above 82 %'],
    [345, false, 0, 'busy', '82.1 %'],
    [344, false, 0, 'available', '81.9 %: below 82 %'],
    [356, false, 0, 'available', '84.8 %'],
    [406, false, 0, 'busy', 'free 14 > B'],
    [407, false, 0, 'full', 'free 13 = B'],
    [400, false, 0, 'full', 'free 20 < 22'],
    [398, false, 0, 'full', 'free 22: first update'],
    [399, false, 0, 'full', 'free 21: the count restarts'],
    [398, false, 0, 'full', 'free 22: first update again'],
    [398, false, 0, 'busy', 'free 22 on the second consecutive update: 94.8 % is busy'],
    [407, false, 0, 'full', 'free 13'],
    [398, false, 0, 'full', 'free 22: first update'],
    [300, false, 0, 'available', 'second update: 71.4 % is available'],
    [300, true, 2, 'available', 'underground, zone yellow: open'],
    [300, true, 3, 'closed', 'underground, zone orange: closed'],
    [410, true, 4, 'closed', 'zone red: closed (full underneath)'],
    [300, true, 2, 'full', 'zone yellow again: full until two updates with free ≥ 22'],
    [300, true, 2, 'available', 'second update'],
    [300, false, 4, 'available', 'a surface lot never closes'],
  ]

  const states: ParkingState[] = []
  STEPS.reduce((prev, [occupied, underground, level]) => {
    const next = parkingStatus(prev, occupied, 420, level, underground)
    states.push(next)
    return next
  }, INITIAL_PARKING_STATE)

  it.each(STEPS.map((s, i) => [i + 1, ...s] as const))('update %d: occupied %d (underground %s, zone level %d) → %s (%s)', (i, _o, _u, _l, status) => {
    expect(states[i - 1]?.status).toBe(status)
  })
})

describe('boardLine (SPEC §9)', () => {
  const lot = { id: 'P-01', name: 'Huanglong north lot' }
  it.each([
    ['available', 120, '120'],
    ['busy', 40, '40'],
    ['full', 13, 'FULL'],
    ['closed', 200, 'CLOSED'],
  ] as const)('a %s lot with %d free shows %s', (status, free, text) => {
    expect(boardLine(lot, status, free)).toEqual({ lot: 'P-01', name: 'Huanglong north lot', text })
  })
})
