import { randomBytes } from 'node:crypto'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import mqtt from 'mqtt'
import { pino } from 'pino'
import { afterAll, describe, expect, inject, it } from 'vitest'
import { buildConfig, type Config } from '../../config.js'
import { DEAD_LETTER_REASONS, type DeadLetter, type Registry } from '../../domain.js'
import { createDeadLetters } from '../../ingest/dead-letters.js'
import { dlqCli, engineBrokerUrl } from '../../ingest/dlq-cli.js'
import { fixtureRegistry } from '../helpers/fixture-registry.js'
import { runNode, type Finished } from '../helpers/run-node.js'
import { nextMessage } from '../helpers/wait-for.js'

const BIN = fileURLToPath(new URL('../../bin/citywater.js', import.meta.url))
const T0 = Date.parse('2026-11-27T10:15:00.000Z')
// A prefix of its own: the Mosquitto of the run is shared with engines subscribed to city/#.
const P = `dlq${randomBytes(4).toString('hex')}`

const dirs: string[] = []
afterAll(() => {
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true })
})

/** Runs `dlqCli` with captured output and the given environment. */
async function dlq(argv: string[], env: NodeJS.ProcessEnv = {}): Promise<{ code: number; stdout: string; stderr: string }> {
  let stdout = ''
  let stderr = ''
  const code = await dlqCli(argv, { stdout: { write: (s: string) => (stdout += s) }, stderr: { write: (s: string) => (stderr += s) }, env })
  return { code, stdout, stderr }
}

function fixedRegistry(): Registry {
  const registry = fixtureRegistry()
  registry.sensors.push({
    id: 'WL-9999', kind: 'water_level', district: 'xihu', segment: 'river-1', name: 'New gauge', lat: 30.26, lon: 120.1, intervalS: 60,
    params: { normalLevelM: 2.9, warningLevelM: 3.5, guaranteedLevelM: 3.9, historicMaxLevelM: 4.2 },
  })
  return registry
}

/** A data dir whose dead letters the engine's own store wrote, and a registry file; returns the environment pointing at them. */
async function engineFiles(letters: Omit<DeadLetter, 'receivedAt'>[], registry: Registry = fixtureRegistry()): Promise<{ env: NodeJS.ProcessEnv; dataDir: string }> {
  const dataDir = mkdtempSync(join(tmpdir(), 'cw-dlq-cli-'))
  dirs.push(dataDir)
  let now = T0
  const store = createDeadLetters({ dir: join(dataDir, 'deadletter'), clock: { now: () => now }, logger: pino({ level: 'silent' }) })
  for (const letter of letters) {
    store.put({ ...letter, receivedAt: now })
    now += 1000
  }
  await store.close()
  const registryFile = join(dataDir, 'registry.json')
  writeFileSync(registryFile, JSON.stringify(registry))
  return { dataDir, env: { CITYWATER_DATA_DIR: dataDir, CITYWATER_REGISTRY: registryFile, CITYWATER_TOPIC_PREFIX: P } }
}

const reading = (body: unknown): Buffer => Buffer.from(JSON.stringify(body))
const LETTERS: Omit<DeadLetter, 'receivedAt'>[] = [
  { topic: `${P}/xihu/water_level/WL-9999`, reason: 'unknown_sensor', detail: "sensor 'WL-9999' is not in the registry", payload: reading({ level_m: 3.2 }) },
  { topic: `${P}/xihu/water_level/WL-1`, reason: 'schema', detail: 'WL-1: level_m must be number', payload: reading({ level_m: 'high' }) },
  { topic: `${P}/xihu/water_level/WL-1`, reason: 'malformed_json', detail: 'Unexpected token', payload: Buffer.from([0xff, 0xfe]) },
  { topic: `${P}/xihu/rainfall/RG-77`, reason: 'unknown_sensor', detail: `sensor 'RG-77' is not in the registry ${'and a long explanation '.repeat(5)}`, payload: reading({ rain_mm: 0.5 }) },
]

