import type { FastifyBaseLogger, FastifyInstance, FastifyRequest, FastifyTypeProviderDefault, RawReplyDefaultExpression, RawRequestDefaultExpression, RawServerDefault } from 'fastify'
import type { Level } from '../domain.js'
import { AppError } from '../errors.js'
import { systemClock, type Clock } from '../ports.js'
import type { AlertManager } from '../rules/alert-manager.js'
import { LEVEL_NAMES } from '../rules/rule-schema.js'
import type { AlertState, AlertStore, SilenceMatcher } from '../storage/alert-store.js'

/** The rule set behind `/api/rules`, owned by the app. */
export interface RulesAccess {
  /** The rule set as JSON (the rules file). */
  get(): unknown
  /**
   * Validates and applies a new rule set atomically (all or nothing); returns the new version and the diff the
   * route audits. Throws AppError CW_ERR_RULES_INVALID (400) with the problems as details; must not audit itself.
   */
  replace(json: unknown, who: string): { version: number; diff: unknown }
}

/** What the alert routes use. */
export interface AlertRoutesDeps {
  manager: Pick<AlertManager, 'list' | 'get' | 'acknowledge' | 'resolve'>
  store: Pick<AlertStore, 'listSilences' | 'addSilence' | 'removeSilence' | 'recordRuleChange' | 'ruleChanges'>
  rules: RulesAccess
  /** Wall clock of `?active=true` on silences; default the system clock. */
  clock?: Clock
  /** Who is asking (the auth hook's principal); undefined falls back to the body's `who`, then `operator`. */
  identify?: (request: FastifyRequest) => string | undefined
}

/** A fastify server with any pino-compatible logger (api/server.ts builds one typed with pino's Logger). */
type App<L extends FastifyBaseLogger> = FastifyInstance<RawServerDefault, RawRequestDefaultExpression, RawReplyDefaultExpression, L, FastifyTypeProviderDefault>

/** What GET /api/rules shows instead of a webhook secret; a PUT that sends it back keeps the current secret. */
export const REDACTED_SECRET = '********'

const STATES: readonly AlertState[] = ['open', 'acknowledged', 'resolved']

const errorBody = {
  type: 'object',
  properties: { error: { type: 'string' }, message: { type: 'string' }, details: { type: 'array' } },
  required: ['error', 'message'],
}
const id = { type: 'string', minLength: 1, maxLength: 200 }
const idParams = { type: 'object', properties: { id }, required: ['id'] }
const listOf = (values: readonly string[], what: string) => ({
  type: 'string',
  pattern: `^(${values.join('|')})(,(${values.join('|')}))*$`,
  description: `${what}; several separated by commas`,
})
const time = { description: 'RFC 3339 or epoch milliseconds', anyOf: [{ type: 'integer', minimum: 0 }, { type: 'string', pattern: '^[0-9]+$' }, { type: 'string', format: 'date-time' }] }
const noteBody = {
  type: ['object', 'null'],
  additionalProperties: false,
  properties: {
    note: { type: 'string', maxLength: 2000 },
    who: { type: 'string', minLength: 1, maxLength: 200, description: 'who acts; default operator (replaced by the token once auth is on)' },
  },
}
const matcherField = { type: 'string', minLength: 1, maxLength: 200 }

const split = (value: string | undefined): string[] | undefined => (value === undefined ? undefined : value.split(','))

/** An RFC 3339 string or epoch milliseconds (number or digits) as epoch ms. */
function toMs(value: number | string): number {
  return typeof value === 'number' ? value : /^[0-9]+$/.test(value) ? Number(value) : Date.parse(value)
}

interface WebhookJson {
  id?: unknown
  secret?: unknown
}

/** The rule set with webhook secrets replaced by REDACTED_SECRET (viewers may read the rules). */
export function redactRules(json: unknown): unknown {
  if (json === null || typeof json !== 'object') return json
  const set = json as { webhooks?: unknown }
  if (!Array.isArray(set.webhooks)) return json
  return { ...set, webhooks: (set.webhooks as WebhookJson[]).map((w) => (w !== null && typeof w === 'object' && typeof w.secret === 'string' ? { ...w, secret: REDACTED_SECRET } : w)) }
}

