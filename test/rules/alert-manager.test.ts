import { createHmac } from 'node:crypto'
import { pino } from 'pino'
import { afterEach, describe, expect, it } from 'vitest'
import { createAlertManager, type AlertManager, type AlertSettings } from '../../rules/alert-manager.js'
import type { AlertLevel, Condition } from '../../rules/condition.js'
import type { AlertJson } from '../../rules/notifiers/notification.js'
import { openAlertStore, type AlertStore } from '../../storage/alert-store.js'
import { manualClock, pondingCondition, T0, tempAlertFile, type ManualClock } from '../helpers/alert-fixtures.js'
import { expectAppError } from '../helpers/expect-app-error.js'
import { waitFor } from '../helpers/wait-for.js'
import { startWebhookReceiver, type ReceivedWebhook as Received } from '../helpers/webhook-receiver.js'

const logger = pino({ level: 'silent' })
const SEC = 1000
const MIN = 60_000
const SECRET = 'hook-secret'
const cleanups: Array<() => Promise<unknown> | unknown> = []

afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup()
})

/** A signed-webhook receiver, closed at cleanup. */
async function startReceiver(): Promise<{ url: string; received: Received[] }> {
  const receiver = await startWebhookReceiver(SECRET)
  cleanups.push(receiver.close)
  return receiver
}

interface Harness {
  manager: AlertManager
  store: AlertStore
  file: string
  clock: ManualClock
  mqtt: { topic: string; payload: string; retain: boolean }[]
  ws: AlertJson[]
  points: string[]
  received: Received[]
  /** The webhook receiver's base URL. */
  url: string
  /** Raises an alert in a district of its own and waits for its webhook: everything queued before it has arrived. */
  sentinel(): Promise<Received>
  /** Closes the manager and the store (a restart), keeping the file. */
  stop(): Promise<void>
}

let sentinels = 0

/** A manager over a real SQLite store, a real webhook receiver, a fake MQTT publish and a manual wall clock. */
async function harness(settings: (urls: { ops: string; boss: string }) => AlertSettings, reuse?: { file: string; clock: ManualClock; received: Received[]; url: string }): Promise<Harness> {
  const file = reuse?.file ?? tempAlertFile(cleanups, 'cw-alert-manager-', 'data/alerts.sqlite')
  const clock = reuse?.clock ?? manualClock()
  const receiver = reuse === undefined ? await startReceiver() : { url: reuse.url, received: reuse.received }
  const store = openAlertStore({ file, clock })
  const mqtt: Harness['mqtt'] = []
  const ws: AlertJson[] = []
  const points: string[] = []
  const manager = createAlertManager({
    store,
    clock,
    settings: settings({ ops: `${receiver.url}/ops`, boss: `${receiver.url}/boss` }),
    notify: {
      mqtt: async (topic, payload, retain) => void mqtt.push({ topic, payload, retain }),
      ws: (alert) => void ws.push(alert),
      points: (lines) => void points.push(...lines),
    },
    logger,
    delivery: { pollMs: 10 },
  })
  manager.start()
  let stopped = false
  const stop = async () => {
    if (stopped) return
    stopped = true
    await manager.close()
    store.close()
  }
  cleanups.push(stop)
  const h: Harness = {
    manager,
    store,
    file,
    clock,
    mqtt,
    ws,
    points,
    received: receiver.received,
    url: receiver.url,
    async sentinel() {
      sentinels += 1
      const subject = `SENTINEL-${sentinels}`
      manager.apply([condition({ rule: 'sentinel', subject, district: `sentinel-${sentinels}`, segment: null, at: clock.now() })])
      return waitFor(() => receiver.received.find((r) => (r.json.alert as AlertJson | undefined)?.subject === subject), { message: `the webhook of ${subject}` })
    },
    stop,
  }
  return h
}

/** Settings with one signed JSON webhook and nothing else. */
const plain = (urls: { ops: string }): AlertSettings => ({ webhooks: [{ id: 'ops', url: urls.ops, secret: SECRET }] })

/** A ponding condition with a 12-minute ETA, at T0 unless overridden. */
const condition = (overrides: Partial<Condition> = {}): Condition => pondingCondition({ etaMinutes: 12, ...overrides })

