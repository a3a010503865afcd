import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, describe, expect, inject, it } from 'vitest'
import { spawnEngine } from '../helpers/engine-process.js'
import { waitFor, withTimeout } from '../helpers/wait-for.js'

describe('citywater demo', () => {
  const dir = mkdtempSync(join(tmpdir(), 'cw-demo-'))
  const demo = spawnEngine({
    CITYWATER_HTTP_PORT: '0',
    CITYWATER_MQTT_PORT: '0',
    CITYWATER_DATA_DIR: dir,
    CITYWATER_INFLUX_URL: inject('influxUrl'),
    CITYWATER_INFLUX_DB: `demo_${process.pid}`,
  }, [process.execPath, 'bin/citywater.js', 'demo'])
  afterAll(async () => {
    if (demo.child.exitCode === null) demo.child.kill('SIGKILL')
    rmSync(dir, { recursive: true, force: true })
  })

  it('gives every segment and district an index value and raises the backfilled storm\'s alerts within 60 seconds, then keeps running live', async () => {
    const { http, pid } = await demo.started()
    const body = await waitFor(async () => {
      const res = (await (await fetch(`${http}/api/indices`)).json()) as { segments: { clear: { value: number | null } | null; smooth: { value: number | null } | null }[]; districts: { clear: { value: number } | null; smooth: { value: number } | null }[] }
      const valued = res.segments.every((s) => (s.clear ?? s.smooth)?.value !== null && (s.clear ?? s.smooth)?.value !== undefined)
      return valued && res.districts.every((d) => typeof d.clear?.value === 'number' && typeof d.smooth?.value === 'number') && res
    }, { timeoutMs: 60_000, intervalMs: 500, message: 'every index to have a value' })
    expect(body.segments.length).toBeGreaterThan(10)
    // The backfilled storm raised alerts: the newcomer sees them within the first minute.
    const alerts = await waitFor(async () => {
      const list = ((await (await fetch(`${http}/api/alerts`)).json()) as { alerts: { rule: string }[] }).alerts
      return list.some((a) => a.rule === 'tunnel-closure') && list
    }, { timeoutMs: 30_000, intervalMs: 500, message: 'alerts from the backfilled storm' })
    expect(alerts.length).toBeGreaterThan(1)
    await waitFor(() => demo.logs.some((l) => l.msg === 'demo backfill done, going live'), { timeoutMs: 30_000, message: 'the live phase' })
    process.kill(pid, 'SIGTERM')
    expect(await withTimeout(demo.exited, 20_000, 'the demo to stop')).toBe(0)
  }, 120_000)
})
