/**
 * The live dashboard in a real Chromium (Debian's, driven by playwright-core) against a running engine fed by the
 * simulator's storm scenario: the gauges show the values of /api/indices, an alert appears within seconds of the
 * reading that causes it, acknowledging from the page changes its state in the API, and a dropped websocket
 * reconnects with `since` and catches up on every transition it missed. The page is reached through a TCP proxy so
 * the test can cut the network under it. Screenshots of each view go to test-artifacts/dashboard/; with
 * CITYWATER_UPDATE_SCREENSHOTS=1 they are also copied to docs/screenshots/ for the README.
 */
import type { Browser, BrowserContext, Page, WebSocket as PageSocket } from 'playwright-core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { BUNDLED_REGISTRY } from '../../config.js'
import { loadRegistry } from '../../registry/load-registry.js'
import { generateMessages } from '../../simulators/generate-messages.js'
import { launchChromium, openPage, screenshot, type PageProblem } from '../helpers/browser.js'
import { publishInOrder } from '../helpers/publish-scenario.js'
import { startTcpProxy, type TcpProxy } from '../helpers/tcp-proxy.js'
import { startTestApp, type TestApp } from '../helpers/test-app.js'
import { waitFor } from '../helpers/wait-for.js'

const HOUR = 3_600_000
const registry = loadRegistry(BUNDLED_REGISTRY)

interface IndexValue { value: number | null }
interface IndicesJson {
  segments: { segment: string; district: string; clear: IndexValue | null; smooth: IndexValue | null }[]
  districts: { district: string; clear: IndexValue | null; smooth: IndexValue | null }[]
}
interface AlertJson { id: string; rule: string; subject: string; state: string; level: string }
interface AlertDetail extends AlertJson { audit: { what: string; who: string; note: string | null }[] }

let t: TestApp
let proxy: TcpProxy
let browser: Browser
let context: BrowserContext
let page: Page
let problems: PageProblem[]
let base: string
/** Every frame the page received on its websockets, parsed, in order. */
const received: { type: string; seq?: number; resumed?: boolean }[] = []
/** Every frame the page sent on its websockets, parsed, in order. */
const sent: { type: string; since?: number }[] = []
let sequence = 1_000_000

async function api<T>(path: string, init?: RequestInit): Promise<T> {
  const res = await fetch(`${t.http}${path}`, init)
  expect(res.status, `${init?.method ?? 'GET'} ${path}`).toBe(200)
  return (await res.json()) as T
}

/** Publishes one ponding reading now and returns its sensor's id. */
async function pond(sensor: string, depthCm: number): Promise<void> {
  const client = await t.client()
  sequence += 1
  await client.publishAsync(`city/xihu/ponding_depth/${sensor}`, JSON.stringify({ ts: Date.now(), seq: sequence, depth_cm: depthCm }), { qos: 1 })
}

/** Ponding sensors with no alert of any state yet, so a new one is unambiguous. */
async function quietPondingSensors(): Promise<string[]> {
  const { alerts } = await api<{ alerts: AlertJson[] }>('/api/alerts?rule=ponding-depth')
  const alerted = new Set(alerts.map((a) => a.subject))
  return registry.sensors.filter((s) => s.kind === 'ponding_depth' && !alerted.has(s.id)).map((s) => s.id)
}

const alertRow = (id: string) => page.locator(`[data-testid="alert"][data-alert-id="${id}"]`)

beforeAll(async () => {
  t = await startTestApp()
  proxy = await startTcpProxy(t.app.httpPort)
  base = `http://127.0.0.1:${proxy.port}`
  // Three hours of the storm scenario ending now: dry, then the rain rising to its peak over the drainage zones.
  const start = Math.floor((Date.now() - 3 * HOUR) / 60_000) * 60_000
  const messages = [...generateMessages({ registry, scenario: 'storm', seed: 1, start, durationS: (Date.now() - start) / 1000 })]
  await publishInOrder(await t.client(), messages)
  await waitFor(() => t.app.ingest.stats.messages >= messages.length, { timeoutMs: 60_000, message: `ingest of ${messages.length} storm messages` })
  browser = await launchChromium()
  ;({ context, page, problems } = await openPage(browser, { width: 1920, height: 1080 }))
  page.on('websocket', (socket: PageSocket) => {
    socket.on('framereceived', (frame) => received.push(JSON.parse(String(frame.payload)) as (typeof received)[number]))
    socket.on('framesent', (frame) => sent.push(JSON.parse(String(frame.payload)) as (typeof sent)[number]))
  })
  await page.goto(`${base}/`)
  await page.locator('[data-testid="conn"][data-state="live"]').waitFor({ timeout: 15_000 })
}, 180_000)