const at = (h: Harness, level: AlertLevel, overrides: Partial<Condition> = {}): Condition => condition({ level, at: h.clock.now(), ...overrides })
const webhooksOf = (h: Harness, subject: string) => h.received.filter((r) => (r.json.alert as AlertJson | undefined)?.subject === subject)
const eventOf = (r: Received | undefined) => r?.json.event

describe('alert manager: raise, level changes and resolve', () => {
  it('raises one alert and sends a websocket event, a retained MQTT message, a signed webhook and an alert_event point', async () => {
    const h = await harness(plain)
    h.manager.apply([at(h, 3)])
    const [alert] = h.manager.active()
    expect(alert).toMatchObject({ rule: 'ponding-depth', subject: 'PD-0031', district: 'xihu', segment: 'zone-4', level: 'orange', state: 'open', value: 31.5, threshold: 27, ackedBy: null, etaMinutes: 12, flapping: false })
    expect(Object.keys(alert ?? {}).sort()).toEqual(
      ['ackedBy', 'district', 'etaMinutes', 'flapping', 'id', 'level', 'message', 'raisedAt', 'rule', 'segment', 'state', 'subject', 'threshold', 'updatedAt', 'value'].sort(),
    )
    const id = alert?.id as string
    expect(h.ws).toEqual([alert])
    expect(h.mqtt).toEqual([{ topic: `citywater/alerts/xihu/${id}`, payload: JSON.stringify(alert), retain: true }])
    const hook = await waitFor(() => h.received[0])
    expect(hook.verified).toBe(true)
    expect(hook.path).toBe('/ops')
    expect(hook.headers['content-type']).toBe('application/json')
    expect(hook.json).toMatchObject({ type: 'alert', event: 'raised', alert: { id, level: 'orange', state: 'open' }, tier: null })
    expect(h.points).toEqual([`alert_event,district=xihu,level=orange,rule=ponding-depth alert_id="${id}",message="${alert?.message}",state="open",value=31.5 ${T0}`])
    expect(h.manager.get(id)).not.toHaveProperty('notifiedAt')
    expect(h.manager.get(id)?.audit.map((a) => a.what)).toEqual(['raised', 'notified'])
    expect(h.store.get(id)?.notifiedLevel).toBe('orange')
  })

  it('keeps one alert per rule and subject and pushes nothing for a value update at the same level', async () => {
    const h = await harness(plain)
    h.manager.apply([at(h, 3)])
    h.manager.apply([at(h, 3, { value: 32, message: 'Ponding 32 cm' })])
    expect(h.manager.active()).toHaveLength(1)
    expect(h.manager.active()[0]?.value).toBe(32)
    expect(h.ws).toHaveLength(1)
    expect(h.mqtt).toHaveLength(1)
    await h.sentinel()
    expect(webhooksOf(h, 'PD-0031')).toHaveLength(1)
  })

  it('notifies a level increase, and updates MQTT and the websocket but sends no webhook on a decrease', async () => {
    const h = await harness(plain)
    h.manager.apply([at(h, 3)])
    h.manager.apply([at(h, 4, { value: 40 })])
    await waitFor(() => webhooksOf(h, 'PD-0031').length === 2)
    expect(webhooksOf(h, 'PD-0031').map(eventOf)).toEqual(['raised', 'level_up'])
    expect(webhooksOf(h, 'PD-0031')[1]?.json.alert).toMatchObject({ level: 'red', value: 40 })
    h.manager.apply([at(h, 2, { value: 22 })])
    expect(h.ws.map((a) => a.level)).toEqual(['orange', 'red', 'yellow'])
    expect(h.mqtt.map((m) => (JSON.parse(m.payload) as AlertJson).level)).toEqual(['orange', 'red', 'yellow'])
    // Back up to red: red was already notified, so that is no news either.
    h.manager.apply([at(h, 4, { value: 41 })])
    const sentinel = await h.sentinel()
    expect(webhooksOf(h, 'PD-0031').map(eventOf)).toEqual(['raised', 'level_up'])
    expect(h.received.indexOf(sentinel)).toBe(2)
    expect(h.points.map((p) => p.split(',')[2])).toEqual(['level=orange', 'level=red', 'level=yellow', 'level=red', 'level=orange'])
  })

  it('resolves when the condition clears: empty retained payload, websocket event and a resolved webhook', async () => {
    const h = await harness(plain)
    h.manager.apply([at(h, 3)])
    const id = h.manager.active()[0]?.id as string
    h.clock.advance(MIN)
    h.manager.apply([at(h, 0, { value: 20, threshold: 24, message: 'Ponding 20 cm (cleared)' })])
    expect(h.manager.active()).toEqual([])
    expect(h.mqtt.at(-1)).toEqual({ topic: `citywater/alerts/xihu/${id}`, payload: '', retain: true })
    expect(h.ws.at(-1)).toMatchObject({ id, state: 'resolved', value: 20 })
    await waitFor(() => webhooksOf(h, 'PD-0031').length === 2)
    const resolved = webhooksOf(h, 'PD-0031')[1]
    expect(resolved?.verified).toBe(true)
    expect(resolved?.json).toMatchObject({ event: 'resolved', by: 'engine', alert: { id, state: 'resolved' } })
    expect(h.points.at(-1)).toContain('state="resolved"')
    expect(h.manager.get(id)?.audit.map((a) => a.what)).toEqual(['raised', 'notified', 'resolved'])
  })

  it('holds the alert through a data gap instead of resolving it', async () => {
    const h = await harness(plain)
    h.manager.apply([at(h, 3)])
    h.manager.apply([at(h, 0, { dataGap: true, value: null }), at(h, 3, { dataGap: true, value: null, message: 'Ponding unavailable (orange held: data gap)' })])
    expect(h.manager.active()).toHaveLength(1)
    expect(h.manager.active()[0]).toMatchObject({ level: 'orange', value: 31.5, state: 'open' })
    // A data gap for a subject without an alert raises nothing.
    h.manager.apply([at(h, 2, { subject: 'PD-0099', dataGap: true, value: null })])
    expect(h.manager.active()).toHaveLength(1)
  })

  it('lets an operator acknowledge and resolve, publishing both, and does not re-raise while the condition persists', async () => {
    const h = await harness(plain)
    h.manager.apply([at(h, 3)])
    const id = h.manager.active()[0]?.id as string
    const acked = h.manager.acknowledge(id, 'li.wei', 'crew on the way')
    expect(acked).toMatchObject({ state: 'acknowledged', ackedBy: 'li.wei' })
    expect(h.ws.at(-1)).toEqual(acked)
    expect(h.mqtt.at(-1)).toEqual({ topic: `citywater/alerts/xihu/${id}`, payload: JSON.stringify(acked), retain: true })
    expect(expectAppError(() => h.manager.acknowledge(id, 'li.wei')).statusCode).toBe(409)
    const resolved = h.manager.resolve(id, 'li.wei', 'pumped out')
    expect(resolved.state).toBe('resolved')
    expect(h.mqtt.at(-1)?.payload).toBe('')
    await waitFor(() => webhooksOf(h, 'PD-0031').length === 2)
    expect(webhooksOf(h, 'PD-0031')[1]?.json).toMatchObject({ event: 'resolved', by: 'li.wei' })
    expect(expectAppError(() => h.manager.resolve(id, 'li.wei')).code).toBe('CW_ERR_ALERT_TRANSITION')
    expect(expectAppError(() => h.manager.resolve('a-missing', 'li.wei')).statusCode).toBe(404)
    // The condition persists at orange: held; red is news; after clearing, a new raise is a new alert.
    h.manager.apply([at(h, 3)])
    expect(h.manager.active()).toEqual([])
    h.manager.apply([at(h, 4, { value: 45 })])
    const red = h.manager.active()[0]
    expect(red).toMatchObject({ level: 'red', state: 'open' })
    expect(red?.id).not.toBe(id)
    const audit = h.manager.get(id)?.audit ?? []
    expect(audit.filter((a) => a.what === 'acknowledged' || a.what === 'resolved').map((a) => [a.what, a.who, a.note])).toEqual([
      ['acknowledged', 'li.wei', 'crew on the way'],
      ['resolved', 'li.wei', 'pumped out'],
    ])
  })
})

