import { pino } from 'pino'
import { TestScheduler } from 'rxjs/testing'
import { afterEach, describe, expect, it } from 'vitest'
import type { Quality, Reading, Registry, Segment, Sensor, SensorKind } from '../../domain.js'
import { indexRegistry, type RegistryIndex } from '../../registry/registry-index.js'
import { createIndexEngine, type IndexEngine } from '../../stream/index-engine.js'
import type { IndexUpdate, SegmentIndexJson } from '../../stream/index-json.js'
import { MANHOLE_PARAMS, manholeAtFill, MIN, T0 } from './indices/fixtures.js'

const FIELD: Partial<Record<SensorKind, string>> = { tunnel_depth: 'depth_cm', ponding_depth: 'depth_cm', manhole_level: 'level_m' }

function sensor(id: string, kind: SensorKind, segment: string, params: Record<string, unknown> = {}, intervalS = 60): Sensor {
  return { id, kind, district: 'xihu', segment, name: id, lat: 30.25, lon: 120.12, intervalS, params }
}
const zone = (id: string): Segment => ({ id, district: 'xihu', type: 'drainage', name: id, riverGauges: [] })
const river = (id: string): Segment => ({ id, district: 'xihu', type: 'river', name: id, targetClass: 3 })

const registry: Registry = {
  segments: [zone('zone-4'), river('seg-a')],
  sensors: [
    sensor('TD-1', 'tunnel_depth', 'zone-4', { closureCm: 27 }, 60),
    sensor('PD-1', 'ponding_depth', 'zone-4', { closureCm: 27 }, 600),
    sensor('MH-1', 'manhole_level', 'zone-4', MANHOLE_PARAMS, 600),
    sensor('WQ-A', 'water_quality', 'seg-a', {}, 300),
  ],
  boards: [],
}
const EXAMPLE_A = { do_mgl: 6.8, nh3n_mgl: 0.42, codmn_mgl: 3.6, tp_mgl: 0.12, ph: 7.4 }

const open: IndexEngine[] = []
afterEach(() => {
  for (const engine of open.splice(0)) engine.close()
})

/** An engine whose wall clock is the TestScheduler's virtual time, refreshing every 10 s. */
function harness() {
  const scheduler = new TestScheduler(() => undefined)
  let index: RegistryIndex = indexRegistry(registry)
  const engine = createIndexEngine({ registry: () => index, clock: { now: () => scheduler.now() }, latenessS: 120, logger: pino({ level: 'silent' }), scheduler })
  open.push(engine)
  const updates: (IndexUpdate & { wall: number })[] = []
  engine.updates$.subscribe((u) => updates.push({ ...u, wall: scheduler.now() }))
  const advanceTo = (to: number): void => {
    scheduler.schedule(() => undefined, to - scheduler.now())
    scheduler.maxFrames = to
    scheduler.flush()
  }
  return {
    engine,
    reload() {
      index = indexRegistry(registry)
    },
    send(id: string, ts: number, value: number | Record<string, number>, quality: Quality = 'good') {
      const s = index.sensor(id) as Sensor
      const fields = typeof value === 'number' ? { [FIELD[s.kind] as string]: value } : value
      const reading: Reading = { sensor: id, kind: s.kind, district: s.district, segment: s.segment, ts, fields, quality, qualityReason: '', tsSource: 'device', receivedAt: scheduler.now() }
      engine.update([reading])
    },
    /**
     * Runs the wall clock to the refresh at `at` (a multiple of 10 s; throttled recomputations before it run too);
     * returns how many segment or zone indices the refresh computed and what it emitted per segment.
     */
    refresh(at: number) {
      advanceTo(at - 1)
      const before = engine.stats().computed
      advanceTo(at)
      const emitted = updates.filter((u) => u.wall === at && u.refresh && u.scope === 'segment')
      return { computed: engine.stats().computed - before, segments: Object.fromEntries(emitted.map((u) => [u.segment, u.data as SegmentIndexJson])) }
    },
  }
}

