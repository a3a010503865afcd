import type { FastifyBaseLogger, FastifyInstance, FastifyTypeProviderDefault, RawReplyDefaultExpression, RawRequestDefaultExpression, RawServerDefault } from 'fastify'
import type { ParkingBoards } from '../stream/parking-boards.js'
import type { SnapshotProvider } from './ws-hub.js'

/** What the parking routes read. */
export interface ParkingRoutesDeps {
  parking: Pick<ParkingBoards, 'lots' | 'boards' | 'districts'>
}

/** Any fastify instance on the default HTTP server, whatever its logger type. */
type App<L extends FastifyBaseLogger> = FastifyInstance<RawServerDefault, RawRequestDefaultExpression, RawReplyDefaultExpression, L, FastifyTypeProviderDefault>

const errorBody = {
  type: 'object',
  properties: { error: { type: 'string' }, message: { type: 'string' }, details: { type: 'array' } },
  required: ['error', 'message'],
}

const status = { type: 'string', enum: ['available', 'busy', 'full', 'closed'] }

const lotSchema = {
  type: 'object',
  properties: {
    id: { type: 'string' },
    name: { type: 'string' },
    district: { type: 'string' },
    segment: { type: 'string', description: 'drainage zone of the lot' },
    capacity: { type: 'integer' },
    occupied: { type: 'integer' },
    free: { type: 'integer' },
    occupancy: { type: 'number', description: 'percent, one decimal' },
    status,
    underground: { type: 'boolean' },
    updatedAt: { type: 'string', format: 'date-time', description: 'event time of the reading' },
    lat: { type: 'number' },
    lon: { type: 'number' },
  },
  required: ['id', 'name', 'district', 'segment', 'capacity', 'occupied', 'free', 'occupancy', 'status', 'underground', 'updatedAt', 'lat', 'lon'],
}

const boardSchema = {
  type: 'object',
  properties: {
    board: { type: 'string' },
    name: { type: 'string' },
    district: { type: 'string' },
    lines: {
      type: 'array',
      items: {
        type: 'object',
        properties: { lot: { type: 'string' }, name: { type: 'string' }, text: { type: 'string', description: 'free spaces, FULL, CLOSED, or -- before any data' } },
        required: ['lot', 'name', 'text'],
      },
    },
    updatedAt: { type: ['string', 'null'], description: 'when these lines were published; null while they have not been' },
  },
  required: ['board', 'name', 'district', 'lines', 'updatedAt'],
}

const districtSchema = {
  type: 'object',
  properties: {
    district: { type: 'string' },
    capacity: { type: 'integer', description: 'spaces of the lots that have reported' },
    free: { type: 'integer', description: 'free spaces of the open lots' },
    occupied: { type: 'integer' },
    occupancy: { type: ['number', 'null'], description: 'percent, one decimal; null when no lot has reported' },
    lots: { type: 'integer', description: 'lots that have reported' },
    full: { type: 'integer' },
    closed: { type: 'integer' },
  },
  required: ['district', 'capacity', 'free', 'occupied', 'occupancy', 'lots', 'full', 'closed'],
}

/** Adds GET `/api/parking?district` (SPEC §11): lots, guidance boards and district totals. */
export function registerParkingRoutes<L extends FastifyBaseLogger>(app: App<L>, deps: ParkingRoutesDeps): void {
  app.get<{ Querystring: { district?: string } }>('/api/parking', {
    schema: {
      summary: 'Parking lots, guidance boards and district totals',
      tags: ['parking'],
      querystring: { type: 'object', additionalProperties: false, properties: { district: { type: 'string' } } },
      response: {
        200: {
          type: 'object',
          properties: { lots: { type: 'array', items: lotSchema }, boards: { type: 'array', items: boardSchema }, districts: { type: 'array', items: districtSchema } },
          required: ['lots', 'boards', 'districts'],
        },
        400: errorBody,
      },
    },
  }, async (request) => {
    const { district } = request.query
    return { lots: deps.parking.lots(district), boards: deps.parking.boards(district), districts: deps.parking.districts(district) }
  })
}

/** The websocket `parking` snapshot (SPEC §12): the lots of the subscribed districts, as in the `parking` events. */
export function parkingSnapshot(parking: Pick<ParkingBoards, 'lots'>): SnapshotProvider {
  return (subscription) => parking.lots().filter((lot) => subscription.districts === null || subscription.districts.has(lot.district))
}
