import { spawn } from 'node:child_process'
import { appendFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { createServer, type AddressInfo, type Server, type Socket } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { retentionMs } from '../../config.js'
import type { DeadLetterReason, Registry, Sensor } from '../../domain.js'
import { readDeadLetters } from '../../ingest/dead-letter-files.js'
import { acquireReplayLock, compactLedger, LEDGER_FILE, readLedger } from '../../ingest/dead-letter-ledger.js'
import { checkDeadLetter, replayDeadLetters } from '../../ingest/dead-letter-replay.js'
import type { DeadLetterRecord } from '../../ingest/dead-letters.js'
import { indexRegistry } from '../../registry/registry-index.js'
import { fixtureRegistry } from '../helpers/fixture-registry.js'
import { startTestApp, type TestApp } from '../helpers/test-app.js'
import { waitFor } from '../helpers/wait-for.js'

const NOW = Date.parse('2026-11-27T10:30:00.000Z')
const DAY_MS = 86_400_000
const RETENTION_MS = 30 * DAY_MS

const dirs: string[] = []
function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'cw-dlq-'))
  dirs.push(dir)
  return dir
}
afterAll(() => {
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true })
})

function record(overrides: Partial<DeadLetterRecord> & { body?: unknown } = {}): DeadLetterRecord {
  const { body, ...rest } = overrides
  return {
    receivedAt: new Date(NOW).toISOString(),
    topic: 'city/xihu/water_level/WL-9999',
    reason: 'unknown_sensor',
    detail: "sensor 'WL-9999' is not in the registry",
    payload: JSON.stringify(body ?? { ts: NOW - 60_000, level_m: 3.2 }),
    encoding: 'utf8',
    ...rest,
  }
}

/** Writes `{dataDir}/deadletter/{file}` with one line per entry (strings verbatim, objects as JSON). */
function writeLetters(dataDir: string, file: string, lines: (DeadLetterRecord | string)[]): string {
  const dir = join(dataDir, 'deadletter')
  mkdirSync(dir, { recursive: true })
  writeFileSync(join(dir, file), lines.map((l) => (typeof l === 'string' ? l : JSON.stringify(l))).join('\n') + '\n')
  return dir
}

const WL_9999: Sensor = {
  id: 'WL-9999',
  kind: 'water_level',
  district: 'xihu',
  segment: 'river-1',
  name: 'New gauge',
  lat: 30.26,
  lon: 120.1,
  intervalS: 60,
  params: { normalLevelM: 2.9, warningLevelM: 3.5, guaranteedLevelM: 3.9, historicMaxLevelM: 4.2 },
}

function fixedRegistry(): Registry {
  const registry = fixtureRegistry()
  registry.sensors.push(WL_9999)
  return registry
}

