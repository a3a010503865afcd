import { describe, expect, it } from 'vitest'
import { applyActionResult, applyFrame, emptyState, indexKey, subscribeMessage } from '../../dashboards/web/src/state.js'
import type { Alert, IndexEntry, Lot } from '../../dashboards/web/src/types.js'

const alert = (id: string, state: Alert['state'], updatedAt = '2026-11-27T10:00:00.000Z', level: Alert['level'] = 'orange'): Alert => ({
  id, rule: 'ponding-depth', subject: 'PD-0031', district: 'xihu', segment: 'zone-4', level, state, value: 31.5, threshold: 27,
  message: 'Ponding 31.5 cm', raisedAt: '2026-11-27T09:50:00.000Z', updatedAt, ackedBy: null, etaMinutes: 12,
})
const zone4: IndexEntry = { segment: 'zone-4', district: 'xihu', type: 'drainage', clear: null, smooth: { value: 55.7, band: 'yellow', confidence: 0.92, flags: [] } }
const xihu: IndexEntry = { district: 'xihu', clear: { value: 71.2, class: 3 }, smooth: { value: 55.7, band: 'yellow' } }
const lot: Lot = { id: 'P-07', name: 'Lot', district: 'xihu', segment: 'zone-4', capacity: 420, occupied: 400, free: 20, occupancy: 95.2, status: 'busy', underground: true, updatedAt: '2026-11-27T10:00:00.000Z', lat: 30.2, lon: 120.1 }

describe('applyFrame', () => {
  it('replaces the channels of a snapshot and takes its seq', () => {
    const state = emptyState()
    state.alerts.set('old', alert('old', 'open'))
    const changed = applyFrame(state, { type: 'snapshot', seq: 41, data: { indices: [zone4, xihu], alerts: [alert('a-1', 'open')], parking: [lot] } })
    expect(state.seq).toBe(41)
    expect(state.resumed).toBe(false)
    expect([...state.indices.keys()]).toEqual(['seg:zone-4', 'dist:xihu'])
    expect([...state.alerts.keys()]).toEqual(['a-1'])
    expect(state.lots.get('P-07')?.free).toBe(20)
    expect([...changed].sort()).toEqual(['alerts', 'conn', 'indices', 'parking'])
  })

  it('keys segments and districts apart even when they share a name', () => {
    expect(indexKey({ ...zone4, segment: 'xihu' })).toBe('seg:xihu')
    expect(indexKey(xihu)).toBe('dist:xihu')
  })

  it('updates an index, a lot and a reading from their events', () => {
    const state = emptyState()
    applyFrame(state, { type: 'index', seq: 1, data: zone4 })
    applyFrame(state, { type: 'index', seq: 2, data: { ...zone4, smooth: { value: 40.1, band: 'orange' } } })
    applyFrame(state, { type: 'parking', seq: 3, data: { ...lot, status: 'full', free: 0 } })
    applyFrame(state, { type: 'reading', seq: 4, data: { sensor: 'WL-1', kind: 'water_level', district: 'xihu', segment: 's', ts: '2026-11-27T10:00:00Z', values: { level_m: 3 }, quality: 'good' } })
    expect(state.indices.get('seg:zone-4')?.smooth?.value).toBe(40.1)
    expect(state.lots.get('P-07')?.status).toBe('full')
    expect(state.readings.get('WL-1')?.values.level_m).toBe(3)
    expect(state.seq).toBe(4)
  })

  it('keeps open and acknowledged alerts and drops resolved ones from the active list', () => {
    const state = emptyState()
    applyFrame(state, { type: 'alert', seq: 1, data: alert('a-1', 'open') })
    applyFrame(state, { type: 'alert', seq: 2, data: alert('a-1', 'acknowledged') })
    expect(state.alerts.get('a-1')?.state).toBe('acknowledged')
    applyFrame(state, { type: 'alert', seq: 3, data: alert('a-1', 'resolved') })
    expect(state.alerts.has('a-1')).toBe(false)
  })

  it('ends in the snapshot state after a resumed snapshot and the replayed transitions it was behind', () => {
    const state = emptyState()
    applyFrame(state, { type: 'snapshot', seq: 9, data: { alerts: [] } })
    // Missed while away: a-1 opened (10) and resolved (11), a-2 opened (12). The snapshot at 12 holds a-2 only.
    applyFrame(state, { type: 'snapshot', seq: 12, resumed: true, data: { alerts: [alert('a-2', 'open')] } })
    applyFrame(state, { type: 'alert', seq: 10, data: alert('a-1', 'open') })
    applyFrame(state, { type: 'alert', seq: 11, data: alert('a-1', 'resolved') })
    applyFrame(state, { type: 'alert', seq: 12, data: alert('a-2', 'open') })
    expect([...state.alerts.keys()]).toEqual(['a-2'])
    expect(state.seq).toBe(12)
    expect(state.resumed).toBe(true)
  })

  it('never lowers the seq for replayed events', () => {
    const state = emptyState()
    applyFrame(state, { type: 'snapshot', seq: 20, resumed: true, data: {} })
    const changed = applyFrame(state, { type: 'alert', seq: 15, data: alert('a-1', 'open') })
    expect(state.seq).toBe(20)
    expect(changed.has('conn')).toBe(false)
  })

  it('ignores error frames', () => {
    const state = emptyState()
    expect(applyFrame(state, { type: 'error', error: 'CW_ERR_WS_MESSAGE', message: 'bad' }).size).toBe(0)
  })
})

describe('applyActionResult', () => {
  it('applies the answer of an acknowledge', () => {
    const state = emptyState()
    applyFrame(state, { type: 'alert', seq: 1, data: alert('a-1', 'open', '2026-11-27T10:00:00.000Z') })
    expect(applyActionResult(state, alert('a-1', 'acknowledged', '2026-11-27T10:01:00.000Z'))).toBe(true)
    expect(state.alerts.get('a-1')?.state).toBe('acknowledged')
  })

  it('does not bring back an alert the websocket already resolved, nor undo a later event', () => {
    const state = emptyState()
    applyFrame(state, { type: 'alert', seq: 1, data: alert('a-1', 'open', '2026-11-27T10:05:00.000Z', 'red') })
    expect(applyActionResult(state, alert('a-1', 'acknowledged', '2026-11-27T10:01:00.000Z'))).toBe(false)
    expect(state.alerts.get('a-1')?.level).toBe('red')
    expect(applyActionResult(state, alert('a-9', 'acknowledged'))).toBe(false)
    expect(state.alerts.has('a-9')).toBe(false)
  })
})

describe('subscribeMessage', () => {
  it('asks for everything since the last seq once one is known', () => {
    expect(JSON.parse(subscribeMessage(['indices', 'alerts'], 0))).toEqual({ type: 'subscribe', channels: ['indices', 'alerts'] })
    expect(JSON.parse(subscribeMessage(['alerts'], 812))).toEqual({ type: 'subscribe', channels: ['alerts'], since: 812 })
  })
})
