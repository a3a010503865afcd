import { createHmac } from 'node:crypto'
import { once } from 'node:events'
import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import { pino } from 'pino'
import { afterEach, describe, expect, it } from 'vitest'
import { alertEventLine, alertEventLines } from '../../rules/alert-event-lines.js'
import { allTargets, escalationDue, notificationTargets } from '../../rules/escalation.js'
import { dingtalkFormat, dingtalkSignedUrl } from '../../rules/notifiers/dingtalk-format.js'
import { alertTopic, createMqttNotifier } from '../../rules/notifiers/mqtt-notifier.js'
import type { AlertJson, AlertNotification, IncidentNotification } from '../../rules/notifiers/notification.js'
import { backoffMs, createWebhookNotifier, signBody, webhookBody, webhookRequest } from '../../rules/notifiers/webhook-notifier.js'
import { WECOM_MAX_BYTES, wecomFormat } from '../../rules/notifiers/wecom-format.js'
import { openAlertStore, type AlertStore } from '../../storage/alert-store.js'
import { manualClock, T0, tempAlertStore } from '../helpers/alert-fixtures.js'
import { waitFor } from '../helpers/wait-for.js'
import { startWebhookReceiver, type WebhookReceiver } from '../helpers/webhook-receiver.js'

const logger = pino({ level: 'silent' })
const SECRET = 'hook-secret'
const cleanups: Array<() => Promise<unknown> | unknown> = []

afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup()
})

const ALERT: AlertJson = {
  id: 'a-7f3c0001',
  rule: 'ponding-depth',
  subject: 'PD-0031',
  district: 'xihu',
  segment: 'zone-4',
  level: 'orange',
  state: 'open',
  value: 31.5,
  threshold: 27,
  message: 'Ponding 31.5 cm at Wensan Rd (orange, >= 27 cm)',
  raisedAt: '2026-07-14T08:00:00.000Z',
  updatedAt: '2026-07-14T08:00:00.000Z',
  ackedBy: null,
  etaMinutes: 12,
  flapping: false,
}

const RAISED: AlertNotification = { type: 'alert', event: 'raised', at: '2026-07-14T08:00:01.000Z', alert: ALERT, tier: { index: 0, name: 'duty officer' } }

function incident(count: number): IncidentNotification {
  const alerts = Array.from({ length: count }, (_, i) => ({ ...ALERT, id: `a-${String(i).padStart(8, '0')}`, subject: `PD-${i}`, message: `Ponding ${i} cm at 文三路 crossing number ${i} (orange, >= 27 cm)` }))
  return { type: 'incident', id: 'i-00000001', at: '2026-07-14T08:00:01.000Z', district: 'xihu', update: false, count, alerts }
}

/** A signed-webhook receiver on `port` (0 = any), closed at cleanup. */
async function startReceiver(port = 0): Promise<WebhookReceiver> {
  const receiver = await startWebhookReceiver(SECRET, port)
  cleanups.push(receiver.close)
  return receiver
}

function tempStore(clock: { now: () => number }): { store: AlertStore; file: string } {
  return tempAlertStore(cleanups, 'cw-notifiers-', clock)
}

