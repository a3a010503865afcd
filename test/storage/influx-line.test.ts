import { describe, expect, it } from 'vitest'
import { LineDecodingError, LineEncodingError, decodeLine, encodeReading, escapeKey, escapeMeasurement, quoteFieldString, readingPayload } from '../../storage/influx-line.js'
import { reading } from './storage-fixtures.js'

const TS = 1764237600000

describe('line protocol encoding', () => {
  it.each([
    ['a float field', reading({ ts: TS, fields: { level_m: 3.91 } }),
      'water_level,district=xihu,segment=xixi-river-2,sensor=WL-0001 level_m=3.91,quality="good",quality_reason="",ts_source="device" 1764237600000'],
    ['an integral float stays unsuffixed (a float)', reading({ ts: TS, fields: { level_m: 3 } }),
      'water_level,district=xihu,segment=xixi-river-2,sensor=WL-0001 level_m=3,quality="good",quality_reason="",ts_source="device" 1764237600000'],
    ['parking occupied and capacity as integers', reading({ ts: TS, kind: 'parking', sensor: 'P-07', segment: 'zone-4', fields: { occupied: 42, capacity: 420 } }),
      'parking,district=xihu,segment=zone-4,sensor=P-07 occupied=42i,capacity=420i,quality="good",quality_reason="",ts_source="device" 1764237600000'],
    ['several fields, server time source', reading({ ts: TS, kind: 'flow', fields: { flow_m3s: 12.5, velocity_ms: 0.8 }, tsSource: 'server' }),
      'flow,district=xihu,segment=xixi-river-2,sensor=WL-0001 flow_m3s=12.5,velocity_ms=0.8,quality="good",quality_reason="",ts_source="server" 1764237600000'],
    ['very large and very small floats', reading({ ts: TS, fields: { level_m: 1e21 } }),
      'water_level,district=xihu,segment=xixi-river-2,sensor=WL-0001 level_m=1e+21,quality="good",quality_reason="",ts_source="device" 1764237600000'],
    ['commas, spaces and equals signs in tags', reading({ ts: TS, sensor: 'WL 1,a=b', segment: 'x=y z' }),
      'water_level,district=xihu,segment=x\\=y\\ z,sensor=WL\\ 1\\,a\\=b level_m=3.91,quality="good",quality_reason="",ts_source="device" 1764237600000'],
    ['quotes and backslashes in string fields', reading({ ts: TS, quality: 'suspect', qualityReason: 'spike "x" \\ y' }),
      'water_level,district=xihu,segment=xixi-river-2,sensor=WL-0001 level_m=3.91,quality="suspect",quality_reason="spike \\"x\\" \\\\ y",ts_source="device" 1764237600000'],
    ['an empty tag value is left out', reading({ ts: TS, segment: '' }),
      'water_level,district=xihu,sensor=WL-0001 level_m=3.91,quality="good",quality_reason="",ts_source="device" 1764237600000'],
    ['a fractional millisecond timestamp is truncated', reading({ ts: TS + 0.7 }),
      'water_level,district=xihu,segment=xixi-river-2,sensor=WL-0001 level_m=3.91,quality="good",quality_reason="",ts_source="device" 1764237600000'],
  ])('encodes %s', (_name, r, line) => {
    expect(encodeReading(r)).toBe(line)
  })

  it.each([
    ['a non-integer occupied', reading({ kind: 'parking', fields: { occupied: 4.5 } }), /integer/],
    ['a NaN field', reading({ fields: { level_m: Number.NaN } }), /finite/],
    ['an infinite field', reading({ fields: { level_m: Number.POSITIVE_INFINITY } }), /finite/],
    ['a newline in a tag', reading({ sensor: 'a\nb' }), /cannot be encoded/],
    ['a trailing backslash in a tag', reading({ sensor: 'a\\' }), /cannot be encoded/],
  ])('refuses %s', (_name, r, message) => {
    expect(() => encodeReading(r)).toThrow(LineEncodingError)
    expect(() => encodeReading(r)).toThrow(message)
  })

  it.each([
    ['plain', 'plain', 'plain', '"plain"'],
    ['a b', 'a\\ b', 'a\\ b', '"a b"'],
    ['a,b', 'a\\,b', 'a\\,b', '"a,b"'],
    ['a=b', 'a=b', 'a\\=b', '"a=b"'],
    ['say "hi"', 'say\\ "hi"', 'say\\ "hi"', '"say \\"hi\\""'],
  ])('escapes %j as measurement, key and string', (raw, measurement, key, str) => {
    expect(escapeMeasurement(raw)).toBe(measurement)
    expect(escapeKey(raw)).toBe(key)
    expect(quoteFieldString(raw)).toBe(str)
  })

  it.each([
    ['a plain reading', reading({ ts: TS, fields: { level_m: 3.91 } })],
    ['integers', reading({ ts: TS, kind: 'parking', sensor: 'P-07', segment: 'zone-4', fields: { occupied: 42, capacity: 420 } })],
    ['escaped tags', reading({ ts: TS, sensor: 'WL 1,a=b', segment: 'x=y z', district: 'a\\ b' })],
    ['a literal backslash in a tag', reading({ ts: TS, sensor: 'WL\\1' })],
    ['quotes, commas, spaces and backslashes in strings', reading({ ts: TS, quality: 'suspect', qualityReason: 'spike "x", \\ y=1 z' })],
    ['an empty tag left out', reading({ ts: TS, segment: '' })],
    ['several fields', reading({ ts: TS, kind: 'water_quality', fields: { do_mgl: 6.2, ph: 7, temp_c: -1.5e-7 } })],
  ])('decodes what it encodes: %s', (_name, r) => {
    const decoded = decodeLine(encodeReading(r))
    expect(decoded).toEqual({
      measurement: r.kind,
      tags: { district: r.district, sensor: r.sensor, ...(r.segment !== '' ? { segment: r.segment } : {}) },
      fields: { ...r.fields, quality: r.quality, quality_reason: r.qualityReason, ts_source: r.tsSource },
      ts: Math.trunc(r.ts),
    })
  })

  it('encodes each sensor with its own kind, district and segment when sensors share a segment', () => {
    const tail = ' level_m=3.91,quality="good",quality_reason="",ts_source="device" 1764237600000'
    const lines = [
      reading({ ts: TS, sensor: 'S-1', kind: 'water_level', district: 'xihu', segment: 'seg-9' }),
      reading({ ts: TS, sensor: 'S-2', kind: 'water_level', district: 'xihu', segment: 'seg-9' }),
      reading({ ts: TS, sensor: 'S-3', kind: 'flow', district: 'xihu', segment: 'seg-9' }),
      reading({ ts: TS, sensor: 'S-4', kind: 'water_level', district: 'gongshu', segment: 'seg-9' }),
      reading({ ts: TS, sensor: 'S 5', kind: 'water_level', district: 'xihu', segment: 'seg-9' }),
      // The same sensor again, moved (a registry reload): its new tags.
      reading({ ts: TS, sensor: 'S-1', kind: 'water_level', district: 'xihu', segment: 'seg-10' }),
      reading({ ts: TS, sensor: 'S-1', kind: 'water_level', district: 'xihu', segment: 'seg-9' }),
    ].map((r) => encodeReading(r))
    expect(lines).toEqual([
      `water_level,district=xihu,segment=seg-9,sensor=S-1${tail}`,
      `water_level,district=xihu,segment=seg-9,sensor=S-2${tail}`,
      `flow,district=xihu,segment=seg-9,sensor=S-3${tail}`,
      `water_level,district=gongshu,segment=seg-9,sensor=S-4${tail}`,
      `water_level,district=xihu,segment=seg-9,sensor=S\\ 5${tail}`,
      `water_level,district=xihu,segment=seg-10,sensor=S-1${tail}`,
      `water_level,district=xihu,segment=seg-9,sensor=S-1${tail}`,
    ])
  })

  it('refuses a bad sensor tag on a segment already encoded, and still encodes the others there', () => {
    const ok = reading({ ts: TS, sensor: 'S-1', segment: 'seg-11' })
    const line = encodeReading(ok)
    expect(() => encodeReading(reading({ ts: TS, sensor: 'S\\', segment: 'seg-11' }))).toThrow(LineEncodingError)
    expect(encodeReading(ok)).toBe(line)
  })

  it('encodes right across more segments than the prefix cache keeps (100,000)', () => {
    for (let i = 0; i < 100_010; i++) {
      const r = reading({ ts: TS, sensor: `S-${i}`, segment: `many-${i}` })
      if (i % 9_999 === 0 || i >= 99_999) {
        expect(encodeReading(r)).toBe(`water_level,district=xihu,segment=many-${i},sensor=S-${i} level_m=3.91,quality="good",quality_reason="",ts_source="device" 1764237600000`)
      } else encodeReading(r)
    }
  })

  it('decodes booleans, unsigned integers, an escaped measurement and a line without a timestamp', () => {
    expect(decodeLine('my\\ m\\,x,t=1 a=t,b=FALSE,c=12u,d=-3i\n')).toEqual({
      measurement: 'my m,x',
      tags: { t: '1' },
      fields: { a: true, b: false, c: 12, d: -3 },
      ts: Number.NaN,
    })
  })

  it.each([
    ['no fields', 'water_level,sensor=a 1000'],
    ['a tag without a value', 'water_level,sensor level_m=1 1000'],
    ['an unterminated string', 'water_level level_m=1,q="abc 1000'],
    ['an unreadable number', 'water_level level_m=abc 1000'],
    ['an unreadable timestamp', 'water_level level_m=1 soon'],
    ['no measurement', ',a=b level_m=1 1000'],
  ])('refuses to decode a line with %s', (_name, line) => {
    expect(() => decodeLine(line)).toThrow(LineDecodingError)
  })

  it('turns a decoded reading back into a replayable sensor payload', () => {
    const line = encodeReading(reading({ ts: TS, kind: 'flow', fields: { flow_m3s: 12.5, velocity_ms: 0.8 }, quality: 'suspect', qualityReason: 'spike' }))
    expect(readingPayload(decodeLine(line))).toEqual({ ts: TS, flow_m3s: 12.5, velocity_ms: 0.8 })
  })
})