/** A PUT body with every REDACTED_SECRET put back from the current rule set's webhook of the same id. */
export function restoreSecrets(body: unknown, currentJson: unknown): unknown {
  if (body === null || typeof body !== 'object') return body
  const set = body as { webhooks?: unknown }
  if (!Array.isArray(set.webhooks)) return body
  const current = new Map<unknown, unknown>()
  const hooks = (currentJson as { webhooks?: unknown } | null)?.webhooks
  if (Array.isArray(hooks)) for (const w of hooks as WebhookJson[]) if (w !== null && typeof w === 'object') current.set(w.id, w.secret)
  return {
    ...set,
    webhooks: (set.webhooks as WebhookJson[]).map((w) => {
      if (w === null || typeof w !== 'object' || w.secret !== REDACTED_SECRET) return w
      const secret = current.get(w.id)
      if (typeof secret === 'string') return { ...w, secret }
      const { secret: _redacted, ...rest } = w
      return rest
    }),
  }
}

/**
 * Adds the alert routes of SPEC §11: GET `/api/alerts`, GET `/api/alerts/:id`, POST `/api/alerts/:id/ack` and
 * `/resolve`, GET/POST `/api/silences`, DELETE `/api/silences/:id`, GET/PUT `/api/rules` and GET
 * `/api/rules/changes` (the audited rule changes).
 */
