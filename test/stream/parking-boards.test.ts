import { pino } from 'pino'
import { afterEach, describe, expect, it } from 'vitest'
import { BUNDLED_REGISTRY } from '../../config.js'
import type { Reading, Registry } from '../../domain.js'
import { loadRegistry } from '../../registry/load-registry.js'
import { indexRegistry, type RegistryIndex } from '../../registry/registry-index.js'
import { createParkingBoards, type BoardState, type LotState, type ParkingBoards } from '../../stream/parking-boards.js'

const logger = pino({ level: 'silent' })
const T0 = Date.parse('2025-11-27T08:00:00.000Z')
const cleanups: (() => Promise<void> | void)[] = []
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c()
})

interface Sent {
  topic: string
  payload: string
}

/** Parking boards over the bundled Xihu registry with a settable clock, zone levels and a recording publish. */
function setup(options: { registry?: Registry; publish?: (topic: string, payload: string) => Promise<void>; closeTimeoutMs?: number } = {}) {
  let registry: RegistryIndex = indexRegistry(options.registry ?? loadRegistry(BUNDLED_REGISTRY))
  const clock = { t: T0 + 3_600_000, now: () => clock.t }
  const levels = new Map<string, number>()
  const sent: Sent[] = []
  const lotEvents: LotState[] = []
  const parking: ParkingBoards = createParkingBoards({
    registry: () => registry,
    zoneAlertLevel: (zone) => levels.get(zone) ?? 0,
    publish: async (topic, payload) => {
      sent.push({ topic, payload })
      await options.publish?.(topic, payload)
    },
    onLot: (lot) => lotEvents.push(lot),
    clock,
    logger,
    ...(options.closeTimeoutMs !== undefined ? { closeTimeoutMs: options.closeTimeoutMs } : {}),
  })
  cleanups.push(() => parking.close())
  let ts = T0
  const reading = (sensor: string, fields: Record<string, number>, extra: Partial<Reading> = {}): Reading => {
    const s = registry.sensor(sensor)
    ts += 60_000
    return { sensor, kind: s?.kind ?? 'parking', district: s?.district ?? 'xihu', segment: s?.segment ?? 'zone-1', ts, fields, quality: 'good', qualityReason: '', tsSource: 'device', receivedAt: ts, ...extra }
  }
  return {
    parking,
    clock,
    levels,
    sent,
    lotEvents,
    reading,
    /** One good reading of a lot, a minute after the previous one. */
    feed(sensor: string, occupied: number): void {
      parking.update([reading(sensor, { occupied })])
    },
    lot(id: string): LotState | undefined {
      return parking.lots().find((l) => l.id === id)
    },
    /** Messages sent on one topic, parsed. */
    on<T>(topic: string): T[] {
      return sent.filter((m) => m.topic === topic).map((m) => JSON.parse(m.payload) as T)
    },
    boardsSent(): Sent[] {
      return sent.filter((m) => m.topic.startsWith('citywater/boards/'))
    },
    reload(next: Registry): void {
      registry = indexRegistry(next)
    },
  }
}

