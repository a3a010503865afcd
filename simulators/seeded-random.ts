/** A deterministic random stream (sfc32 seeded through the cyrb128 string hash). */
export interface SeededRandom {
  /** The string this stream was seeded from; forks append `/key`. */
  readonly seed: string
  /** Uniform in [0, 1). */
  next(): number
  /** Uniform in [min, max). */
  uniform(min: number, max: number): number
  /** Uniform integer in [min, max], both inclusive. */
  int(min: number, max: number): number
  /** Gaussian draw (Box–Muller); mean 0 and sd 1 by default. */
  normal(mean?: number, sd?: number): number
  /** Bounded noise in (−halfWidth, halfWidth), triangular: a sum of two uniforms, so it never needs clamping. */
  jitter(halfWidth: number): number
  /**
   * A derived stream for `key` (a sensor id, a timestamp): depends only on this stream's seed and
   * the key, never on how many values were drawn here, so one sensor's values never shift another's.
   */
  fork(key: string | number): SeededRandom
  /**
   * Smooth value noise in [−1, 1] as a pure function of `x` (random knots at the integers, quintic
   * fade between them): a continuous, random-looking wobble that draws nothing from the stream.
   */
  smooth(x: number): number
}

/** cyrb128: a fast 128-bit string hash, used to turn any string into four 32-bit seeds. */
export function cyrb128(str: string): [number, number, number, number] {
  let h1 = 1779033703
  let h2 = 3144134277
  let h3 = 1013904242
  let h4 = 2773480762
  for (let i = 0; i < str.length; i++) {
    const k = str.charCodeAt(i)
    h1 = h2 ^ Math.imul(h1 ^ k, 597399067)
    h2 = h3 ^ Math.imul(h2 ^ k, 2869860233)
    h3 = h4 ^ Math.imul(h3 ^ k, 951274213)
    h4 = h1 ^ Math.imul(h4 ^ k, 2716044179)
  }
  h1 = Math.imul(h3 ^ (h1 >>> 18), 597399067)
  h2 = Math.imul(h4 ^ (h2 >>> 22), 2869860233)
  h3 = Math.imul(h1 ^ (h3 >>> 17), 951274213)
  h4 = Math.imul(h2 ^ (h4 >>> 19), 2716044179)
  h1 ^= h2 ^ h3 ^ h4
  h2 ^= h1
  h3 ^= h1
  h4 ^= h1
  return [h1 >>> 0, h2 >>> 0, h3 >>> 0, h4 >>> 0]
}

/** murmur3's 32-bit finaliser: a good avalanche for integer keys. */
function fmix32(h: number): number {
  h ^= h >>> 16
  h = Math.imul(h, 0x85ebca6b)
  h ^= h >>> 13
  h = Math.imul(h, 0xc2b2ae35)
  h ^= h >>> 16
  return h >>> 0
}

const TWO_POW_32 = 4294967296

class Sfc32Random implements SeededRandom {
  readonly seed: string
  private a: number
  private b: number
  private c: number
  private d: number
  /** Knot salt of `smooth`, fixed at creation so it never depends on draws. */
  private readonly knotSalt: number
  private spare: number | undefined

  constructor(seed: string) {
    this.seed = seed
    const [a, b, c, d] = cyrb128(seed)
    this.a = a
    this.b = b
    this.c = c
    this.d = d
    this.knotSalt = fmix32(a ^ Math.imul(d, 0x9e3779b1))
    // sfc32 wants a few rounds before its output is well mixed.
    for (let i = 0; i < 12; i++) this.next()
  }

  next(): number {
    const t = (((this.a + this.b) | 0) + this.d) | 0
    this.d = (this.d + 1) | 0
    this.a = this.b ^ (this.b >>> 9)
    this.b = (this.c + (this.c << 3)) | 0
    this.c = (this.c << 21) | (this.c >>> 11)
    this.c = (this.c + t) | 0
    return (t >>> 0) / TWO_POW_32
  }

  uniform(min: number, max: number): number {
    return min + (max - min) * this.next()
  }

  int(min: number, max: number): number {
    return min + Math.floor(this.next() * (max - min + 1))
  }

  normal(mean = 0, sd = 1): number {
    if (this.spare !== undefined) {
      const z = this.spare
      this.spare = undefined
      return mean + sd * z
    }
    const u = 1 - this.next() // (0, 1]: log(0) never happens
    const v = this.next()
    const r = Math.sqrt(-2 * Math.log(u))
    this.spare = r * Math.sin(2 * Math.PI * v)
    return mean + sd * r * Math.cos(2 * Math.PI * v)
  }

  jitter(halfWidth: number): number {
    return (this.next() + this.next() - 1) * halfWidth
  }

  fork(key: string | number): SeededRandom {
    return new Sfc32Random(`${this.seed}/${key}`)
  }

  smooth(x: number): number {
    const i = Math.floor(x)
    const t = x - i
    const fade = t * t * t * (t * (t * 6 - 15) + 10)
    const k0 = this.knot(i)
    return k0 + (this.knot(i + 1) - k0) * fade
  }

  private knot(i: number): number {
    // Fold the (possibly > 2^32) integer knot index into 32 bits before mixing.
    const lo = i | 0
    const hi = Math.floor(i / TWO_POW_32) | 0
    const h = fmix32(this.knotSalt ^ fmix32(lo ^ Math.imul(hi, 0x27d4eb2f)))
    return (h / TWO_POW_32) * 2 - 1
  }
}

/** Creates a deterministic random stream from a seed (number or string); same seed, same values. */
export function seededRandom(seed: number | string): SeededRandom {
  return new Sfc32Random(String(seed))
}
