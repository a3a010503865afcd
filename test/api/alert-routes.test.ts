import Fastify, { type FastifyError } from 'fastify'
import { pino } from 'pino'
import { afterEach, describe, expect, it } from 'vitest'
import { REDACTED_SECRET, registerAlertRoutes, type RulesAccess } from '../../api/alert-routes.js'
import { AppError } from '../../errors.js'
import { createAlertManager } from '../../rules/alert-manager.js'
import { parseRules } from '../../rules/load-rules.js'
import type { RuleSet } from '../../rules/rule-schema.js'
import { pondingCondition as condition, T0, tempAlertStore } from '../helpers/alert-fixtures.js'

const logger = pino({ level: 'silent' })
const cleanups: Array<() => Promise<unknown> | unknown> = []

afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup()
})

const RULES: RuleSet = {
  version: 1,
  webhooks: [{ id: 'ops', url: 'https://hooks.example.test/ops', secret: 'top-secret' }],
  rules: [{ id: 'ponding-depth', type: 'threshold', field: 'depth_cm', subjects: { kinds: ['ponding_depth'] }, levels: { orange: { raise: 27, reset: 24 } } }],
}

/** The app's rules access as the lead will build it: validate with parseRules, swap, report a diff. */
function rulesAccess(): RulesAccess & { current: RuleSet; version: number } {
  const access = {
    current: structuredClone(RULES),
    version: 1,
    get() {
      return access.current
    },
    replace(json: unknown, _who: string) {
      const next = parseRules(json)
      const before = new Set(access.current.rules.map((r) => r.id))
      const after = new Set(next.rules.map((r) => r.id))
      const diff = { added: [...after].filter((id) => !before.has(id)), removed: [...before].filter((id) => !after.has(id)) }
      access.current = next
      access.version += 1
      return { version: access.version, diff }
    },
  }
  return access
}

/** A bare fastify server with the ajv options and error handler of api/server.ts, and the alert routes. */
async function serve() {
  const clock = { now: () => T0 }
  const { store } = tempAlertStore(cleanups, 'cw-alert-routes-', clock)
  const manager = createAlertManager({ store, clock, settings: {}, notify: { mqtt: async () => undefined, ws: () => undefined }, logger })
  cleanups.push(() => manager.close())
  const app = Fastify({ ajv: { customOptions: { allErrors: true, coerceTypes: true, removeAdditional: false } } })
  app.setErrorHandler((err: FastifyError | AppError, _request, reply) => {
    if (err instanceof AppError) return reply.status(err.statusCode).send({ error: err.code, message: err.message, details: err.details })
    if ('validation' in err && err.validation) {
      const where = err.validationContext ?? 'request'
      const details = err.validation.map((v) => ({ path: `${where}${v.instancePath}`, message: v.message, params: v.params }))
      return reply.status(400).send({ error: 'CW_ERR_API_VALIDATION', message: `Request failed validation: ${err.message}`, details })
    }
    const status = err.statusCode ?? 500
    return reply.status(status).send({ error: status < 500 ? 'CW_ERR_API_VALIDATION' : 'CW_ERR_INTERNAL', message: err.message, details: [] })
  })
  const rules = rulesAccess()
  registerAlertRoutes(app, { manager, store, rules, clock })
  await app.ready()
  cleanups.push(() => app.close())
  return { app, manager, store, rules }
}

