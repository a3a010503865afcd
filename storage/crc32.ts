/** Reflected CRC-32 polynomial (IEEE 802.3, as zlib, gzip and PNG use it). */
const POLYNOMIAL = 0xedb88320

/** Slicing-by-8 tables: table t holds the CRC of a byte followed by t zero bytes. */
const TABLE = buildTable()

function buildTable(): Int32Array {
  const table = new Int32Array(8 * 256)
  for (let n = 0; n < 256; n++) {
    let c = n
    for (let k = 0; k < 8; k++) c = c & 1 ? POLYNOMIAL ^ (c >>> 1) : c >>> 1
    table[n] = c
  }
  for (let n = 0; n < 256; n++) {
    let c = table[n] as number
    for (let t = 1; t < 8; t++) {
      c = (table[c & 0xff] as number) ^ (c >>> 8)
      table[t * 256 + n] = c
    }
  }
  return table
}

/**
 * CRC-32 (IEEE) of `bytes[start, end)`, table-driven (slicing-by-8, ~1 GB/s); pass a previous result as `seed`
 * to continue a running checksum. Node 20 has no zlib.crc32.
 */
export function crc32(bytes: Uint8Array, start = 0, end = bytes.length, seed = 0): number {
  const t = TABLE
  let c = ~seed
  let i = start
  for (const stop = end - 8; i <= stop; i += 8) {
    const a = c ^ ((bytes[i] as number) | ((bytes[i + 1] as number) << 8) | ((bytes[i + 2] as number) << 16) | ((bytes[i + 3] as number) << 24))
    c =
      (t[1792 + (a & 0xff)] as number) ^
      (t[1536 + ((a >>> 8) & 0xff)] as number) ^
      (t[1280 + ((a >>> 16) & 0xff)] as number) ^
      (t[1024 + (a >>> 24)] as number) ^
      (t[768 + (bytes[i + 4] as number)] as number) ^
      (t[512 + (bytes[i + 5] as number)] as number) ^
      (t[256 + (bytes[i + 6] as number)] as number) ^
      (t[bytes[i + 7] as number] as number)
  }
  for (; i < end; i++) c = (t[(c ^ (bytes[i] as number)) & 0xff] as number) ^ (c >>> 8)
  return ~c >>> 0
}
