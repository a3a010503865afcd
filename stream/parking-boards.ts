import type { Logger } from 'pino'
import type { Board, Reading, Sensor } from '../domain.js'
import type { Clock } from '../ports.js'
import type { RegistryIndex } from '../registry/registry-index.js'
import { boardLine, CLOSE_UNDERGROUND_LEVEL, INITIAL_PARKING_STATE, parkingStatus, type BoardLine, type ParkingState, type ParkingStatus } from './indices/parking-status.js'

/** A lot's live state on the API, the websocket and the retained `citywater/parking/{district}/{lotId}` (SPEC §9). */
export interface LotState {
  id: string
  name: string
  district: string
  /** The drainage zone the lot lies in. */
  segment: string
  /** Spaces, from the registry (a reported capacity never overrides it). */
  capacity: number
  occupied: number
  /** `capacity − occupied`. */
  free: number
  /** `occupied / capacity` in percent, one decimal. */
  occupancy: number
  status: ParkingStatus
  underground: boolean
  /** Event time of the reading the state comes from, RFC 3339 UTC. */
  updatedAt: string
  lat: number
  lon: number
}

/** A guidance board's message on the retained `citywater/boards/{district}/{boardId}` (SPEC §9). */
export interface BoardState {
  board: string
  name: string
  district: string
  /** One line per lot of the board, in registry order: free spaces, `FULL`, `CLOSED`, or `--` before any data. */
  lines: BoardLine[]
  /** Clock time at which these lines were published, RFC 3339 UTC; null while they have not been. */
  updatedAt: string | null
}

/** Parking totals of one district over the lots that have reported. */
export interface DistrictParking {
  district: string
  /** Spaces of the lots that have reported. */
  capacity: number
  /** Free spaces of the open lots: a closed lot's spaces cannot be used, so `free` can be below `capacity − occupied`. */
  free: number
  occupied: number
  /** `occupied / capacity` in percent, one decimal; null when no lot has reported. */
  occupancy: number | null
  /** Lots that have reported. */
  lots: number
  /** Lots showing `full`. */
  full: number
  /** Lots showing `closed`. */
  closed: number
}

/** Options of createParkingBoards. */
export interface ParkingBoardsOptions {
  /** The registry in force, read on every call so that a reload takes effect. */
  registry: () => RegistryIndex
  /** Smooth-water alert level 0–4 of a drainage zone (INDICES.md §4); 3 (orange) or more closes its underground lots. */
  zoneAlertLevel: (zoneId: string) => number
  /** Retained QoS 1 MQTT publish; an empty payload clears a retained topic. */
  publish: (topic: string, payload: string) => Promise<void>
  /** Called with a lot's state each time its status or free spaces change (the websocket `parking` event). */
  onLot?: (lot: LotState) => void
  clock: Clock
  logger: Logger
  /** How long close() waits for publishes in flight, in milliseconds (a broker that is down never acknowledges). Default 5000. */
  closeTimeoutMs?: number
}

/** Live parking lots and guidance boards (SPEC §9, INDICES.md §5). */
export interface ParkingBoards {
  /** Applies accepted readings: parking readings that are not bad move their lot; every other reading is ignored. */
  update(readings: readonly Reading[]): void
  /** Re-evaluates `closed` from the zones' alert levels (call it after index updates) and retries failed publishes. */
  refresh(): void
  /** Lots that have reported, in registry order. */
  lots(district?: string): LotState[]
  /** Every guidance board of the registry with its current lines, in registry order. */
  boards(district?: string): BoardState[]
  /** Totals of every district that has parking lots, sorted by district. */
  districts(district?: string): DistrictParking[]
  /** Stops taking updates and waits for the publishes in flight, up to `closeTimeoutMs`. */
  close(): Promise<void>
}

/** Board text of a lot that has not reported yet. */
export const NO_DATA_TEXT = '--'

