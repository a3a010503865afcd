import { CORROBORATING_RAIN_MM, type RainTotals } from './rain-totals.js'
import type { TimedValue } from './timed-value.js'

/** Hazard sub-scores below this need corroboration, and unconfirmed ones are raised to it (INDICES.md §2). */
export const CORROBORATION_SCORE = 40

/** Another hazard sensor scoring below this corroborates (INDICES.md §2). */
export const NEIGHBOUR_SCORE = 80

/** A river gauge scoring at or below this is at or above its warning level (Hw scores 60, INDICES.md §2). */
export const RIVER_WARNING_SCORE = 60

/** How long a sensor must stay below 40 on every reading to corroborate itself, ms (INDICES.md §2). */
export const PERSISTENCE_MS = 30 * 60_000

/** Which condition corroborated a low hazard sub-score. */
export type CorroborationReason = 'rain' | 'neighbour' | 'river' | 'persistent'

/** What the corroboration rule reads (INDICES.md §2 Corroboration). */
export interface CorroborationInput {
  /** Rain totals over the zone's gauges, else the district's. */
  rain: RainTotals
  /** Scores of the zone's other hazard sensors (fresh or held, before corroboration). */
  otherHazardScores: readonly number[]
  /** Whether a river gauge of the zone is at or above its warning level. */
  riverAtWarning: boolean
  /** Since when the sensor has read below 40 on every reading (see `belowFortySince`). */
  belowFortySince: number | undefined
  /** Event time of the evaluation, epoch milliseconds. */
  now: number
}

/**
 * Why a hazard sub-score below 40 counts, or `undefined` when nothing corroborates it and it must be
 * raised to 40 and flagged `unconfirmed` (INDICES.md §2 Corroboration).
 */
export function corroboration(input: CorroborationInput): CorroborationReason | undefined {
  if (input.rain.mm60 >= CORROBORATING_RAIN_MM) return 'rain'
  if (input.otherHazardScores.some((s) => s < NEIGHBOUR_SCORE)) return 'neighbour'
  if (input.riverAtWarning) return 'river'
  if (input.belowFortySince !== undefined && input.now - input.belowFortySince >= PERSISTENCE_MS) return 'persistent'
  return undefined
}

/**
 * Start of the sensor's current run of readings scoring below 40 (good and suspect readings: the
 * corroboration rule reads suspect ones too), or `undefined` when its latest reading is not below 40.
 * `declared` (the caller's own record) extends a run that reaches back to the oldest reading given.
 */
export function belowFortySince(recent: readonly TimedValue[], score: (value: number) => number, declared?: number): number | undefined {
  const usable = recent.filter((r) => r.quality !== 'bad' && Number.isFinite(r.value)).sort((a, b) => a.ts - b.ts)
  let since: number | undefined
  let i = usable.length - 1
  for (; i >= 0; i--) {
    const r = usable[i] as TimedValue
    if (score(r.value) >= CORROBORATION_SCORE) break
    since = r.ts
  }
  if (since !== undefined && i < 0 && declared !== undefined && declared < since) return declared
  return since
}
