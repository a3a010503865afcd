import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { indexRegistry, workedExampleReadings } from '../helpers/index-registry.js'
import { startTestApp, type TestApp } from '../helpers/test-app.js'
import { waitFor } from '../helpers/wait-for.js'
import { connectWs } from '../helpers/ws-client.js'

describe('indices end to end', () => {
  let t: TestApp
  beforeAll(async () => {
    const file = join(mkdtempSync(join(tmpdir(), 'cw-idx-')), 'registry.json')
    writeFileSync(file, JSON.stringify(indexRegistry()))
    t = await startTestApp({ config: { registry: file } })
  })
  afterAll(async () => t?.close())

  it('computes the worked examples from readings published over MQTT, on /api/indices, the websocket and in InfluxDB', async () => {
    const ws = await connectWs(t.ws)
    ws.send({ type: 'subscribe', channels: ['indices'], districts: ['xihu'] })
    await ws.next((f) => f.type === 'snapshot')
    const client = await t.client()
    const ts = Date.now() - 60_000
    for (const [topic, body] of workedExampleReadings(ts)) await client.publishAsync(topic, JSON.stringify(body), { qos: 1 })

    // The first frames may be partial results; the engine converges on the worked examples.
    const clear = await ws.next((f) => f.type === 'index' && (f.data as { segment?: string; clear?: { value?: number } }).segment === 'seg-a' && (f.data as { clear: { value: number } | null }).clear?.value === 76.6, 10_000)
    expect(clear.data).toMatchObject({ segment: 'seg-a', district: 'xihu', type: 'river', clear: { value: 76.6, class: 3, grade: 'good', limiting: 'tp_mgl', exceedances: [], confidence: 1 }, smooth: null })
    // A live index event also says when, in event time: its latest input's timestamp.
    expect((clear.data as { at?: string }).at).toBe(new Date(ts).toISOString())
    const smooth = await ws.next((f) => f.type === 'index' && (f.data as { segment?: string; smooth?: { value?: number } | null }).segment === 'zone-x' && (f.data as { smooth: { value: number } | null }).smooth?.value === 55.7, 10_000)
    expect(smooth.data).toMatchObject({ segment: 'zone-x', type: 'drainage', clear: null, smooth: { value: 55.7, band: 'yellow', limiting: 'POND' } })

    const body = (await (await fetch(`${t.http}/api/indices?district=xihu`)).json()) as { generatedAt: string; segments: { segment: string }[]; districts: { district: string; clear: { value: number; classCounts: Record<string, number> }; smooth: { value: number; band: string } }[] }
    expect(body.generatedAt).toMatch(/Z$/)
    expect(body.segments.find((s) => s.segment === 'seg-a')).toMatchObject({ clear: { value: 76.6, class: 3 } })
    expect(body.segments.find((s) => s.segment === 'zone-x')).toMatchObject({ smooth: { value: 55.7, band: 'yellow' } })
    expect(body.districts).toEqual([expect.objectContaining({ district: 'xihu', clear: expect.objectContaining({ value: 76.6, class: 3, worstSegment: 'seg-a', classCounts: { 3: 1 } }), smooth: expect.objectContaining({ value: 55.7, band: 'yellow', worstSegment: 'zone-x' }) })])

    const stored = await waitFor(async () => {
      const rows = await t.influx.query(`SELECT "value", "level", "confidence" FROM "water_index" WHERE "segment" = 'seg-a' AND "index" = 'clear'`).catch(() => [])
      return rows.some((r) => r.value === 76.6) && rows
    }, { timeoutMs: 15_000, message: 'the clear index in water_index' })
    expect(stored.find((r) => r.value === 76.6)).toMatchObject({ level: 3, confidence: 1 })
    const history = (await (await fetch(`${t.http}/api/indices/history?segment=seg-a&index=clear&from=${ts - 60_000}`)).json()) as { points: { value: number }[] }
    expect(history.points.map((p) => p.value)).toContain(76.6)
    await ws.close()
  })

  it('serves the parking lots, boards and totals of its registry (none here) and the bundled ones elsewhere', async () => {
    const res = await fetch(`${t.http}/api/parking`)
    expect(res.status).toBe(200)
    expect(await res.json()).toEqual({ lots: [], boards: [], districts: [] })
  })
})