describe('parking lot status through update() (INDICES.md §5)', () => {
  // P-07: capacity 420, underground, zone-4; B = 13, leaves full at free ≥ 22 on two updates in a row.
  it.each([
    [
      'available, busy at 85 %, full at free ≤ B, out of full after two updates, busy, available below 82 %',
      [300, 356, 357, 406, 407, 398, 398, 345, 344],
      ['available', 'available', 'busy', 'busy', 'full', 'full', 'busy', 'busy', 'available'],
    ],
    [
      'an update below the release threshold restarts the count',
      [407, 398, 399, 398, 398],
      ['full', 'full', 'full', 'full', 'busy'],
    ],
    [
      'a lot leaving full below 82 % is available',
      [410, 300, 300],
      ['full', 'full', 'available'],
    ],
  ])('%s', (_why, occupied, statuses) => {
    const t = setup()
    const seen = occupied.map((o) => {
      t.feed('P-07', o)
      return t.lot('P-07')?.status
    })
    expect(seen).toEqual(statuses)
  })

  it('closes an underground lot when its zone reaches orange and reopens it to the underlying status', () => {
    const t = setup()
    t.feed('P-07', 300)
    t.levels.set('zone-4', 3)
    t.parking.refresh()
    expect(t.lot('P-07')?.status).toBe('closed')
    expect(t.on<LotState>('citywater/parking/xihu/P-07').map((l) => l.status)).toEqual(['available', 'closed'])
    expect(t.lotEvents.map((l) => l.status)).toEqual(['available', 'closed'])
    expect(t.on<BoardState>('citywater/boards/xihu/B-04').at(-1)?.lines[0]).toEqual({ lot: 'P-07', name: 'Sandun Yintai underground car park', text: 'CLOSED' })

    // The full/busy hysteresis runs on under the closure.
    t.feed('P-07', 410)
    expect(t.lot('P-07')).toMatchObject({ status: 'closed', free: 10 })
    t.levels.set('zone-4', 4)
    t.parking.refresh()
    expect(t.lot('P-07')?.status).toBe('closed')
    t.levels.set('zone-4', 2)
    t.parking.refresh()
    expect(t.lot('P-07')?.status).toBe('full')
    expect(t.on<BoardState>('citywater/boards/xihu/B-04').at(-1)?.lines[0]?.text).toBe('FULL')
  })

  it('a refresh does not count as an update for leaving full', () => {
    const t = setup()
    t.feed('P-07', 410)
    t.feed('P-07', 398)
    t.parking.refresh()
    t.parking.refresh()
    expect(t.lot('P-07')?.status).toBe('full')
    t.feed('P-07', 398)
    expect(t.lot('P-07')?.status).toBe('busy')
  })

  it('takes a zone level change at the next reading even without a refresh', () => {
    const t = setup()
    t.feed('P-07', 300)
    t.levels.set('zone-4', 3)
    t.feed('P-07', 301)
    expect(t.lot('P-07')?.status).toBe('closed')
  })

  it('never closes a surface lot', () => {
    const t = setup()
    t.feed('P-01', 300)
    t.levels.set('zone-6', 4)
    t.parking.refresh()
    expect(t.lot('P-01')?.status).toBe('available')
  })
})

describe('retained lot messages', () => {
  it('publishes the lot state on citywater/parking/{district}/{lotId} when status or free changes', () => {
    const t = setup()
    t.feed('P-07', 357)
    expect(t.on<LotState>('citywater/parking/xihu/P-07')).toEqual([
      {
        id: 'P-07',
        name: 'Sandun Yintai underground car park',
        district: 'xihu',
        segment: 'zone-4',
        capacity: 420,
        occupied: 357,
        free: 63,
        occupancy: 85,
        status: 'busy',
        underground: true,
        updatedAt: new Date(T0 + 60_000).toISOString(),
        lat: 30.302,
        lon: 120.1057,
      },
    ])
    t.feed('P-07', 357)
    t.parking.refresh()
    expect(t.on<LotState>('citywater/parking/xihu/P-07')).toHaveLength(1)
    expect(t.lotEvents).toHaveLength(1)
    t.feed('P-07', 356)
    expect(t.on<LotState>('citywater/parking/xihu/P-07').map((l) => [l.free, l.occupancy, l.status])).toEqual([[63, 85, 'busy'], [64, 84.8, 'busy']])
    expect(t.lotEvents.map((l) => l.free)).toEqual([63, 64])
  })

  it('uses the registry capacity over a reported one', () => {
    const t = setup()
    t.parking.update([t.reading('P-07', { occupied: 100, capacity: 500 }, { quality: 'suspect', qualityReason: 'capacity_mismatch' })])
    expect(t.lot('P-07')).toMatchObject({ capacity: 420, free: 320 })
  })
})

