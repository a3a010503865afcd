import { readFileSync } from 'node:fs'
import { isAbsolute, join } from 'node:path'
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest'
import { DEFAULT_CONFIG, envName } from '../../config.js'
import { KIND_FIELDS, SENSOR_KINDS, type Level, type Reading, type SensorKind } from '../../domain.js'
import { alertEventLine } from '../../rules/alert-event-lines.js'
import { backfillRollups, ensureDatabase, ROLLUP_POLICY } from '../../storage/influx-admin.js'
import { influxStatements, seriesRows, type InfluxStatementResult } from '../../storage/influx-http.js'
import { encodeReading } from '../../storage/influx-line.js'
import { waterIndexLines } from '../../stream/water-index-lines.js'
import { dropDb, uniqueDb, writeLines } from '../storage/storage-fixtures.js'
import { checkInfluxql } from './check-influxql.js'
import {
  allPanels,
  dashboardQueries,
  durationMs,
  GRAFANA_DIR,
  interpolate,
  loadDashboards,
  loadProvisioning,
  parseYaml,
  type Dashboard,
  type DashboardQuery,
  type YamlValue,
} from './grafana-files.js'
import { influxqlSchema, schemaKey } from './influxql-schema.js'

const schema = influxqlSchema()
const dashboards = loadDashboards()
const provisioning = loadProvisioning()
const queries = [...dashboards.values()].flatMap(dashboardQueries)

function get(value: YamlValue | undefined, ...path: Array<string | number>): YamlValue | undefined {
  let v = value
  for (const key of path) {
    if (v === null || typeof v !== 'object') return undefined
    v = Array.isArray(v) ? v[key as number] : v[key as string]
  }
  return v
}

const datasource = get(provisioning.get('datasources/citywater.yaml'), 'datasources', 0)
const DS_UID = get(datasource, 'uid')

/** Each variable of a dashboard set to a placeholder: a query naming an undefined variable keeps its `$name`. */
function placeholders(dashboard: Dashboard): Record<string, string> {
  return Object.fromEntries(dashboard.templating.list.map((v) => [v.name, 'placeholder']))
}

function dashboardOf(q: DashboardQuery): Dashboard {
  const d = [...dashboards.values()].find((x) => x.uid === q.dashboard)
  if (d === undefined) throw new Error(`no dashboard ${q.dashboard}`)
  return d
}

describe('the InfluxQL checker', () => {
  it.each([
    ['a raw field and tags', `SELECT mean("level_m") FROM "water_level" WHERE time > now() - 1h AND "sensor" =~ /^a$/ GROUP BY time(1m), "sensor" fill(none)`, []],
    ['the policy named', `SELECT last("value") FROM "autogen"."water_index" WHERE "index" = 'clear'`, []],
    ['a rollup field', `SELECT max("max_level") FROM "rollup"."water_index_1h" GROUP BY time(1h), "segment" tz('Asia/Shanghai')`, []],
    ['a subquery alias', `SELECT sum("free") FROM (SELECT last("capacity") - last("occupied") AS "free" FROM "parking" GROUP BY "district", "sensor") GROUP BY "district"`, []],
    ['tags of a SHOW TAG VALUES', `SHOW TAG VALUES FROM "flow", "rainfall" WITH KEY = "segment" WHERE "district" =~ /^x$/`, []],
    ['a made-up field', `SELECT mean("level_cm") FROM "water_level"`, ['unknown field or tag "level_cm" of autogen.water_level in SELECT']],
    ['a made-up field in WHERE', `SELECT "message" FROM "alert_event" WHERE "subject" = 'x'`, ['unknown field or tag "subject" of autogen.alert_event in WHERE']],
    ['a made-up measurement', `SELECT mean("level_m") FROM "river_level"`, ['unknown measurement autogen.river_level']],
    ['a raw field name on a rollup', `SELECT mean("level_m") FROM "rollup"."water_level_1m"`, ['unknown field or tag "level_m" of rollup.water_level_1m in SELECT']],
    ['a rollup without its policy', `SELECT mean("mean_level_m") FROM "water_level_1h"`, ['unknown measurement autogen.water_level_1h']],
    ['a field of only one of two sources', `SELECT mean("velocity_ms") FROM "flow", "pipe_level"`, ['unknown field or tag "velocity_ms" of autogen.pipe_level in SELECT']],
    ['grouping by a field', `SELECT mean("value") FROM "water_index" GROUP BY time(1m), "quality"`, ['unknown tag "quality" of autogen.water_index in GROUP BY']],
    ['a field as a SHOW TAG VALUES key', `SHOW TAG VALUES FROM "alert_event" WITH KEY = "state"`, ['unknown tag "state" of autogen.alert_event in WITH KEY']],
    ['a subquery column it does not return', `SELECT sum("free") FROM (SELECT last("occupied") AS "used" FROM "parking")`, ['unknown field or tag "free" of the subquery in SELECT']],
    ['a variable left over', `SELECT mean("level_m") FROM "water_level" WHERE "sensor" =~ /^$sensor$/`, [expect.stringContaining('dashboard variable left')]],
  ])('%s', (_name, query, problems) => {
    expect(checkInfluxql(query, schema)).toEqual(problems)
  })

  it('takes its schema from the engine: the CQ aggregates and every kind field', () => {
    expect(schema.get(schemaKey('water_level_1m', ROLLUP_POLICY))?.fields).toEqual(new Set(['mean_level_m', 'min_level_m', 'max_level_m']))
    expect(schema.get(schemaKey('water_index_1h', ROLLUP_POLICY))?.tags).toEqual(new Set(['district', 'index', 'segment']))
    for (const kind of SENSOR_KINDS) {
      const fields = schema.get(schemaKey(kind))?.fields
      expect([...(fields ?? [])].sort()).toEqual([...KIND_FIELDS[kind].required, ...KIND_FIELDS[kind].optional, 'quality', 'quality_reason', 'ts_source'].sort())
    }
  })
})

