/** The typed arrays the engine keeps its per-sensor columns in. */
export type Column = Float64Array | Int32Array | Uint8Array

/**
 * A copy of `a` with room for `capacity` elements: its first ones (up to `capacity`) kept, the rest zero. Every
 * column of the stages' per-sensor tables grows this way.
 */
export function resized<T extends Column>(a: T, capacity: number): T {
  const b = new (a.constructor as new (length: number) => T)(capacity)
  b.set(a.length <= capacity ? a : a.subarray(0, capacity))
  return b
}