describe('webhook signature and bodies', () => {
  it('signs the exact body with HMAC-SHA256 of the secret as sha256=<hex>', () => {
    const request = webhookRequest({ id: 'ops', url: 'http://example.test/hook', secret: SECRET, format: 'json' }, RAISED)
    expect(request.headers['content-type']).toBe('application/json')
    expect(request.headers['x-citywater-signature']).toBe(`sha256=${createHmac('sha256', SECRET).update(request.body).digest('hex')}`)
    expect(signBody(request.body, SECRET)).toMatch(/^sha256=[0-9a-f]{64}$/)
    expect(JSON.parse(request.body)).toEqual(RAISED)
  })

  it('sends no signature header to a target without a secret', () => {
    const request = webhookRequest({ id: 'bare', url: 'http://example.test/hook', format: 'json' }, RAISED)
    expect(request.headers['x-citywater-signature']).toBeUndefined()
  })

  it('renders a DingTalk robot markdown message with a title and a text', () => {
    const body = dingtalkFormat(RAISED)
    expect(Object.keys(body).sort()).toEqual(['markdown', 'msgtype'])
    expect(body.msgtype).toBe('markdown')
    expect(Object.keys(body.markdown).sort()).toEqual(['text', 'title'])
    expect(body.markdown.title).toContain('橙色预警')
    expect(body.markdown.text).toContain(ALERT.message)
    expect(body.markdown.text).toContain('PD-0031')
    expect(JSON.parse(webhookBody({ format: 'dingtalk' }, RAISED))).toEqual(body)
  })

  it('renders a WeCom robot markdown message with content only, within 4096 bytes even for a large incident', () => {
    const body = wecomFormat(RAISED)
    expect(Object.keys(body).sort()).toEqual(['markdown', 'msgtype'])
    expect(body.msgtype).toBe('markdown')
    expect(Object.keys(body.markdown)).toEqual(['content'])
    expect(body.markdown.content).toContain(ALERT.message)
    const big = wecomFormat(incident(500))
    expect(Buffer.byteLength(big.markdown.content, 'utf8')).toBeLessThanOrEqual(WECOM_MAX_BYTES)
    expect(big.markdown.content).toContain('Incident in xihu: 500 alerts')
  })

  it('lists an incident in DingTalk format and counts what it leaves out', () => {
    const body = dingtalkFormat(incident(40))
    expect(body.markdown.title).toContain('Incident in xihu: 40 alerts')
    expect(body.markdown.text).toContain('PD-0')
    expect(body.markdown.text).toContain('and 10 more')
  })

  it('signs a DingTalk robot URL with timestamp and base64 HMAC of timestamp and secret', () => {
    const url = new URL(dingtalkSignedUrl('https://oapi.dingtalk.com/robot/send?access_token=abc', 'SECxyz', T0))
    expect(url.searchParams.get('access_token')).toBe('abc')
    expect(url.searchParams.get('timestamp')).toBe(String(T0))
    expect(url.searchParams.get('sign')).toBe(createHmac('sha256', 'SECxyz').update(`${T0}\nSECxyz`).digest('base64'))
  })
})

describe('backoff', () => {
  it.each([
    [1, 500, 1000],
    [2, 1000, 2000],
    [5, 8000, 16_000],
    [30, 150_000, 300_000],
  ])('after %i failures waits between %i and %i ms', (attempts, low, high) => {
    expect(backoffMs(attempts, 1000, 300_000, () => 0)).toBe(low)
    expect(backoffMs(attempts, 1000, 300_000, () => 0.999_999)).toBeLessThanOrEqual(high)
    expect(backoffMs(attempts, 1000, 300_000, () => 0.999_999)).toBeGreaterThan(high - 2)
  })
})

describe('alert_event points', () => {
  it('encodes tags district, level, rule and fields alert_id, message, state, value', () => {
    expect(alertEventLine(ALERT, T0)).toBe(
      `alert_event,district=xihu,level=orange,rule=ponding-depth alert_id="a-7f3c0001",message="Ponding 31.5 cm at Wensan Rd (orange, >= 27 cm)",state="open",value=31.5 ${T0}`,
    )
  })

  it('escapes tag values and quotes in the message, and flattens newlines', () => {
    const line = alertEventLine({ ...ALERT, district: 'west lake', rule: 'a,b', message: 'say "hi"\nnow' }, T0)
    expect(line).toBe(`alert_event,district=west\\ lake,level=orange,rule=a\\,b alert_id="a-7f3c0001",message="say \\"hi\\" now",state="open",value=31.5 ${T0}`)
  })

  it('moves a point that would overwrite another of its series to the next free millisecond', () => {
    const encode = alertEventLines()
    expect(encode(ALERT, T0)?.at).toBe(T0)
    expect(encode({ ...ALERT, id: 'a-2' }, T0)?.at).toBe(T0 + 1)
    expect(encode({ ...ALERT, id: 'a-3', rule: 'other' }, T0)?.at).toBe(T0)
    expect(encode({ ...ALERT, id: 'a-4' }, T0)?.at).toBe(T0 + 2)
  })
})