describe('the YAML subset reader', () => {
  it('reads nested maps, lists of maps and scalars, and refuses what it does not know', () => {
    expect(parseYaml('a: 1\nb:\n  - c: x # note\n    d: true\n  - c: "y"\ne:\n  f: $V\n')).toEqual({ a: 1, b: [{ c: 'x', d: true }, { c: 'y' }], e: { f: '$V' } })
    expect(() => parseYaml('a: [1, 2]\nb: {c: 1}\n- x')).toThrow(/line 3/)
  })
})

describe('Grafana dashboards', () => {
  it('are Grafana 10/11 dashboards with fixed unique uids in the Asia/Shanghai time zone', () => {
    expect([...dashboards.keys()]).toEqual(['citywater-alerts.json', 'citywater-indices.json', 'citywater-parking.json', 'citywater-readings.json'])
    const uids = [...dashboards.values()].map((d) => d.uid)
    expect(new Set(uids).size).toBe(uids.length)
    for (const d of dashboards.values()) {
      expect(d.uid).toMatch(/^citywater-[a-z]+$/)
      expect(d.schemaVersion).toBeGreaterThanOrEqual(38)
      expect(d.timezone).toBe('Asia/Shanghai')
      const ids = allPanels(d).map((p) => p.id)
      expect(new Set(ids).size, `${d.uid} panel ids`).toBe(ids.length)
    }
  })

  it('query the provisioned data source in raw InfluxQL with $timeFilter and $__interval', () => {
    expect(typeof DS_UID).toBe('string')
    expect(queries.length).toBeGreaterThan(40)
    for (const q of queries) {
      const at = `${q.dashboard} ${q.where}`
      expect(q.datasource, at).toEqual({ type: 'influxdb', uid: DS_UID })
      expect(q.rawQuery, at).toBe(true)
      if (q.source === 'variable') expect(q.query, at).toMatch(/^SHOW TAG VALUES FROM .* WITH KEY = "\w+"/)
      else expect(q.query, at).toContain('WHERE $timeFilter')
      for (const group of q.query.matchAll(/GROUP BY time\(([^)]*)\)/g)) expect(group[1], at).toBe('$__interval')
    }
    for (const d of dashboards.values()) {
      for (const p of allPanels(d)) if (p.type !== 'row') expect(p.datasource, `${d.uid} "${p.title}"`).toEqual({ type: 'influxdb', uid: DS_UID })
    }
  })

  it.each(queries.map((q) => [`${q.dashboard} ${q.where}`, q] as const))('%s names only measurements, fields and tags of SPEC §10', (_name, q) => {
    const query = interpolate(q.query, { from: 0, to: 1, interval: q.panel?.interval ?? '1m', variables: placeholders(dashboardOf(q)) })
    expect(checkInfluxql(query, schema)).toEqual([])
  })

  it('filter by district, segment and sensor (or lot, rule and level for alerts) through SHOW TAG VALUES variables', () => {
    const variables = (uid: string): string[] => {
      const d = [...dashboards.values()].find((x) => x.uid === uid)
      return (d?.templating.list ?? []).filter((v) => v.type === 'query').map((v) => v.name)
    }
    expect(variables('citywater-indices')).toEqual(['district', 'segment'])
    expect(variables('citywater-readings')).toEqual(['district', 'segment', 'sensor'])
    expect(variables('citywater-parking')).toEqual(['district', 'segment', 'lot'])
    expect(variables('citywater-alerts')).toEqual(['district', 'rule', 'level'])
    const quality = dashboards.get('citywater-readings.json')?.templating.list.find((v) => v.name === 'quality')
    expect(quality?.current?.value).toEqual(['good'])
  })

  it('show every field of every sensor kind in the readings dashboard', () => {
    const readings = queries.filter((q) => q.dashboard === 'citywater-readings' && q.source === 'panel')
    for (const kind of SENSOR_KINDS) {
      for (const field of [...KIND_FIELDS[kind].required, ...KIND_FIELDS[kind].optional]) {
        expect(readings.some((q) => q.query.includes(`FROM "${kind}"`) && q.query.includes(`"${field}"`) && q.query.includes(`"quality" =~ /^$quality$/`)), `${kind}.${field}`).toBe(true)
        expect(readings.some((q) => q.query.includes(`FROM "${ROLLUP_POLICY}"."${kind}_1m"`) && q.query.includes(`"mean_${field}"`)), `${kind}.${field} archive`).toBe(true)
      }
    }
  })

  it('read the rollups for long ranges, as SPEC §10 says for history older than the raw retention', () => {
    for (const uid of ['citywater-indices', 'citywater-readings', 'citywater-parking']) {
      const rollupPanels = queries.filter((q) => q.dashboard === uid && q.query.includes(`FROM "${ROLLUP_POLICY}".`))
      expect(rollupPanels.length, uid).toBeGreaterThan(0)
      for (const q of rollupPanels) expect(q.panel?.interval, `${uid} ${q.where}`).toMatch(/^1[mh]$/)
    }
    const annotations = queries.filter((q) => q.source === 'annotation')
    expect(annotations.length).toBeGreaterThan(0)
    for (const q of annotations) expect(q.query).toMatch(/FROM "alert_event"/)
  })
})

