/**
 * An index value as published (INDICES.md, preamble): truncated to one decimal and kept below
 * the upper edge `upper` of its worst factor's band, `min(floor(10·x + 1e-6)/10, U − 0.1)`.
 * An index of exactly 100 (every factor at 100) has no band above it and stays 100.
 */
export function truncateIndex(x: number, upper: number): number {
  if (x >= 100) return 100
  const truncated = Math.floor(10 * x + 1e-6) / 10
  return Math.min(truncated, Math.round(10 * upper - 1) / 10)
}
