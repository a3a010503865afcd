import { AppError } from '../errors.js'

/** Where and how to reach one InfluxDB 1.x database over its HTTP API. */
export interface InfluxConnection {
  /** Base URL of the HTTP API, e.g. http://127.0.0.1:8086. */
  url: string
  /** Database name. */
  database: string
  /** User name; unset: no authentication. */
  username?: string
  /** Password of `username`. */
  password?: string
  /** Deadline of one HTTP request in milliseconds; default 5000. */
  timeoutMs?: number
  /** Aborts every request made with this connection (e.g. on shutdown). */
  signal?: AbortSignal
}

/** One series of a query result, as InfluxDB 1.x returns it. */
export interface InfluxSeries {
  name?: string
  tags?: Record<string, string>
  columns: string[]
  values?: unknown[][]
}

/** One statement's result, as InfluxDB 1.x returns it. */
export interface InfluxStatementResult {
  statement_id?: number
  series?: InfluxSeries[]
  error?: string
}

/** A per-request abort signal: fires after `timeoutMs` or when any parent aborts; call `done()` when the request ends. */
export interface RequestDeadline {
  signal: AbortSignal
  /** Whether the deadline (not a parent) aborted the request. */
  readonly timedOut: boolean
  /** Clears the timer and detaches from the parents. */
  done(): void
  /**
   * `promise`, or its rejection with the abort reason once the signal fires, whichever comes first. Node 20's fetch
   * was seen not to settle after its signal fired (a request to an overloaded influxd at shutdown, waited on for
   * over a minute), so a caller never relies on fetch alone to honour the deadline.
   */
  race<T>(promise: Promise<T>): Promise<T>
}

/**
 * Starts a request deadline. Unlike AbortSignal.any, it detaches from long-lived parents when done
 * (AbortSignal.any leaks on a long-lived parent in Node 20: nodejs/node#55351).
 */
export function requestDeadline(timeoutMs: number, parents: ReadonlyArray<AbortSignal | undefined> = []): RequestDeadline {
  const controller = new AbortController()
  let timedOut = false
  const timer = setTimeout(() => {
    timedOut = true
    controller.abort(new Error(`no answer within ${timeoutMs} ms`))
  }, timeoutMs)
  const onAbort = (): void => controller.abort(new Error('aborted'))
  const attached = parents.filter((p): p is AbortSignal => p !== undefined)
  for (const parent of attached) {
    if (parent.aborted) onAbort()
    else parent.addEventListener('abort', onAbort, { once: true })
  }
  const signal = controller.signal
  return {
    signal,
    get timedOut() {
      return timedOut
    },
    done() {
      clearTimeout(timer)
      for (const parent of attached) parent.removeEventListener('abort', onAbort)
    },
    race<T>(promise: Promise<T>): Promise<T> {
      if (signal.aborted) {
        promise.catch(() => undefined)
        return Promise.reject(signal.reason)
      }
      return new Promise<T>((resolve, reject) => {
        const onFired = (): void => reject(signal.reason)
        signal.addEventListener('abort', onFired, { once: true })
        promise.then(
          (value) => {
            signal.removeEventListener('abort', onFired)
            resolve(value)
          },
          (err: unknown) => {
            signal.removeEventListener('abort', onFired)
            reject(err)
          },
        )
      })
    },
  }
}

/** Default deadline of one request in milliseconds. */
export const DEFAULT_INFLUX_TIMEOUT_MS = 5_000

/** Quotes an InfluxQL identifier: `my "db"` → `"my \"db\""`. */
export function quoteIdent(name: string): string {
  return `"${name.replace(/\\/g, '\\\\').replace(/"/g, '\\"')}"`
}

/** Quotes an InfluxQL string literal: `it's` → `'it\'s'`. */
export function quoteString(value: string): string {
  return `'${value.replace(/\\/g, '\\\\').replace(/'/g, "\\'").replace(/\n/g, '\\n')}'`
}

/** HTTP headers carrying the connection's credentials (basic auth), if any. */
export function authHeaders(conn: Pick<InfluxConnection, 'username' | 'password'>): Record<string, string> {
  if (conn.username === undefined) return {}
  const token = Buffer.from(`${conn.username}:${conn.password ?? ''}`).toString('base64')
  return { authorization: `Basic ${token}` }
}

