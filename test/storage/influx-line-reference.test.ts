import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { KIND_FIELDS, type Quality, type Reading, type SensorKind, type TsSource } from '../../domain.js'
import { LineEncodingError, encodeReading } from '../../storage/influx-line.js'
import { WAL_RECORD_HEADER_BYTES, WalRecordBuffer, readWalRecord } from '../../storage/wal-record.js'

const KINDS = Object.keys(KIND_FIELDS) as SensorKind[]

/**
 * The encoding spelled out with strings, as line protocol and `String(number)` define it: what the encoder must
 * produce byte for byte, refusals and their reasons included.
 */
function referenceLine(r: Reading): string {
  const key = (s: string): string => s.replace(/[,= ]/g, (c) => `\\${c}`)
  const quoted = (s: string): string => `"${s.replace(/[\\"]/g, (c) => `\\${c}`)}"`
  const tag = (name: string, value: string): string => {
    if (value === '') return ''
    if (value.includes('\n') || value.endsWith('\\')) throw new LineEncodingError(`tag ${name} cannot be encoded: ${JSON.stringify(value)}`)
    return `,${name}=${key(value)}`
  }
  const integers = KIND_FIELDS[r.kind]?.integers ?? []
  let fields = ''
  for (const name in r.fields) {
    const value = r.fields[name]
    if (value === undefined) continue
    if (!Number.isFinite(value)) throw new LineEncodingError(`field ${name} is not a finite number: ${value}`)
    if (integers.includes(name)) {
      if (!Number.isSafeInteger(value)) throw new LineEncodingError(`field ${name} must be an integer, got ${value}`)
      fields += `${key(name)}=${String(value)}i,`
    } else fields += `${key(name)}=${String(value)},`
  }
  if (!Number.isFinite(r.ts)) throw new LineEncodingError(`ts is not a finite number: ${r.ts}`)
  const measurement = r.kind.replace(/[, ]/g, (c) => `\\${c}`)
  const tags = tag('district', r.district) + tag('segment', r.segment) + tag('sensor', r.sensor)
  const strings = `quality=${quoted(r.quality)},quality_reason=${quoted(r.qualityReason)},ts_source=${quoted(r.tsSource)}`
  return `${measurement}${tags} ${fields}${strings} ${String(Math.trunc(r.ts))}`
}

/** The reference's bytes, or its refusal. */
function reference(r: Reading): Buffer | string {
  try {
    return Buffer.from(referenceLine(r))
  } catch (err) {
    if (err instanceof LineEncodingError) return err.message
    throw err
  }
}

function actual(r: Reading): Buffer | string {
  try {
    return Buffer.from(encodeReading(r))
  } catch (err) {
    if (err instanceof LineEncodingError) return err.message
    throw err
  }
}

/** Characters line protocol escapes or refuses, and ones UTF-8 takes 2, 3 and 4 bytes for, lone surrogates too. */
const awkwardChar = fc.oneof(
  fc.constantFrom(',', '=', ' ', '\\', '"', '\n', 'é', '中', '😀', '\uD83D', '\uDE00', 'a', '-', '_', '1'),
  fc.string({ unit: 'binary', minLength: 1, maxLength: 1 }),
)
const awkwardString = fc.string({ unit: awkwardChar, maxLength: 10 })
const plainString = fc.string({ unit: fc.constantFrom('a', 'b', 'z', '0', '9', '-', '_', '.'), maxLength: 12 })
const text = fc.oneof({ weight: 3, arbitrary: plainString }, { weight: 1, arbitrary: awkwardString })

/** Doubles of every shape String(number) treats differently: few decimals, 17 digits, exponents, the edges between. */
const number = fc.oneof(
  fc.double(),
  fc.integer({ min: -1_000_000, max: 1_000_000 }),
  fc.maxSafeInteger(),
  fc.tuple(fc.integer({ min: -1e9, max: 1e9 }), fc.integer({ min: 0, max: 12 })).map(([n, k]) => n / 10 ** k),
  fc.tuple(fc.bigInt({ min: -(2n ** 60n), max: 2n ** 60n }), fc.integer({ min: 0, max: 30 })).map(([n, k]) => Number(`${n}e-${k}`)),
  fc.tuple(fc.integer({ min: 1, max: 999_999 }), fc.integer({ min: -30, max: 30 })).map(([n, k]) => Number(`${n}e${k}`)),
  fc.constantFrom(0, -0, 1e-6, 1e-7, 9.999999999999999e-7, 1.0000000000000002e-6, 2 ** 49, 2 ** 49 / 10, 2 ** 53 - 1, 2 ** 53, 2 ** 53 + 2, 1e21, 1e21 - 65536, 0.1 + 0.2, 5e-324, Number.MAX_VALUE),
  fc.constantFrom(Number.NaN, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY),
)

