import { readFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { Ajv } from 'ajv'
import { AppError } from './errors.js'

/** Bundled sample registry (Xihu district). */
export const BUNDLED_REGISTRY = fileURLToPath(new URL('./registry/xihu.json', import.meta.url))
/** Bundled default alert rules. */
export const BUNDLED_RULES = fileURLToPath(new URL('./rules/default-rules.json', import.meta.url))

/** The engine's settings (SPEC §2); every field maps to `CITYWATER_<SNAKE_CASE>`. */
export interface Config {
  /** External broker URL (`mqtt://`, `mqtts://`, `ws://`, `wss://`); unset: embedded broker. */
  mqttUrl?: string
  /** Embedded broker's address, TCP and websocket; default 127.0.0.1. */
  mqttHost: string
  /** Embedded broker's TCP port; 0 picks a free port; default 1883. */
  mqttPort: number
  /** Embedded broker's MQTT-over-websocket port; unset: no websocket listener. */
  mqttWsPort?: number
  /** API and dashboard address; default 127.0.0.1. */
  httpHost: string
  /** API and dashboard port; 0 picks a free port; default 8080. */
  httpPort: number
  /** InfluxDB 1.x HTTP API; default http://127.0.0.1:8086. */
  influxUrl: string
  /** Database name; default citywater. */
  influxDb: string
  influxUser?: string
  influxPassword?: string
  /** Raw-data retention as an InfluxQL duration; default 30d. */
  influxRetention: string
  /** Ceiling of the writer's retry backoff in milliseconds; default 10000. */
  influxMaxBackoffMs: number
  /** Sensor registry file; default the bundled Xihu sample. */
  registry: string
  /** Alert rules file; default the bundled rules. */
  rules: string
  /** Write-ahead log, dead letters and alert state; default ./data. */
  dataDir: string
  /** Bound of the write-ahead log in bytes; default 2 GiB. */
  walMaxBytes: number
  /** Group-commit interval of the log in milliseconds; default 5. */
  walSyncMs: number
  /** Bound of the dead letters in bytes; default 256 MiB. */
  dlqMaxBytes: number
  /** Allowed lateness in seconds; default 120. */
  latenessS: number
  /** First level of every sensor topic; default city. */
  topicPrefix: string
  /** Districts this instance owns; `null` for all. */
  districts: string[] | null
  /** API tokens and device credentials; unset: no auth. */
  authFile?: string
  /** pino level; default info. */
  logLevel: 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent'
}

/** Every default in one place. */
export const DEFAULT_CONFIG: Config = {
  mqttHost: '127.0.0.1',
  mqttPort: 1883,
  httpHost: '127.0.0.1',
  httpPort: 8080,
  influxUrl: 'http://127.0.0.1:8086',
  influxDb: 'citywater',
  influxRetention: '30d',
  influxMaxBackoffMs: 10_000,
  registry: BUNDLED_REGISTRY,
  rules: BUNDLED_RULES,
  dataDir: './data',
  walMaxBytes: 2_147_483_648,
  walSyncMs: 5,
  dlqMaxBytes: 268_435_456,
  latenessS: 120,
  topicPrefix: 'city',
  districts: null,
  logLevel: 'info',
}

const port = { type: 'integer', minimum: 0, maximum: 65535 }
const nonEmpty = { type: 'string', minLength: 1 }
const name = { type: 'string', pattern: '^[A-Za-z0-9_-]+$' }

/** JSON Schema of the configuration, after environment strings are coerced. */
export const CONFIG_SCHEMA = {
  type: 'object',
  additionalProperties: false,
  properties: {
    mqttUrl: { type: 'string', pattern: '^(mqtts?|wss?)://[^\\s]+$' },
    mqttHost: nonEmpty,
    mqttPort: port,
    mqttWsPort: port,
    httpHost: nonEmpty,
    httpPort: port,
    influxUrl: { type: 'string', pattern: '^https?://[^\\s]+$' },
    influxDb: name,
    influxUser: nonEmpty,
    influxPassword: { type: 'string' },
    influxRetention: { type: 'string', pattern: '^(INF|([0-9]+(ms|s|m|h|d|w))+)$' },
    influxMaxBackoffMs: { type: 'integer', minimum: 100, maximum: 3_600_000 },
    registry: nonEmpty,
    rules: nonEmpty,
    dataDir: nonEmpty,
    walMaxBytes: { type: 'integer', minimum: 1_048_576 },
    walSyncMs: { type: 'integer', minimum: 0, maximum: 1000 },
    dlqMaxBytes: { type: 'integer', minimum: 65_536 },
    latenessS: { type: 'integer', minimum: 0, maximum: 86_400 },
    topicPrefix: { type: 'string', pattern: '^[A-Za-z0-9_-]+$' },
    districts: { anyOf: [{ type: 'null' }, { type: 'array', minItems: 1, items: name }] },
    authFile: nonEmpty,
    logLevel: { enum: ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] },
  },
} as const