function baseUrl(url: string): string {
  return url.replace(/\/+$/, '')
}

/** Options of one query request. */
export interface QueryRequestOptions {
  /** Run against this database (`db=` parameter); default none, statements name their database. */
  db?: string
  /** Ask for epoch timestamps in this precision instead of RFC 3339 strings. */
  epoch?: 'ms'
  /** Aborts the request; combined with the connection's deadline. */
  signal?: AbortSignal
}

/**
 * Runs InfluxQL (one or more `;`-separated statements) with POST /query and returns each statement's result.
 * Throws CW_ERR_INFLUX_UNAVAILABLE on network errors, timeouts and 5xx, CW_ERR_INFLUX_QUERY on 4xx;
 * statement errors are returned in `error`, not thrown.
 */
export async function influxStatements(conn: InfluxConnection, influxql: string, options: QueryRequestOptions = {}): Promise<InfluxStatementResult[]> {
  const params = new URLSearchParams()
  if (options.db !== undefined) params.set('db', options.db)
  if (options.epoch !== undefined) params.set('epoch', options.epoch)
  const timeoutMs = conn.timeoutMs ?? DEFAULT_INFLUX_TIMEOUT_MS
  const deadline = requestDeadline(timeoutMs, [options.signal, conn.signal])
  let res: Response
  let text: string
  try {
    res = await deadline.race(
      fetch(`${baseUrl(conn.url)}/query?${params.toString()}`, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded', ...authHeaders(conn) },
        body: new URLSearchParams({ q: influxql }).toString(),
        signal: deadline.signal,
      }),
    )
    text = await deadline.race(res.text())
  } catch (err) {
    const why = deadline.timedOut ? `no answer within ${timeoutMs} ms` : errorText(err)
    throw new AppError('CW_ERR_INFLUX_UNAVAILABLE', [why], [], { cause: err })
  } finally {
    deadline.done()
  }
  if (res.status >= 500) throw new AppError('CW_ERR_INFLUX_UNAVAILABLE', [`HTTP ${res.status} ${serverError(text)}`])
  if (res.status >= 400) throw new AppError('CW_ERR_INFLUX_QUERY', [serverError(text)], [{ status: res.status }])
  try {
    const body = JSON.parse(text) as { results?: InfluxStatementResult[]; error?: string }
    if (body.error !== undefined) throw new AppError('CW_ERR_INFLUX_QUERY', [body.error])
    return body.results ?? []
  } catch (err) {
    if (err instanceof AppError) throw err
    throw new AppError('CW_ERR_INFLUX_QUERY', [`unreadable answer: ${text.slice(0, 200)}`], [], { cause: err })
  }
}

/** Like `influxStatements`, but throws CW_ERR_INFLUX_QUERY when any statement failed. */
export async function influxExec(conn: InfluxConnection, influxql: string, options: QueryRequestOptions = {}): Promise<InfluxStatementResult[]> {
  const results = await influxStatements(conn, influxql, options)
  const failed = results.find((r) => r.error !== undefined)
  if (failed?.error !== undefined) throw new AppError('CW_ERR_INFLUX_QUERY', [failed.error])
  return results
}

/** Flattens series into row objects: columns by name, plus the series tags. */
export function seriesRows(result: InfluxStatementResult | undefined): Array<Record<string, unknown>> {
  const rows: Array<Record<string, unknown>> = []
  for (const series of result?.series ?? []) {
    for (const values of series.values ?? []) {
      const row: Record<string, unknown> = { ...series.tags }
      for (let i = 0; i < series.columns.length; i++) {
        const column = series.columns[i]
        if (column !== undefined) row[column] = values[i]
      }
      rows.push(row)
    }
  }
  return rows
}

/** The message of an InfluxDB error body (`{"error": "..."}`), or the raw text. */
export function serverError(text: string): string {
  try {
    const body = JSON.parse(text) as { error?: unknown }
    if (typeof body.error === 'string') return body.error
  } catch {
    // not JSON
  }
  return text.trim().slice(0, 500)
}

/** A readable one-line reason for a fetch failure (undici hides the socket error in `cause`). */
export function errorText(err: unknown): string {
  if (!(err instanceof Error)) return String(err)
  const cause = err.cause
  if (cause instanceof Error) return `${err.message}: ${(cause as NodeJS.ErrnoException).code ?? cause.message}`
  return err.message
}