describe('guidance boards', () => {
  it('publishes a board only when one of its lines changes', () => {
    const t = setup()
    t.feed('P-01', 300)
    expect(t.boardsSent().map((m) => m.topic)).toEqual(['citywater/boards/xihu/B-01'])
    expect(t.on<BoardState>('citywater/boards/xihu/B-01')[0]).toEqual({
      board: 'B-01',
      name: 'Huanglong Rd guidance board',
      district: 'xihu',
      lines: [
        { lot: 'P-01', name: 'Huanglong Sports Center north lot', text: '300' },
        { lot: 'P-02', name: 'Huanglong Times Square underground car park', text: '--' },
      ],
      updatedAt: new Date(T0 + 3_600_000).toISOString(),
    })

    t.feed('P-01', 300)
    t.parking.refresh()
    expect(t.boardsSent()).toHaveLength(1)

    t.feed('P-01', 301)
    expect(t.boardsSent()).toHaveLength(2)
    expect(t.on<BoardState>('citywater/boards/xihu/B-01')[1]?.lines[0]?.text).toBe('299')
  })

  it('does not republish a board when a full lot moves within full', () => {
    const t = setup()
    t.feed('P-07', 407)
    const boards = t.boardsSent().length
    t.feed('P-07', 410)
    expect(t.on<LotState>('citywater/parking/xihu/P-07').map((l) => l.free)).toEqual([13, 10])
    expect(t.boardsSent()).toHaveLength(boards)
  })

  it('publishes no board for a lot on no board, and every board for a lot on several', () => {
    const t = setup()
    t.feed('P-10', 100)
    expect(t.on<LotState>('citywater/parking/xihu/P-10')).toHaveLength(1)
    expect(t.boardsSent()).toEqual([])
    t.feed('P-11', 100)
    expect(t.boardsSent().map((m) => m.topic)).toEqual(['citywater/boards/xihu/B-02', 'citywater/boards/xihu/B-04'])
  })

  it('shows CLOSED for a flooded underground lot that has not reported, and publishes no board of dashes', () => {
    const t = setup()
    t.parking.refresh()
    expect(t.sent).toEqual([])
    expect(t.parking.boards('xihu').map((b) => [b.board, b.updatedAt, b.lines.map((l) => l.text)])).toEqual([
      ['B-01', null, ['--', '--']],
      ['B-02', null, ['--', '--', '--']],
      ['B-03', null, ['--', '--', '--']],
      ['B-04', null, ['--', '--', '--', '--']],
    ])
    t.levels.set('zone-3', 3)
    t.parking.refresh()
    expect(t.boardsSent().map((m) => m.topic)).toEqual(['citywater/boards/xihu/B-03'])
    expect(t.on<BoardState>('citywater/boards/xihu/B-03')[0]?.lines.map((l) => l.text)).toEqual(['CLOSED', '--', 'CLOSED'])
    expect(t.parking.boards('xihu')[2]?.updatedAt).toBe(new Date(t.clock.now()).toISOString())
  })

  it('republishes after a failed publish at the next refresh', async () => {
    let fail = true
    const t = setup({ publish: async () => {
      if (fail) throw new Error('broker down')
    } })
    t.feed('P-01', 300)
    // Let the rejected publishes settle before the retry.
    await new Promise((resolve) => setImmediate(resolve))
    fail = false
    t.parking.refresh()
    t.parking.refresh()
    expect(t.sent.map((m) => m.topic)).toEqual([
      'citywater/parking/xihu/P-01',
      'citywater/boards/xihu/B-01',
      'citywater/parking/xihu/P-01',
      'citywater/boards/xihu/B-01',
    ])
    expect(t.lotEvents).toHaveLength(1)
  })
})

