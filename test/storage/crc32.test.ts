import { randomBytes } from 'node:crypto'
import { describe, expect, it } from 'vitest'
import { crc32 } from '../../storage/crc32.js'

/** The bit-at-a-time definition, to check the table-driven one against. */
function reference(bytes: Uint8Array): number {
  let c = 0xffffffff
  for (const byte of bytes) {
    c ^= byte
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1
  }
  return (c ^ 0xffffffff) >>> 0
}

describe('crc32', () => {
  it.each([
    ['the empty input', '', 0x00000000],
    ['the check string 123456789', '123456789', 0xcbf43926],
    ['a single a', 'a', 0xe8b7be43],
    ['the quick brown fox', 'The quick brown fox jumps over the lazy dog', 0x414fa339],
  ])('matches the published value for %s', (_name, text, expected) => {
    expect(crc32(Buffer.from(text, 'latin1'))).toBe(expected)
  })

  it('agrees with the bit-at-a-time definition on random inputs of every length up to 100 bytes', () => {
    for (let length = 0; length <= 100; length++) {
      const bytes = randomBytes(length)
      expect(crc32(bytes)).toBe(reference(bytes))
    }
  })

  it('checksums a range, and continues a running checksum from a seed', () => {
    const bytes = randomBytes(1000)
    expect(crc32(bytes, 17, 900)).toBe(reference(bytes.subarray(17, 900)))
    expect(crc32(bytes, 333, 1000, crc32(bytes, 0, 333))).toBe(crc32(bytes))
  })

  it('changes when any single bit flips', () => {
    const bytes = randomBytes(64)
    const original = crc32(bytes)
    for (let bit = 0; bit < 64 * 8; bit += 7) {
      const flipped = Buffer.from(bytes)
      flipped[bit >> 3] = (flipped[bit >> 3] as number) ^ (1 << (bit & 7))
      expect(crc32(flipped)).not.toBe(original)
    }
  })
})