describe('citywater dlq --help', () => {
  it.each([
    [['--help'], ['list', 'replay', '--reason', '--since', '--until', '--topic-prefix', '--all', '--dry-run', '--broker', '--username', '--password', '--timeout', '--json', '--config']],
    [['list', '--help'], ['--reason', '--since', '--until', '--topic-prefix', '--all', '--json', '--config', '--help']],
    [['replay', '--help'], ['--reason', '--since', '--until', '--topic-prefix', '--dry-run', '--broker', '--username', '--password', '--timeout', '--json', '--config', '--help', 'replayed.jsonl']],
  ])('%j prints every option and exits 0', async (argv, words) => {
    const { code, stdout } = await dlq(argv)
    expect(code).toBe(0)
    for (const word of words) expect(stdout).toContain(word)
    for (const reason of DEAD_LETTER_REASONS) expect(stdout).toContain(reason)
  })
})

describe('citywater dlq exits 2 on bad options or configuration', () => {
  it.each([
    [['list', '--reason', 'bogus'], {}, "--reason must be one of malformed_json, schema, unknown_sensor, topic_mismatch, ts_future, ts_expired, too_large, unauthorized, got 'bogus'"],
    [['replay', '--reason', 'bogus', '--dry-run'], {}, "got 'bogus'"],
    [['list', '--since', 'yesterday'], {}, '--since must be an RFC 3339 time'],
    [['list', '--since', '2026-11-28T00:00:00Z', '--until', '2026-11-27T00:00:00Z'], {}, '--since must be before --until'],
    [['list', '--frobnicate'], {}, "'--frobnicate'"],
    [['list', 'extra'], {}, "'extra'"],
    [['replay', '--broker', 'http://example.com'], {}, '--broker must use mqtt://'],
    [['replay', '--timeout', '0'], {}, '--timeout must be a number of seconds > 0'],
    [['list'], { CITYWATER_HTTP_PORT: 'eighty' }, 'CITYWATER_HTTP_PORT must be an integer'],
    [['replay', '--dry-run'], { CITYWATER_REGISTRY: '/nonexistent/registry.json' }, '/nonexistent/registry.json'],
    [['replay'], { CITYWATER_MQTT_PORT: '0' }, 'pass --broker'],
    [[], {}, 'a command is required'],
    [['purge'], {}, "unknown command 'purge'"],
  ])('%j with %j', async (argv, env, message) => {
    const { code, stdout, stderr } = await dlq(argv, { CITYWATER_DATA_DIR: join(tmpdir(), 'cw-dlq-none'), ...env })
    expect(code).toBe(2)
    expect(stdout).toBe('')
    expect(stderr.split('\n')[0]).toContain(message)
  })
})

