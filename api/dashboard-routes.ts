import { createHash } from 'node:crypto'
import { readFile, stat } from 'node:fs/promises'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import type { FastifyBaseLogger, FastifyInstance, FastifyReply, FastifyRequest, FastifyTypeProviderDefault, RawReplyDefaultExpression, RawRequestDefaultExpression, RawServerDefault } from 'fastify'
import { AppError } from '../errors.js'

/** The Content-Security-Policy of every dashboard response: nothing inline, nothing from elsewhere. */
export const DASHBOARD_CSP =
  "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'"

/** Where `npm run build` puts the dashboard: `dashboards/web/dist`. */
export const DEFAULT_DASHBOARD_DIR = join(dirname(fileURLToPath(import.meta.url)), '..', 'dashboards', 'web', 'dist')

/** Options of registerDashboardRoutes. */
export interface DashboardRoutesOptions {
  /** The built dashboard (with its `manifest.json`); default `dashboards/web/dist`. */
  distDir?: string
}

/** A fastify server with any pino-compatible logger (api/server.ts builds one typed with pino's Logger). */
type App<L extends FastifyBaseLogger> = FastifyInstance<RawServerDefault, RawRequestDefaultExpression, RawReplyDefaultExpression, L, FastifyTypeProviderDefault>

interface Asset {
  body: Buffer
  type: string
  etag: string
  cache: string
}

interface Manifest {
  html: string
  js: string
  css: string
  favicon: string
}

const IMMUTABLE = 'public, max-age=31536000, immutable'

function asset(body: Buffer, type: string, cache: string): Asset {
  return { body, type, cache, etag: `"${createHash('sha256').update(body).digest('base64url').slice(0, 27)}"` }
}

/** Reads the built dashboard into memory: the page, its two hashed assets and the favicon. */
async function loadDashboard(dir: string): Promise<{ page: Asset; favicon: Asset; assets: Map<string, Asset> }> {
  const manifest = JSON.parse(await readFile(join(dir, 'manifest.json'), 'utf8')) as Manifest
  const read = (file: string) => readFile(join(dir, file))
  const [html, js, css, favicon] = await Promise.all([read(manifest.html), read(manifest.js), read(manifest.css), read(manifest.favicon)])
  return {
    // The page names the hashed assets: it must be revalidated, they never need to be.
    page: asset(html, 'text/html; charset=utf-8', 'no-cache'),
    favicon: asset(favicon, 'image/svg+xml', 'public, max-age=86400'),
    assets: new Map([
      [manifest.js.replace(/^assets\//, ''), asset(js, 'text/javascript; charset=utf-8', IMMUTABLE)],
      [manifest.css.replace(/^assets\//, ''), asset(css, 'text/css; charset=utf-8', IMMUTABLE)],
    ]),
  }
}

function send(request: FastifyRequest, reply: FastifyReply, a: Asset): FastifyReply {
  reply
    .header('content-security-policy', DASHBOARD_CSP)
    .header('x-content-type-options', 'nosniff')
    .header('referrer-policy', 'no-referrer')
    .header('cache-control', a.cache)
    .header('etag', a.etag)
  const match = request.headers['if-none-match']
  if (match !== undefined && match.split(',').some((tag) => tag.trim().replace(/^W\//, '') === a.etag)) return reply.status(304).send()
  return reply.type(a.type).send(a.body)
}

/**
 * Serves the live dashboard (SPEC §13) from its build: `/` (the page), `/assets/<hashed name>` (script and
 * stylesheet, cached for a year), `/favicon.svg` and `/favicon.ico`, each with the strict CSP. Without a build,
 * they answer 503 CW_ERR_DASHBOARD_NOT_BUILT. The routes stay out of the OpenAPI document: they are not API.
 */
export function registerDashboardRoutes<L extends FastifyBaseLogger>(app: App<L>, options: DashboardRoutesOptions = {}): void {
  const dir = options.distDir ?? DEFAULT_DASHBOARD_DIR
  let loaded: { at: number; dashboard: ReturnType<typeof loadDashboard> } | undefined
  // Loaded on first use and kept until the build's manifest changes, so `npm run build` needs no restart.
  const dashboard = async (revalidate: boolean) => {
    try {
      if (loaded === undefined || revalidate) {
        const at = (await stat(join(dir, 'manifest.json'))).mtimeMs
        if (loaded === undefined || loaded.at !== at) loaded = { at, dashboard: loadDashboard(dir) }
      }
      return await loaded.dashboard
    } catch (err) {
      loaded = undefined
      throw new AppError('CW_ERR_DASHBOARD_NOT_BUILT', [], [{ reason: (err as NodeJS.ErrnoException).code ?? String(err) }])
    }
  }
  const hide = { schema: { hide: true } }

  app.get('/', hide, async (request, reply) => send(request, reply, (await dashboard(true)).page))

  app.get<{ Params: { file: string } }>('/assets/:file', hide, async (request, reply) => {
    const a = (await dashboard(false)).assets.get(request.params.file)
    if (a === undefined) throw new AppError('CW_ERR_API_NOT_FOUND', [`GET ${request.url}`])
    return send(request, reply, a)
  })

  for (const path of ['/favicon.svg', '/favicon.ico']) {
    app.get(path, hide, async (request, reply) => send(request, reply, (await dashboard(false)).favicon))
  }
}