describe('Grafana provisioning', () => {
  it('provisions the InfluxDB data source for the engine database with the URL from the engine variable', () => {
    expect(get(datasource, 'type')).toBe('influxdb')
    expect(get(datasource, 'access')).toBe('proxy')
    expect(get(datasource, 'jsonData', 'version')).toBe('InfluxQL')
    expect(get(datasource, 'jsonData', 'dbName')).toBe(DEFAULT_CONFIG.influxDb)
    expect(get(datasource, 'url')).toBe(`$${envName('influxUrl')}`)
    expect(get(datasource, 'user')).toBe(`$${envName('influxUser')}`)
    expect(get(datasource, 'secureJsonData', 'password')).toBe(`$${envName('influxPassword')}`)
    const env = readFileSync(join(GRAFANA_DIR, 'grafana.env'), 'utf8')
    expect(env).toMatch(new RegExp(`^${envName('influxUrl')}=http://localhost:8086$`, 'm'))
  })

  it('loads the dashboards folder with a file provider', () => {
    const provider = get(provisioning.get('dashboards/citywater.yaml'), 'providers', 0)
    expect(get(provider, 'type')).toBe('file')
    const path = get(provider, 'options', 'path')
    expect(typeof path === 'string' && isAbsolute(path)).toBe(true)
    expect([...provisioning.keys()]).toEqual(['dashboards/citywater.yaml', 'datasources/citywater.yaml'])
  })
})

