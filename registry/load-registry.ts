import { readFileSync } from 'node:fs'
import { Ajv } from 'ajv'
import type { ErrorObject, ValidateFunction } from 'ajv'
import { decodePointer, dotted, valueAt } from '../ajv-problems.js'
import type { Registry, SegmentType, Sensor, SensorKind } from '../domain.js'
import { AppError } from '../errors.js'
import { handOver } from './handover.js'
import { orderingKeyword } from './ordering-keyword.js'
import { REGISTRY_SCHEMA } from './registry-schema.js'

/** What a CW_ERR_REGISTRY_INVALID error carries in `details[0]`. */
export interface RegistryProblem {
  /** The file, or the `source` given to parseRegistry. */
  source?: string
  /** The bad entry, e.g. `sensors[12]`; absent for file-level problems. */
  entry?: string
  /** The entry's id, when it has one. */
  id?: string
  /** The message without the source prefix. */
  message: string
}

/** The segment types each sensor kind may sit on (SPEC §3). */
export const SEGMENT_TYPES_OF_KIND: Record<SensorKind, readonly SegmentType[]> = {
  water_level: ['river', 'lake'],
  flow: ['river', 'lake'],
  water_quality: ['river', 'lake'],
  manhole_level: ['drainage'],
  pipe_level: ['drainage'],
  ponding_depth: ['drainage'],
  tunnel_depth: ['drainage'],
  sediment: ['drainage'],
  rainfall: ['drainage'],
  parking: ['drainage'],
}

const SEGMENT_WORDS: Record<SegmentType, string> = { river: 'river segment', lake: 'lake segment', drainage: 'drainage zone' }
const SCALAR_KEYWORDS = new Set([
  'type',
  'enum',
  'const',
  'pattern',
  'minimum',
  'maximum',
  'exclusiveMinimum',
  'exclusiveMaximum',
  'minLength',
  'maxLength',
])

let compiled: ValidateFunction | undefined

/** Compiles REGISTRY_SCHEMA once, with the `cwOrdering` keyword registered. */
function validator(): ValidateFunction {
  if (compiled === undefined) {
    const ajv = new Ajv({ allErrors: false, strict: true, strictTypes: true, strictRequired: false })
    ajv.addKeyword(orderingKeyword)
    compiled = ajv.compile(REGISTRY_SCHEMA)
  }
  return compiled
}

function fail(source: string | undefined, problem: Omit<RegistryProblem, 'source'>): AppError {
  const where = problem.entry === undefined ? '' : `${problem.entry}${problem.id === undefined ? '' : ` (${problem.id})`}: `
  const text = `${source === undefined ? '' : `${source}: `}${where}${problem.message}`
  return new AppError('CW_ERR_REGISTRY_INVALID', [text], [{ ...(source === undefined ? {} : { source }), ...problem }])
}

function entryOf(root: unknown, parts: readonly string[]): { entry?: string; id?: string; rest: readonly string[] } {
  const [list, index] = parts
  if ((list === 'segments' || list === 'sensors' || list === 'boards') && index !== undefined && /^[0-9]+$/.test(index)) {
    const id = valueAt(root, [list, index, 'id'])
    return { entry: `${list}[${index}]`, ...(typeof id === 'string' ? { id } : {}), rest: parts.slice(2) }
  }
  return { rest: parts }
}

/** Turns ajv's first error into a sentence that names the entry and the param. */
function describe(root: unknown, err: ErrorObject): Omit<RegistryProblem, 'source'> {
  const parts = decodePointer(err.instancePath)
  const { rest, ...entry } = entryOf(root, parts)
  const path = dotted(rest)
  const subject = path === '' ? (entry.entry === undefined ? 'registry' : 'entry') : path
  const params = err.params as Record<string, unknown>
  let message: string
  switch (err.keyword) {
    case 'required':
      message = `${dotted([...rest, String(params.missingProperty)])} is required`
      break
    case 'additionalProperties':
      message = `${dotted([...rest, String(params.additionalProperty)])} is not a known property`
      break
    case 'false schema': {
      const type = entry.entry?.startsWith('segments[') ? valueAt(root, [...parts.slice(0, 2), 'type']) : undefined
      message = `${subject} is not allowed ${typeof type === 'string' && type in SEGMENT_WORDS ? `on a ${SEGMENT_WORDS[type as SegmentType]}` : 'here'}`
      break
    }
    case 'enum':
      message = `${subject} must be one of ${(params.allowedValues as unknown[]).join(', ')}`
      break
    default:
      message = `${subject} ${err.message ?? 'is invalid'}`
  }
  if (SCALAR_KEYWORDS.has(err.keyword)) message += ` (got ${JSON.stringify(valueAt(root, parts))})`
  return { ...entry, message }
}

/**
 * Checks what the schema cannot: unique ids and every reference between entries. With `intern`, a registry the
 * caller owns (parsed from a file) gets one string object per repeated value: each sensor's segment and district
 * become those of its segment, its kind one per kind, gauges and lots the id of their sensor, districts one per
 * district (equal strings, so nothing changes but the memory: 100,000 sensors hold about 5 MB less).
 */
