/** A point of a piecewise-linear curve: input `x`, score `y`. */
export interface Anchor {
  x: number
  y: number
}

// Scores are snapped to 1e-9 so that a value on a limit lands exactly on its anchor (79.99999999999 → 80).
const SNAP = 1e9

/** Rounds a sub-score to 9 decimals, so floating-point noise never moves a score across a band edge. */
export function snapScore(s: number): number {
  const snapped = Math.round(s * SNAP) / SNAP
  return snapped === 0 ? 0 : snapped
}

/**
 * Interpolates linearly between anchors sorted by `x` (INDICES.md §2), flat beyond the first and
 * last; where two anchors share an `x` the first one wins, so the better score holds on the limit.
 */
export function piecewiseLinear(anchors: readonly Anchor[], x: number): number {
  const first = anchors[0]
  if (first === undefined) throw new RangeError('piecewiseLinear needs at least one anchor')
  if (x <= first.x) return snapScore(first.y)
  for (let i = 1; i < anchors.length; i++) {
    const a = anchors[i - 1] as Anchor
    const b = anchors[i] as Anchor
    if (x <= b.x) {
      if (b.x === a.x) return snapScore(a.y)
      return snapScore(a.y + ((b.y - a.y) * (x - a.x)) / (b.x - a.x))
    }
  }
  return snapScore((anchors[anchors.length - 1] as Anchor).y)
}