describe('citywater dlq list', () => {
  it('prints a table of the letters, then the count per reason', async () => {
    const { env } = await engineFiles(LETTERS)
    const { code, stdout, stderr } = await dlq(['list'], env)
    expect(code).toBe(0)
    expect(stderr).toBe('')
    const lines = stdout.trimEnd().split('\n')
    expect(lines[0]).toMatch(/^RECEIVED AT\s+REASON\s+TOPIC\s+DETAIL$/)
    expect(lines[1]).toBe(`2026-11-27T10:15:00.000Z  unknown_sensor  ${P}/xihu/water_level/WL-9999  sensor 'WL-9999' is not in the registry`)
    const detail = lines[4]?.slice(lines[4].indexOf("sensor 'RG-77'")) ?? ''
    expect(detail).toHaveLength(72)
    expect(detail).toMatch(/^sensor 'RG-77' is not in the registry and a long .*…$/)
    expect(lines.at(-1)).toBe('4 dead letters: unknown_sensor 2, schema 1, malformed_json 1')
  })

  it('with --reason unknown_sensor shows only those', async () => {
    const { env } = await engineFiles(LETTERS)
    const { code, stdout } = await dlq(['list', '--reason', 'unknown_sensor'], env)
    expect(code).toBe(0)
    const lines = stdout.trimEnd().split('\n')
    expect(lines.slice(1, -1).map((l) => l.split(/\s+/)[2])).toEqual([`${P}/xihu/water_level/WL-9999`, `${P}/xihu/rainfall/RG-77`])
    expect(lines.at(-1)).toBe('2 dead letters: unknown_sensor 2')
  })

  it('with --json prints one object per letter and a summary object, and malformed lines on stderr', async () => {
    const { env, dataDir } = await engineFiles(LETTERS)
    writeFileSync(join(dataDir, 'deadletter', 'dl-20261127T11.jsonl'), 'garbage\n')
    const { code, stdout, stderr } = await dlq(['list', '--json', '--since', '2026-11-27T10:15:01Z', '--topic-prefix', `${P}/xihu/water_level/`], env)
    expect(code).toBe(0)
    const objects = stdout.trimEnd().split('\n').map((l) => JSON.parse(l))
    expect(objects).toEqual([
      { file: 'dl-20261127T10.jsonl', line: 2, receivedAt: '2026-11-27T10:15:01.000Z', topic: `${P}/xihu/water_level/WL-1`, reason: 'schema', detail: 'WL-1: level_m must be number', payload: '{"level_m":"high"}', encoding: 'utf8' },
      { file: 'dl-20261127T10.jsonl', line: 3, receivedAt: '2026-11-27T10:15:02.000Z', topic: `${P}/xihu/water_level/WL-1`, reason: 'malformed_json', detail: 'Unexpected token', payload: '//4=', encoding: 'base64' },
      { summary: { total: 2, byReason: { schema: 1, malformed_json: 1 }, alreadyReplayed: 0, malformed: 1 } },
    ])
    expect(stderr).toMatch(/^citywater dlq: skipped dl-20261127T11\.jsonl line 1: not JSON/)
  })

  it('says so when there are no dead letters', async () => {
    const { code, stdout } = await dlq(['list'], { CITYWATER_DATA_DIR: join(tmpdir(), 'cw-dlq-none') })
    expect(code).toBe(0)
    expect(stdout).toBe('0 dead letters\n')
  })
})

