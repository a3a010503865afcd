import type { Quality } from '../../domain.js'

/** A reading's quality as the number a quality column holds. */
export const QUALITY_CODE: Readonly<Record<Quality, number>> = { good: 0, suspect: 1, bad: 2 }

/** The quality of a code of QUALITY_CODE. */
export const QUALITY_OF_CODE: readonly Quality[] = ['good', 'suspect', 'bad']

/**
 * One sensor's recent readings column by column, oldest first, with no object per reading: rows `start` to
 * `start + length − 1`; row r has its event time at `data[r]`, its quality code (QUALITY_CODE) at `codes[r]`, and
 * for a field whose column starts at `o = offsetOf(field)` (−1 when no reading held has had it) its value at
 * `data[o + r]`, NaN when the reading lacks the field.
 */
export interface ReadingColumns {
  readonly data: ArrayLike<number>
  readonly codes: ArrayLike<number>
  readonly start: number
  readonly length: number
  offsetOf(field: string): number
}