describe('readDeadLetters', () => {
  it('reads both encodings in file order, with file, line and byte offset', () => {
    const dataDir = tempDir()
    const first = record()
    const binary = record({ topic: 'city/xihu/water_level/WL-1', reason: 'malformed_json', detail: 'Unexpected token', payload: Buffer.from([0xff, 0xfe, 0x00]).toString('base64'), encoding: 'base64' })
    const dir = writeLetters(dataDir, 'dl-20261127T10.jsonl', [first, binary])
    writeLetters(dataDir, 'dl-20261127T09.jsonl', [record({ receivedAt: '2026-11-27T09:59:00.000Z' })])
    const scan = readDeadLetters(dir)
    expect(scan.problems).toEqual([])
    expect(scan.letters.map((l) => [l.file, l.line, l.offset])).toEqual([
      ['dl-20261127T09.jsonl', 1, 0],
      ['dl-20261127T10.jsonl', 1, 0],
      ['dl-20261127T10.jsonl', 2, Buffer.byteLength(JSON.stringify(first)) + 1],
    ])
    expect(scan.letters[2]?.record).toEqual(binary)
  })

  it('returns nothing, without error, when the folder does not exist yet', () => {
    expect(readDeadLetters(join(tempDir(), 'deadletter'))).toEqual({ letters: [], problems: [], replayedHidden: 0 })
  })

  it.each<[string, Parameters<typeof readDeadLetters>[1], string[]]>([
    ['reason', { reasons: ['ts_future'] }, ['b']],
    ['several reasons', { reasons: ['ts_future', 'schema'] }, ['b', 'c']],
    ['since (inclusive)', { since: Date.parse('2026-11-27T10:10:00Z') }, ['b', 'c']],
    ['until (exclusive)', { until: Date.parse('2026-11-27T10:10:00Z') }, ['a']],
    ['topic prefix', { topicPrefix: 'city/xihu/flow/' }, ['c']],
    ['all together', { reasons: ['unknown_sensor', 'schema'], since: Date.parse('2026-11-27T10:00:00Z'), topicPrefix: 'city/xihu/' }, ['a', 'c']],
  ])('filters by %s', (_what, filter, expected) => {
    const dataDir = tempDir()
    const dir = writeLetters(dataDir, 'dl-20261127T10.jsonl', [
      record({ detail: 'a', receivedAt: '2026-11-27T10:00:00.000Z' }),
      record({ detail: 'b', reason: 'ts_future', receivedAt: '2026-11-27T10:10:00.000Z' }),
      record({ detail: 'c', reason: 'schema', topic: 'city/xihu/flow/FL-1', receivedAt: '2026-11-27T10:20:00.000Z' }),
    ])
    expect(readDeadLetters(dir, filter).letters.map((l) => l.record.detail)).toEqual(expected)
  })

  it('reports malformed lines and skips them without giving up on the file', () => {
    const dataDir = tempDir()
    const dir = writeLetters(dataDir, 'dl-20261127T10.jsonl', [
      record({ detail: 'first' }),
      '{"receivedAt": "2026-11-27T10:00:00.000Z", "topic": ',
      JSON.stringify({ ...record(), reason: 'cosmic_rays' }),
      JSON.stringify({ ...record(), payload: undefined }),
      '[1, 2]',
      '',
      record({ detail: 'last' }),
    ])
    appendFileSync(join(dir, 'dl-20261127T10.jsonl'), '{"receivedAt":"2026-11-27T10:')
    writeFileSync(join(dir, 'notes.txt'), 'not a dead-letter file')
    const scan = readDeadLetters(dir)
    expect(scan.letters.map((l) => [l.line, l.record.detail])).toEqual([[1, 'first'], [7, 'last']])
    expect(scan.problems).toEqual([
      { file: 'dl-20261127T10.jsonl', line: 2, why: expect.stringMatching(/^not JSON/) },
      { file: 'dl-20261127T10.jsonl', line: 3, why: "reason 'cosmic_rays' is unknown" },
      { file: 'dl-20261127T10.jsonl', line: 4, why: 'payload is missing or not a string' },
      { file: 'dl-20261127T10.jsonl', line: 5, why: 'not a JSON object' },
      { file: 'dl-20261127T10.jsonl', line: 8, why: expect.stringMatching(/^incomplete last line/) },
    ])
  })
})