describe('district totals', () => {
  it('sums the reporting lots, counting full and closed lots and only the open lots as free', () => {
    const t = setup()
    t.levels.set('zone-6', 3)
    t.feed('P-01', 300) // surface, 600: available, 300 free
    t.feed('P-02', 100) // underground, 380, zone-6 orange: closed
    t.feed('P-07', 410) // 420: full, 10 free
    expect(t.parking.districts()).toEqual([
      { district: 'xihu', capacity: 1400, free: 310, occupied: 810, occupancy: 57.9, lots: 3, full: 1, closed: 1 },
    ])
    expect(t.parking.districts('xihu')).toHaveLength(1)
    expect(t.parking.districts('gongshu')).toEqual([])
    expect(t.parking.lots('xihu').map((l) => l.id)).toEqual(['P-01', 'P-02', 'P-07'])
    expect(t.parking.lots('gongshu')).toEqual([])
  })

  it('has zero totals and a null occupancy before any lot reports', () => {
    const t = setup()
    expect(t.parking.districts()).toEqual([{ district: 'xihu', capacity: 0, free: 0, occupied: 0, occupancy: null, lots: 0, full: 0, closed: 0 }])
  })
})

describe('readings that do not move a lot', () => {
  it('ignores bad, out-of-range, older, unknown and non-parking readings', () => {
    const t = setup()
    t.feed('P-07', 300)
    const before = t.sent.length
    const later = t.reading('P-07', { occupied: 300 })
    t.parking.update([
      t.reading('P-07', { occupied: 421 }, { quality: 'bad', qualityReason: 'range:occupied' }),
      t.reading('P-07', { occupied: 100 }, { quality: 'bad', qualityReason: 'flatline' }),
      t.reading('P-07', { occupied: 500 }),
      t.reading('P-07', { occupied: -1 }),
      t.reading('P-07', { occupied: 12.5 }),
      t.reading('P-07', {}),
      t.reading('P-99', { occupied: 1 }),
      t.reading('WL-0012', { level_m: 3.9 }),
      { ...t.reading('P-07', { occupied: 1 }), kind: 'water_level' },
    ])
    expect(t.lot('P-07')).toMatchObject({ occupied: 300, status: 'available' })
    t.parking.update([t.reading('P-07', { occupied: 200 })])
    t.parking.update([later])
    expect(t.lot('P-07')?.occupied).toBe(200)
    expect(t.sent.length).toBe(before + 2)
  })

  it('applies a batch in order and publishes only its outcome', () => {
    const t = setup()
    t.parking.update([t.reading('P-07', { occupied: 407 }), t.reading('P-07', { occupied: 398 }), t.reading('P-07', { occupied: 398 })])
    expect(t.on<LotState>('citywater/parking/xihu/P-07').map((l) => l.status)).toEqual(['busy'])
  })
})

describe('registry reload', () => {
  it('clears the retained topics of a removed lot and board and stops listing them', () => {
    const t = setup()
    t.feed('P-01', 300)
    const registry = loadRegistry(BUNDLED_REGISTRY)
    t.reload({ ...registry, sensors: registry.sensors.filter((s) => s.id !== 'P-01'), boards: registry.boards.filter((b) => b.id !== 'B-01') })
    t.parking.refresh()
    expect(t.sent.filter((m) => m.payload === '').map((m) => m.topic).sort()).toEqual(['citywater/boards/xihu/B-01', 'citywater/parking/xihu/P-01'])
    expect(t.parking.lots()).toEqual([])
    expect(t.parking.boards().map((b) => b.board)).toEqual(['B-02', 'B-03', 'B-04'])
  })
})

describe('close', () => {
  it('waits for publishes in flight and ignores later updates', async () => {
    let release: () => void = () => undefined
    const gate = new Promise<void>((resolve) => {
      release = resolve
    })
    const t = setup({ publish: () => gate })
    t.feed('P-01', 300)
    let closed = false
    const closing = t.parking.close().then(() => {
      closed = true
    })
    await new Promise((resolve) => setImmediate(resolve))
    expect(closed).toBe(false)
    release()
    await closing
    expect(closed).toBe(true)
    t.feed('P-01', 200)
    expect(t.sent).toHaveLength(2)
  })

  it('gives up waiting for a publish that never completes after closeTimeoutMs', async () => {
    const t = setup({ publish: () => new Promise<void>(() => undefined), closeTimeoutMs: 20 })
    t.feed('P-01', 300)
    await t.parking.close()
    expect(t.sent).toHaveLength(2)
  })
})
