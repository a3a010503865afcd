import type { Alert, IndexEntry, Lot, Reading, ServerFrame } from './types.js'

/** What the websocket keeps current on the dashboard. */
export interface LiveState {
  /** The highest engine seq received (the `since` of the next subscribe). */
  seq: number
  /** `resumed` of the last snapshot: true when the engine replayed the missed alert transitions; null before any. */
  resumed: boolean | null
  /** Index entries by `indexKey`. */
  indices: Map<string, IndexEntry>
  /** Active (open or acknowledged) alerts by id. */
  alerts: Map<string, Alert>
  /** Lots that have reported, by id. */
  lots: Map<string, Lot>
  /** Last reading per sensor. */
  readings: Map<string, Reading>
}

/** A part of the page that a frame changed. */
export type Section = 'conn' | 'indices' | 'alerts' | 'parking' | 'readings'

/** The state before any frame. */
export function emptyState(): LiveState {
  return { seq: 0, resumed: null, indices: new Map(), alerts: new Map(), lots: new Map(), readings: new Map() }
}

/** Key of an index entry: `seg:<segment>` or `dist:<district>`. */
export function indexKey(entry: IndexEntry): string {
  return entry.segment === undefined ? `dist:${entry.district}` : `seg:${entry.segment}`
}

/** True while an alert belongs on the active list. */
export function isActive(alert: Alert): boolean {
  return alert.state !== 'resolved'
}

function applyAlert(state: LiveState, alert: Alert): void {
  if (isActive(alert)) state.alerts.set(alert.id, alert)
  else state.alerts.delete(alert.id)
}

/**
 * Applies one server frame to the state (in place) and returns the sections it changed. A snapshot replaces the
 * channels it carries: after `resumed: true` the replayed alert events that follow bring the transitions in order.
 */
export function applyFrame(state: LiveState, frame: ServerFrame): Set<Section> {
  const changed = new Set<Section>()
  if (frame.type === 'error') return changed
  if (frame.seq > state.seq) {
    state.seq = frame.seq
    changed.add('conn')
  }
  switch (frame.type) {
    case 'snapshot': {
      state.resumed = frame.resumed ?? false
      changed.add('conn')
      const { indices, alerts, parking, readings } = frame.data
      if (indices !== undefined) {
        state.indices = new Map(indices.map((e) => [indexKey(e), e]))
        changed.add('indices')
      }
      if (alerts !== undefined) {
        state.alerts = new Map()
        for (const a of alerts) applyAlert(state, a)
        changed.add('alerts')
      }
      if (parking !== undefined) {
        state.lots = new Map(parking.map((l) => [l.id, l]))
        changed.add('parking')
      }
      if (readings !== undefined) {
        state.readings = new Map(readings.map((r) => [r.sensor, r]))
        changed.add('readings')
      }
      break
    }
    case 'index':
      state.indices.set(indexKey(frame.data), frame.data)
      changed.add('indices')
      break
    case 'alert':
      applyAlert(state, frame.data)
      changed.add('alerts')
      break
    case 'parking':
      state.lots.set(frame.data.id, frame.data)
      changed.add('parking')
      break
    case 'reading':
      state.readings.set(frame.data.sensor, frame.data)
      changed.add('readings')
      break
  }
  return changed
}

/**
 * Applies the alert an ack or resolve request answered with, unless the websocket has already brought a later
 * version (or its resolution): the answer can arrive after the event.
 */
export function applyActionResult(state: LiveState, alert: Alert): boolean {
  const current = state.alerts.get(alert.id)
  if (current === undefined || Date.parse(current.updatedAt) > Date.parse(alert.updatedAt)) return false
  applyAlert(state, alert)
  return true
}

/** The `subscribe` message: the channels, and `since` once a seq is known so no alert transition is missed. */
export function subscribeMessage(channels: readonly string[], seq: number): string {
  return JSON.stringify(seq > 0 ? { type: 'subscribe', channels, since: seq } : { type: 'subscribe', channels })
}
