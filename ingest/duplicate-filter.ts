import type { Clock } from '../ports.js'

/** Options of the duplicate filter. */
export interface DuplicateFilterOptions {
  /** How long an accepted `(sensor, ts)` is remembered, in milliseconds. Default 24 h. */
  horizonMs?: number
  clock: Clock
}

/** Remembers accepted `(sensor, ts)` pairs for a horizon and answers whether a reading was seen. */
export interface DuplicateFilter {
  /** True when `(sensor, ts)` was accepted within the horizon; otherwise remembers it and returns false. */
  seen(sensor: string, ts: number): boolean
  /** Forgets an accepted pair, so a resend of a reading that could not be stored is taken again. */
  forget(sensor: string, ts: number): void
  /** Number of remembered pairs. */
  readonly size: number
}

/**
 * Per sensor, a Map from ts to acceptance time, in acceptance order, so expired pairs are
 * pruned from the front in amortised O(1) and memory stays bounded by the horizon.
 */
export function duplicateFilter(options: DuplicateFilterOptions): DuplicateFilter {
  const horizonMs = options.horizonMs ?? 86_400_000
  const { clock } = options
  const bySensor = new Map<string, Map<number, number>>()
  let size = 0
  return {
    get size() {
      return size
    },
    seen(sensor, ts) {
      const now = clock.now()
      let accepted = bySensor.get(sensor)
      if (accepted === undefined) {
        accepted = new Map()
        bySensor.set(sensor, accepted)
      }
      for (const [oldTs, at] of accepted) {
        if (now - at < horizonMs) break
        accepted.delete(oldTs)
        size -= 1
      }
      const at = accepted.get(ts)
      if (at !== undefined) return true
      accepted.set(ts, now)
      size += 1
      return false
    },
    forget(sensor, ts) {
      if (bySensor.get(sensor)?.delete(ts) === true) size -= 1
    },
  }
}