function checkReferences(registry: Registry, source: string | undefined, intern: boolean): void {
  const districts = new Map<string, string>()
  const district = (name: string): string => {
    const known = districts.get(name)
    if (known !== undefined) return known
    districts.set(name, name)
    return name
  }
  const kinds = new Map<string, SensorKind>()

  // Indexes into registry.segments / registry.sensors: no object per entry.
  const segments = new Map<string, number>()
  registry.segments.forEach((segment, index) => {
    const first = segments.get(segment.id)
    const entry = `segments[${index}]`
    if (first !== undefined) throw fail(source, { entry, id: segment.id, message: `duplicate id, first used by segments[${first}]` })
    segments.set(segment.id, index)
    if (intern) segment.district = district(segment.district)
  })

  const sensors = new Map<string, number>()
  registry.sensors.forEach((sensor, index) => {
    const entry = `sensors[${index}]`
    const at = { entry, id: sensor.id }
    const first = sensors.get(sensor.id)
    if (first !== undefined) throw fail(source, { ...at, message: `duplicate id, first used by sensors[${first}]` })
    sensors.set(sensor.id, index)
    const s = segments.get(sensor.segment)
    const segment = s === undefined ? undefined : registry.segments[s]
    if (segment === undefined) throw fail(source, { ...at, message: `segment '${sensor.segment}' does not exist` })
    if (segment.district !== sensor.district) {
      throw fail(source, {
        ...at,
        message: `district '${sensor.district}' differs from the district '${segment.district}' of its segment '${sensor.segment}'`,
      })
    }
    const allowed = SEGMENT_TYPES_OF_KIND[sensor.kind]
    if (!allowed.includes(segment.type)) {
      const want = allowed.map((type) => SEGMENT_WORDS[type]).join(' or ')
      throw fail(source, {
        ...at,
        message: `a ${sensor.kind} sensor must sit on a ${want}, not on ${SEGMENT_WORDS[segment.type]} '${sensor.segment}'`,
      })
    }
    if (intern) {
      sensor.segment = segment.id
      sensor.district = segment.district
      const kind = kinds.get(sensor.kind)
      if (kind === undefined) kinds.set(sensor.kind, sensor.kind)
      else sensor.kind = kind
    }
  })
  const sensorOf = (id: string): Sensor | undefined => {
    const i = sensors.get(id)
    return i === undefined ? undefined : registry.sensors[i]
  }

  registry.segments.forEach((segment, index) => {
    const gauges = segment.riverGauges
    gauges?.forEach((gauge, k) => {
      const sensor = sensorOf(gauge)
      const at = { entry: `segments[${index}]`, id: segment.id }
      if (sensor === undefined) throw fail(source, { ...at, message: `riverGauges[${k}] '${gauge}' is not a sensor of the registry` })
      if (sensor.kind !== 'water_level') {
        throw fail(source, { ...at, message: `riverGauges[${k}] '${gauge}' must be a water_level sensor, not ${sensor.kind}` })
      }
      if (intern) gauges[k] = sensor.id
    })
  })

  const boards = new Map<string, number>()
  registry.boards.forEach((board, index) => {
    const at = { entry: `boards[${index}]`, id: board.id }
    const first = boards.get(board.id)
    if (first !== undefined) throw fail(source, { ...at, message: `duplicate id, first used by boards[${first}]` })
    boards.set(board.id, index)
    board.lots.forEach((lot, k) => {
      const sensor = sensorOf(lot)
      if (sensor === undefined) throw fail(source, { ...at, message: `lots[${k}] '${lot}' is not a sensor of the registry` })
      if (sensor.kind !== 'parking') throw fail(source, { ...at, message: `lots[${k}] '${lot}' must be a parking sensor, not ${sensor.kind}` })
      if (sensor.district !== board.district) {
        throw fail(source, { ...at, message: `lots[${k}] '${lot}' is in district '${sensor.district}', not '${board.district}'` })
      }
      if (intern) board.lots[k] = sensor.id
    })
    if (intern) board.district = district(board.district)
  })
}

/** Validates against the schema and the references; `intern` only for a registry no one else holds (see checkReferences). */
function validated(json: unknown, source: string | undefined, intern: boolean): Registry {
  const validate = validator()
  if (!validate(json)) {
    const err = validate.errors?.[0]
    throw fail(source, err === undefined ? { message: 'is invalid' } : describe(json, err))
  }
  const registry = json as Registry
  checkReferences(registry, source, intern)
  return registry
}

/**
 * Validates a parsed registry against REGISTRY_SCHEMA and its references; throws CW_ERR_REGISTRY_INVALID
 * naming the first bad entry (prefixed with `source`, e.g. the file name, when given). Returns `json` itself,
 * unchanged.
 */
export function parseRegistry(json: unknown, source?: string): Registry {
  return validated(json, source, false)
}

/** The file's text parsed; the text is dropped on return, before the registry is validated. */
function readJson(path: string): unknown {
  let text: string
  try {
    text = readFileSync(path, 'utf8')
  } catch (err) {
    throw fail(path, { message: `cannot be read (${(err as Error).message})` })
  }
  try {
    return JSON.parse(text)
  } catch (err) {
    throw fail(path, { message: `is not valid JSON (${(err as Error).message})` })
  }
}

/**
 * Reads, parses and validates a registry file; throws CW_ERR_REGISTRY_INVALID naming the file and the bad entry.
 * The registry returned is the caller's alone, so indexRegistry adopts it (deep-freezes it in place) rather than
 * copying it: edit it before indexing it, or index a structuredClone of it.
 */
export function loadRegistry(path: string): Registry {
  return handOver(validated(readJson(path), path, true))
}