describe('checkDeadLetter', () => {
  const before = { registry: indexRegistry(fixtureRegistry()), topicPrefix: 'city', retentionMs: RETENTION_MS, clock: { now: () => NOW } }
  const after = { ...before, registry: indexRegistry(fixedRegistry()) }
  const base64 = (text: string | Buffer): Partial<DeadLetterRecord> => ({ payload: Buffer.from(text).toString('base64'), encoding: 'base64' })

  it.each<[string, typeof before, Partial<DeadLetterRecord> & { body?: unknown }, string, number, number, DeadLetterReason[]]>([
    ['an unknown sensor still unknown', before, {}, 'rejected', 0, 1, ['unknown_sensor']],
    ['an unknown sensor after the registry fix', after, {}, 'accepted', 1, 1, []],
    ['a base64 payload that decodes to a valid reading', after, base64(JSON.stringify({ ts: NOW - 1000, level_m: 3.3 })), 'accepted', 1, 1, []],
    ['a base64 payload that is not UTF-8 JSON', after, base64(Buffer.from([0xff, 0xfe])), 'rejected', 0, 1, ['malformed_json']],
    ['ts_future whose time has come', before, { topic: 'city/xihu/water_level/WL-1', reason: 'ts_future', body: { ts: NOW - 1000, level_m: 3 } }, 'accepted', 1, 1, []],
    ['ts_future still in the future', before, { topic: 'city/xihu/water_level/WL-1', reason: 'ts_future', body: { ts: NOW + 600_000, level_m: 3 } }, 'rejected', 0, 1, ['ts_future']],
    ['ts_expired, which stays expired', before, { topic: 'city/xihu/water_level/WL-1', reason: 'ts_expired', body: { ts: NOW - 31 * DAY_MS, level_m: 3 } }, 'rejected', 0, 1, ['ts_expired']],
    ['an array where some readings pass', before, { topic: 'city/xihu/water_level/WL-1', reason: 'schema', body: [{ ts: NOW - 2000, level_m: 3 }, { ts: NOW - 1000, level_m: 'high' }, { ts: NOW, level_m: 3.1 }] }, 'partial', 2, 3, ['schema']],
    ['a gateway reading of a sensor added since', after, { topic: 'city/xihu/gateway/GW-1', body: [{ sensor: 'WL-9999', ts: NOW, level_m: 3 }, { sensor: 'WL-0000', ts: NOW, level_m: 3 }] }, 'partial', 1, 2, ['unknown_sensor']],
    ['a topic that no longer follows the grammar', after, { topic: 'city/xihu/water_level', reason: 'topic_mismatch' }, 'rejected', 0, 1, ['topic_mismatch']],
    ['a topic outside the prefix', after, { topic: 'town/xihu/water_level/WL-9999' }, 'rejected', 0, 1, ['topic_mismatch']],
    ['a topic whose kind disagrees with the registry', after, { topic: 'city/xihu/flow/WL-9999', body: { flow_m3s: 1 } }, 'rejected', 0, 1, ['topic_mismatch']],
  ])('%s', (_what, context, letter, outcome, accepted, total, reasons) => {
    const result = checkDeadLetter(record(letter), context)
    expect(result.outcome).toBe(outcome)
    expect(result.accepted).toBe(accepted)
    expect(result.total).toBe(total)
    expect(result.rejections.map((r) => r.reason)).toEqual(reasons)
  })

  it('does not share duplicate state between letters: each is judged as the engine would judge it alone', () => {
    const letter = record({ topic: 'city/xihu/water_level/WL-1' })
    expect(checkDeadLetter(letter, before).outcome).toBe('accepted')
    expect(checkDeadLetter(letter, before).outcome).toBe('accepted')
  })
})

describe('replayDeadLetters offline', () => {
  it('a dry run checks against the registry file as it is now, and publishes and records nothing', async () => {
    const dataDir = tempDir()
    const registryFile = join(dataDir, 'registry.json')
    writeFileSync(registryFile, JSON.stringify(fixtureRegistry()))
    const dir = writeLetters(dataDir, 'dl-20261127T10.jsonl', [record({ payload: JSON.stringify({ level_m: 3.2 }) })])
    const options = { dataDir, registry: registryFile, topicPrefix: 'city', retentionMs: RETENTION_MS, dryRun: true }

    const stillUnknown = await replayDeadLetters(options)
    expect(stillUnknown.letters.map((l) => [l.outcome, l.published, l.rejections[0]?.reason])).toEqual([['rejected', false, 'unknown_sensor']])

    writeFileSync(registryFile, JSON.stringify(fixedRegistry()))
    const fixed = await replayDeadLetters(options)
    expect(fixed.letters.map((l) => [l.outcome, l.accepted, l.published])).toEqual([['accepted', 1, false]])
    expect(fixed.summary).toEqual({ replayed: 1, accepted: 1, partial: 0, rejected: 0, failed: 0, alreadyReplayed: 0, malformed: 0 })
    expect(existsSync(join(dir, LEDGER_FILE))).toBe(false)
  })

  it('requires a broker unless it is a dry run', async () => {
    await expect(replayDeadLetters({ dataDir: tempDir(), registry: indexRegistry(fixtureRegistry()), topicPrefix: 'city', retentionMs: RETENTION_MS })).rejects.toThrow(/broker/)
  })
})

