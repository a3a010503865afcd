import { readFileSync } from 'node:fs'
import { Ajv } from 'ajv'
import type { ErrorObject, ValidateFunction } from 'ajv'
import { KIND_FIELDS } from '../domain.js'
import { AppError } from '../errors.js'
import type { FaultPhase, ParkingPhase, PollutionSource, RainPhase, Timeline } from './timeline.js'

/** Fault types a scenario file may name; the faults hook decides what each does. */
export const FAULT_TYPES = ['flatline', 'spike', 'dropout', 'stuck', 'drift', 'duplicate', 'out-of-order', 'malformed', 'sentinel'] as const

const ids = { type: 'array', items: { type: 'string', minLength: 1 }, minItems: 1 } as const
const window = {
  startS: { type: 'number', minimum: 0, description: 'seconds after --start' },
  durationS: { type: 'number', exclusiveMinimum: 0, description: 'length of the phase, seconds' },
} as const

/** JSON schema of a scenario file (draft 2020-12 subset that ajv checks strictly). */
export const SCENARIO_FILE_SCHEMA = {
  type: 'object',
  additionalProperties: false,
  required: ['name'],
  properties: {
    $schema: { type: 'string' },
    name: { type: 'string', pattern: '^[A-Za-z0-9_-]+$' },
    description: { type: 'string' },
    rain: {
      type: 'array',
      items: {
        type: 'object',
        additionalProperties: false,
        required: ['startS', 'durationS', 'fromMmH'],
        properties: {
          ...window,
          fromMmH: { type: 'number', minimum: 0, maximum: 300 },
          toMmH: { type: 'number', minimum: 0, maximum: 300 },
          zones: ids,
          districts: ids,
          factors: { type: 'object', additionalProperties: { type: 'number', minimum: 0, maximum: 5 } },
        },
      },
    },
    pollution: {
      type: 'array',
      items: {
        type: 'object',
        additionalProperties: false,
        required: ['segment', 'parameter', 'concentration', 'startS', 'durationS', 'speedMs'],
        properties: {
          segment: { type: 'string', minLength: 1 },
          parameter: { enum: [...KIND_FIELDS.water_quality.optional] },
          concentration: { type: 'number', minimum: 0, maximum: 1000 },
          ...window,
          durationS: { type: 'number', minimum: 0 },
          speedMs: { type: 'number', exclusiveMinimum: 0, maximum: 10 },
          rampS: { type: 'number', exclusiveMinimum: 0 },
          decayM: { type: 'number', exclusiveMinimum: 0 },
          doDropMgl: { type: 'number', minimum: 0, maximum: 20 },
        },
      },
    },
    parking: {
      type: 'array',
      items: {
        type: 'object',
        additionalProperties: false,
        required: ['startS', 'durationS', 'multiplier'],
        properties: {
          ...window,
          multiplier: { type: 'number', exclusiveMinimum: 0, maximum: 20 },
          rampS: { type: 'number', minimum: 0 },
          lots: ids,
          zones: ids,
          districts: ids,
        },
      },
    },
    faults: {
      type: 'array',
      items: {
        type: 'object',
        required: ['type', 'startS', 'durationS'],
        properties: {
          type: { enum: [...FAULT_TYPES] },
          ...window,
          sensors: ids,
          kinds: { type: 'array', items: { enum: Object.keys(KIND_FIELDS) }, minItems: 1 },
          zones: ids,
          districts: ids,
        },
      },
    },
  },
} as const

/** A scenario file as written (before defaults). */
interface ScenarioFileJson {
  name: string
  description?: string
  rain?: (Omit<RainPhase, 'toMmH'> & { toMmH?: number })[]
  pollution?: (Omit<PollutionSource, 'rampS' | 'decayM' | 'doDropMgl'> & Partial<Pick<PollutionSource, 'rampS' | 'decayM' | 'doDropMgl'>>)[]
  parking?: (Omit<ParkingPhase, 'rampS'> & { rampS?: number })[]
  faults?: FaultPhase[]
}

let compiled: ValidateFunction | undefined

