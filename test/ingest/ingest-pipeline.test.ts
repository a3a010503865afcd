import { describe, expect, it } from 'vitest'
import type { DeadLetter } from '../../domain.js'
import { createIngest } from '../../ingest/ingest-pipeline.js'
import { indexRegistry } from '../../registry/registry-index.js'
import { createQualityStage } from '../../stream/quality-stage.js'
import { fixtureRegistry } from '../helpers/fixture-registry.js'

const NOW = Date.parse('2026-11-27T10:00:00.000Z')

function setup(options: { districts?: string[] } = {}) {
  const letters: DeadLetter[] = []
  let now = NOW
  const registry = indexRegistry(fixtureRegistry())
  const ingest = createIngest({
    registry: () => registry,
    topicPrefix: 'city',
    retentionMs: 30 * 86_400_000,
    districts: options.districts ?? null,
    deadLetters: { put: (l) => letters.push(l), close: async () => {} },
    clock: { now: () => now },
  })
  const send = (topic: string, body: unknown) =>
    ingest.handle({ topic, payload: Buffer.isBuffer(body) ? body : Buffer.from(typeof body === 'string' ? body : JSON.stringify(body)), qos: 1 })
  return { ingest, letters, send, registry, advance: (ms: number) => (now += ms) }
}

describe('ingest pipeline', () => {
  it('accepts a reading with its registry tags, device time and good quality', () => {
    const { send, letters } = setup()
    const { accepted } = send('city/xihu/water_level/WL-1', { ts: NOW - 1000, seq: 7, level_m: 3.1 })
    expect(letters).toEqual([])
    expect(accepted).toEqual([
      { sensor: 'WL-1', kind: 'water_level', district: 'xihu', segment: 'river-1', ts: NOW - 1000, seq: 7, fields: { level_m: 3.1 }, quality: 'good', qualityReason: '', tsSource: 'device', receivedAt: NOW },
    ])
  })

  it('stamps readings without ts with server time, now + i ms for the i-th', () => {
    const { send } = setup()
    const { accepted } = send('city/xihu/rainfall/RG-1', [{ rain_mm: 0 }, { rain_mm: 0.5 }])
    expect(accepted.map((r) => [r.ts, r.tsSource])).toEqual([[NOW, 'server'], [NOW + 1, 'server']])
  })

  it('parses RFC 3339 times with offsets', () => {
    const { send } = setup()
    const { accepted } = send('city/xihu/water_level/WL-1', { ts: '2026-11-27T17:59:00+08:00', level_m: 3 })
    expect(accepted[0]?.ts).toBe(NOW - 60_000)
  })

  it.each([
    ['malformed_json', 'city/xihu/water_level/WL-1', '{"level_m": 3.1', /JSON/],
    ['schema', 'city/xihu/water_level/WL-1', { level_m: 'high' }, /level_m must be number/],
    ['unknown_sensor', 'city/xihu/water_level/WL-404', { level_m: 3 }, /WL-404/],
    ['topic_mismatch', 'city/xihu/flow/WL-1', { flow_m3s: 3 }, /water_level/],
    ['topic_mismatch', 'city/gongshu/water_level/WL-1', { level_m: 3 }, /gongshu/],
    ['topic_mismatch', 'city/xihu/water_level', { level_m: 3 }, /topic must be/],
    ['ts_future', 'city/xihu/water_level/WL-1', { ts: NOW + 301_000, level_m: 3 }, /ahead/],
    ['ts_expired', 'city/xihu/water_level/WL-1', { ts: NOW - 31 * 86_400_000, level_m: 3 }, /retention/],
    ['too_large', 'city/xihu/water_level/WL-1', Array.from({ length: 1001 }, (_, i) => ({ ts: NOW - i, level_m: 3 })), /1001/],
    ['too_large', 'city/xihu/water_level/WL-1', Buffer.alloc(262_145, 0x20), /262145 bytes/],
  ])('rejects %s (%s) to the dead letters with a reason', (reason, topic, body, detail) => {
    const { send, letters } = setup()
    expect(send(topic, body).accepted).toEqual([])
    expect(letters).toHaveLength(1)
    expect(letters[0]).toMatchObject({ reason, topic, receivedAt: NOW })
    expect(letters[0]?.detail).toMatch(detail)
  })

  it('keeps non-UTF-8 payloads byte for byte', () => {
    const { send, letters } = setup()
    const bytes = Buffer.from([0xff, 0xfe, 0x00, 0x41])
    send('city/xihu/water_level/WL-1', bytes)
    expect(letters[0]?.reason).toBe('malformed_json')
    expect(letters[0]?.payload.equals(bytes)).toBe(true)
  })

  it('drops a redelivered (sensor, ts) as a duplicate, without an error', () => {
    const { send, ingest, letters } = setup()
    expect(send('city/xihu/water_level/WL-1', { ts: NOW - 5, level_m: 3 }).accepted).toHaveLength(1)
    expect(send('city/xihu/water_level/WL-1', { ts: NOW - 5, level_m: 3 }).accepted).toHaveLength(0)
    expect(ingest.stats.duplicates).toBe(1)
    expect(letters).toEqual([])
  })

  it('accepts the good readings of an array and dead-letters each bad one alone', () => {
    const { send, letters } = setup()
    const { accepted } = send('city/xihu/water_level/WL-1', [
      { ts: NOW - 3000, level_m: 3 },
      { ts: NOW - 2000, level_m: 'x' },
      { ts: NOW + 999_999, level_m: 3 },
      { ts: NOW - 1000, level_m: 3.2 },
    ])
    expect(accepted.map((r) => r.fields.level_m)).toEqual([3, 3.2])
    expect(letters.map((l) => l.reason)).toEqual(['schema', 'ts_future'])
    expect(JSON.parse(letters[0]?.payload.toString() ?? '')).toEqual({ ts: NOW - 2000, level_m: 'x' })
  })

  it('routes gateway readings to their sensors and rejects the unknown and foreign ones', () => {
    const { send, letters } = setup()
    const { accepted } = send('city/xihu/gateway/GW-1', [
      { sensor: 'WL-1', ts: NOW - 10, level_m: 3 },
      { sensor: 'PD-1', ts: NOW - 10, depth_cm: 4.5 },
      { sensor: 'XX-9', ts: NOW - 10, depth_cm: 4.5 },
      { ts: NOW - 10, depth_cm: 4.5 },
      { sensor: 'PD-1', ts: NOW - 9, level_m: 3 },
    ])
    expect(accepted.map((r) => [r.sensor, r.kind])).toEqual([['WL-1', 'water_level'], ['PD-1', 'ponding_depth']])
    expect(letters.map((l) => l.reason)).toEqual(['unknown_sensor', 'schema', 'schema'])
  })

  it('counts seq gaps and device restarts', () => {
    const { send, ingest } = setup()
    for (const [i, seq] of [1, 2, 5, 6, 1, 2].entries()) send('city/xihu/water_level/WL-1', { ts: NOW - 100 + i, seq, level_m: 3 })
    expect(ingest.stats.seqMissed).toBe(2)
    expect(ingest.stats.deviceRestarts).toBe(1)
  })

  it('leaves the flag to the quality stage: parking beyond capacity bad, a differing capacity suspect', () => {
    const { send, registry } = setup()
    const stage = createQualityStage({ registry: () => registry, latenessS: 120, clock: { now: () => NOW } })
    const flag = (topic: string, body: unknown) => {
      const accepted = send(topic, body).accepted
      expect(accepted[0]).toMatchObject({ quality: 'good', qualityReason: '' })
      return stage.assess(accepted).readings[0]
    }
    expect(flag('city/xihu/parking/P-1', { ts: NOW - 3, occupied: 101 })).toMatchObject({ quality: 'bad', qualityReason: 'range:occupied' })
    expect(flag('city/xihu/parking/P-1', { ts: NOW - 2, occupied: 50, capacity: 90 })).toMatchObject({ quality: 'suspect', qualityReason: 'capacity_mismatch' })
    expect(flag('city/xihu/parking/P-1', { ts: NOW - 1, occupied: 50, capacity: 100 })).toMatchObject({ quality: 'good' })
  })

  it('leaves sentinel codes to the quality stage, which flags them bad', () => {
    const { send, registry } = setup()
    const stage = createQualityStage({ registry: () => registry, latenessS: 120, clock: { now: () => NOW } })
    const { accepted } = send('city/xihu/ponding_depth/PD-1', { ts: NOW - 1, depth_cm: -9999 })
    expect(stage.assess(accepted).readings[0]).toMatchObject({ quality: 'bad', qualityReason: 'sentinel:depth_cm' })
  })

  it('ignores other topics and, when partitioned, other districts', () => {
    const { send, letters, ingest } = setup({ districts: ['gongshu'] })
    expect(send('home/lamp', 'on').accepted).toEqual([])
    expect(send('city/xihu/water_level/WL-1', { level_m: 3 }).accepted).toEqual([])
    expect(letters).toEqual([])
    expect(ingest.stats.foreign).toBe(1)
  })
})