describe('replay ledger and lock', () => {
  it('drops ledger entries whose dead-letter file the engine has deleted', () => {
    const dataDir = tempDir()
    const dir = writeLetters(dataDir, 'dl-20261127T10.jsonl', [record()])
    const entry = { offset: 0, hash: '0123456789abcdef', replayedAt: new Date(NOW).toISOString(), outcome: 'accepted', readings: 1 }
    writeFileSync(join(dir, LEDGER_FILE), [{ ...entry, file: 'dl-20261127T10.jsonl' }, { ...entry, file: 'dl-20261001T00.jsonl' }].map((e) => JSON.stringify(e)).join('\n') + '\n{"cut off')
    expect(compactLedger(dir)).toBe(2)
    expect([...readLedger(dir).keys()]).toEqual(['dl-20261127T10.jsonl:0'])
    expect(compactLedger(dir)).toBe(0)
  })

  it('ignores a ledger entry whose line hash differs, so an edited file is not mistaken for replayed', () => {
    const dataDir = tempDir()
    const dir = writeLetters(dataDir, 'dl-20261127T10.jsonl', [record()])
    writeFileSync(join(dir, LEDGER_FILE), `${JSON.stringify({ file: 'dl-20261127T10.jsonl', offset: 0, hash: 'ffffffffffffffff', replayedAt: new Date(NOW).toISOString(), outcome: 'accepted', readings: 1 })}\n`)
    expect(readDeadLetters(dir).letters).toHaveLength(1)
  })

  it('lets one replay at a time hold the lock and takes over a lock left by a dead process', async () => {
    const dir = tempDir()
    const release = acquireReplayLock(dir)
    expect(() => acquireReplayLock(dir)).toThrow(/another dlq replay \(pid [0-9]+\) is running/)
    release()
    const child = spawn(process.execPath, ['-e', ''], { stdio: 'ignore' })
    await new Promise((resolve) => child.on('exit', resolve))
    writeFileSync(join(dir, 'replay.lock'), `${child.pid}\n`)
    const again = acquireReplayLock(dir)
    expect(readFileSync(join(dir, 'replay.lock'), 'utf8').trim()).toBe(String(process.pid))
    again()
    expect(existsSync(join(dir, 'replay.lock'))).toBe(false)
  })
})

describe('replayDeadLetters when publishing fails', () => {
  const servers: Server[] = []
  afterEach(async () => {
    await Promise.all(servers.splice(0).map((s) => new Promise((resolve) => s.close(resolve))))
  })

  async function listen(onSocket: (socket: Socket) => void): Promise<number> {
    const server = createServer(onSocket)
    servers.push(server)
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
    return (server.address() as AddressInfo).port
  }

  function setup(): { dataDir: string; options: Parameters<typeof replayDeadLetters>[0] } {
    const dataDir = tempDir()
    writeLetters(dataDir, 'dl-20261127T10.jsonl', [record({ payload: JSON.stringify({ level_m: 3 }) }), record({ payload: JSON.stringify({ level_m: 4 }) })])
    return { dataDir, options: { dataDir, registry: indexRegistry(fixedRegistry()), topicPrefix: 'city', retentionMs: RETENTION_MS, ackTimeoutMs: 500 } }
  }

  it('reports every letter failed when the broker is unreachable, and records none', async () => {
    const port = await listen((socket) => socket.destroy())
    await new Promise((resolve) => servers.pop()?.close(resolve))
    const { dataDir, options } = setup()
    const report = await replayDeadLetters({ ...options, broker: `mqtt://127.0.0.1:${port}` })
    expect(report.letters.map((l) => [l.outcome, l.published])).toEqual([['failed', false], ['failed', false]])
    expect(report.letters[0]?.error).toMatch(/cannot connect to mqtt:\/\/127\.0\.0\.1/)
    expect(report.summary.failed).toBe(2)
    expect(readDeadLetters(join(dataDir, 'deadletter')).letters).toHaveLength(2)
    expect(existsSync(join(dataDir, 'deadletter', 'replay.lock'))).toBe(false)
  })

  it('reports a letter failed when no PUBACK arrives within the deadline', async () => {
    // A broker that accepts the connection (CONNACK, accepted) and then never acknowledges a publish.
    const port = await listen((socket) => {
      socket.once('data', () => socket.write(Buffer.from([0x20, 0x02, 0x00, 0x00])))
    })
    const { dataDir, options } = setup()
    const report = await replayDeadLetters({ ...options, broker: `mqtt://127.0.0.1:${port}` })
    expect(report.letters.map((l) => l.outcome)).toEqual(['failed', 'failed'])
    expect(report.letters[0]?.error).toMatch(/no PUBACK within 500 ms/)
    expect(readDeadLetters(join(dataDir, 'deadletter')).letters).toHaveLength(2)
  })
})

