import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { buildConfig, DEFAULT_CONFIG, envName, retentionMs } from '../config.js'
import { expectAppError } from './helpers/expect-app-error.js'

describe('buildConfig', () => {
  it('gives the defaults of SPEC §2 for an empty environment', () => {
    expect(buildConfig({})).toEqual(DEFAULT_CONFIG)
    expect(DEFAULT_CONFIG).toMatchObject({ mqttPort: 1883, httpPort: 8080, influxDb: 'citywater', influxRetention: '30d', walSyncMs: 5, latenessS: 120, topicPrefix: 'city', districts: null })
  })

  it('reads and coerces every variable', () => {
    const config = buildConfig({
      CITYWATER_MQTT_URL: 'mqtts://broker.example:8883',
      CITYWATER_MQTT_PORT: '0',
      CITYWATER_MQTT_WS_PORT: '8883',
      CITYWATER_HTTP_PORT: '9090',
      CITYWATER_INFLUX_URL: 'http://influx:8086',
      CITYWATER_INFLUX_DB: 'water',
      CITYWATER_INFLUX_USER: 'cw',
      CITYWATER_INFLUX_PASSWORD: 'secret',
      CITYWATER_INFLUX_RETENTION: '7d',
      CITYWATER_INFLUX_MAX_BACKOFF_MS: '2000',
      CITYWATER_REGISTRY: '/r.json',
      CITYWATER_RULES: '/rules.json',
      CITYWATER_DATA_DIR: '/var/lib/citywater',
      CITYWATER_WAL_MAX_BYTES: '1073741824',
      CITYWATER_WAL_SYNC_MS: '2',
      CITYWATER_DLQ_MAX_BYTES: '1048576',
      CITYWATER_LATENESS_S: '60',
      CITYWATER_TOPIC_PREFIX: 'hz',
      CITYWATER_DISTRICTS: 'xihu, gongshu',
      CITYWATER_AUTH_FILE: '/auth.json',
      CITYWATER_LOG_LEVEL: 'debug',
    })
    expect(config).toMatchObject({ mqttUrl: 'mqtts://broker.example:8883', mqttPort: 0, mqttWsPort: 8883, httpPort: 9090, influxRetention: '7d', walMaxBytes: 1073741824, districts: ['xihu', 'gongshu'], logLevel: 'debug', authFile: '/auth.json' })
  })

  it.each([
    ['CITYWATER_HTTP_PORT', 'eighty'],
    ['CITYWATER_HTTP_PORT', '70000'],
    ['CITYWATER_MQTT_PORT', '-1'],
    ['CITYWATER_MQTT_URL', 'http://broker'],
    ['CITYWATER_INFLUX_URL', 'influx:8086'],
    ['CITYWATER_INFLUX_RETENTION', 'a month'],
    ['CITYWATER_INFLUX_MAX_BACKOFF_MS', '10'],
    ['CITYWATER_WAL_SYNC_MS', '5000'],
    ['CITYWATER_LATENESS_S', '1.5'],
    ['CITYWATER_TOPIC_PREFIX', 'city/a'],
    ['CITYWATER_DISTRICTS', 'xi hu'],
    ['CITYWATER_LOG_LEVEL', 'loud'],
  ])('rejects %s=%s naming the variable', (variable, value) => {
    const err = expectAppError(() => buildConfig({ [variable]: value }))
    expect(err.code).toBe('CW_ERR_CONFIG_INVALID')
    expect(err.message).toContain(variable)
  })

  it('refuses a non-loopback address without an auth file (protected mode)', () => {
    expect(expectAppError(() => buildConfig({ CITYWATER_HTTP_HOST: '0.0.0.0' })).message).toMatch(/CITYWATER_HTTP_HOST.*CITYWATER_AUTH_FILE/)
    expect(expectAppError(() => buildConfig({ CITYWATER_MQTT_HOST: '192.168.1.5' })).message).toMatch(/CITYWATER_MQTT_HOST/)
    expect(buildConfig({ CITYWATER_HTTP_HOST: '0.0.0.0', CITYWATER_AUTH_FILE: '/auth.json' }).httpHost).toBe('0.0.0.0')
    expect(buildConfig({ CITYWATER_HTTP_HOST: 'localhost', CITYWATER_MQTT_HOST: '::1' }).httpHost).toBe('localhost')
  })

  it('reads a --config file in camelCase, the environment winning', () => {
    const dir = mkdtempSync(join(tmpdir(), 'cw-config-'))
    const file = join(dir, 'c.json')
    writeFileSync(file, JSON.stringify({ httpPort: 9000, mqttPort: 1999, districts: ['xihu'] }))
    expect(buildConfig({ CITYWATER_HTTP_PORT: '9100' }, file)).toMatchObject({ httpPort: 9100, mqttPort: 1999, districts: ['xihu'] })
    writeFileSync(file, JSON.stringify({ httpPort: 'x' }))
    expect(expectAppError(() => buildConfig({}, file)).message).toMatch(/httpPort \(in .*c\.json\)/)
    writeFileSync(file, JSON.stringify({ htpPort: 1 }))
    expect(expectAppError(() => buildConfig({}, file)).message).toMatch(/htpPort.*not a known setting/)
  })

  it('maps keys to variable names and retention to milliseconds', () => {
    expect(envName('influxMaxBackoffMs')).toBe('CITYWATER_INFLUX_MAX_BACKOFF_MS')
    expect(envName('mqttWsPort')).toBe('CITYWATER_MQTT_WS_PORT')
    expect(retentionMs('30d')).toBe(30 * 86_400_000)
    expect(retentionMs('1h30m')).toBe(5_400_000)
    expect(retentionMs('INF')).toBe(Number.POSITIVE_INFINITY)
  })
})