describe('reusing a segment or zone index while its inputs are unchanged', () => {
  it('reuses every result in a refresh when nothing changed, and recomputes a zone after a new reading', () => {
    const h = harness()
    h.send('TD-1', T0, 20)
    h.send('PD-1', T0, 0)
    h.send('MH-1', T0, manholeAtFill(0.3))
    const first = h.refresh(10_000)
    const again = h.refresh(20_000)
    expect(again.computed).toBe(0)
    // the refresh still emits every segment, with what a recomputation gives
    expect(again.segments).toEqual(first.segments)
    expect(Object.keys(again.segments)).toEqual(['zone-4', 'seg-a'])
    const before = h.engine.stats().computed
    h.send('TD-1', T0 + MIN, 3)
    const next = h.refresh(30_000)
    // computed once, by the change's recomputation; the refresh reuses it
    expect(h.engine.stats().computed - before).toBe(1)
    expect(next.computed).toBe(0)
    expect(next.segments['zone-4']?.smooth).not.toEqual(first.segments['zone-4']?.smooth)
  })

  it('recomputes after a late reading and after a reading too old to keep, which still resets staleness', () => {
    const h = harness()
    h.send('TD-1', T0, 3)
    h.send('TD-1', T0 + 2 * MIN, 5)
    h.send('TD-1', T0 + 3 * MIN, 20)
    const before = h.refresh(10_000)
    // a late reading between the last two moves the median of the last three
    h.send('TD-1', T0 + 150_000, 30)
    const late = h.refresh(20_000)
    expect(late.segments['zone-4']).not.toEqual(before.segments['zone-4'])
    expect(h.refresh(30_000).computed).toBe(0)
    // at 170 s TD-1 is still fresh; a reading too old to keep resets its silence, so at 190 s it is not stale
    h.refresh(170_000)
    h.send('TD-1', T0 - 5 * 60 * MIN, 1)
    expect(h.engine.stats().tooOld).toBe(1)
    expect(h.refresh(180_000).computed).toBe(1)
    expect(h.refresh(190_000).segments['zone-4']).toEqual(late.segments['zone-4'])
  })

  it('recomputes after a registry reload, even to an equal registry', () => {
    const h = harness()
    h.send('TD-1', T0, 20)
    const before = h.refresh(10_000)
    h.reload()
    const after = h.refresh(20_000)
    expect(after.computed).toBe(2)
    expect(after.segments).toEqual(before.segments)
  })

  it('recomputes a zone whose sensors were forgotten after 12 h idle in event time', () => {
    const h = harness()
    h.send('TD-1', T0, 20)
    h.send('PD-1', T0, 0)
    expect(h.refresh(10_000).segments['zone-4']?.smooth).toMatchObject({ limiting: 'POND' })
    // a reading elsewhere 13 h later sweeps the zone's sensors out; the zone's own readings did not change
    h.send('WQ-A', T0 + 13 * 60 * MIN, EXAMPLE_A)
    expect(h.engine.stats().evicted).toBe(2)
    const after = h.refresh(20_000)
    // TD-1's last score below 80 is held; nothing is fresh any more
    expect(after.computed).toBe(1)
    expect(after.segments['zone-4']?.smooth).toEqual({ value: 51.6, band: 'yellow', limiting: 'POND', confidence: 0, flags: ['degraded', 'held'] })
  })

  it('reuses a zone result while its sensors stay fresh on the wall clock, and recomputes once one turns stale or is cleared', () => {
    const h = harness()
    h.send('TD-1', T0, 20)
    h.send('PD-1', T0, 0)
    h.send('MH-1', T0, manholeAtFill(0.3))
    const fresh = h.refresh(10_000)
    // TD-1 (intervalS 60) turns stale once silent for more than 180 s
    expect(h.refresh(170_000).computed).toBe(0)
    const stale = h.refresh(190_000)
    expect(stale.computed).toBe(1)
    expect(stale.segments['zone-4']?.smooth).toMatchObject({ confidence: 0.67, flags: ['held'] })
    expect(stale.segments['zone-4']).not.toEqual(fresh.segments['zone-4'])
    expect(h.refresh(200_000).computed).toBe(0)
    // an operator's clear changes the zone's inputs
    expect(h.engine.clearHeld('TD-1')).toBe(true)
    const cleared = h.refresh(210_000)
    expect(cleared.segments['zone-4']?.smooth).toMatchObject({ flags: [] })
  })

  it('recomputes a silent station\'s segment at every refresh once its windows move on with the wall clock', () => {
    const h = harness()
    for (let i = 0; i < 12; i++) h.send('WQ-A', T0 + i * 5 * MIN, EXAMPLE_A)
    expect(h.refresh(10_000).segments['seg-a']?.clear).toMatchObject({ value: 76.6 })
    // stale once silent for more than 15 min (intervalS 300)
    expect(h.refresh(890_000).computed).toBe(0)
    expect(h.refresh(910_000).computed).toBe(1)
    expect(h.refresh(920_000).computed).toBe(1)
  })
})
