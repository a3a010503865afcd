import { describe, expect, it } from 'vitest'
import { ApiError, apiError, createApi, wsUrl } from '../../dashboards/web/src/api.js'

describe('wsUrl', () => {
  it('follows the page scheme and passes the token as ?token=', () => {
    expect(wsUrl({ protocol: 'http:', host: '127.0.0.1:8080' }, null)).toBe('ws://127.0.0.1:8080/ws')
    expect(wsUrl({ protocol: 'https:', host: 'water.example' }, 'a b&c')).toBe('wss://water.example/ws?token=a%20b%26c')
  })
})

describe('apiError', () => {
  it("carries the API's code and message", () => {
    const err = apiError(409, { error: 'CW_ERR_ALERT_TRANSITION', message: "Alert 'a-1' cannot go from resolved to acknowledged", details: [] })
    expect(err).toBeInstanceOf(ApiError)
    expect(err.status).toBe(409)
    expect(err.code).toBe('CW_ERR_ALERT_TRANSITION')
    expect(err.message).toBe("Alert 'a-1' cannot go from resolved to acknowledged")
  })

  it('falls back to the status for a body that is not an API error', () => {
    expect(apiError(502, null).message).toBe('HTTP 502')
    expect(apiError(500, { message: '' }).message).toBe('HTTP 500')
  })
})

describe('createApi', () => {
  it('posts JSON with the bearer token and returns the answer', async () => {
    const calls: { url: string; init: { method: string; headers: Record<string, string>; body?: string } }[] = []
    const api = createApi('tok', async (url, init) => {
      calls.push({ url, init })
      return { ok: true, status: 200, text: async () => '{"id":"a-1","state":"acknowledged"}' }
    })
    await expect(api.post('/api/alerts/a-1/ack', { note: 'on it' })).resolves.toEqual({ id: 'a-1', state: 'acknowledged' })
    expect(calls[0]?.init).toEqual({ method: 'POST', headers: { accept: 'application/json', authorization: 'Bearer tok', 'content-type': 'application/json' }, body: '{"note":"on it"}' })
  })

  it('rejects with the API error of a refusal', async () => {
    const api = createApi(null, async () => ({ ok: false, status: 404, text: async () => '{"error":"CW_ERR_ALERT_NOT_FOUND","message":"Alert \'x\' not found"}' }))
    await expect(api.get('/api/alerts/x')).rejects.toMatchObject({ status: 404, code: 'CW_ERR_ALERT_NOT_FOUND', message: "Alert 'x' not found" })
  })
})
