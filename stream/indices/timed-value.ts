import type { Quality } from '../../domain.js'

/** One reading of one field: what the pure index functions read. */
export interface TimedValue {
  /** Event time, epoch milliseconds. */
  ts: number
  value: number
  quality: Quality
}