function validator(): ValidateFunction {
  if (compiled === undefined) {
    const ajv = new Ajv({ allErrors: false, strict: true, strictTypes: true, strictRequired: false, allowUnionTypes: true })
    compiled = ajv.compile(SCENARIO_FILE_SCHEMA)
  }
  return compiled
}

/** `/rain/0/fromMmH` → `rain[0].fromMmH`. */
function dotted(pointer: string, extra?: string): string {
  const parts = pointer.split('/').slice(1).map((p) => p.replace(/~1/g, '/').replace(/~0/g, '~'))
  if (extra !== undefined) parts.push(extra)
  let out = ''
  for (const p of parts) out += /^\d+$/.test(p) ? `[${p}]` : out === '' ? p : `.${p}`
  return out
}

function describe(err: ErrorObject, root: unknown): string {
  const params = err.params as Record<string, unknown>
  let value: unknown = root
  for (const p of err.instancePath.split('/').slice(1)) value = (value as Record<string, unknown> | undefined)?.[p.replace(/~1/g, '/').replace(/~0/g, '~')]
  switch (err.keyword) {
    case 'required':
      return `${dotted(err.instancePath, String(params.missingProperty))} is required`
    case 'additionalProperties':
      return `${dotted(err.instancePath, String(params.additionalProperty))} is not a known property`
    case 'enum':
      return `${dotted(err.instancePath)} must be one of ${(params.allowedValues as unknown[]).join(', ')} (got ${JSON.stringify(value)})`
    default: {
      const subject = err.instancePath === '' ? 'the file' : dotted(err.instancePath)
      return `${subject} ${err.message ?? 'is invalid'}${typeof value === 'object' ? '' : ` (got ${JSON.stringify(value)})`}`
    }
  }
}

/** Validates parsed JSON as a scenario file and fills in the defaults; `source` names it in errors. */
export function parseScenarioFile(json: unknown, source = 'scenario file'): Timeline {
  const validate = validator()
  if (!validate(json)) {
    const first = validate.errors?.[0]
    throw new AppError('CW_ERR_CONFIG_INVALID', [`${source}: ${first === undefined ? 'invalid' : describe(first, json)}`])
  }
  const file = json as ScenarioFileJson
  const timeline: Timeline = {
    name: file.name,
    rain: (file.rain ?? []).map((p) => ({ ...p, toMmH: p.toMmH ?? p.fromMmH })),
    pollution: (file.pollution ?? []).map((p) => ({ ...p, rampS: p.rampS ?? 7200, decayM: p.decayM ?? 10_000, doDropMgl: p.doDropMgl ?? 0 })),
    parking: (file.parking ?? []).map((p) => ({ ...p, rampS: p.rampS ?? 1800 })),
    faults: (file.faults ?? []).map((f) => ({ ...f })),
  }
  if (file.description !== undefined) timeline.description = file.description
  // What the schema cannot say: a phase must be at least two ramps long to ease in and out.
  timeline.parking.forEach((p, i) => {
    if (2 * p.rampS > p.durationS) throw new AppError('CW_ERR_CONFIG_INVALID', [`${source}: parking[${i}].rampS must be at most half of durationS (got ${p.rampS})`])
  })
  return timeline
}

/** Reads and validates a scenario file; throws CW_ERR_CONFIG_INVALID naming the file and the field. */
export function loadScenarioFile(path: string): Timeline {
  let text: string
  try {
    text = readFileSync(path, 'utf8')
  } catch (err) {
    throw new AppError('CW_ERR_CONFIG_INVALID', [`scenario file ${path}: cannot be read (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`])
  }
  let json: unknown
  try {
    json = JSON.parse(text)
  } catch (err) {
    throw new AppError('CW_ERR_CONFIG_INVALID', [`scenario file ${path}: not valid JSON (${(err as Error).message.split('\n')[0]})`])
  }
  return parseScenarioFile(json, `scenario file ${path}`)
}

/** Whether a `--scenario` value names a file rather than a bundled scenario. */
export function isScenarioPath(nameOrFile: string): boolean {
  return /[\\/]|\.json$/i.test(nameOrFile)
}