describe('alert manager: silences and flapping', () => {
  it('holds the notifications of a silenced alert, still recording and publishing it, and sends them when the silence ends', async () => {
    const h = await harness(plain)
    h.store.addSilence({ matcher: { sensor: 'PD-0031' }, endsAt: T0 + 30 * MIN, createdBy: 'li.wei', comment: 'pump maintenance' })
    h.manager.apply([at(h, 3)])
    const id = h.manager.active()[0]?.id as string
    expect(h.manager.get(id)).toMatchObject({ state: 'open', level: 'orange' })
    expect(h.ws).toHaveLength(1)
    expect(h.mqtt).toHaveLength(1)
    h.manager.apply([at(h, 4)])
    h.manager.tick()
    await h.sentinel()
    expect(webhooksOf(h, 'PD-0031')).toEqual([])
    h.clock.advance(31 * MIN)
    h.manager.tick()
    await waitFor(() => webhooksOf(h, 'PD-0031').length === 1)
    expect(webhooksOf(h, 'PD-0031')[0]?.json).toMatchObject({ event: 'raised', alert: { id, level: 'red' } })
  })

  it('marks an oscillating subject flapping after more than N transitions, holds its notifications, and releases them when quiet', async () => {
    const h = await harness((urls) => ({ ...plain(urls), noise: { flap: { transitions: 4, windowS: 600 } } }))
    for (let i = 0; i < 4; i += 1) {
      h.clock.advance(10 * SEC)
      h.manager.apply([at(h, i % 2 === 0 ? 3 : 0)])
    }
    // Four transitions so far (raise, resolve, raise, resolve): not flapping, each notified.
    await waitFor(() => webhooksOf(h, 'PD-0031').length === 4)
    for (let i = 0; i < 5; i += 1) {
      h.clock.advance(10 * SEC)
      h.manager.apply([at(h, i % 2 === 0 ? 3 : 0)])
    }
    const [active] = h.manager.active()
    expect(active).toMatchObject({ state: 'open', flapping: true })
    expect(h.ws.at(-1)).toMatchObject({ id: active?.id, flapping: true })
    h.manager.tick()
    await h.sentinel()
    expect(webhooksOf(h, 'PD-0031').map(eventOf)).toEqual(['raised', 'resolved', 'raised', 'resolved'])
    // Quiet for the window: no longer flapping, and the held raise goes out.
    h.clock.advance(10 * MIN + SEC)
    h.manager.tick()
    expect(h.manager.get(active?.id as string)?.flapping).toBe(false)
    expect(h.ws.at(-1)).toMatchObject({ id: active?.id, flapping: false })
    await waitFor(() => webhooksOf(h, 'PD-0031').length === 5)
    expect(webhooksOf(h, 'PD-0031')[4]?.json).toMatchObject({ event: 'raised', alert: { id: active?.id, flapping: false } })
  })
})

