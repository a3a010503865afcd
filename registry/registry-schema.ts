import { KIND_FIELDS, SENSOR_KINDS } from '../domain.js'

/** Ids of sensors, segments, boards and districts: one MQTT topic level, no '/', '+' or '#'. */
export const REGISTRY_ID_PATTERN = '^[A-Za-z0-9_.-]+$'

/** Which params definition each sensor kind is validated against. */
export const PARAMS_OF_KIND = {
  water_level: 'waterLevelParams',
  flow: 'noParams',
  water_quality: 'waterQualityParams',
  manhole_level: 'manholeLevelParams',
  pipe_level: 'pipeLevelParams',
  ponding_depth: 'depthParams',
  tunnel_depth: 'depthParams',
  sediment: 'sedimentParams',
  rainfall: 'noParams',
  parking: 'parkingParams',
} as const satisfies Record<(typeof SENSOR_KINDS)[number], string>

const metres = (description: string) => ({ type: 'number', description }) as const
const positiveMetres = (description: string) => ({ type: 'number', exclusiveMinimum: 0, description }) as const
const latitude = { type: 'number', minimum: -90, maximum: 90, description: 'WGS 84 latitude in degrees' } as const
const longitude = { type: 'number', minimum: -180, maximum: 180, description: 'WGS 84 longitude in degrees' } as const
const label = { type: 'string', minLength: 1 } as const
const idRef = { $ref: '#/definitions/id' } as const

/**
 * JSON Schema (draft-07, ajv 8) of the sensor registry file `{ segments, sensors, boards }` (SPEC §3);
 * `cwOrdering` is the custom keyword of `registry/ordering-keyword.ts`, which the validator must register.
 */
