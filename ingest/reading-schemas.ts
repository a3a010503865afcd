import { Ajv, type ValidateFunction } from 'ajv'
import { KIND_FIELDS, SENSOR_KINDS, type SensorKind } from '../domain.js'

/** Matches an RFC 3339 timestamp with a zone, e.g. 2026-11-27T10:00:00.000Z or +08:00. */
export const RFC3339 = '^[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt ][0-9]{2}:[0-9]{2}:[0-9]{2}(\\.[0-9]+)?([Zz]|[+-][0-9]{2}:[0-9]{2})$'

/** JSON Schema of one reading of `kind`; gateway readings also carry `sensor`. */
export function readingSchema(kind: SensorKind, gateway: boolean): Record<string, unknown> {
  const spec = KIND_FIELDS[kind]
  const integers = new Set(spec.integers ?? [])
  const properties: Record<string, unknown> = {
    ts: { anyOf: [{ type: 'integer', minimum: 0 }, { type: 'string', pattern: RFC3339 }] },
    seq: { type: 'integer', minimum: 0 },
  }
  for (const field of [...spec.required, ...spec.optional]) {
    properties[field] = integers.has(field) ? { type: 'integer' } : { type: 'number' }
  }
  if (gateway) properties.sensor = { type: 'string', minLength: 1 }
  const schema: Record<string, unknown> = {
    type: 'object',
    properties,
    required: gateway ? ['sensor', ...spec.required] : [...spec.required],
    additionalProperties: false,
  }
  if (spec.anyOf) schema.anyOf = spec.optional.map((f) => ({ required: [f] }))
  return schema
}

const ajv = new Ajv({ allErrors: true, strict: true, strictRequired: false })
const validators = new Map<string, ValidateFunction>()
for (const kind of SENSOR_KINDS) {
  validators.set(`${kind}:0`, ajv.compile(readingSchema(kind, false)))
  validators.set(`${kind}:1`, ajv.compile(readingSchema(kind, true)))
}
const gatewayEnvelope = ajv.compile({
  type: 'object',
  properties: { sensor: { type: 'string', minLength: 1 } },
  required: ['sensor'],
})

/** Validates one reading; returns null when valid, else a readable reason. */
export function checkReading(kind: SensorKind, reading: unknown, gateway: boolean): string | null {
  const validate = validators.get(`${kind}:${gateway ? 1 : 0}`)
  if (validate === undefined || validate(reading)) return null
  const errors = validate.errors ?? []
  // For water_quality's anyOf the individual "must have required property" lines add noise.
  const meaningful = errors.filter((e) => e.keyword !== 'required' || !e.schemaPath.startsWith('#/anyOf'))
  const list = (meaningful.length > 0 ? meaningful : errors).map((e) => {
    if (e.keyword === 'additionalProperties') return `unknown field '${String(e.params.additionalProperty)}' for ${kind}`
    if (e.keyword === 'anyOf' && e.schemaPath === '#/anyOf') return `${kind} needs at least one of ${KIND_FIELDS[kind].optional.join(', ')}`
    const at = e.instancePath ? e.instancePath.slice(1) : 'reading'
    return `${at} ${e.message ?? 'is invalid'}`
  })
  return [...new Set(list)].join('; ')
}

/** Validates that a gateway reading names its sensor; returns null when it does. */
export function checkGatewayEnvelope(reading: unknown): string | null {
  return gatewayEnvelope(reading) ? null : "gateway reading must be an object with a 'sensor' string"
}
