/** An index that cannot be computed, with the reason (SPEC §7). */
export interface NullIndex {
  value: null
  reason: string
}
