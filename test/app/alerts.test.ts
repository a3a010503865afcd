import { createHmac, randomBytes } from 'node:crypto'
import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { indexRegistry } from '../helpers/index-registry.js'
import { startTestApp, type TestApp } from '../helpers/test-app.js'
import { waitFor } from '../helpers/wait-for.js'
import { connectWs } from '../helpers/ws-client.js'

const SECRET = 'test-secret'

/** A real webhook receiver that checks the signature of every delivery. */
async function startReceiver(): Promise<{ url: string; bodies: Record<string, unknown>[]; badSignatures: number; close(): Promise<void> }> {
  const state = { bodies: [] as Record<string, unknown>[], badSignatures: 0 }
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = []
    req.on('data', (c: Buffer) => chunks.push(c))
    req.on('end', () => {
      const body = Buffer.concat(chunks).toString()
      const expected = `sha256=${createHmac('sha256', SECRET).update(body).digest('hex')}`
      if (req.headers['x-citywater-signature'] !== expected) state.badSignatures++
      state.bodies.push(JSON.parse(body) as Record<string, unknown>)
      res.writeHead(204).end()
    })
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()))
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`,
    get bodies() {
      return state.bodies
    },
    get badSignatures() {
      return state.badSignatures
    },
    close: () => new Promise((resolve) => server.close(() => resolve())),
  }
}

function rulesFile(dir: string, hookUrl: string): string {
  const file = join(dir, 'rules.json')
  writeFileSync(file, JSON.stringify({
    version: 1,
    webhooks: [{ id: 'oncall', url: hookUrl, secret: SECRET, format: 'json' }],
    rules: [
      { id: 'tunnel-depth', type: 'threshold', subjects: { kinds: ['tunnel_depth'] }, field: 'depth_cm', label: 'Underpass',
        levels: { yellow: { raise: 15, reset: 12 }, orange: { raise: 27, reset: 23 }, red: { raise: 40, reset: 35 } } },
      { id: 'tunnel-closure', type: 'tunnel_closure' },
    ],
  }))
  return file
}

describe('alerts end to end', () => {
  const dir = mkdtempSync(join(tmpdir(), 'cw-alerts-'))
  const dataDir = join(dir, 'data')
  const registry = join(dir, 'registry.json')
  writeFileSync(registry, JSON.stringify(indexRegistry()))
  let receiver: Awaited<ReturnType<typeof startReceiver>>
  let t: TestApp
  let rules: string
  const database = `t_${randomBytes(6).toString('hex')}`
  const t0 = Date.now() - 30 * 60_000
  let minute = 0
  const retained: { topic: string; payload: string }[] = []
  const publishDepth = async (app: TestApp, depth: number) => {
    const client = await app.client()
    await client.publishAsync('city/xihu/tunnel_depth/TD-X', JSON.stringify({ ts: t0 + minute++ * 60_000, depth_cm: depth }), { qos: 1 })
  }
  const alertsOf = async (app: TestApp, rule: string) =>
    ((await (await fetch(`${app.http}/api/alerts?rule=${rule}`)).json()) as { alerts: { id: string; level: string; state: string; subject: string }[] }).alerts

  beforeAll(async () => {
    receiver = await startReceiver()
    rules = rulesFile(dir, receiver.url)
    t = await startTestApp({ config: { registry, rules, dataDir, influxDb: database } })
  })
  afterAll(async () => {
    await t?.close()
    await receiver?.close()
    rmSync(dir, { recursive: true, force: true })
  })

  it('raises one alert per subject through a rising storm, with the closure instruction, retained MQTT and signed webhooks', async () => {
    const watcher = await t.client()
    watcher.on('message', (topic, payload) => retained.push({ topic, payload: payload.toString() }))
    await watcher.subscribeAsync('citywater/alerts/xihu/#', { qos: 1 })

    for (const depth of [5, 16, 28, 41]) await publishDepth(t, depth)
    const [alert] = await waitFor(async () => {
      const list = await alertsOf(t, 'tunnel-depth')
      return list.length === 1 && list[0]?.level === 'red' && list
    }, { timeoutMs: 10_000, message: 'the tunnel alert at red' })
    expect(alert).toMatchObject({ subject: 'TD-X', state: 'open' })
    const closure = await waitFor(async () => (await alertsOf(t, 'tunnel-closure'))[0], { message: 'the closure instruction' })
    expect(closure).toMatchObject({ subject: 'TD-X', state: 'open' })

    const detail = (await (await fetch(`${t.http}/api/alerts/${alert?.id}`)).json()) as { audit: { what: string }[] }
    expect(detail.audit.length).toBeGreaterThanOrEqual(3)
    await waitFor(() => retained.some((m) => m.topic === `citywater/alerts/xihu/${alert?.id}` && m.payload.includes('"red"')), { message: 'the retained alert' })
    await waitFor(() => receiver.bodies.length >= 3, { timeoutMs: 15_000, message: 'webhooks for the raise and level increases' })
    expect(receiver.badSignatures).toBe(0)
  })

  it('gives a websocket client that missed three transitions all three on resume', async () => {
    const ws = await connectWs(t.ws)
    ws.send({ type: 'subscribe', channels: ['alerts'] })
    const snapshot = await ws.next((f) => f.type === 'snapshot')
    await ws.close()
    // Falling water: red → orange → yellow → resolved.
    for (const depth of [30, 20, 5]) await publishDepth(t, depth)
    await waitFor(async () => (await alertsOf(t, 'tunnel-depth')).every((a) => a.state === 'resolved'), { timeoutMs: 10_000, message: 'the alert resolved' })
    const again = await connectWs(t.ws)
    again.send({ type: 'subscribe', channels: ['alerts'], since: snapshot.seq })
    expect(await again.next((f) => f.type === 'snapshot')).toMatchObject({ resumed: true })
    const levels: string[] = []
    for (let i = 0; i < 3; i++) {
      const frame = await again.next((f) => f.type === 'alert' && (f.data as { rule: string }).rule === 'tunnel-depth')
      const data = frame.data as { level: string; state: string }
      levels.push(data.state === 'resolved' ? 'resolved' : data.level)
    }
    expect(levels).toEqual(['orange', 'yellow', 'resolved'])
    await again.close()
    // The retained MQTT message is cleared with an empty retained payload, and every transition is an alert_event.
    const id = (await alertsOf(t, 'tunnel-depth'))[0]?.id
    await waitFor(() => retained.some((m) => m.topic === `citywater/alerts/xihu/${id}` && m.payload === ''), { message: 'the retained alert cleared' })
    // Three raises and three falls: wait for all six rather than judging the first answer that holds the resolved
    // one (a loaded CI run once saw three there; the cause is not known).
    const events = await waitFor(async () => {
      const rows = await t.influx.query(`SELECT "state", "alert_id" FROM "alert_event" WHERE "rule" = 'tunnel-depth'`).catch(() => [])
      const mine = rows.filter((r) => r.alert_id === id)
      return mine.length >= 6 && mine
    }, { timeoutMs: 15_000, message: 'six alert_event points of the alert in InfluxDB' })
    expect(events.map((r) => r.state)).toContain('resolved')
  })

  it('replaces the rules atomically through PUT /api/rules, with an audited diff, and refuses a bad set with details', async () => {
    const current = (await (await fetch(`${t.http}/api/rules`)).json()) as { rules: { id: string; levels?: Record<string, { raise: number; reset: number }> }[] }
    const bad = structuredClone(current)
    const tunnel = bad.rules.find((r) => r.id === 'tunnel-depth')
    if (tunnel?.levels?.yellow) tunnel.levels.yellow.reset = 20
    const refused = await fetch(`${t.http}/api/rules`, { method: 'PUT', headers: { 'content-type': 'application/json' }, body: JSON.stringify(bad) })
    expect(refused.status).toBe(400)
    expect(await refused.json()).toMatchObject({ error: 'CW_ERR_RULES_INVALID', details: [expect.objectContaining({ rule: 'tunnel-depth' })] })
    const good = structuredClone(current)
    good.rules = good.rules.filter((r) => r.id !== 'tunnel-closure')
    const applied = await fetch(`${t.http}/api/rules`, { method: 'PUT', headers: { 'content-type': 'application/json' }, body: JSON.stringify(good) })
    expect(applied.status).toBe(200)
    expect(await applied.json()).toMatchObject({ diff: { removed: ['tunnel-closure'] } })
    const changes = (await (await fetch(`${t.http}/api/rules/changes`)).json()) as unknown
    expect(JSON.stringify(changes)).toContain('tunnel-closure')
    // Put the closure rule back for the tests that follow.
    expect((await fetch(`${t.http}/api/rules`, { method: 'PUT', headers: { 'content-type': 'application/json' }, body: JSON.stringify(current) })).status).toBe(200)
  })

  it('keeps alerts, acknowledgements and audit across a restart without notifying again', async () => {
    for (const depth of [18, 19]) await publishDepth(t, depth)
    const [alert] = await waitFor(async () => {
      const list = (await alertsOf(t, 'tunnel-depth')).filter((a) => a.state === 'open')
      return list.length === 1 && list
    }, { timeoutMs: 10_000, message: 'a new yellow alert' })
    const ack = await fetch(`${t.http}/api/alerts/${alert?.id}/ack`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ note: 'crew on the way', who: 'duty-officer' }) })
    expect(ack.status).toBe(200)
    const again = await fetch(`${t.http}/api/alerts/${alert?.id}/ack`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' })
    expect(again.status).toBe(409)
    await waitFor(() => receiver.bodies.some((b) => JSON.stringify(b).includes(alert?.id ?? '?')), { timeoutMs: 15_000, message: 'the raise notified' })
    const notified = receiver.bodies.length

    await t.close()
    t = await startTestApp({ config: { registry, rules, dataDir, influxDb: database } })
    const after = (await (await fetch(`${t.http}/api/alerts/${alert?.id}`)).json()) as { state: string; ackedBy: string; audit: { what: string; note?: string }[] }
    expect(after).toMatchObject({ state: 'acknowledged', ackedBy: 'duty-officer' })
    expect(after.audit.some((a) => a.note === 'crew on the way')).toBe(true)
    // A later notification proves nothing was re-sent in between: it is the next body the receiver gets.
    await publishDepth(t, 30)
    await waitFor(() => receiver.bodies.length > notified, { timeoutMs: 15_000, message: 'the level increase notified' })
    expect(JSON.stringify(receiver.bodies[notified])).toContain('orange')
  })
})
