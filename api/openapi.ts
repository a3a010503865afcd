import type { RouteOptions } from 'fastify'

type Schema = Record<string, unknown>

/** Collects routes with schemas and renders an OpenAPI 3.0 document of them. */
export function openApiCollector(info: { title: string; version: string; description: string }): {
  onRoute(route: RouteOptions): void
  document(): Schema
} {
  const paths: Record<string, Record<string, Schema>> = {}
  return {
    onRoute(route) {
      const schema = route.schema as (Schema & { hide?: boolean }) | undefined
      if (schema === undefined || schema.hide === true) return
      const path = route.url.replace(/:([A-Za-z0-9_]+)/g, '{$1}')
      const methods = (Array.isArray(route.method) ? route.method : [route.method]).map((m) => m.toLowerCase())
      const parameters: Schema[] = []
      for (const [where, key] of [['path', 'params'], ['query', 'querystring']] as const) {
        const s = schema[key] as { properties?: Record<string, Schema>; required?: string[] } | undefined
        for (const [name, prop] of Object.entries(s?.properties ?? {})) {
          parameters.push({ name, in: where, required: where === 'path' || (s?.required ?? []).includes(name), schema: prop, ...(prop.description ? { description: prop.description } : {}) })
        }
      }
      const responses: Record<string, Schema> = {}
      for (const [status, body] of Object.entries((schema.response as Record<string, Schema> | undefined) ?? { 200: {} })) {
        responses[status] = { description: (body.description as string | undefined) ?? 'response', content: { 'application/json': { schema: body } } }
      }
      for (const method of methods) {
        if (method === 'head') continue
        paths[path] ??= {}
        ;(paths[path] as Record<string, Schema>)[method] = {
          summary: schema.summary ?? '',
          ...(schema.tags ? { tags: schema.tags } : {}),
          parameters,
          ...(schema.body ? { requestBody: { required: true, content: { 'application/json': { schema: schema.body } } } } : {}),
          responses,
        }
      }
    },
    document() {
      return { openapi: '3.0.3', info, paths }
    },
  }
}

declare module 'fastify' {
  interface FastifySchema {
    /** One-line summary for the OpenAPI document. */
    summary?: string
    tags?: string[]
    /** Leaves the route out of the OpenAPI document. */
    hide?: boolean
  }
}
