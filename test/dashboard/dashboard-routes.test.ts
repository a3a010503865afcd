import { existsSync, mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import Fastify from 'fastify'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { DASHBOARD_CSP, DEFAULT_DASHBOARD_DIR, registerDashboardRoutes } from '../../api/dashboard-routes.js'
import { buildDashboard } from '../../dashboards/web/build.js'
import { AppError } from '../../errors.js'
import { startTestApp, type TestApp } from '../helpers/test-app.js'

describe('dashboard routes on the engine', () => {
  let t: TestApp

  beforeAll(async () => {
    // The suite's global setup builds it; this keeps the file runnable alone.
    if (!existsSync(join(DEFAULT_DASHBOARD_DIR, 'manifest.json'))) await buildDashboard()
    t = await startTestApp()
  })
  afterAll(async () => {
    await t?.close()
  })

  it('serves the page at / with the strict CSP and revalidation', async () => {
    const res = await fetch(`${t.http}/`)
    expect(res.status).toBe(200)
    expect(res.headers.get('content-type')).toBe('text/html; charset=utf-8')
    expect(res.headers.get('content-security-policy')).toBe(DASHBOARD_CSP)
    expect(res.headers.get('content-security-policy')).toContain("script-src 'self'")
    expect(res.headers.get('x-content-type-options')).toBe('nosniff')
    expect(res.headers.get('cache-control')).toBe('no-cache')
    const html = await res.text()
    expect(html).toMatch(/^<!doctype html>/)
    expect(html).toContain('data-testid="conn"')
  })

  it('answers 304 to a revalidation with the current ETag', async () => {
    const first = await fetch(`${t.http}/`)
    const etag = first.headers.get('etag') as string
    await first.text()
    expect(etag).toMatch(/^".+"$/)
    const again = await fetch(`${t.http}/`, { headers: { 'if-none-match': etag } })
    expect(again.status).toBe(304)
  })

  it('serves the hashed script and stylesheet the page names, cached for good', async () => {
    const html = await (await fetch(`${t.http}/`)).text()
    const js = /src="(\/assets\/main-[^"]+\.js)"/.exec(html)?.[1]
    const css = /href="(\/assets\/style-[^"]+\.css)"/.exec(html)?.[1]
    expect(js).toBeDefined()
    expect(css).toBeDefined()
    const script = await fetch(`${t.http}${js}`)
    expect(script.status).toBe(200)
    expect(script.headers.get('content-type')).toBe('text/javascript; charset=utf-8')
    expect(script.headers.get('cache-control')).toBe('public, max-age=31536000, immutable')
    expect((await script.text()).length).toBeGreaterThan(0)
    const style = await fetch(`${t.http}${css}`)
    expect(style.status).toBe(200)
    expect(style.headers.get('content-type')).toBe('text/css; charset=utf-8')
    expect((await style.text()).length).toBeGreaterThan(0)
  })

  it('serves the favicon as /favicon.svg and /favicon.ico', async () => {
    for (const path of ['/favicon.svg', '/favicon.ico']) {
      const res = await fetch(`${t.http}${path}`)
      expect(res.status).toBe(200)
      expect(res.headers.get('content-type')).toBe('image/svg+xml')
      expect(await res.text()).toMatch(/^<svg/)
    }
  })

  it('answers an unknown asset with the API 404', async () => {
    const res = await fetch(`${t.http}/assets/main-NOPE.js`)
    expect(res.status).toBe(404)
    expect(((await res.json()) as { error: string }).error).toBe('CW_ERR_API_NOT_FOUND')
  })

  it('keeps the dashboard out of the OpenAPI document', async () => {
    const doc = (await (await fetch(`${t.http}/api/openapi.json`)).json()) as { paths: Record<string, unknown> }
    expect(Object.keys(doc.paths).filter((p) => !p.startsWith('/api/') && !['/healthz', '/readyz', '/metrics'].includes(p))).toEqual([])
  })
})

describe('dashboard routes without a build', () => {
  const dir = mkdtempSync(join(tmpdir(), 'cw-nodash-'))
  const app = Fastify()
  app.setErrorHandler((err, _req, reply) => {
    if (err instanceof AppError) return reply.status(err.statusCode).send({ error: err.code, message: err.message, details: err.details })
    return reply.status(500).send({ error: 'CW_ERR_INTERNAL' })
  })
  registerDashboardRoutes(app, { distDir: dir })
  afterAll(async () => {
    await app.close()
    rmSync(dir, { recursive: true, force: true })
  })

  it('answers / with 503 CW_ERR_DASHBOARD_NOT_BUILT, saying to run npm run build', async () => {
    const res = await app.inject({ method: 'GET', url: '/' })
    expect(res.statusCode).toBe(503)
    const body = res.json() as { error: string; message: string }
    expect(body.error).toBe('CW_ERR_DASHBOARD_NOT_BUILT')
    expect(body.message).toContain('npm run build')
  })

  it('picks up a build made after the start', async () => {
    await buildDashboard({ outDir: dir })
    const res = await app.inject({ method: 'GET', url: '/' })
    expect(res.statusCode).toBe(200)
    expect(res.headers['content-security-policy']).toBe(DASHBOARD_CSP)
  })
})