describe('citywater dlq replay', () => {
  const mosquitto = inject('mosquittoUrl')

  it('--dry-run reports per letter what would happen and publishes nothing', async () => {
    const { env } = await engineFiles(LETTERS, fixedRegistry())
    const { code, stdout } = await dlq(['replay', '--dry-run'], { ...env, CITYWATER_MQTT_URL: 'mqtt://127.0.0.1:1' })
    expect(code).toBe(0)
    expect(stdout.trimEnd().split('\n')).toEqual([
      `2026-11-27T10:15:00.000Z ${P}/xihu/water_level/WL-9999 unknown_sensor -> accepted (1 reading, dry run)`,
      `2026-11-27T10:15:01.000Z ${P}/xihu/water_level/WL-1 schema -> rejected: schema WL-1: level_m must be number`,
      expect.stringContaining(`2026-11-27T10:15:02.000Z ${P}/xihu/water_level/WL-1 malformed_json -> rejected: malformed_json `),
      `2026-11-27T10:15:03.000Z ${P}/xihu/rainfall/RG-77 unknown_sensor -> rejected: unknown_sensor sensor 'RG-77' is not in the registry`,
      'dry run of 4: accepted 1, partial 0, still rejected 3 (nothing published)',
    ])
  })

  it('publishes what now passes on its original topic with QoS 1, records it, and does not resubmit it', async () => {
    const { env } = await engineFiles(LETTERS, fixedRegistry())
    const watcher = await mqtt.connectAsync(mosquitto, { reconnectPeriod: 0 })
    try {
      await watcher.subscribeAsync(`${P}/xihu/#`, { qos: 1 })
      const received = nextMessage(watcher, (topic) => topic === `${P}/xihu/water_level/WL-9999`)
      const first = await dlq(['replay', '--broker', mosquitto], env)
      expect(first.code).toBe(0)
      expect(first.stdout.trimEnd().split('\n')).toEqual([
        `2026-11-27T10:15:00.000Z ${P}/xihu/water_level/WL-9999 unknown_sensor -> accepted (1 reading)`,
        expect.stringContaining('-> rejected: schema'),
        expect.stringContaining('-> rejected: malformed_json'),
        expect.stringContaining('-> rejected: unknown_sensor'),
        'replayed 4: accepted 1, partial 0, still rejected 3, failed 0 (publish errors)',
      ])
      const message = await received
      expect(message.payload.toString()).toBe('{"level_m":3.2}')
      expect(message.qos).toBe(1)
    } finally {
      await watcher.endAsync(true)
    }

    const second = await dlq(['replay', '--broker', mosquitto, '--reason', 'unknown_sensor', '--json'], env)
    expect(second.code).toBe(0)
    const objects = second.stdout.trimEnd().split('\n').map((l) => JSON.parse(l))
    expect(objects).toEqual([
      expect.objectContaining({ topic: `${P}/xihu/rainfall/RG-77`, outcome: 'rejected', published: false }),
      { summary: { dryRun: false, broker: mosquitto, replayed: 1, accepted: 0, partial: 0, rejected: 1, failed: 0, alreadyReplayed: 1, malformed: 0 } },
    ])

    const hidden = await dlq(['list', '--reason', 'unknown_sensor'], env)
    expect(hidden.stdout).toContain('1 already replayed, not shown (--all shows them)')
    expect(hidden.stdout).not.toContain('WL-9999')
    const all = await dlq(['list', '--reason', 'unknown_sensor', '--all'], env)
    expect(all.stdout).toMatch(/^STATE {3}\s*RECEIVED AT/)
    expect(all.stdout).toContain(`\nreplayed  2026-11-27T10:15:00.000Z  unknown_sensor  ${P}/xihu/water_level/WL-9999`)
    expect(all.stdout).toMatch(/\npending {3}2026-11-27T10:15:03\.000Z/)
    expect(all.stdout).toContain('2 dead letters: unknown_sensor 2 (1 replayed)')
  })

  it('uses CITYWATER_MQTT_URL when no --broker is given', async () => {
    const { env } = await engineFiles(LETTERS.slice(0, 1), fixedRegistry())
    const { code, stdout } = await dlq(['replay', '--json'], { ...env, CITYWATER_MQTT_URL: mosquitto })
    expect(code).toBe(0)
    expect(JSON.parse(stdout.trimEnd().split('\n').at(-1) ?? '')).toMatchObject({ summary: { broker: mosquitto, accepted: 1 } })
  })

  it('exits 1 and reports the failure when the broker is unreachable, leaving the letters to a later replay', async () => {
    const { env } = await engineFiles(LETTERS.slice(0, 1), fixedRegistry())
    const failed = await dlq(['replay', '--broker', 'mqtt://127.0.0.1:1', '--timeout', '2'], env)
    expect(failed.code).toBe(1)
    expect(failed.stdout).toContain('-> failed: cannot connect to mqtt://127.0.0.1:1')
    expect(failed.stdout).toContain('replayed 1: accepted 0, partial 0, still rejected 0, failed 1 (publish errors)')
    const retried = await dlq(['replay', '--broker', mosquitto], env)
    expect(retried.code).toBe(0)
    expect(retried.stdout).toContain('replayed 1: accepted 1')
  })

  it.each<[Partial<Config>, string]>([
    [{}, 'mqtt://127.0.0.1:1883'],
    [{ mqttHost: '0.0.0.0', mqttPort: 1884 }, 'mqtt://127.0.0.1:1884'],
    [{ mqttHost: '::1' }, 'mqtt://[::1]:1883'],
    [{ mqttUrl: 'mqtts://broker.example:8883' }, 'mqtts://broker.example:8883'],
  ])('finds the engine broker of %j at %s', (overrides, url) => {
    expect(engineBrokerUrl({ ...buildConfig({}), ...overrides })).toBe(url)
  })
})

describe('the citywater bin', () => {
  function run(args: string[]): Promise<Finished> {
    return runNode(BIN, args, { CITYWATER_DATA_DIR: join(tmpdir(), 'cw-dlq-none') })
  }


  it('runs dlq: --help exits 0, --reason bogus exits 2 with one line', async () => {
    const [help, bogus] = await Promise.all([run(['dlq', '--help']), run(['dlq', 'list', '--reason', 'bogus'])])
    expect(help.code).toBe(0)
    expect(help.stdout).toContain('Usage: citywater dlq list|replay')
    expect(bogus.code).toBe(2)
    expect(bogus.stderr.trim().split('\n')).toEqual([expect.stringContaining("--reason must be one of")])
  })
})
