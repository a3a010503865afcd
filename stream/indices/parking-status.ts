/** A lot's status on the API and boards (SPEC §9). */
export type ParkingStatus = 'available' | 'busy' | 'full' | 'closed'

/** Per-lot state carried between updates. */
export interface ParkingState {
  /** What the lot shows. */
  status: ParkingStatus
  /** The status without the flood closure, so the full/busy hysteresis runs on while a lot is closed. */
  base: Exclude<ParkingStatus, 'closed'>
  /** Consecutive updates with enough free spaces to leave `full`. */
  releaseStreak: number
}

/** A lot never seen: available. */
export const INITIAL_PARKING_STATE: Readonly<ParkingState> = { status: 'available', base: 'available', releaseStreak: 0 }

/** Occupancy at or above which a lot is busy, percent (INDICES.md §5). */
export const BUSY_PERCENT = 85
/** Occupancy below which a busy lot is available again, percent (INDICES.md §5). */
export const LEAVE_BUSY_PERCENT = 82
/** Updates in a row with free ≥ the release threshold needed to leave `full` (INDICES.md §5). */
export const LEAVE_FULL_UPDATES = 2
/** Zone smooth-water alert level (3 orange) from which an underground lot closes (INDICES.md §5). */
export const CLOSE_UNDERGROUND_LEVEL = 3

/** Buffer `B = max(2, ceil(0.03·capacity))`: full when free ≤ B (INDICES.md §5). */
export function fullBuffer(capacity: number): number {
  return Math.max(2, Math.ceil(0.03 * capacity))
}

/** Free spaces needed to leave full: `B + max(2, ceil(0.02·capacity))` (INDICES.md §5). */
export function leaveFullFree(capacity: number): number {
  return fullBuffer(capacity) + Math.max(2, Math.ceil(0.02 * capacity))
}

/**
 * One update of a lot's status (INDICES.md §5): full at free ≤ B, left only after two updates in a
 * row with free ≥ B + max(2, ceil(0.02·capacity)); busy at ≥ 85 %, left below 82 % (a lot leaving
 * full uses the 82 % line too); `closed` for an underground lot while its zone's smooth-water
 * alert level is 3 (orange) or 4 (red). `occupied` is a good reading, 0 ≤ occupied ≤ capacity.
 */
export function parkingStatus(prev: ParkingState, occupied: number, capacity: number, zoneAlertLevel: number, underground: boolean): ParkingState {
  const free = capacity - occupied
  let base: ParkingState['base']
  let releaseStreak = 0
  if (free <= fullBuffer(capacity)) base = 'full'
  else if (prev.base === 'full' && free < leaveFullFree(capacity)) base = 'full'
  else if (prev.base === 'full' && prev.releaseStreak + 1 < LEAVE_FULL_UPDATES) {
    base = 'full'
    releaseStreak = prev.releaseStreak + 1
  } else {
    // Integer percent comparisons: 0.85·420 is 356.99999999999994 in binary floating point.
    const wasBusy = prev.base === 'busy' || prev.base === 'full'
    base = occupied * 100 >= BUSY_PERCENT * capacity || (wasBusy && occupied * 100 >= LEAVE_BUSY_PERCENT * capacity) ? 'busy' : 'available'
  }
  const closed = underground && zoneAlertLevel >= CLOSE_UNDERGROUND_LEVEL
  return { status: closed ? 'closed' : base, base, releaseStreak }
}

/** One line of a guidance board (SPEC §9). */
export interface BoardLine {
  lot: string
  name: string
  /** Free spaces, or `FULL` / `CLOSED`. */
  text: string
}

/** The board line of a lot: its free spaces unless full or closed (INDICES.md §5). */
export function boardLine(lot: { id: string; name: string }, status: ParkingStatus, free: number): BoardLine {
  const text = status === 'closed' ? 'CLOSED' : status === 'full' ? 'FULL' : String(Math.max(0, free))
  return { lot: lot.id, name: lot.name, text }
}