describe('alert manager: escalation', () => {
  const tiers = (urls: { ops: string; boss: string }): AlertSettings => ({
    webhooks: [
      { id: 'ops', url: urls.ops, secret: SECRET },
      { id: 'boss', url: urls.boss, secret: SECRET },
    ],
    escalation: {
      tiers: [
        { name: 'duty officer', targets: ['ops'] },
        { name: 'shift supervisor', targets: ['boss'] },
      ],
      timeoutsS: { blue: 3600, yellow: 1800, orange: 600, red: 300 },
    },
  })

  it('re-notifies an unacknowledged alert to the next tier after its level timeout', async () => {
    const h = await harness(tiers)
    h.manager.apply([at(h, 3)])
    const id = h.manager.active()[0]?.id as string
    await waitFor(() => h.received.length === 1)
    expect(h.received[0]).toMatchObject({ path: '/ops', json: { event: 'raised', tier: { index: 0, name: 'duty officer' } } })
    h.clock.advance(10 * MIN - 1)
    h.manager.tick()
    h.clock.advance(1)
    h.manager.tick()
    await waitFor(() => h.received.length === 3)
    const escalated = h.received.slice(1)
    expect(escalated.map((r) => r.path).sort()).toEqual(['/boss', '/ops'])
    for (const r of escalated) {
      expect(r.verified).toBe(true)
      expect(r.json).toMatchObject({ event: 'escalated', tier: { index: 1, name: 'shift supervisor' }, alert: { id } })
    }
    expect(h.store.get(id)?.tier).toBe(1)
    expect(h.manager.get(id)?.audit.map((a) => a.what)).toEqual(['raised', 'notified', 'escalated', 'notified'])
  })

  it('does not escalate an acknowledged alert', async () => {
    const h = await harness(tiers)
    h.manager.apply([at(h, 3)])
    const id = h.manager.active()[0]?.id as string
    await waitFor(() => h.received.length === 1)
    h.clock.advance(5 * MIN)
    h.manager.acknowledge(id, 'li.wei', 'on it')
    h.clock.advance(60 * MIN)
    h.manager.tick()
    const sentinel = await h.sentinel()
    expect(h.received.filter((r) => r !== sentinel && r.json.event !== 'raised')).toEqual([])
    expect(h.store.get(id)?.tier).toBe(0)
  })
})