describe('replay into a running engine', () => {
  let t: TestApp
  let registryFile: string

  beforeAll(async () => {
    registryFile = join(tempDir(), 'registry.json')
    writeFileSync(registryFile, JSON.stringify(fixtureRegistry()))
    t = await startTestApp({ config: { registry: registryFile } })
  })
  afterAll(async () => t?.close())

  it('re-submits a letter for a sensor added to the registry since, stores the reading, and never re-submits it', async () => {
    const client = await t.client()
    const ts = Date.now() - 5000
    await client.publishAsync('city/xihu/water_level/WL-9999', JSON.stringify({ ts, seq: 1, level_m: 3.25 }), { qos: 1 })
    const dir = join(t.config.dataDir, 'deadletter')
    const letters = await waitFor(async () => {
      await t.app.deadLetters.flush()
      const found = readDeadLetters(dir, { reasons: ['unknown_sensor'] }).letters
      return found.length > 0 && found
    }, { message: 'the dead letter in its file' })
    expect(letters.map((l) => l.record.topic)).toEqual(['city/xihu/water_level/WL-9999'])

    writeFileSync(registryFile, JSON.stringify(fixedRegistry()))
    t.app.reloadRegistry()
    const options = { dataDir: t.config.dataDir, registry: registryFile, topicPrefix: t.config.topicPrefix, retentionMs: retentionMs(t.config.influxRetention), broker: t.mqttUrl }
    const report = await replayDeadLetters(options)
    expect(report.letters).toEqual([
      expect.objectContaining({ topic: 'city/xihu/water_level/WL-9999', reason: 'unknown_sensor', outcome: 'accepted', accepted: 1, total: 1, published: true }),
    ])
    expect(report.summary).toMatchObject({ replayed: 1, accepted: 1, failed: 0 })

    const rows = await waitFor(async () => {
      const r = await t.influx.query(`SELECT * FROM "water_level" WHERE "sensor" = 'WL-9999'`)
      return r.length > 0 && r
    }, { timeoutMs: 15_000, message: 'the replayed reading in InfluxDB' })
    expect(rows).toEqual([expect.objectContaining({ time: new Date(ts).toISOString(), sensor: 'WL-9999', level_m: 3.25 })])

    const second = await replayDeadLetters(options)
    expect(second.letters).toEqual([])
    expect(second.summary).toMatchObject({ replayed: 0, alreadyReplayed: 1 })
    expect(readDeadLetters(dir, { includeReplayed: true }).letters.map((l) => l.replayedAt)).toEqual([expect.any(String)])
    expect(t.app.deadLetters.counts.unknown_sensor).toBe(1)
  })

  it('leaves a letter that is still rejected in place and reports it, without publishing it', async () => {
    const client = await t.client()
    await client.publishAsync('city/xihu/water_level/WL-4040', JSON.stringify({ level_m: 1 }), { qos: 1 })
    const dir = join(t.config.dataDir, 'deadletter')
    await waitFor(async () => {
      await t.app.deadLetters.flush()
      return readDeadLetters(dir, { topicPrefix: 'city/xihu/water_level/WL-4040' }).letters.length > 0
    }, { message: 'the dead letter in its file' })
    const before = t.app.ingest.stats.messages
    const report = await replayDeadLetters({ dataDir: t.config.dataDir, registry: registryFile, topicPrefix: 'city', retentionMs: RETENTION_MS, broker: t.mqttUrl, filter: { topicPrefix: 'city/xihu/water_level/WL-4040' } })
    expect(report.letters.map((l) => [l.outcome, l.published, l.rejections[0]?.detail])).toEqual([['rejected', false, "sensor 'WL-4040' is not in the registry"]])
    expect(t.app.ingest.stats.messages).toBe(before)
    expect(readDeadLetters(dir, { topicPrefix: 'city/xihu/water_level/WL-4040' }).letters).toHaveLength(1)
  })
})