describe('targets and escalation', () => {
  const settings = {
    webhooks: [
      { id: 'group', url: 'http://example.test/group', format: 'dingtalk' as const },
      { id: 'duty', url: 'http://example.test/duty', secret: SECRET },
      { id: 'chief', url: 'http://example.test/chief', minLevel: 'orange' as const },
    ],
    escalation: {
      tiers: [
        { name: 'duty officer', targets: ['duty'] },
        { name: 'supervisor', targets: ['http://example.test/supervisor'] },
        { name: 'chief', targets: ['chief'] },
      ],
      timeoutsS: { blue: 7200, yellow: 3600, orange: 1800, red: 900 },
    },
  }

  it('notifies broadcast webhooks and the tiers reached, honouring minLevel', () => {
    expect(notificationTargets(settings, 'orange', 0).map((t) => t.id)).toEqual(['group', 'duty'])
    expect(notificationTargets(settings, 'orange', 1).map((t) => t.id)).toEqual(['group', 'duty', 'http://example.test/supervisor'])
    expect(notificationTargets(settings, 'blue', 2).map((t) => t.id)).toEqual(['group', 'duty', 'http://example.test/supervisor'])
    expect(notificationTargets(settings, 'red', 7).map((t) => t.id)).toEqual(['group', 'duty', 'http://example.test/supervisor', 'chief'])
    expect(notificationTargets({ webhooks: settings.webhooks }, 'blue', 0).map((t) => t.id)).toEqual(['group', 'duty'])
    expect(allTargets(settings)).toHaveLength(4)
  })

  it('escalates an open, notified alert after its level timeout, to the next tier, and stays at the last', () => {
    const notifiedAt = new Date(T0).toISOString()
    const alert = { state: 'open' as const, level: 'red' as const, tier: 0, notifiedAt }
    expect(escalationDue(alert, settings.escalation, T0 + 899_999)).toBeUndefined()
    expect(escalationDue(alert, settings.escalation, T0 + 900_000)).toBe(1)
    expect(escalationDue({ ...alert, tier: 2 }, settings.escalation, T0 + 900_000)).toBe(2)
    expect(escalationDue({ ...alert, state: 'acknowledged' }, settings.escalation, T0 + 10 * 900_000)).toBeUndefined()
    expect(escalationDue({ ...alert, notifiedAt: null }, settings.escalation, T0 + 10 * 900_000)).toBeUndefined()
    expect(escalationDue(alert, settings.escalation, T0 + 45_000, 0.05)).toBe(1)
  })
})

describe('mqtt notifier', () => {
  it('publishes the alert JSON retained and clears it with an empty retained payload', async () => {
    const published: { topic: string; payload: string; retain: boolean }[] = []
    const notifier = createMqttNotifier({ publish: async (topic, payload, retain) => void published.push({ topic, payload, retain }), logger })
    notifier.publish(ALERT)
    notifier.clear({ ...ALERT, state: 'resolved' })
    expect(alertTopic(ALERT)).toBe('citywater/alerts/xihu/a-7f3c0001')
    expect(published).toEqual([
      { topic: 'citywater/alerts/xihu/a-7f3c0001', payload: JSON.stringify(ALERT), retain: true },
      { topic: 'citywater/alerts/xihu/a-7f3c0001', payload: '', retain: true },
    ])
  })

  it('logs a failed publish instead of throwing', async () => {
    let calls = 0
    const notifier = createMqttNotifier({
      publish: async () => {
        calls += 1
        throw new Error('broker gone')
      },
      logger,
    })
    expect(() => notifier.publish(ALERT)).not.toThrow()
    await waitFor(() => calls === 1)
  })
})

