/** REST access to the engine, with the page's `?token=` as a bearer token when there is one (SPEC §11). */

/** An error answer of the API: its code and message (SPEC §11 error body). */
export class ApiError extends Error {
  readonly status: number
  readonly code: string | undefined

  constructor(status: number, code: string | undefined, message: string) {
    super(message)
    this.name = 'ApiError'
    this.status = status
    this.code = code
  }
}

/** The error an unsuccessful answer stands for: the API's own message when the body is its error JSON. */
export function apiError(status: number, body: unknown): ApiError {
  const b = body !== null && typeof body === 'object' ? (body as { error?: unknown; message?: unknown }) : {}
  const code = typeof b.error === 'string' ? b.error : undefined
  const message = typeof b.message === 'string' && b.message !== '' ? b.message : `HTTP ${status}`
  return new ApiError(status, code, message)
}

/** The websocket URL of a page location, with the token as `?token=` (SPEC §12). */
export function wsUrl(location: { protocol: string; host: string }, token: string | null): string {
  const scheme = location.protocol === 'https:' ? 'wss:' : 'ws:'
  return `${scheme}//${location.host}/ws${token ? `?token=${encodeURIComponent(token)}` : ''}`
}

type FetchLike = (url: string, init: { method: string; headers: Record<string, string>; body?: string }) => Promise<{ ok: boolean; status: number; text(): Promise<string> }>

/** A small JSON client of the engine's API. */
export interface Api {
  get<T>(path: string): Promise<T>
  post<T>(path: string, body: unknown): Promise<T>
}

/** Creates the API client; `fetchImpl` defaults to the global fetch. */
export function createApi(token: string | null, fetchImpl?: FetchLike): Api {
  const doFetch: FetchLike = fetchImpl ?? ((url, init) => fetch(url, init))
  const request = async <T>(method: string, path: string, body?: unknown): Promise<T> => {
    const headers: Record<string, string> = { accept: 'application/json' }
    if (token) headers.authorization = `Bearer ${token}`
    if (body !== undefined) headers['content-type'] = 'application/json'
    const res = await doFetch(path, { method, headers, ...(body === undefined ? {} : { body: JSON.stringify(body) }) })
    const text = await res.text()
    let json: unknown = null
    try {
      json = text === '' ? null : JSON.parse(text)
    } catch {
      json = null
    }
    if (!res.ok) throw apiError(res.status, json)
    return json as T
  }
  return {
    get: (path) => request('GET', path),
    post: (path, body) => request('POST', path, body),
  }
}