interface Lot {
  /** The registry entry the state was built on. */
  sensor: Sensor
  capacity: number
  underground: boolean
  state: ParkingState
  occupied: number
  ts: number
}

interface Published<T> {
  topic: string
  /** What decides a republish: status and free for lots, the lines for boards. */
  key: string
  view: T
  /** The last publish failed: republish at the next chance even if nothing changed. */
  failed: boolean
}

/** Capacity and underground flag of a lot's registry entry; undefined when the capacity is unusable. */
function lotParams(sensor: Sensor): { capacity: number; underground: boolean } | undefined {
  const capacity = sensor.params.capacity
  if (typeof capacity !== 'number' || !Number.isInteger(capacity) || capacity <= 0) return undefined
  return { capacity, underground: sensor.params.underground === true }
}

function percent(part: number, whole: number): number {
  return Math.round((part * 1000) / whole) / 10
}

function lotView(lot: Lot): LotState {
  const { sensor, capacity, occupied } = lot
  return {
    id: sensor.id,
    name: sensor.name,
    district: sensor.district,
    segment: sensor.segment,
    capacity,
    occupied,
    free: capacity - occupied,
    occupancy: percent(occupied, capacity),
    status: lot.state.status,
    underground: lot.underground,
    updatedAt: new Date(lot.ts).toISOString(),
    lat: sensor.lat,
    lon: sensor.lon,
  }
}

const lotTopic = (district: string, id: string): string => `citywater/parking/${district}/${id}`
const boardTopic = (district: string, id: string): string => `citywater/boards/${district}/${id}`

/**
 * Keeps each lot's free spaces, occupancy and status with the hysteresis of INDICES.md §5 (the pure
 * parkingStatus), closes underground lots of zones at orange or red, and publishes retained lot and board
 * messages only when what they show changes. State is bounded by the registry's lots and boards.
 */