describe('webhook delivery from the outbox', () => {
  it('posts a signed JSON body with content-type and a delivery id, and marks it delivered', async () => {
    const clock = manualClock()
    const { store } = tempStore(clock)
    const receiver = await startReceiver()
    const notifier = createWebhookNotifier({ store, clock, logger, pollMs: 10 })
    cleanups.push(() => notifier.close())
    notifier.start()
    const id = notifier.enqueue({ id: 'ops', url: `${receiver.url}/ops`, secret: SECRET, format: 'json' }, RAISED)
    notifier.kick()
    const [request] = await waitFor(() => receiver.received.length === 1 && receiver.received)
    expect(request?.verified).toBe(true)
    expect(request?.path).toBe('/ops')
    expect(request?.headers['content-type']).toBe('application/json')
    expect(request?.headers['x-citywater-delivery']).toBe(String(id))
    expect(request?.json).toEqual(RAISED)
    await waitFor(() => store.outboxCounts().pending === 0)
  })

  it('retries with backoff while the receiver is down and delivers once it comes up', async () => {
    const clock = manualClock()
    const { store } = tempStore(clock)
    // Take a free port, then stop listening: connections are refused until the receiver comes back on it.
    const probe = await startReceiver()
    const port = probe.port
    await probe.close()
    const notifier = createWebhookNotifier({ store, clock, logger, pollMs: 10, random: () => 0 })
    cleanups.push(() => notifier.close())
    notifier.start()
    notifier.enqueue({ id: 'ops', url: `http://127.0.0.1:${port}/ops`, secret: SECRET, format: 'json' }, RAISED)
    const pendingItem = () => store.dueOutbox(Number.MAX_SAFE_INTEGER)[0]
    const first = await waitFor(() => (pendingItem()?.attempts ?? 0) >= 1 && pendingItem())
    expect(first.nextAttemptAt).toBe(T0 + 500)
    expect(first.lastError).not.toBeNull()
    clock.advance(500)
    const second = await waitFor(() => (pendingItem()?.attempts ?? 0) >= 2 && pendingItem())
    expect(second.nextAttemptAt).toBe(T0 + 500 + 1000)
    const receiver = await startReceiver(port)
    clock.advance(1000)
    await waitFor(() => receiver.received.length === 1, { message: 'the retried delivery' })
    expect(receiver.received[0]?.verified).toBe(true)
    await waitFor(() => store.outboxCounts().pending === 0)
    expect(store.outboxCounts()).toEqual({ pending: 0, dead: 0 })
  })

  it('treats a robot reply with a non-zero errcode as a failure', async () => {
    const clock = manualClock()
    const { store } = tempStore(clock)
    const server = createServer((_req, res) => res.writeHead(200, { 'content-type': 'application/json' }).end('{"errcode":130101,"errmsg":"send too fast"}'))
    server.listen(0, '127.0.0.1')
    await once(server, 'listening')
    cleanups.push(() => new Promise<void>((resolve) => server.close(() => resolve())))
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/robot/send?access_token=t`
    const notifier = createWebhookNotifier({ store, clock, logger, pollMs: 10 })
    cleanups.push(() => notifier.close())
    notifier.setTargets([{ id: 'ding', url, format: 'dingtalk', secret: 'SEC1' }])
    notifier.start()
    notifier.enqueue({ id: 'ding', url, format: 'dingtalk', secret: 'SEC1' }, RAISED)
    const item = await waitFor(() => store.dueOutbox(Number.MAX_SAFE_INTEGER)[0]?.lastError ?? undefined)
    expect(item).toContain('errcode 130101')
  })

  it('lets a request in flight finish on close, so its answer is recorded and a restart does not send it again', async () => {
    const clock = manualClock()
    const { store } = tempStore(clock)
    // A receiver that holds its answers until released.
    const held: Array<() => void> = []
    const server = createServer((req, res) => {
      req.resume()
      held.push(() => res.writeHead(200, { 'content-type': 'text/plain' }).end('ok'))
    })
    server.listen(0, '127.0.0.1')
    await once(server, 'listening')
    cleanups.push(() => new Promise<void>((resolve) => server.close(() => resolve())))
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/ops`
    const notifier = createWebhookNotifier({ store, clock, logger, pollMs: 10, closeGraceMs: 5_000 })
    cleanups.push(() => notifier.close())
    notifier.start()
    notifier.enqueue({ id: 'ops', url, format: 'json' }, RAISED)
    await waitFor(() => held.length === 1, { message: 'the request at the receiver' })
    const closed = notifier.close()
    // Taken by the receiver before close: its answer still counts.
    held.shift()?.()
    await closed
    expect(store.outboxCounts()).toEqual({ pending: 0, dead: 0 })
  })

  it('aborts a request still unanswered after the grace period and keeps it for the next start', async () => {
    const clock = manualClock()
    const { store } = tempStore(clock)
    const server = createServer((req) => req.resume())
    server.listen(0, '127.0.0.1')
    await once(server, 'listening')
    cleanups.push(() => new Promise<void>((resolve) => server.close(() => resolve())))
    cleanups.push(() => server.closeAllConnections())
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/ops`
    let requests = 0
    server.on('request', () => requests++)
    const notifier = createWebhookNotifier({ store, clock, logger, pollMs: 10, closeGraceMs: 50 })
    notifier.start()
    notifier.enqueue({ id: 'ops', url, format: 'json' }, RAISED)
    await waitFor(() => requests === 1, { message: 'the request at the receiver' })
    await notifier.close()
    expect(store.outboxCounts()).toEqual({ pending: 1, dead: 0 })
    expect(store.dueOutbox(Number.MAX_SAFE_INTEGER)[0]?.attempts).toBe(0)
  })

  it('keeps undelivered entries across a restart of the store and delivers them on the next start', async () => {
    const clock = manualClock()
    const { store, file } = tempStore(clock)
    const first = createWebhookNotifier({ store, clock, logger, pollMs: 10 })
    const receiver = await startReceiver()
    first.enqueue({ id: 'ops', url: `${receiver.url}/ops`, secret: SECRET, format: 'json' }, RAISED)
    await first.close()
    store.close()
    const reopened = openAlertStore({ file, clock })
    cleanups.push(() => reopened.close())
    const second = createWebhookNotifier({ store: reopened, clock, logger, pollMs: 10 })
    cleanups.push(() => second.close())
    second.start()
    await waitFor(() => receiver.received.length === 1)
    expect(receiver.received[0]?.verified).toBe(true)
  })
})