const fieldName = fc.oneof(
  { weight: 4, arbitrary: fc.constantFrom('level_m', 'flow_m3s', 'occupied', 'capacity', 'do_mgl', 'ph', '1', '10') },
  { weight: 1, arbitrary: fc.string({ unit: awkwardChar, minLength: 1, maxLength: 6 }).filter((s) => s !== '__proto__') },
)

const readingArb: fc.Arbitrary<Reading> = fc.record({
  sensor: text,
  kind: fc.constantFrom(...KINDS),
  district: text,
  segment: text,
  ts: fc.oneof({ weight: 4, arbitrary: fc.double({ min: 0, max: 4e12, noNaN: true }) }, { weight: 1, arbitrary: number }),
  fields: fc.dictionary(fieldName, fc.oneof(number, fc.constant(undefined as unknown as number)), { maxKeys: 4, noNullPrototype: true }),
  quality: fc.oneof(fc.constantFrom<Quality>('good', 'suspect', 'bad'), text as fc.Arbitrary<Quality>),
  qualityReason: fc.oneof(fc.constant(''), text),
  tsSource: fc.oneof(fc.constantFrom<TsSource>('device', 'server'), text as fc.Arbitrary<TsSource>),
  receivedAt: fc.constant(0),
})

describe('line encoding against a reference', () => {
  it('encodes every reading to the reference bytes, or refuses it for the same reason', () => {
    fc.assert(
      fc.property(readingArb, (r) => {
        expect(actual(r)).toEqual(reference(r))
      }),
      { numRuns: 3_000 },
    )
  })

  it('writes numbers as String(number) does, on many more of them', () => {
    fc.assert(
      fc.property(fc.array(number, { minLength: 1, maxLength: 8 }), (values) => {
        const r: Reading = { sensor: 'S-1', kind: 'water_quality', district: 'd', segment: 's', ts: Math.abs(values[0] as number), fields: {}, quality: 'good', qualityReason: '', tsSource: 'device', receivedAt: 0 }
        values.forEach((v, i) => (r.fields[`f${i}`] = v))
        expect(actual(r)).toEqual(reference(r))
      }),
      { numRuns: 5_000 },
    )
  })

  it('frames the reference lines of the readings it accepts, with their time range, and returns the others with their reasons', () => {
    fc.assert(
      fc.property(fc.array(fc.array(readingArb, { maxLength: 6 }), { maxLength: 5 }), fc.integer({ min: 1, max: 512 }), (batches, capacity) => {
        const records = new WalRecordBuffer(capacity)
        for (const readings of batches) {
          const before = records.length
          const { count, rejected } = records.appendReadings(readings, 1)
          const expected = readings.map((r) => ({ r, line: reference(r) }))
          const lines = expected.flatMap(({ line }) => (typeof line === 'string' ? [] : [line, Buffer.from('\n')]))
          expect(count).toBe(lines.length / 2)
          expect(rejected).toEqual(expected.flatMap(({ r, line }) => (typeof line === 'string' ? [{ reading: r, reason: line }] : [])))
          const payload = records.bytes().subarray(count > 0 ? before + WAL_RECORD_HEADER_BYTES : before)
          expect(payload).toEqual(Buffer.concat(lines))
          if (count === 0) continue
          const times = expected.flatMap(({ r, line }) => (typeof line === 'string' ? [] : [r.ts]))
          expect(readWalRecord(records.bytes(), before)).toEqual({
            kind: 'record',
            payloadStart: before + WAL_RECORD_HEADER_BYTES,
            end: records.length,
            count,
            appendedAt: 1,
            minTs: times.reduce((a, b) => (b < a ? b : a), Number.POSITIVE_INFINITY),
            maxTs: times.reduce((a, b) => (b > a ? b : a), Number.NEGATIVE_INFINITY),
          })
        }
      }),
      { numRuns: 400 },
    )
  })
})
