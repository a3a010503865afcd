import type { Quality } from '../../domain.js'
import { addAmounts, type InsertOutcome } from '../../stream/sensor-history.js'

/** A reading as the reference history keeps it. */
export interface Kept {
  ts: number
  quality: Quality
  fields: Record<string, number>
}

/** Folding of readings later than the newest and in its bucket (`HeldReadings.put`); without it, none. */
export interface ReferenceFold {
  /** Bucket width, ms (`bucketMs`). */
  bucketMs: number
  /** The field whose amounts add (`rain_mm`), if any. */
  sum?: string
}

/** `fields` with `sum` set to `amount`, or without it when `amount` is undefined. */
function withAmount(fields: Record<string, number>, sum: string, amount: number | undefined): Record<string, number> {
  const out = { ...fields }
  delete out[sum]
  if (amount !== undefined) out[sum] = amount
  return out
}

/**
 * One sensor's history as an array of reading objects: what the columns must behave like. With `fold`, a reading
 * later than the newest and in its bucket is appended and then merged, written as the rule reads rather than as the
 * columns do it: the newest earlier entry of the bucket (among its last three) with its quality merges into it, else,
 * when the bucket then has four entries, the older of the newest pair with one quality merges into the newer one.
 */
export function reference(retentionMs: number, maxReadings: number, fold?: ReferenceFold) {
  let kept: Kept[] = []
  let latestTs = -Infinity
  // The positive sum amount the newest entry held before its latest reading was merged into it.
  let foldBase = 0
  const bucketOf = (ts: number): number => Math.floor(ts / (fold?.bucketMs ?? Number.NaN))

  /** Merges entry `from` into the later entry `into` (same bucket), and removes it. */
  function merge(from: number, into: number): void {
    const a = kept[from] as Kept
    const b = kept[into] as Kept
    if (fold?.sum !== undefined) {
      const sum = fold.sum
      kept[into] = { ...b, fields: withAmount(b.fields, sum, addAmounts(a.fields[sum], b.fields[sum])) }
      if (into === kept.length - 1) foldBase = (a.fields[sum] ?? 0) > 0 ? (a.fields[sum] as number) : 0
    }
    kept.splice(from, 1)
  }

  return {
    insert(r: Kept): InsertOutcome {
      const latest = Math.max(latestTs, r.ts)
      const horizon = latest - retentionMs
      if (r.ts <= horizon) return 'too_old'
      latestTs = latest
      let outcome: InsertOutcome = 'added'
      const last = kept[kept.length - 1]
      if (fold !== undefined && last !== undefined && r.ts > last.ts && bucketOf(r.ts) === bucketOf(last.ts)) {
        kept.push(r)
        foldBase = 0
        const newest = kept.length - 1
        const bucket = bucketOf(r.ts)
        const tail: number[] = []
        for (let j = newest - 1; j >= 0 && tail.length < 3 && bucketOf((kept[j] as Kept).ts) === bucket; j--) tail.push(j)
        const same = tail.find((j) => kept[j]?.quality === r.quality)
        if (same !== undefined) {
          merge(same, newest)
          outcome = 'folded'
        } else if (tail.length === 3) {
          // tail is newest first: the first pair with one quality, the newer entry first.
          const pairs = tail.flatMap((k, x) => tail.slice(x + 1).filter((j) => kept[j]?.quality === kept[k]?.quality).map((j) => [j, k] as const))
          const [from, into] = pairs[0] as readonly [number, number]
          merge(from, into)
          outcome = 'folded'
        }
      } else {
        const at = kept.findIndex((k) => k.ts >= r.ts)
        if (at >= 0 && kept[at]?.ts === r.ts) {
          const sum = fold?.sum
          kept[at] = sum !== undefined && at === kept.length - 1 && foldBase > 0 ? { ...r, fields: withAmount(r.fields, sum, addAmounts(foldBase, r.fields[sum])) } : r
          outcome = 'replaced'
        } else if (at < 0) {
          kept.push(r)
          foldBase = 0
        } else kept.splice(at, 0, r)
      }
      kept = kept.filter((k) => k.ts > horizon)
      if (kept.length > maxReadings) kept = kept.slice(kept.length - maxReadings)
      if (kept.length === 0) foldBase = 0
      return outcome
    },
    get kept(): readonly Kept[] {
      return kept
    },
  }
}
