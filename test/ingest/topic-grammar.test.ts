import { describe, expect, it } from 'vitest'
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
})
