import { describe, expect, it } from 'vitest'
import { SENSOR_KINDS } from '../../domain.js'
import { parseTopic } from '../../ingest/topic-grammar.js'

describe('parseTopic', () => {
  it.each([
    ['city/xihu/water_level/WL-0012', { type: 'sensor', district: 'xihu', kind: 'water_level', sensorId: 'WL-0012' }],
    ['city/xihu/gateway/GW-1', { type: 'gateway', district: 'xihu', gatewayId: 'GW-1' }],
    ['other/xihu/water_level/WL-1', { type: 'foreign' }],
    ['citywater/deadletter/schema', { type: 'foreign' }],
  ])('parses %s', (topic, expected) => {
    expect(parseTopic(topic, 'city')).toEqual(expected)
  })

  it.each([
    ['city/xihu/water_level', /topic must be/],
    ['city/xihu/water_level/WL-1/extra', /topic must be/],
    ['city/xihu//WL-1', /topic must be/],
    ['city/xihu/lava_level/WL-1', /unknown kind 'lava_level'/],
  ])('calls %s invalid with a reason', (topic, why) => {
    const parsed = parseTopic(topic, 'city')
    expect(parsed.type).toBe('invalid')
    expect(parsed.type === 'invalid' && parsed.why).toMatch(why)
  })

  it('agrees with splitting on every slash, for topics made of levels, slashes and empty parts', () => {
    // The rule as first written: split on '/', exactly four non-empty levels under the prefix.
    const reference = (topic: string, prefix: string): string => {
      if (!topic.startsWith(`${prefix}/`)) return 'foreign'
      const parts = topic.split('/')
      if (parts.length !== 4 || parts.some((p) => p === '')) return 'invalid:shape'
      const [, district, kind, id] = parts as [string, string, string, string]
      if (kind === 'gateway') return `gateway:${district}:${id}`
      if (!(SENSOR_KINDS as readonly string[]).includes(kind)) return 'invalid:kind'
      return `sensor:${district}:${kind}:${id}`
    }
    const summary = (topic: string, prefix: string): string => {
      const p = parseTopic(topic, prefix)
      if (p.type === 'foreign') return 'foreign'
      if (p.type === 'invalid') return /unknown kind/.test(p.why) ? 'invalid:kind' : 'invalid:shape'
      return p.type === 'gateway' ? `gateway:${p.district}:${p.gatewayId}` : `sensor:${p.district}:${p.kind}:${p.sensorId}`
    }
    const pieces = ['city', 'xihu', 'gateway', 'water_level', 'lava', 'WL-1', '', '/', '//', 'c']
    // Every sequence of up to four pieces after 'city', joined by '/' (and the four-piece ones by nothing too).
    const topics: string[] = []
    const grow = (levels: string[]): void => {
      topics.push(['city', ...levels].join('/'))
      if (levels.length === 4) topics.push(['city', ...levels].join(''))
      else for (const p of pieces) grow([...levels, p])
    }
    grow([])
    const seen = new Set<string>()
    for (const topic of topics) {
      const expected = reference(topic, 'city')
      expect(summary(topic, 'city'), topic).toBe(expected)
      seen.add(expected.startsWith('invalid') ? expected : (expected.split(':')[0] as string))
    }
    // Every outcome was met, so the agreement covers each branch.
    expect([...seen].sort()).toEqual(['foreign', 'gateway', 'invalid:kind', 'invalid:shape', 'sensor'])
  })
})
