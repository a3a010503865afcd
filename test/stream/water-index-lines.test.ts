import { describe, expect, it } from 'vitest'
import { waterIndexLines } from '../../stream/water-index-lines.js'
import { decodeLine } from '../../storage/influx-line.js'

describe('waterIndexLines (SPEC §10)', () => {
  it('encodes one point per index with tags district, index, segment and a ms timestamp', () => {
    const lines = waterIndexLines({
      district: 'xihu',
      segment: '_all',
      eventTime: 1764236400000,
      points: [
        { index: 'clear', value: 71.2, level: 3, confidence: 0.8 },
        { index: 'smooth', value: 100, level: 0, confidence: 1 },
      ],
    })
    expect(lines).toEqual([
      'water_index,district=xihu,index=clear,segment=_all value=71.2,level=3i,confidence=0.8 1764236400000',
      'water_index,district=xihu,index=smooth,segment=_all value=100,level=0i,confidence=1 1764236400000',
    ])
  })

  it('escapes tag values and round-trips through the line decoder', () => {
    const [line] = waterIndexLines({ district: 'west lake', segment: 'a,b=c', eventTime: 5, points: [{ index: 'smooth', value: 55.7, level: 2, confidence: 0.92 }] })
    expect(line).toBe('water_index,district=west\\ lake,index=smooth,segment=a\\,b\\=c value=55.7,level=2i,confidence=0.92 5')
    expect(decodeLine(line as string)).toEqual({
      measurement: 'water_index',
      tags: { district: 'west lake', index: 'smooth', segment: 'a,b=c' },
      fields: { value: 55.7, level: 2, confidence: 0.92 },
      ts: 5,
    })
  })

  it('gives no line without an event time, and none for a tag line protocol cannot carry', () => {
    const point = { index: 'clear' as const, value: 50, level: 4, confidence: 1 }
    expect(waterIndexLines({ district: 'xihu', segment: 's', eventTime: null, points: [point] })).toEqual([])
    expect(waterIndexLines({ district: 'xihu', segment: 'bad\nid', eventTime: 1, points: [point] })).toEqual([])
    expect(waterIndexLines({ district: 'xihu', segment: 's', eventTime: 1, points: [] })).toEqual([])
  })
})