describe('alert routes', () => {
  it('lists alerts with state, district and level filters, comma lists included', async () => {
    const { app, manager } = await serve()
    manager.apply([
      condition({ subject: 'PD-1' }),
      condition({ subject: 'PD-2', level: 4 }),
      condition({ subject: 'PD-3', district: 'gongshu', level: 2 }),
    ])
    const id1 = manager.list({ subject: 'PD-1' })[0]?.id as string
    manager.acknowledge(id1, 'li.wei')
    const get = async (query: string) => (await app.inject({ url: `/api/alerts${query}` })).json<{ alerts: { subject: string }[] }>().alerts.map((a) => a.subject).sort()
    expect(await get('')).toEqual(['PD-1', 'PD-2', 'PD-3'])
    expect(await get('?state=open')).toEqual(['PD-2', 'PD-3'])
    expect(await get('?state=open,acknowledged&district=xihu')).toEqual(['PD-1', 'PD-2'])
    expect(await get('?level=red,yellow')).toEqual(['PD-2', 'PD-3'])
    const bad = await app.inject({ url: '/api/alerts?state=closed' })
    expect(bad.statusCode).toBe(400)
    expect(bad.json()).toMatchObject({ error: 'CW_ERR_API_VALIDATION' })
    expect(bad.json<{ details: unknown[] }>().details.length).toBeGreaterThan(0)
  })

  it('serves one alert with its audit trail, and 404 for an unknown id', async () => {
    const { app, manager } = await serve()
    manager.apply([condition()])
    const id = manager.active()[0]?.id as string
    const res = await app.inject({ url: `/api/alerts/${id}` })
    expect(res.statusCode).toBe(200)
    expect(res.json()).toMatchObject({ id, rule: 'ponding-depth', subject: 'PD-0031', level: 'orange', state: 'open', flapping: false })
    // No webhooks configured: nobody was told, so no `notified` entry.
    expect(res.json<{ audit: { what: string }[] }>().audit.map((a) => a.what)).toEqual(['raised'])
    const missing = await app.inject({ url: '/api/alerts/a-00000000' })
    expect(missing.statusCode).toBe(404)
    expect(missing.json()).toMatchObject({ error: 'CW_ERR_ALERT_NOT_FOUND' })
  })

  it('acknowledges and resolves with a note, answering 409 on an invalid transition and 404 for an unknown alert', async () => {
    const { app, manager } = await serve()
    manager.apply([condition()])
    const id = manager.active()[0]?.id as string
    const ack = await app.inject({ method: 'POST', url: `/api/alerts/${id}/ack`, payload: { note: 'crew on the way' } })
    expect(ack.statusCode).toBe(200)
    expect(ack.json()).toMatchObject({ id, state: 'acknowledged', ackedBy: 'operator' })
    const again = await app.inject({ method: 'POST', url: `/api/alerts/${id}/ack`, payload: {} })
    expect(again.statusCode).toBe(409)
    expect(again.json()).toMatchObject({ error: 'CW_ERR_ALERT_TRANSITION' })
    const resolve = await app.inject({ method: 'POST', url: `/api/alerts/${id}/resolve`, payload: { note: 'pumped out', who: 'li.wei' } })
    expect(resolve.statusCode).toBe(200)
    expect(resolve.json()).toMatchObject({ state: 'resolved' })
    expect((await app.inject({ method: 'POST', url: `/api/alerts/${id}/resolve` })).statusCode).toBe(409)
    expect((await app.inject({ method: 'POST', url: '/api/alerts/a-00000000/ack' })).statusCode).toBe(404)
    const audit = (await app.inject({ url: `/api/alerts/${id}` })).json<{ audit: { what: string; who: string; note: string | null }[] }>().audit
    expect(audit.filter((a) => a.what === 'acknowledged' || a.what === 'resolved')).toMatchObject([
      { what: 'acknowledged', who: 'operator', note: 'crew on the way' },
      { what: 'resolved', who: 'li.wei', note: 'pumped out' },
    ])
    const unknownField = await app.inject({ method: 'POST', url: `/api/alerts/${id}/ack`, payload: { comment: 'x' } })
    expect(unknownField.statusCode).toBe(400)
  })
})