afterAll(async () => {
  await context?.close()
  await browser?.close()
  await proxy?.close()
  await t?.close()
})

describe('the live dashboard in Chromium during a storm', () => {
  it('loads without a single console error, failed request or HTTP error (favicon and CSP included)', async () => {
    // Give the page its first snapshot and history; then nothing may have gone wrong.
    await page.locator('[data-testid="gauge"]').first().waitFor()
    await page.locator('[data-testid="trend"]').first().waitFor()
    const csp = (await fetch(`${base}/`)).headers.get('content-security-policy')
    expect(csp).toContain("script-src 'self'")
    expect(problems).toEqual([])
  })

  it('shows every index exactly as /api/indices gives it', async () => {
    const compare = async (): Promise<string[] | false> => {
      const indices = await api<IndicesJson>('/api/indices')
      const shown = await page.$$eval('[data-testid="gauge"]', (gauges) =>
        gauges.map((g) => ({
          key: `${g.getAttribute('data-district')}/${g.getAttribute('data-segment')}/${g.getAttribute('data-index')}`,
          text: g.querySelector('[data-role="value"]')?.textContent?.trim() ?? '',
        })),
      )
      const expected: Record<string, string> = {}
      const text = (index: IndexValue | null): string => (index === null || index.value === null ? '—' : index.value.toFixed(1))
      for (const d of indices.districts) {
        expected[`${d.district}/_all/clear`] = text(d.clear)
        expected[`${d.district}/_all/smooth`] = text(d.smooth)
      }
      for (const s of indices.segments) {
        if (s.clear !== null) expected[`${s.district}/${s.segment}/clear`] = text(s.clear)
        if (s.smooth !== null) expected[`${s.district}/${s.segment}/smooth`] = text(s.smooth)
      }
      const actual = Object.fromEntries(shown.map((g) => [g.key, g.text]))
      const mismatches = Object.keys(expected).filter((k) => actual[k] !== expected[k]).map((k) => `${k}: page ${actual[k]} api ${expected[k]}`)
      return mismatches.length === 0 && Object.keys(expected).length > 10 ? Object.keys(expected) : false
    }
    // The indices move while the storm's readings settle: compare until page and API agree, with a deadline.
    const keys = await waitFor(compare, { timeoutMs: 20_000, intervalMs: 250, message: 'the gauges to show the values of /api/indices' })
    // The storm has pushed at least one drainage zone out of the normal band, and the page colours it so.
    const indices = await api<IndicesJson>('/api/indices')
    const district = indices.districts.find((d) => d.district === 'xihu')
    expect(district?.smooth?.value).not.toBeNull()
    const level = await page.locator('[data-testid="gauge"][data-district="xihu"][data-segment="_all"][data-index="smooth"]').getAttribute('data-level')
    expect((district?.smooth as { band?: string }).band).toBe(level)
    expect(keys.length).toBeGreaterThan(10)
    // Segments are named as in the registry (from /api/segments).
    const river = registry.segments.find((s) => s.id === 'xixi-river-1')!
    await page.locator('[data-testid="gauge"][data-segment="xixi-river-1"] [data-role="name"]', { hasText: river.name }).waitFor()
    await screenshot(page, 'storm-wall-1920')
  })

  it('draws every registry sensor on the map with its live status', async () => {
    await waitFor(async () => (await page.locator('svg[data-testid="map"] [data-sensor]').count()) === registry.sensors.length, { message: 'every sensor on the map' })
    // Statuses move as sensors report: compare until page and API agree, with a deadline.
    await waitFor(
      async () => {
        const { sensors } = await api<{ sensors: { id: string; status: string }[] }>('/api/sensors')
        const onMap = Object.fromEntries(await page.$$eval('svg[data-testid="map"] [data-sensor]', (els) => els.map((e) => [e.getAttribute('data-sensor'), e.getAttribute('data-status')])))
        const wrong = sensors.filter((s) => onMap[s.id] !== s.status)
        return wrong.length === 0 && sensors.some((s) => s.status === 'online')
      },
      { timeoutMs: 10_000, intervalMs: 250, message: 'the map to show every sensor with its status from /api/sensors' },
    )
  })

  it('shows parking guidance boards with free spaces, FULL or CLOSED for every lot, as /api/parking says', async () => {
    const matches = async (): Promise<boolean> => {
      const { boards } = await api<{ boards: { board: string; lines: { lot: string; text: string }[] }[] }>('/api/parking')
      expect(boards.length).toBe(registry.boards?.length)
      for (const board of boards) {
        for (const lot of board.lines) {
          const row = page.locator(`[data-testid="board"][data-board="${board.board}"] [data-lot="${lot.lot}"]`)
          if ((await row.count()) !== 1 || !((await row.textContent()) ?? '').includes(lot.text)) return false
        }
      }
      return true
    }
    await waitFor(matches, { timeoutMs: 10_000, intervalMs: 250, message: 'the boards to show what /api/parking says' })
  })

  it('lists an alert within seconds of the reading that raises it', async () => {
    const [sensor] = await quietPondingSensors()
    expect(sensor).toBeDefined()
    const before = Date.now()
    await pond(sensor!, 45)
    const alert = await waitFor(async () => (await api<{ alerts: AlertJson[] }>(`/api/alerts?rule=ponding-depth&subject=${sensor}`)).alerts[0], { message: 'the alert in the API' })
    expect(alert.level).toBe('red')
    const row = alertRow(alert.id)
    await row.waitFor({ timeout: 5_000 })
    expect(Date.now() - before).toBeLessThan(5_000)
    expect(await row.getAttribute('data-state')).toBe('open')
    expect(await row.getAttribute('data-level')).toBe('red')
    expect(await row.textContent()).toContain(sensor!)
    // The browser runs in UTC; the page shows the raise time in Asia/Shanghai.
    const full = await api<AlertJson & { raisedAt: string }>(`/api/alerts/${alert.id}`)
    const shanghai = new Intl.DateTimeFormat('en-GB', { timeZone: 'Asia/Shanghai', hourCycle: 'h23', hour: '2-digit', minute: '2-digit', second: '2-digit' }).format(Date.parse(full.raisedAt))
    const utc = new Intl.DateTimeFormat('en-GB', { timeZone: 'UTC', hourCycle: 'h23', hour: '2-digit', minute: '2-digit', second: '2-digit' }).format(Date.parse(full.raisedAt))
    expect(await row.textContent()).toContain(shanghai)
    expect(await row.textContent()).not.toContain(utc)
  })

  it('acknowledges an alert from the page with a note, and the API records it', async () => {
    const { alerts } = await api<{ alerts: AlertJson[] }>('/api/alerts?state=open&rule=ponding-depth&level=red')
    const alert = alerts[0]!
    const row = alertRow(alert.id)
    await row.locator('[data-action="ack"]').click()
    await page.locator('textarea[name="note"]').fill('crew dispatched to pump the underpass')
    await page.locator('button[data-action="confirm"]').click()
    await waitFor(async () => (await api<AlertDetail>(`/api/alerts/${alert.id}`)).state === 'acknowledged', { message: 'the API to show the alert acknowledged' })
    const detail = await api<AlertDetail>(`/api/alerts/${alert.id}`)
    expect(detail.audit.some((a) => a.note === 'crew dispatched to pump the underpass')).toBe(true)
    await page.locator(`[data-testid="alert"][data-alert-id="${alert.id}"][data-state="acknowledged"]`).waitFor({ timeout: 5_000 })
    await screenshot(page, 'alerts-1920', '#alerts')
  })

  it('reconnects after the network drops and catches up on every alert transition it missed', async () => {
    const [fresh] = await quietPondingSensors()
    const { alerts: open } = await api<{ alerts: AlertJson[] }>('/api/alerts?state=open,acknowledged&rule=ponding-depth')
    const toResolve = open[0]!
    await alertRow(toResolve.id).waitFor()
    const lastSeqBefore = Number(await page.locator('[data-testid="conn"]').getAttribute('data-seq'))
    expect(lastSeqBefore).toBeGreaterThan(0)
    const problemsBefore = problems.length

    proxy.cut()
    await page.locator('[data-testid="conn"][data-state="reconnecting"]').waitFor({ timeout: 10_000 })
    // While the page is cut off: one alert resolved, one raised.
    await api(`/api/alerts/${toResolve.id}/resolve`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ note: 'water gone' }) })
    await pond(fresh!, 30)
    const raised = await waitFor(async () => (await api<{ alerts: AlertJson[] }>(`/api/alerts?rule=ponding-depth&subject=${fresh}`)).alerts[0], { message: 'the new alert in the API' })
    expect(await alertRow(raised.id).count()).toBe(0)

    const sentBefore = sent.length
    proxy.restore()
    await page.locator('[data-testid="conn"][data-state="live"]').waitFor({ timeout: 30_000 })
    await alertRow(raised.id).waitFor({ timeout: 5_000 })
    await waitFor(async () => (await alertRow(toResolve.id).count()) === 0, { message: 'the resolved alert to leave the active list' })
    // It resumed from where it was rather than starting over: a subscribe with `since`, answered by a resumed snapshot.
    const resubscribe = sent.slice(sentBefore).find((f) => f.type === 'subscribe')
    expect(resubscribe?.since).toBeGreaterThanOrEqual(lastSeqBefore)
    expect(received.filter((f) => f.type === 'snapshot').at(-1)?.resumed).toBe(true)
    // The only problems while cut off are the failed connection attempts themselves.
    const during = problems.slice(problemsBefore)
    for (const p of during) expect(p.text).toMatch(/WebSocket|ERR_CONNECTION|net::|Failed to fetch/i)
    problems.length = problemsBefore
  })

  it('saves a screenshot of each view', async () => {
    for (const view of ['overview', 'trends', 'map', 'alerts', 'parking']) {
      await page.locator(`#${view}`).scrollIntoViewIfNeeded()
      await screenshot(page, `view-${view}-1920`, `#${view}`)
    }
    expect(problems).toEqual([])
  })

  it('switches between Chinese and English, and remembers the choice', async () => {
    const lang = page.locator('[data-testid="lang"]')
    const html = page.locator('html')
    const first = await html.getAttribute('lang')
    const other = first === 'en' ? 'zh-CN' : 'en'
    const title = async (): Promise<string> => (await page.locator('#alerts h2').textContent()) ?? ''
    const before = await title()
    await lang.click()
    await page.locator(`html[lang="${other}"]`).waitFor({ state: 'attached' })
    await waitFor(async () => (await title()) !== before, { message: 'the section titles to change language' })
    expect(await title()).toMatch(other === 'en' ? /^[\x20-\x7e]+$/ : /[\u4e00-\u9fff]/)
    await page.reload()
    await page.locator(`html[lang="${other}"]`).waitFor({ state: 'attached' })
    await lang.click()
    await page.locator(`html[lang="${first}"]`).waitFor({ state: 'attached' })
    await page.locator('[data-testid="conn"][data-state="live"]').waitFor({ timeout: 15_000 })
  })

  it('works on a 375 px phone: no horizontal scrolling, no console error', async () => {
    const phone = await openPage(browser, { width: 375, height: 812 })
    try {
      await phone.page.goto(`${base}/`)
      await phone.page.locator('[data-testid="conn"][data-state="live"]').waitFor({ timeout: 15_000 })
      await phone.page.locator('[data-testid="gauge"]').first().waitFor()
      await phone.page.locator('[data-testid="alert"]').first().waitFor()
      const width = await phone.page.evaluate<number>('document.documentElement.scrollWidth')
      expect(width).toBeLessThanOrEqual(375)
      const button = phone.page.locator('[data-testid="alert"] [data-action="ack"], [data-testid="alert"] [data-action="resolve"]').first()
      const box = await button.boundingBox()
      expect(box?.height).toBeGreaterThanOrEqual(40)
      await screenshot(phone.page, 'phone-375')
      expect(phone.problems).toEqual([])
    } finally {
      await phone.context.close()
    }
  })
})
