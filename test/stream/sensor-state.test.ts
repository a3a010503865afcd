import { describe, expect, it } from 'vitest'
import type { Quality, Reading, Sensor } from '../../domain.js'
import { sensorState, type SensorStatus } from '../../stream/sensor-state.js'

const T0 = Date.UTC(2026, 10, 27)
const S = 1000
const TD: Sensor = { id: 'TD-1', kind: 'tunnel_depth', district: 'xihu', segment: 'zone-1', name: 'Tunnel 1', lat: 30.26, lon: 120.1, intervalS: 60, params: { closureCm: 27 } }
const PD: Sensor = { ...TD, id: 'PD-1', kind: 'ponding_depth', name: 'Ponding 1' }

/** A reading of TD-1 at event time `ts`, received at `receivedAt` (the wall clock). */
function reading(ts: number, quality: Quality, receivedAt = ts, sensor = TD.id): Reading {
  return { sensor, kind: 'tunnel_depth', district: 'xihu', segment: 'zone-1', ts, fields: { depth_cm: 3 }, quality, qualityReason: quality === 'good' ? '' : 'range:depth_cm', tsSource: 'device', receivedAt }
}

describe('sensor status from data only (SPEC §6)', () => {
  it('is unknown until the first reading', () => {
    const state = sensorState()
    expect(state.status(TD, T0)).toBe('unknown')
    expect(state.last(TD.id)).toBeUndefined()
  })

  it.each([
    // qualities in event-time order, wall time of the check after the last (s), status
    [['good'], 0, 'online'],
    [['bad'], 0, 'online'],
    [['bad', 'bad'], 0, 'online'],
    [['bad', 'bad', 'bad'], 0, 'fault'],
    [['good', 'bad', 'bad', 'bad'], 0, 'fault'],
    [['bad', 'bad', 'bad', 'good'], 0, 'online'],
    [['bad', 'bad', 'suspect'], 0, 'online'],
    [['bad', 'bad', 'bad'], 180, 'fault'],
    [['bad', 'bad', 'bad'], 181, 'stale'],
    [['good'], 180, 'online'],
    [['good'], 181, 'stale'],
  ] as [Quality[], number, SensorStatus][])('%o, checked %d s later: %s', (qualities, afterS, status) => {
    const state = sensorState()
    qualities.forEach((q, i) => state.update(reading(T0 + i * 60 * S, q)))
    const lastAt = T0 + (qualities.length - 1) * 60 * S
    expect(state.status(TD, lastAt + afterS * S)).toBe(status)
  })

  it('goes online → stale → online → fault → stale → online as data comes and goes', () => {
    const state = sensorState()
    let now = T0
    const send = (q: Quality) => state.update(reading(now, q))
    const at = () => state.status(TD, now)
    send('good')
    expect(at()).toBe('online')
    now += 181 * S
    expect(at()).toBe('stale')
    send('good')
    expect(at()).toBe('online')
    for (let i = 0; i < 3; i++) {
      now += 60 * S
      send('bad')
    }
    expect(at()).toBe('fault')
    now += 181 * S
    expect(at()).toBe('stale')
    send('bad')
    // Data resets stale; the last three are still bad.
    expect(at()).toBe('fault')
    now += 60 * S
    send('good')
    expect(at()).toBe('online')
  })

  it('staleness runs on arrival (wall) time, not event time', () => {
    const state = sensorState()
    // A backlog from yesterday arriving now keeps the sensor online.
    state.update(reading(T0 - 86_400 * S, 'good', T0))
    expect(state.status(TD, T0 + 60 * S)).toBe('online')
  })

  it('counts the latest readings by event time: a late bad reading does not make a fault', () => {
    const state = sensorState()
    for (let i = 0; i < 3; i++) state.update(reading(T0 + i * 60 * S, 'good'))
    for (let i = 1; i <= 3; i++) state.update(reading(T0 - i * 60 * S, 'bad', T0 + 130 * S))
    expect(state.status(TD, T0 + 130 * S)).toBe('online')
  })

  it('a re-flag of a held reading replaces its flag and the last reading', () => {
    const state = sensorState()
    state.update(reading(T0, 'bad'))
    state.update(reading(T0 + 60 * S, 'good'))
    state.update(reading(T0 + 120 * S, 'bad'))
    expect(state.status(TD, T0 + 120 * S)).toBe('online')
    // The spike test re-flags the middle reading bad.
    state.update(reading(T0 + 60 * S, 'bad'))
    expect(state.status(TD, T0 + 120 * S)).toBe('fault')
    const reflaggedLast = reading(T0 + 120 * S, 'suspect')
    state.update(reflaggedLast)
    expect(state.last(TD.id)).toStrictEqual(reflaggedLast)
    expect(state.status(TD, T0 + 120 * S)).toBe('online')
  })

  it('keeps the reading with the latest event time as last', () => {
    const state = sensorState()
    const newer = reading(T0 + 60 * S, 'good')
    state.update(newer)
    state.update(reading(T0, 'good'))
    expect(state.last(TD.id)).toStrictEqual(newer)
  })

  it('forgets sensors no longer in the registry', () => {
    const state = sensorState()
    state.update(reading(T0, 'good'))
    state.update(reading(T0, 'good', T0, PD.id))
    state.retain(new Set([PD.id]))
    expect(state.status(TD, T0)).toBe('unknown')
    expect(state.last(TD.id)).toBeUndefined()
    expect(state.status(PD, T0)).toBe('online')
  })
})