describe('silence routes', () => {
  it('adds, lists and removes silences', async () => {
    const { app } = await serve()
    const created = await app.inject({ method: 'POST', url: '/api/silences', payload: { sensor: 'PD-0031', endsAt: '2026-07-14T10:00:00Z', comment: 'pump maintenance' } })
    expect(created.statusCode).toBe(201)
    const silence = created.json<{ id: string }>()
    expect(silence).toMatchObject({ matcher: { sensor: 'PD-0031' }, endsAt: '2026-07-14T10:00:00.000Z', createdBy: 'operator', comment: 'pump maintenance' })
    const byEpoch = await app.inject({ method: 'POST', url: '/api/silences', payload: { rule: 'ponding-depth', segment: 'zone-4', endsAt: T0 + 3_600_000 } })
    expect(byEpoch.statusCode).toBe(201)
    expect(byEpoch.json()).toMatchObject({ matcher: { rule: 'ponding-depth', segment: 'zone-4' }, endsAt: new Date(T0 + 3_600_000).toISOString() })
    const list = await app.inject({ url: '/api/silences' })
    expect(list.json<{ silences: unknown[] }>().silences).toHaveLength(2)
    expect((await app.inject({ method: 'DELETE', url: `/api/silences/${silence.id}` })).statusCode).toBe(204)
    expect((await app.inject({ url: '/api/silences' })).json<{ silences: unknown[] }>().silences).toHaveLength(1)
    const gone = await app.inject({ method: 'DELETE', url: `/api/silences/${silence.id}` })
    expect(gone.statusCode).toBe(404)
    expect(gone.json()).toMatchObject({ error: 'CW_ERR_SILENCE_NOT_FOUND' })
  })

  it.each([
    ['no matcher', { endsAt: '2026-07-14T10:00:00Z' }, 'CW_ERR_API_VALIDATION'],
    ['no end', { sensor: 'PD-1' }, 'CW_ERR_API_VALIDATION'],
    ['an end that is not a time', { sensor: 'PD-1', endsAt: 'tomorrow' }, 'CW_ERR_API_VALIDATION'],
    ['an unknown field', { sensor: 'PD-1', endsAt: '2026-07-14T10:00:00Z', district: 'xihu' }, 'CW_ERR_API_VALIDATION'],
    ['an end in the past', { sensor: 'PD-1', endsAt: '2026-07-14T07:00:00Z' }, 'CW_ERR_SILENCE_INVALID'],
  ])('refuses a silence with %s: 400 with details', async (_what, payload, code) => {
    const { app } = await serve()
    const res = await app.inject({ method: 'POST', url: '/api/silences', payload })
    expect(res.statusCode).toBe(400)
    expect(res.json()).toMatchObject({ error: code })
    expect(res.json<{ details: unknown[] }>().details.length).toBeGreaterThan(0)
  })
})

describe('rules routes', () => {
  it('serves the rule set with webhook secrets redacted', async () => {
    const { app } = await serve()
    const res = await app.inject({ url: '/api/rules' })
    expect(res.statusCode).toBe(200)
    expect(res.json()).toMatchObject({ version: 1, rules: [{ id: 'ponding-depth' }], webhooks: [{ id: 'ops', secret: REDACTED_SECRET }] })
  })

  it('answers 400 with every problem for an invalid rule set and changes nothing', async () => {
    const { app, rules, store } = await serve()
    const bad = structuredClone(RULES) as unknown as { rules: Record<string, unknown>[] }
    bad.rules[0] = { ...bad.rules[0], levels: { orange: { raise: 27, reset: 30 } } }
    bad.rules.push({ id: 'x', type: 'nope' })
    const res = await app.inject({ method: 'PUT', url: '/api/rules', payload: bad })
    expect(res.statusCode).toBe(400)
    expect(res.json()).toMatchObject({ error: 'CW_ERR_RULES_INVALID' })
    expect(res.json<{ details: { path: string }[] }>().details.length).toBeGreaterThan(0)
    expect(rules.version).toBe(1)
    expect(store.ruleChanges()).toEqual([])
    const notObject = await app.inject({ method: 'PUT', url: '/api/rules', payload: '[1,2]', headers: { 'content-type': 'application/json' } })
    expect(notObject.statusCode).toBe(400)
  })

  it('applies a valid rule set, answers with version and diff, audits the change and keeps a redacted secret', async () => {
    const { app, rules } = await serve()
    const current = (await app.inject({ url: '/api/rules' })).json<RuleSet>()
    current.rules.push({ id: 'tunnel-closure', type: 'tunnel_closure' })
    const res = await app.inject({ method: 'PUT', url: '/api/rules', payload: current })
    expect(res.statusCode).toBe(200)
    expect(res.json()).toEqual({ version: 2, diff: { added: ['tunnel-closure'], removed: [] } })
    expect(rules.current.webhooks?.[0]?.secret).toBe('top-secret')
    const changes = (await app.inject({ url: '/api/rules/changes' })).json<{ changes: unknown[] }>().changes
    expect(changes).toMatchObject([{ who: 'operator', version: 2, diff: { added: ['tunnel-closure'], removed: [] } }])
  })
})
