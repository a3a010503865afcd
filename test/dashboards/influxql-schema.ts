import { KIND_FIELDS, SENSOR_KINDS, type Reading } from '../../domain.js'
import { alertEventLine } from '../../rules/alert-event-lines.js'
import { continuousQueries, RAW_POLICY, ROLLUP_POLICY } from '../../storage/influx-admin.js'
import { decodeLine, encodeReading } from '../../storage/influx-line.js'
import { waterIndexLines } from '../../stream/water-index-lines.js'

/** The tag keys and field keys of one measurement. */
export interface MeasurementSchema {
  tags: ReadonlySet<string>
  fields: ReadonlySet<string>
}

/** Measurements by `policy.measurement` (`autogen.water_level`, `rollup.water_level_1h`). */
export type InfluxqlSchema = ReadonlyMap<string, MeasurementSchema>

/** The key of a measurement in an InfluxqlSchema: the raw policy when none is named. */
export function schemaKey(measurement: string, policy: string = RAW_POLICY): string {
  return `${policy}.${measurement}`
}

function fromLine(line: string): [string, MeasurementSchema] {
  const point = decodeLine(line)
  return [point.measurement, { tags: new Set(Object.keys(point.tags)), fields: new Set(Object.keys(point.fields)) }]
}

const IDENT = String.raw`"((?:[^"\\]|\\.)*)"`
const INTO = new RegExp(String.raw`\bINTO ${IDENT}\.${IDENT}\.${IDENT} FROM ${IDENT}\.${IDENT}\.${IDENT}`)
const ALIAS = new RegExp(String.raw`\bAS ${IDENT}`, 'g')

/**
 * The SPEC §10 schema as the engine writes it, taken from the engine's own encoders rather than typed in: one
 * point of each sensor kind with every KIND_FIELDS field through `encodeReading`, a `water_index` point through
 * `waterIndexLines`, an `alert_event` point through `alertEventLine`, each decoded back; and the rollups as the
 * continuous queries of `ensureDatabase` produce them (the INTO measurement, the `AS` names, the source's tags).
 */
export function influxqlSchema(): InfluxqlSchema {
  const raw = new Map<string, MeasurementSchema>()
  for (const kind of SENSOR_KINDS) {
    const spec = KIND_FIELDS[kind]
    const fields = Object.fromEntries([...spec.required, ...spec.optional].map((f) => [f, 1]))
    const reading: Reading = { sensor: 's', kind, district: 'd', segment: 'g', ts: 0, fields, quality: 'suspect', qualityReason: 'r', tsSource: 'device', receivedAt: 0 }
    raw.set(...fromLine(encodeReading(reading)))
  }
  const indexLines = waterIndexLines({ district: 'd', segment: 'g', eventTime: 0, points: [{ index: 'clear', value: 1, level: 1, confidence: 1 }] })
  for (const line of indexLines) raw.set(...fromLine(line))
  const alert = alertEventLine({ id: 'a', district: 'd', rule: 'r', level: 'red', state: 'open', value: 1, message: 'm' }, 0)
  if (alert !== null) raw.set(...fromLine(alert))

  const schema = new Map<string, MeasurementSchema>()
  for (const [name, measurement] of raw) schema.set(schemaKey(name), measurement)
  for (const { name, statement } of continuousQueries('db')) {
    const into = INTO.exec(statement)
    const [, , intoPolicy, intoName, , fromPolicy, fromName] = into ?? []
    if (intoPolicy === undefined || intoName === undefined || fromName === undefined || fromPolicy !== RAW_POLICY) throw new Error(`unreadable continuous query ${name}: ${statement}`)
    const source = raw.get(fromName)
    if (source === undefined) throw new Error(`continuous query ${name} reads ${fromName}, which the engine does not write`)
    // GROUP BY * keeps every tag of the source; the fields are the aggregates' AS names.
    if (!/GROUP BY time\([^)]*\), \*/.test(statement)) throw new Error(`continuous query ${name} does not keep the tags`)
    const fields = new Set([...statement.matchAll(ALIAS)].map((m) => m[1] ?? ''))
    schema.set(schemaKey(intoName, intoPolicy), { tags: source.tags, fields })
  }
  if (![...schema.keys()].some((k) => k.startsWith(`${ROLLUP_POLICY}.`))) throw new Error('no rollup measurement found')
  return schema
}
