// Decimal inputs such as 0.0425 are stored as 0.042499999…; a tie is a tie within this relative tolerance.
// It covers the representation error and a few thousand ulps of arithmetic (a window's mean), and no more:
// at 1e-9, 391.0033496089967 (3,910,033.496 scaled) counted as a tie and went up to 391.0034.
const TIE_TOLERANCE = 1e-12

/** Rounds `x` to `decimals` places, a tie going to the even neighbour (GB 3838 reporting, INDICES.md §1 Windows). */
export function roundHalfEven(x: number, decimals: number): number {
  if (!Number.isFinite(x)) return x
  const scale = 10 ** decimals
  const scaled = x * scale
  const floor = Math.floor(scaled)
  const diff = scaled - floor
  const tolerance = TIE_TOLERANCE * Math.max(1, Math.abs(scaled))
  let n: number
  if (Math.abs(diff - 0.5) <= tolerance) n = floor % 2 === 0 ? floor : floor + 1
  else n = diff < 0.5 ? floor : floor + 1
  // Dividing (not multiplying by 10^−d) keeps results like 0.1 exact.
  const out = n / scale
  return out === 0 ? 0 : out
}