export const REGISTRY_SCHEMA = {
  $schema: 'http://json-schema.org/draft-07/schema#',
  title: 'citywater sensor registry',
  $comment:
    'cwOrdering is a custom keyword (registry/ordering-keyword.ts): "riverLevels" requires Hn <= Hw - nearMarginM < Hw < Hg and Hx > Hn; "wellGeometry" requires depthM > invertM (default 0) + pipeDiameterM. Generated from registry/registry-schema.ts.',
  type: 'object',
  additionalProperties: false,
  required: ['segments', 'sensors', 'boards'],
  properties: {
    segments: { type: 'array', items: { $ref: '#/definitions/segment' } },
    sensors: { type: 'array', items: { $ref: '#/definitions/sensor' } },
    boards: { type: 'array', items: { $ref: '#/definitions/board' } },
  },
  definitions: {
    id: { type: 'string', minLength: 1, maxLength: 64, pattern: REGISTRY_ID_PATTERN },
    segment: {
      type: 'object',
      additionalProperties: false,
      required: ['id', 'district', 'type', 'name'],
      properties: {
        id: idRef,
        district: idRef,
        type: { enum: ['river', 'lake', 'drainage'] },
        name: label,
        targetClass: { type: 'integer', minimum: 1, maximum: 5, description: 'GB 3838 target class, rivers and lakes only' },
        riverGauges: {
          type: 'array',
          minItems: 1,
          uniqueItems: true,
          items: idRef,
          description: 'water_level sensors of the water a drainage zone drains into',
        },
      },
      allOf: [
        {
          if: { type: 'object', required: ['type'], properties: { type: { enum: ['river', 'lake'] } } },
          then: { required: ['targetClass'], properties: { riverGauges: false } },
        },
        {
          if: { type: 'object', required: ['type'], properties: { type: { const: 'drainage' } } },
          then: { required: ['riverGauges'], properties: { targetClass: false } },
        },
      ],
    },
    sensor: {
      type: 'object',
      additionalProperties: false,
      required: ['id', 'kind', 'district', 'segment', 'name', 'lat', 'lon', 'intervalS', 'params'],
      properties: {
        id: idRef,
        kind: { enum: [...SENSOR_KINDS] },
        district: idRef,
        segment: idRef,
        name: label,
        lat: latitude,
        lon: longitude,
        intervalS: { type: 'integer', minimum: 1, description: 'longest normal gap between readings, in seconds' },
        params: { type: 'object' },
      },
      allOf: Object.entries(PARAMS_OF_KIND).map(([kind, definition]) => ({
        if: { type: 'object', required: ['kind'], properties: { kind: { const: kind } } },
        then: { properties: { params: { $ref: `#/definitions/${definition}` } } },
      })),
    },
    board: {
      type: 'object',
      additionalProperties: false,
      required: ['id', 'district', 'name', 'lots', 'lat', 'lon'],
      properties: {
        id: idRef,
        district: idRef,
        name: label,
        lots: { type: 'array', minItems: 1, uniqueItems: true, items: idRef, description: 'parking sensors shown on the board' },
        lat: latitude,
        lon: longitude,
      },
    },
    noParams: { type: 'object', additionalProperties: false },
    waterLevelParams: {
      type: 'object',
      additionalProperties: false,
      required: ['normalLevelM', 'warningLevelM', 'guaranteedLevelM', 'historicMaxLevelM'],
      properties: {
        normalLevelM: metres('Hn, normal level in metres above the gauge datum'),
        warningLevelM: metres('Hw, warning level (警戒水位) in metres'),
        guaranteedLevelM: metres('Hg, guaranteed level (保证水位) in metres'),
        historicMaxLevelM: metres('Hx, highest level on record in metres'),
        nearMarginM: { type: 'number', exclusiveMinimum: 0, default: 0.2, description: 'Δ, metres below Hw where the score reaches 80' },
        offsetM: { type: 'number', default: 0, description: 'metres added to level_m to reach the datum of the params' },
      },
      cwOrdering: 'riverLevels',
    },
    manholeLevelParams: {
      type: 'object',
      additionalProperties: false,
      required: ['pipeDiameterM', 'depthM'],
      properties: {
        invertM: { type: 'number', minimum: 0, default: 0, description: 'outgoing pipe invert above the manhole floor, metres' },
        pipeDiameterM: positiveMetres('outgoing pipe diameter, metres'),
        depthM: positiveMetres('manhole floor to rim, metres'),
      },
      cwOrdering: 'wellGeometry',
    },
    pipeLevelParams: {
      type: 'object',
      additionalProperties: false,
      required: ['pipeDiameterM', 'depthM'],
      properties: {
        invertM: { const: 0, description: 'always 0: levels are measured from the pipe invert' },
        pipeDiameterM: positiveMetres('pipe diameter, metres'),
        depthM: positiveMetres('rim of the manhole where the sensor sits above the pipe invert, metres'),
      },
      cwOrdering: 'wellGeometry',
    },
    depthParams: {
      type: 'object',
      additionalProperties: false,
      properties: {
        closureCm: {
          type: 'number',
          exclusiveMinimum: 15,
          exclusiveMaximum: 40,
          default: 27,
          description: 'closure depth Dc in centimetres',
        },
      },
    },
    sedimentParams: {
      type: 'object',
      additionalProperties: false,
      required: ['pipeDiameterM'],
      properties: { pipeDiameterM: positiveMetres('diameter of the pipe the sediment sits in, metres') },
    },
    waterQualityParams: {
      type: 'object',
      additionalProperties: false,
      required: ['measures'],
      properties: {
        measures: {
          type: 'array',
          minItems: 1,
          uniqueItems: true,
          items: { enum: [...KIND_FIELDS.water_quality.optional] },
          description: 'the water_quality fields the station reports',
        },
      },
    },
    parkingParams: {
      type: 'object',
      additionalProperties: false,
      required: ['capacity', 'underground'],
      properties: {
        capacity: { type: 'integer', minimum: 1, description: 'parking spaces' },
        underground: { type: 'boolean', description: 'closed when its zone floods (orange or red)' },
      },
    },
  },
} as const
