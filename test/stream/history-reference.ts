import type { Quality } from '../../domain.js'
import type { InsertOutcome } from '../../stream/sensor-history.js'

/** A reading as the reference history keeps it. */
export interface Kept {
  ts: number
  quality: Quality
  fields: Record<string, number>
}

/** One sensor's history as an array of reading objects: what the columns must behave like. */
export function reference(retentionMs: number, maxReadings: number) {
  let kept: Kept[] = []
  let latestTs = -Infinity
  return {
    insert(r: Kept): InsertOutcome {
      const latest = Math.max(latestTs, r.ts)
      const horizon = latest - retentionMs
      if (r.ts <= horizon) return 'too_old'
      latestTs = latest
      let outcome: InsertOutcome = 'added'
      const at = kept.findIndex((k) => k.ts >= r.ts)
      if (at >= 0 && kept[at]?.ts === r.ts) {
        kept[at] = r
        outcome = 'replaced'
      } else if (at < 0) kept.push(r)
      else kept.splice(at, 0, r)
      kept = kept.filter((k) => k.ts > horizon)
      if (kept.length > maxReadings) kept = kept.slice(kept.length - maxReadings)
      return outcome
    },
    get kept(): readonly Kept[] {
      return kept
    },
  }
}
