import { mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { pino } from 'pino'
import { describe, expect, it } from 'vitest'
import { createDeadLetters } from '../../ingest/dead-letters.js'

const logger = pino({ level: 'silent' })
const T0 = Date.parse('2026-11-27T10:00:00.000Z')

describe('dead letters', () => {
  it('appends to an hourly file, publishes on citywater/deadletter/{reason} and counts per reason', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'cw-dl-'))
    const published: [string, string][] = []
    const dl = createDeadLetters({ dir, clock: { now: () => T0 }, logger, publish: async (t, p) => void published.push([t, p]) })
    dl.put({ receivedAt: T0, topic: 'city/xihu/water_level/WL-1', reason: 'malformed_json', detail: 'Unexpected end', payload: Buffer.from('{"a":') })
    dl.put({ receivedAt: T0, topic: 'city/xihu/water_level/WL-1', reason: 'schema', detail: 'bad', payload: Buffer.from([0xff, 0x00]) })
    await dl.flush()
    expect(readdirSync(dir)).toEqual(['dl-20261127T10.jsonl'])
    const lines = readFileSync(join(dir, 'dl-20261127T10.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l))
    expect(lines).toEqual([
      { receivedAt: '2026-11-27T10:00:00.000Z', topic: 'city/xihu/water_level/WL-1', reason: 'malformed_json', detail: 'Unexpected end', payload: '{"a":', encoding: 'utf8' },
      { receivedAt: '2026-11-27T10:00:00.000Z', topic: 'city/xihu/water_level/WL-1', reason: 'schema', detail: 'bad', payload: '/wA=', encoding: 'base64' },
    ])
    expect(published.map(([t]) => t)).toEqual(['citywater/deadletter/malformed_json', 'citywater/deadletter/schema'])
    expect(JSON.parse(published[1]?.[1] ?? '')).toEqual({ receivedAt: '2026-11-27T10:00:00.000Z', topic: 'city/xihu/water_level/WL-1', reason: 'schema', detail: 'bad', payload: '/wA=' })
    expect(dl.counts.malformed_json).toBe(1)
    expect(dl.counts.schema).toBe(1)
    expect(dl.counts.ts_future).toBe(0)
    await dl.close()
  })

  it('deletes the oldest files beyond the byte bound and the age bound', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'cw-dl-'))
    writeFileSync(join(dir, 'dl-20261001T00.jsonl'), 'x'.repeat(10))
    writeFileSync(join(dir, 'dl-20261126T00.jsonl'), 'x'.repeat(70_000))
    writeFileSync(join(dir, 'dl-20261127T09.jsonl'), 'x'.repeat(100))
    const dl = createDeadLetters({ dir, maxBytes: 65_536, clock: { now: () => T0 }, logger })
    dl.put({ receivedAt: T0, topic: 't', reason: 'schema', detail: 'd', payload: Buffer.from('{}') })
    await dl.flush()
    expect(readdirSync(dir).sort()).toEqual(['dl-20261127T09.jsonl', 'dl-20261127T10.jsonl'])
    expect(dl.bytes).toBeLessThan(65_536)
    await dl.close()
  })

  it('keeps working when publishing fails', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'cw-dl-'))
    const dl = createDeadLetters({ dir, clock: { now: () => T0 }, logger, publish: async () => { throw new Error('broker down') } })
    dl.put({ receivedAt: T0, topic: 't', reason: 'schema', detail: 'd', payload: Buffer.from('{}') })
    dl.put({ receivedAt: T0, topic: 't', reason: 'schema', detail: 'd', payload: Buffer.from('{}') })
    await dl.flush()
    expect(readFileSync(join(dir, 'dl-20261127T10.jsonl'), 'utf8').trim().split('\n')).toHaveLength(2)
    await dl.close()
  })
})