export function createParkingBoards(options: ParkingBoardsOptions): ParkingBoards {
  const { clock } = options
  const log = options.logger.child({ module: 'parking-boards' })
  const lots = new Map<string, Lot>()
  const publishedLots = new Map<string, Published<LotState>>()
  const publishedBoards = new Map<string, Published<BoardState>>()
  const inflight = new Set<Promise<void>>()
  let known: RegistryIndex | undefined
  let closed = false

  function send(topic: string, payload: string, onFail: () => void): void {
    let sent: Promise<void>
    try {
      sent = options.publish(topic, payload)
    } catch (err) {
      sent = Promise.reject(err)
    }
    const tracked = sent.catch((err: unknown) => {
      log.warn({ err, topic }, 'parking publish failed')
      onFail()
    })
    inflight.add(tracked)
    void tracked.finally(() => inflight.delete(tracked))
  }

  /** Clears a retained topic [MQTT-3.3.1-10]: a zero-byte retained message removes the one held. */
  function clearRetained(topic: string): void {
    send(topic, '', () => undefined)
  }

  function isClosedNow(sensor: Sensor, underground: boolean): boolean {
    return underground && options.zoneAlertLevel(sensor.segment) >= CLOSE_UNDERGROUND_LEVEL
  }

  /** After a registry reload: forgets lots and boards that are gone or changed, clearing topics that moved; true when the registry changed. */
  function reconcile(reg: RegistryIndex): boolean {
    if (reg === known) return false
    const first = known === undefined
    known = reg
    if (first) return true
    for (const [id, lot] of lots) {
      const sensor = reg.sensor(id)
      if (sensor === undefined || JSON.stringify(sensor) !== JSON.stringify(lot.sensor)) lots.delete(id)
    }
    for (const [id, published] of publishedLots) {
      const sensor = reg.sensor(id)
      if (sensor !== undefined && sensor.kind === 'parking' && lotTopic(sensor.district, id) === published.topic && lots.has(id)) continue
      if (sensor === undefined || sensor.kind !== 'parking' || lotTopic(sensor.district, id) !== published.topic) clearRetained(published.topic)
      publishedLots.delete(id)
    }
    for (const [id, published] of publishedBoards) {
      const board = reg.board(id)
      if (board !== undefined && boardTopic(board.district, id) === published.topic && board.name === published.view.name) continue
      if (board === undefined || boardTopic(board.district, id) !== published.topic) clearRetained(published.topic)
      publishedBoards.delete(id)
    }
    return true
  }

  /** Moves a lot by one reading; true when the reading was taken. */
  function apply(reg: RegistryIndex, reading: Reading): boolean {
    if (reading.quality === 'bad') return false
    const sensor = reg.sensor(reading.sensor)
    if (sensor === undefined || sensor.kind !== 'parking') return false
    const params = lotParams(sensor)
    if (params === undefined) {
      log.warn({ sensor: sensor.id }, 'parking lot without a usable capacity')
      return false
    }
    const occupied = reading.fields.occupied
    // Ingest flags these bad; checked again so no reading can push free below zero.
    if (occupied === undefined || !Number.isInteger(occupied) || occupied < 0 || occupied > params.capacity) return false
    const prev = lots.get(sensor.id)
    // Event time: a late reading older than the lot's latest does not move it back.
    if (prev !== undefined && reading.ts < prev.ts) return false
    const level = options.zoneAlertLevel(sensor.segment)
    const state = parkingStatus(prev?.state ?? INITIAL_PARKING_STATE, occupied, params.capacity, level, params.underground)
    lots.set(sensor.id, { sensor, ...params, state, occupied, ts: reading.ts })
    return true
  }

  function line(reg: RegistryIndex, lotId: string): BoardLine {
    const lot = lots.get(lotId)
    if (lot !== undefined) return boardLine(lot.sensor, lot.state.status, lot.capacity - lot.occupied)
    const sensor = reg.sensor(lotId)
    const params = sensor === undefined ? undefined : lotParams(sensor)
    // A flooded underground lot is closed whether or not its counter has reported.
    if (sensor !== undefined && params !== undefined && isClosedNow(sensor, params.underground)) return boardLine(sensor, 'closed', 0)
    return { lot: lotId, name: sensor?.name ?? lotId, text: NO_DATA_TEXT }
  }

  function publishLot(id: string): boolean {
    const lot = lots.get(id)
    if (lot === undefined) return false
    const view = lotView(lot)
    const key = `${view.status}|${view.free}`
    const last = publishedLots.get(id)
    if (last !== undefined && last.key === key && !last.failed) return false
    const entry: Published<LotState> = { topic: lotTopic(view.district, id), key, view, failed: false }
    publishedLots.set(id, entry)
    send(entry.topic, JSON.stringify(view), () => {
      entry.failed = true
    })
    if (last?.key !== key) options.onLot?.(view)
    return last?.key !== key
  }

  function publishBoard(reg: RegistryIndex, board: Board): void {
    const lines = board.lots.map((id) => line(reg, id))
    const key = JSON.stringify(lines)
    const last = publishedBoards.get(board.id)
    if (last !== undefined && last.key === key && !last.failed) return
    // Nothing to show yet: a retained message from before a restart is better than a board of dashes.
    if (last === undefined && lines.every((l) => l.text === NO_DATA_TEXT)) return
    const view: BoardState = last !== undefined && last.key === key ? last.view : { board: board.id, name: board.name, district: board.district, lines, updatedAt: new Date(clock.now()).toISOString() }
    const entry: Published<BoardState> = { topic: boardTopic(board.district, board.id), key, view, failed: false }
    publishedBoards.set(board.id, entry)
    send(entry.topic, JSON.stringify(view), () => {
      entry.failed = true
    })
  }

  /** Publishes the changed lots, then the boards that show them (or every board). */
  function flush(reg: RegistryIndex, dirty: Iterable<string>, allBoards: boolean): void {
    const boards = new Set<Board>(allBoards ? reg.registry.boards : [])
    for (const id of dirty) {
      if (!publishLot(id) || allBoards) continue
      const sensor = reg.sensor(id)
      if (sensor === undefined) continue
      for (const board of reg.boardsOfDistrict(sensor.district)) if (board.lots.includes(id)) boards.add(board)
    }
    for (const board of boards) publishBoard(reg, board)
  }

  return {
    update(readings) {
      if (closed) return
      const reg = options.registry()
      const changed = reconcile(reg)
      // Made only when a lot moved: most readings are of other kinds, and a flush of nothing publishes nothing.
      let dirty: Set<string> | undefined
      for (const reading of readings) {
        if (reading.kind !== 'parking') continue
        try {
          if (apply(reg, reading)) (dirty ??= new Set<string>()).add(reading.sensor)
        } catch (err) {
          // One reading's failure never stalls the others.
          log.error({ err, sensor: reading.sensor }, 'parking reading failed')
        }
      }
      if (dirty !== undefined || changed) flush(reg, dirty ?? [], changed)
    },

    refresh() {
      if (closed) return
      const reg = options.registry()
      reconcile(reg)
      const dirty = new Set<string>()
      for (const [id, lot] of lots) {
        const status = isClosedNow(lot.sensor, lot.underground) ? 'closed' : lot.state.base
        // Only the closure overlay moves: a refresh is not an update of the full/busy hysteresis.
        if (status !== lot.state.status) lot.state = { ...lot.state, status }
        dirty.add(id)
      }
      flush(reg, dirty, true)
    },

    lots(district) {
      const reg = options.registry()
      const out: LotState[] = []
      for (const sensor of district === undefined ? reg.registry.sensors : reg.sensorsOfDistrict(district)) {
        const lot = lots.get(sensor.id)
        if (lot !== undefined) out.push(lotView(lot))
      }
      return out
    },

    boards(district) {
      const reg = options.registry()
      return (district === undefined ? reg.registry.boards : reg.boardsOfDistrict(district)).map((board) => {
        const lines = board.lots.map((id) => line(reg, id))
        const published = publishedBoards.get(board.id)
        if (published !== undefined && published.key === JSON.stringify(lines) && published.view.district === board.district) return published.view
        return { board: board.id, name: board.name, district: board.district, lines, updatedAt: null }
      })
    },

    districts(district) {
      const reg = options.registry()
      const out: DistrictParking[] = []
      for (const d of district === undefined ? reg.districts : [district]) {
        const sensors = reg.sensorsOfDistrict(d).filter((s) => s.kind === 'parking')
        if (sensors.length === 0) continue
        const totals: DistrictParking = { district: d, capacity: 0, free: 0, occupied: 0, occupancy: null, lots: 0, full: 0, closed: 0 }
        for (const sensor of sensors) {
          const lot = lots.get(sensor.id)
          if (lot === undefined) continue
          totals.lots += 1
          totals.capacity += lot.capacity
          totals.occupied += lot.occupied
          if (lot.state.status === 'closed') totals.closed += 1
          else totals.free += lot.capacity - lot.occupied
          if (lot.state.status === 'full') totals.full += 1
        }
        totals.occupancy = totals.capacity > 0 ? percent(totals.occupied, totals.capacity) : null
        out.push(totals)
      }
      return out
    },

    async close() {
      closed = true
      if (inflight.size === 0) return
      let timer: NodeJS.Timeout | undefined
      const deadline = new Promise<void>((resolve) => {
        timer = setTimeout(resolve, options.closeTimeoutMs ?? 5000)
        timer.unref()
      })
      await Promise.race([Promise.allSettled([...inflight]), deadline])
      clearTimeout(timer)
      if (inflight.size > 0) log.warn({ pending: inflight.size }, 'parking publishes still in flight at close')
    },
  }
}