describe('alert manager: incidents', () => {
  const grouped = (urls: { ops: string }): AlertSettings => ({ ...plain(urls), noise: { incident: { windowS: 60, minAlerts: 3 } } })
  const subjects = (n: number, from = 1) => Array.from({ length: n }, (_, i) => `PD-${from + i}`)

  it('sends many alerts of one district raised at once as one incident notification with the list', async () => {
    const h = await harness(grouped)
    h.manager.apply(subjects(4).map((subject) => at(h, 3, { subject })))
    await waitFor(() => h.received.length === 1)
    const incident = h.received[0]
    expect(incident?.verified).toBe(true)
    expect(incident?.json).toMatchObject({ type: 'incident', district: 'xihu', update: false, count: 4 })
    expect((incident?.json.alerts as AlertJson[]).map((a) => a.subject).sort()).toEqual(subjects(4).sort())
    // Later alerts of the district are collected for the window and sent as one update; other districts go at once.
    h.manager.apply(subjects(2, 10).map((subject) => at(h, 3, { subject })))
    const sentinel = await h.sentinel()
    expect(h.received).toEqual([incident, sentinel])
    h.clock.advance(60 * SEC)
    h.manager.tick()
    await waitFor(() => h.received.length === 3)
    expect(h.received[2]?.json).toMatchObject({ type: 'incident', district: 'xihu', update: true, count: 2, id: incident?.json.id })
    // Every alert was recorded as notified: nothing more goes out.
    h.clock.advance(60 * SEC)
    h.manager.tick()
    h.clock.advance(60 * SEC)
    h.manager.tick()
    const last = await h.sentinel()
    expect(h.received.indexOf(last)).toBe(3)
    expect(h.manager.active().every((a) => h.store.get(a.id)?.notifiedLevel === 'orange')).toBe(true)
  })

  it('sends the first alerts of a district at once and opens an incident when the window fills', async () => {
    const h = await harness(grouped)
    h.manager.apply([at(h, 3, { subject: 'PD-1' })])
    h.clock.advance(10 * SEC)
    h.manager.apply([at(h, 3, { subject: 'PD-2' })])
    await waitFor(() => h.received.length === 2)
    expect(h.received.map((r) => r.json.type)).toEqual(['alert', 'alert'])
    h.clock.advance(10 * SEC)
    h.manager.apply([at(h, 2, { subject: 'PD-3' })])
    await waitFor(() => h.received.length === 3)
    expect(h.received[2]?.json).toMatchObject({ type: 'incident', count: 3 })
    expect((h.received[2]?.json.alerts as AlertJson[]).map((a) => a.subject)).toEqual(['PD-1', 'PD-2', 'PD-3'])
  })
})

