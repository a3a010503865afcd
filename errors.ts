import { format } from 'node:util'

/** Every error code the engine answers with, its HTTP status and message template. */
export const ERROR_CATALOG = {
  CW_ERR_CONFIG_INVALID: { status: 500, message: 'Invalid configuration: %s' },
  CW_ERR_REGISTRY_INVALID: { status: 500, message: 'Invalid registry: %s' },
  CW_ERR_RULES_INVALID: { status: 400, message: 'Invalid rules: %s' },
  CW_ERR_INGEST_SCHEMA: { status: 400, message: 'Reading on %s failed validation: %s' },
  CW_ERR_INGEST_TOO_LARGE: { status: 413, message: 'Message on %s is too large: %s' },
  CW_ERR_API_VALIDATION: { status: 400, message: 'Request failed validation: %s' },
  CW_ERR_API_UNAUTHORIZED: { status: 401, message: 'Authentication required' },
  CW_ERR_API_FORBIDDEN: { status: 403, message: 'Not allowed: %s' },
  CW_ERR_API_NOT_FOUND: { status: 404, message: 'Not found: %s' },
  CW_ERR_SENSOR_NOT_FOUND: { status: 404, message: "Sensor '%s' not found" },
  CW_ERR_INFLUX_UNAVAILABLE: { status: 503, message: 'InfluxDB is unavailable: %s' },
  CW_ERR_INFLUX_QUERY: { status: 502, message: 'InfluxDB query failed: %s' },
  CW_ERR_WS_MESSAGE: { status: 400, message: 'Invalid websocket message: %s' },
  CW_ERR_ALERT_TRANSITION: { status: 409, message: "Alert '%s' cannot go from %s to %s" },
  CW_ERR_ALERT_NOT_FOUND: { status: 404, message: "Alert '%s' not found" },
  CW_ERR_ALERT_STORE_SCHEMA: { status: 500, message: 'Alert store %s has schema version %s; this engine knows up to %s' },
  CW_ERR_SILENCE_NOT_FOUND: { status: 404, message: "Silence '%s' not found" },
  CW_ERR_SILENCE_INVALID: { status: 400, message: 'Invalid silence: %s' },
  CW_ERR_DASHBOARD_NOT_BUILT: { status: 503, message: 'The dashboard is not built: run `npm run build` (it writes dashboards/web/dist)' },
  CW_ERR_INTERNAL: { status: 500, message: 'Internal error: %s' },
  CW_ERR_WAL_FULL: { status: 503, message: 'Write-ahead log is full: %s' },
  CW_ERR_WAL_CLOSED: { status: 503, message: 'Write-ahead log is closed' },
  CW_ERR_WAL_IO: { status: 503, message: 'Write-ahead log I/O failed: %s' },
  CW_ERR_WAL_LOCKED: { status: 500, message: 'Write-ahead log %s is in use by process %s (delete its LOCK file if no other citywater uses it)' },
} as const satisfies Record<`CW_ERR_${string}`, { status: number; message: string }>

export type ErrorCode = keyof typeof ERROR_CATALOG

/** The one error class of the engine: a stable code, an HTTP status and optional details. */
export class AppError extends Error {
  readonly code: ErrorCode
  readonly statusCode: number
  readonly details: unknown[]

  constructor(code: ErrorCode, args: unknown[] = [], details: unknown[] = [], options?: { cause?: unknown }) {
    const entry = ERROR_CATALOG[code]
    super(format(entry.message, ...args), options)
    this.name = 'AppError'
    this.code = code
    this.statusCode = entry.status
    this.details = details
  }
}

/** Builds an AppError: `appError('CW_ERR_SENSOR_NOT_FOUND', ['WL-1'])`. */
export function appError(code: ErrorCode, args: unknown[] = [], details: unknown[] = []): AppError {
  return new AppError(code, args, details)
}