const INTEGER_KEYS = new Set(['mqttPort', 'mqttWsPort', 'httpPort', 'influxMaxBackoffMs', 'walMaxBytes', 'walSyncMs', 'dlqMaxBytes', 'latenessS'])

/** `httpPort` → `CITYWATER_HTTP_PORT`. */
export function envName(key: string): string {
  return `CITYWATER_${key.replace(/[A-Z]/g, (c) => `_${c}`).toUpperCase()}`
}

const KEYS = Object.keys(CONFIG_SCHEMA.properties) as (keyof Config)[]
const ajv = new Ajv({ allErrors: false, strict: true })
const validate = ajv.compile(CONFIG_SCHEMA)

function invalid(what: string, why: string): AppError {
  return new AppError('CW_ERR_CONFIG_INVALID', [`${what} ${why}`], [{ variable: what, message: why }])
}

function coerceEnv(key: keyof Config, raw: string, variable: string): unknown {
  if (key === 'districts') {
    const list = raw.split(',').map((d) => d.trim()).filter(Boolean)
    return list.length === 1 && list[0] === 'all' ? null : list
  }
  if (INTEGER_KEYS.has(key)) {
    if (!/^-?[0-9]+$/.test(raw.trim())) throw invalid(variable, `must be an integer, got '${raw}'`)
    return Number(raw.trim())
  }
  return raw
}

/**
 * Builds the configuration from the environment and an optional JSON file (camelCase keys);
 * the environment wins. Throws CW_ERR_CONFIG_INVALID naming the variable on any bad value.
 */
export function buildConfig(env: NodeJS.ProcessEnv = process.env, configFile?: string): Config {
  const merged: Record<string, unknown> = { ...DEFAULT_CONFIG }
  const source = new Map<string, string>()
  if (configFile !== undefined) {
    let parsed: unknown
    try {
      parsed = JSON.parse(readFileSync(configFile, 'utf8'))
    } catch (err) {
      throw invalid(`--config ${configFile}`, `cannot be read as JSON (${(err as Error).message})`)
    }
    if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) throw invalid(`--config ${configFile}`, 'must hold a JSON object')
    for (const [key, value] of Object.entries(parsed)) {
      if (!KEYS.includes(key as keyof Config)) throw invalid(`${key} (in ${configFile})`, 'is not a known setting')
      merged[key] = key === 'districts' && value === 'all' ? null : value
      source.set(key, `${key} (in ${configFile})`)
    }
  }
  for (const key of KEYS) {
    const variable = envName(key)
    const raw = env[variable]
    if (raw === undefined || raw === '') continue
    merged[key] = coerceEnv(key, raw, variable)
    source.set(key, variable)
  }
  if (!validate(merged)) {
    const err = validate.errors?.[0]
    const key = err?.instancePath.split('/')[1] ?? ''
    const what = source.get(key) ?? (key ? envName(key) : 'configuration')
    const value = key ? JSON.stringify(merged[key]) : ''
    throw invalid(what, `${err?.message ?? 'is invalid'}${value ? `, got ${value}` : ''}`)
  }
  const config = merged as unknown as Config
  checkProtectedMode(config, source)
  return config
}

/** True for 127.0.0.0/8, ::1 and localhost. */
export function isLoopback(host: string): boolean {
  const h = host.replace(/^\[|\]$/g, '').toLowerCase()
  return h === 'localhost' || h === '::1' || /^127\.[0-9]+\.[0-9]+\.[0-9]+$/.test(h) || h === '::ffff:127.0.0.1'
}

function checkProtectedMode(config: Config, source: Map<string, string>): void {
  if (config.authFile !== undefined) return
  const exposed: string[] = []
  if (!isLoopback(config.httpHost)) exposed.push(source.get('httpHost') ?? 'CITYWATER_HTTP_HOST')
  if (config.mqttUrl === undefined && !isLoopback(config.mqttHost)) exposed.push(source.get('mqttHost') ?? 'CITYWATER_MQTT_HOST')
  if (exposed.length === 0) return
  throw invalid(
    exposed.join(', '),
    'binds a non-loopback address without CITYWATER_AUTH_FILE (protected mode): create one with ' +
      '`citywater auth add-token --file auth.json --role admin` and set CITYWATER_AUTH_FILE, or bind 127.0.0.1',
  )
}

/** Raw-data retention in milliseconds (`INF` → Infinity). */
export function retentionMs(retention: string): number {
  if (retention === 'INF') return Number.POSITIVE_INFINITY
  const unit: Record<string, number> = { ms: 1, s: 1e3, m: 6e4, h: 3.6e6, d: 8.64e7, w: 6.048e8 }
  let total = 0
  for (const m of retention.matchAll(/([0-9]+)(ms|s|m|h|d|w)/g)) total += Number(m[1]) * (unit[m[2] ?? 's'] ?? 0)
  return total
}