describe('Grafana queries against InfluxDB', () => {
  const url = inject('influxUrl')
  const db = uniqueDb()
  const now = Date.now()
  const MIN = 60_000

  /** A value for each field: integers for parking, small floats elsewhere. */
  function fieldsOf(kind: SensorKind, step: number): Record<string, number> {
    const spec = KIND_FIELDS[kind]
    return Object.fromEntries([...spec.required, ...spec.optional].map((f, i) => [f, spec.integers?.includes(f) ? (f === 'capacity' ? 420 : 300 + step) : 1.5 + i + step / 10]))
  }

  beforeAll(async () => {
    // The engine's own schema setup: retention policies and continuous queries.
    await ensureDatabase({ url, database: db })
    const lines: string[] = []
    for (const kind of SENSOR_KINDS) {
      const segment = ['water_level', 'flow', 'water_quality'].includes(kind) ? 'xixi-river-2' : 'zone-4'
      const base = { sensor: `${kind}-1`, kind, district: 'xihu', segment, qualityReason: '', tsSource: 'device' as const, receivedAt: now }
      for (const [step, ago] of [30, 20, 10].entries()) {
        const reading: Reading = { ...base, ts: now - ago * MIN, fields: fieldsOf(kind, step), quality: 'good' }
        lines.push(encodeReading(reading))
      }
      lines.push(encodeReading({ ...base, ts: now - 5 * MIN, fields: fieldsOf(kind, 3), quality: 'suspect', qualityReason: 'spike' }))
    }
    for (const ago of [25, 15]) {
      const eventTime = now - ago * MIN
      lines.push(...waterIndexLines({ district: 'xihu', segment: 'xixi-river-2', eventTime, points: [{ index: 'clear', value: 76.6, level: 3, confidence: 1 }] }))
      lines.push(...waterIndexLines({ district: 'xihu', segment: 'zone-4', eventTime, points: [{ index: 'smooth', value: 55.7, level: 2, confidence: 0.92 }] }))
      lines.push(...waterIndexLines({ district: 'xihu', segment: '_all', eventTime, points: [{ index: 'clear', value: 71.2, level: 3, confidence: 1 }, { index: 'smooth', value: 55.7, level: 2, confidence: 0.92 }] }))
    }
    const levels: Level[] = ['blue', 'yellow', 'orange', 'red']
    levels.forEach((level, i) => {
      const alert = { id: `a-${i}`, district: 'xihu', rule: 'ponding-depth', level, state: 'open' as const, value: 10 + i, message: `Ponding ${10 + i} cm at Wensan Rd (${level})` }
      lines.push(alertEventLine(alert, now - (20 - i) * MIN) ?? '')
      lines.push(alertEventLine({ ...alert, state: 'resolved' }, now - (10 - i) * MIN) ?? '')
    })
    lines.push(alertEventLine({ id: 'a-e', district: '_engine', rule: 'wal-bound', level: 'orange', state: 'open', value: 0.9, message: 'write-ahead log at 90 %' }, now - 8 * MIN) ?? '')
    expect(await writeLines(url, db, lines.join('\n'))).toBe(204)
    // What the continuous queries would write, computed now instead of on their schedule.
    expect(await backfillRollups({ url, database: db }, now - 2 * 3_600_000, now)).toBeGreaterThan(0)
  })

  afterAll(async () => {
    await dropDb(url, db)
  })

  async function run(query: string): Promise<InfluxStatementResult> {
    const [result] = await influxStatements({ url, database: db }, query, { db, epoch: 'ms' })
    return result ?? { error: 'no result' }
  }

  function substitution(q: DashboardQuery, variables: Record<string, string>): Parameters<typeof interpolate>[1] {
    const from = q.panel?.timeFrom !== undefined ? now - durationMs(q.panel.timeFrom) : now - 6 * 3_600_000
    return { from, to: now + MIN, interval: q.panel?.interval ?? '1m', variables }
  }

  it('finds in InfluxDB exactly the fields and tags the checker derives from the engine code', async () => {
    for (const [key, expected] of schema) {
      const [policy, measurement] = key.split('.')
      const from = `"${policy}"."${measurement}"`
      const fields = seriesRows(await run(`SHOW FIELD KEYS FROM ${from}`)).map((r) => r.fieldKey)
      const tags = seriesRows(await run(`SHOW TAG KEYS FROM ${from}`)).map((r) => r.tagKey)
      expect(new Set(fields), `${key} fields`).toEqual(expected.fields)
      expect(new Set(tags), `${key} tags`).toEqual(expected.tags)
    }
  })

  it('answers every query with every variable at All, and every panel, annotation and variable returns series', async () => {
    for (const d of dashboards.values()) {
      const all = Object.fromEntries(d.templating.list.map((v) => [v.name, v.allValue ?? '.*']))
      for (const q of dashboardQueries(d)) {
        const result = await run(interpolate(q.query, substitution(q, all)))
        expect(result.error, `${q.dashboard} ${q.where}`).toBeUndefined()
        // Series of nulls alone (fill(previous) before the first point) would prove nothing.
        const values = (result.series ?? []).flatMap((s) => (s.values ?? []).flatMap((row) => row.slice(1)))
        expect(values.some((v) => v !== null), `${q.dashboard} ${q.where} returns values`).toBe(true)
      }
    }
  })

  it('answers every query with each variable at the first value its own query returns, as Grafana picks it', async () => {
    for (const d of dashboards.values()) {
      const values: Record<string, string> = {}
      for (const v of d.templating.list) {
        if (v.type === 'query') {
          const q = dashboardQueries(d).find((x) => x.variable === v) as DashboardQuery
          const result = await run(interpolate(q.query, substitution(q, values)))
          const first = seriesRows(result)[0]?.value
          expect(typeof first, `${d.uid} $${v.name}`).toBe('string')
          values[v.name] = String(first).replace(/[\\^$*+?.()|[\]{}/]/g, '\\$&')
        } else {
          const current = v.current?.value
          values[v.name] = Array.isArray(current) ? (current[0] ?? '') : (current ?? '')
        }
      }
      for (const q of dashboardQueries(d)) {
        const result = await run(interpolate(q.query, substitution(q, values)))
        expect(result.error, `${q.dashboard} ${q.where} with ${JSON.stringify(values)}`).toBeUndefined()
      }
    }
  })
})
