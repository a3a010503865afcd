import { describe, expect, it } from 'vitest'
import { resized } from '../typed-arrays.js'

describe('resized', () => {
  it('keeps the type and the first elements, zero after them', () => {
    const a = Float64Array.of(1.5, 2.5, 3.5)
    const b = resized(a, 5)
    expect(b).toBeInstanceOf(Float64Array)
    expect([...b]).toEqual([1.5, 2.5, 3.5, 0, 0])
    expect(b).not.toBe(a)
    expect([...resized(Int32Array.of(-1, 2), 3)]).toEqual([-1, 2, 0])
    expect(resized(Uint8Array.of(7), 2)).toBeInstanceOf(Uint8Array)
  })

  it('keeps only the first `capacity` elements when shrinking', () => {
    expect([...resized(Int32Array.of(1, 2, 3, 4), 2)]).toEqual([1, 2])
  })
})