describe('alert manager: robot webhooks and settings', () => {
  it('posts DingTalk (signed URL) and WeCom robot markdown to targets with those formats', async () => {
    const h = await harness((urls) => ({
      webhooks: [
        { id: 'ding', url: `${urls.ops}?access_token=t1`, format: 'dingtalk', secret: 'SECding' },
        { id: 'wecom', url: `${urls.boss}?key=k1`, format: 'wecom' },
      ],
    }))
    h.manager.apply([at(h, 4, { value: 45 })])
    await waitFor(() => h.received.length === 2)
    const ding = h.received.find((r) => r.path.startsWith('/ops'))
    const wecom = h.received.find((r) => r.path.startsWith('/boss'))
    expect(ding?.json).toMatchObject({ msgtype: 'markdown', markdown: { title: expect.stringContaining('红色预警') as unknown, text: expect.stringContaining('PD-0031') as unknown } })
    const query = new URL(ding?.path ?? '', 'http://x').searchParams
    expect(query.get('access_token')).toBe('t1')
    expect(query.get('sign')).toBe(createHmac('sha256', 'SECding').update(`${query.get('timestamp')}\nSECding`).digest('base64'))
    expect(wecom?.json).toEqual({ msgtype: 'markdown', markdown: { content: expect.stringContaining('Ponding 31.5 cm at Wensan Rd') as unknown } })
    expect(wecom?.headers['x-citywater-signature']).toBeUndefined()
  })

  it('sends what an incident window holds when grouping is switched off by new rules', async () => {
    const h = await harness((urls) => ({ ...plain(urls), noise: { incident: { windowS: 600, minAlerts: 2 } } }))
    h.manager.apply([at(h, 3, { subject: 'PD-1' }), at(h, 3, { subject: 'PD-2' })])
    await waitFor(() => h.received.length === 1)
    h.manager.apply([at(h, 3, { subject: 'PD-3' })])
    h.manager.update(plain({ ops: `${h.url}/ops` }))
    await waitFor(() => h.received.length === 2)
    expect(h.received[1]?.json).toMatchObject({ type: 'alert', event: 'raised', alert: { subject: 'PD-3' } })
  })

  it('records an alert_event point for acknowledgements and operator resolves', async () => {
    const h = await harness(plain)
    h.manager.apply([at(h, 3)])
    const id = h.manager.active()[0]?.id as string
    h.clock.advance(MIN)
    h.manager.acknowledge(id, 'li.wei')
    h.clock.advance(MIN)
    h.manager.resolve(id, 'li.wei')
    expect(h.points.map((p) => [p.match(/state="(\w+)"/)?.[1], Number(p.split(' ').at(-1))])).toEqual([
      ['open', T0],
      ['acknowledged', T0 + MIN],
      ['resolved', T0 + 2 * MIN],
    ])
  })
})

describe('alert manager: restart', () => {
  it('keeps alerts, acknowledgements and audit across a restart and notifies nothing again', async () => {
    const first = await harness(plain)
    first.manager.apply([at(first, 3, { subject: 'PD-1' }), at(first, 4, { subject: 'PD-2' }), at(first, 2, { subject: 'PD-3' })])
    await waitFor(() => first.received.length === 3)
    const [a1, a2, a3] = ['PD-1', 'PD-2', 'PD-3'].map((s) => first.manager.list({ subject: s })[0]?.id as string)
    first.manager.acknowledge(a1 as string, 'li.wei', 'seen')
    first.manager.resolve(a3 as string, 'li.wei', 'false alarm')
    await waitFor(() => first.received.length === 4)
    const retained = new Map(first.mqtt.map((m) => [m.topic, m.payload]))
    await first.stop()

    const reuse = { file: first.file, clock: first.clock, received: first.received, url: first.url }
    const second = await harness(plain, reuse)
    // start() republished the retained state of the active alerts, unchanged.
    const topics = [a1, a2].map((id) => `citywater/alerts/xihu/${id}`)
    expect(second.mqtt.map((m) => [m.topic, m.payload, m.retain]).sort()).toEqual(topics.map((t) => [t, retained.get(t), true]).sort())
    expect(second.manager.get(a1 as string)).toMatchObject({ state: 'acknowledged', ackedBy: 'li.wei' })
    expect(second.manager.get(a1 as string)?.audit.map((a) => a.what)).toEqual(['raised', 'notified', 'acknowledged'])
    second.manager.tick()
    second.manager.apply([at(second, 3, { subject: 'PD-1' }), at(second, 4, { subject: 'PD-2' }), at(second, 2, { subject: 'PD-3' })])
    second.manager.tick()
    expect(second.ws).toEqual([])
    expect(second.manager.active().map((a) => a.id).sort()).toEqual([a1, a2].sort())
    const sentinel = await second.sentinel()
    expect(second.received.indexOf(sentinel)).toBe(4)
  })
})