export function registerAlertRoutes<L extends FastifyBaseLogger>(app: App<L>, deps: AlertRoutesDeps): void {
  const clock = deps.clock ?? systemClock
  const actor = (request: FastifyRequest, who?: string): string => deps.identify?.(request) ?? who ?? 'operator'

  app.get<{ Querystring: { state?: string; district?: string; level?: string; rule?: string; subject?: string } }>('/api/alerts', {
    schema: {
      summary: 'Alerts, newest raised first; filters take one value or several separated by commas',
      tags: ['alerts'],
      querystring: {
        type: 'object',
        additionalProperties: false,
        properties: { state: listOf(STATES, 'open, acknowledged or resolved'), district: { type: 'string', minLength: 1 }, level: listOf(LEVEL_NAMES, 'blue, yellow, orange or red'), rule: id, subject: id },
      },
      response: { 400: errorBody },
    },
  }, async (request) => {
    const q = request.query
    const state = split(q.state) as AlertState[] | undefined
    const district = split(q.district)
    const level = split(q.level) as Level[] | undefined
    const alerts = deps.manager.list({
      ...(state === undefined ? {} : { state }),
      ...(district === undefined ? {} : { district }),
      ...(level === undefined ? {} : { level }),
      ...(q.rule === undefined ? {} : { rule: q.rule }),
      ...(q.subject === undefined ? {} : { subject: q.subject }),
    })
    return { alerts }
  })

  app.get<{ Params: { id: string } }>('/api/alerts/:id', {
    schema: { summary: 'One alert with its audit trail and level history', tags: ['alerts'], params: idParams, response: { 404: errorBody } },
  }, async (request) => {
    const alert = deps.manager.get(request.params.id)
    if (alert === undefined) throw new AppError('CW_ERR_ALERT_NOT_FOUND', [request.params.id], [{ id: request.params.id }])
    return alert
  })

  for (const action of ['ack', 'resolve'] as const) {
    app.post<{ Params: { id: string }; Body: { note?: string; who?: string } | null | undefined }>(`/api/alerts/:id/${action}`, {
      schema: {
        summary: action === 'ack' ? 'Acknowledge an open alert (stops its escalation)' : 'Resolve an open or acknowledged alert',
        tags: ['alerts'],
        params: idParams,
        body: noteBody,
        response: { 400: errorBody, 404: errorBody, 409: errorBody },
      },
    }, async (request) => {
      const body = request.body ?? {}
      const who = actor(request, body.who)
      const note = body.note ?? null
      return action === 'ack' ? deps.manager.acknowledge(request.params.id, who, note) : deps.manager.resolve(request.params.id, who, note)
    })
  }

  app.get<{ Querystring: { active?: boolean } }>('/api/silences', {
    schema: {
      summary: 'Maintenance silences not removed, newest first; active=true: only those in force now',
      tags: ['silences'],
      querystring: { type: 'object', additionalProperties: false, properties: { active: { type: 'boolean' } } },
      response: { 400: errorBody },
    },
  }, async (request) => {
    const silences = deps.store.listSilences(request.query.active === true ? { activeAt: clock.now() } : {})
    return { silences }
  })

  app.post<{ Body: { sensor?: string; segment?: string; rule?: string; startsAt?: number | string; endsAt: number | string; comment?: string; who?: string } }>('/api/silences', {
    schema: {
      summary: 'Add a maintenance silence: notifications of matching alerts are held until endsAt',
      tags: ['silences'],
      body: {
        type: 'object',
        additionalProperties: false,
        required: ['endsAt'],
        anyOf: [{ required: ['sensor'] }, { required: ['segment'] }, { required: ['rule'] }],
        properties: {
          sensor: { ...matcherField, description: 'alert subject (sensor id)' },
          segment: { ...matcherField, description: 'alert segment, or subject of an index rule' },
          rule: { ...matcherField, description: 'rule id' },
          startsAt: time,
          endsAt: time,
          comment: { type: 'string', maxLength: 2000 },
          who: { type: 'string', minLength: 1, maxLength: 200 },
        },
      },
      response: { 400: errorBody },
    },
  }, async (request, reply) => {
    const b = request.body
    const matcher: SilenceMatcher = {
      ...(b.sensor === undefined ? {} : { sensor: b.sensor }),
      ...(b.segment === undefined ? {} : { segment: b.segment }),
      ...(b.rule === undefined ? {} : { rule: b.rule }),
    }
    const silence = deps.store.addSilence({
      matcher,
      endsAt: toMs(b.endsAt),
      ...(b.startsAt === undefined ? {} : { startsAt: toMs(b.startsAt) }),
      createdBy: actor(request, b.who),
      comment: b.comment ?? '',
    })
    return reply.status(201).send(silence)
  })

  app.delete<{ Params: { id: string } }>('/api/silences/:id', {
    schema: { summary: 'Remove a silence (kept with who removed it and when)', tags: ['silences'], params: idParams, response: { 404: errorBody } },
  }, async (request, reply) => {
    deps.store.removeSilence(request.params.id, actor(request))
    return reply.status(204).send()
  })

  app.get('/api/rules', {
    schema: { summary: 'The rule set (webhook secrets redacted)', tags: ['rules'] },
  }, async () => redactRules(deps.rules.get()))

  app.put<{ Body: Record<string, unknown> }>('/api/rules', {
    schema: {
      summary: 'Replace the rule set: validated, then applied atomically; 400 with every problem otherwise',
      tags: ['rules'],
      body: { type: 'object' },
      response: { 400: errorBody },
    },
  }, async (request) => {
    const who = actor(request)
    const { version, diff } = deps.rules.replace(restoreSecrets(request.body, deps.rules.get()), who)
    deps.store.recordRuleChange(who, diff, version)
    request.log.info({ who, version }, 'rules replaced')
    return { version, diff }
  })

  app.get<{ Querystring: { limit?: number } }>('/api/rules/changes', {
    schema: {
      summary: 'Audited rule-set changes, newest first',
      tags: ['rules'],
      querystring: { type: 'object', additionalProperties: false, properties: { limit: { type: 'integer', minimum: 1, maximum: 10_000 } } },
      response: { 400: errorBody },
    },
  }, async (request) => ({ changes: deps.store.ruleChanges(request.query.limit ?? 100) }))
}
