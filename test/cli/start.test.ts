import { copyFileSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { BUNDLED_REGISTRY } from '../../config.js'
import { spawnEngine } from '../helpers/engine-process.js'
import { waitFor, withTimeout } from '../helpers/wait-for.js'

describe('npm start', () => {
  const dir = mkdtempSync(join(tmpdir(), 'cw-start-'))
  const registryFile = join(dir, 'registry.json')
  copyFileSync(BUNDLED_REGISTRY, registryFile)
  const run = spawnEngine({
    CITYWATER_HTTP_PORT: '0',
    CITYWATER_MQTT_PORT: '0',
    CITYWATER_DATA_DIR: join(dir, 'data'),
    CITYWATER_REGISTRY: registryFile,
    // Nothing listens on the discard port: the engine must run without InfluxDB.
    CITYWATER_INFLUX_URL: 'http://127.0.0.1:9',
  }, ['npm', 'start', '--silent'])
  afterAll(() => {
    if (run.child.exitCode === null && run.child.pid !== undefined) process.kill(-run.child.pid, 'SIGKILL')
  })

  it('serves /healthz and the sensor list, reloads the registry on SIGHUP and stops on SIGTERM', async () => {
    const started = await run.started()
    const http = started.http
    expect(await (await fetch(`${http}/healthz`)).json()).toEqual({ status: 'ok' })
    const sensors = (await (await fetch(`${http}/api/sensors`)).json()) as { sensors: { id: string }[] }
    const registry = JSON.parse(readFileSync(BUNDLED_REGISTRY, 'utf8')) as { sensors: { id: string; kind: string; segment: string }[] }
    expect(sensors.sensors.map((s) => s.id)).toEqual(registry.sensors.map((s) => s.id))

    // Without InfluxDB it keeps serving and says so once.
    await waitFor(() => run.logs.some((l) => l.msg === 'influxdb unavailable'), { timeoutMs: 15_000, message: 'the unavailable log line' })
    expect((await fetch(`${http}/readyz`)).status).toBe(200)

    const extra = { ...registry.sensors.find((s) => s.kind === 'rainfall'), id: 'RG-9001', name: 'New rain gauge' }
    writeFileSync(registryFile, JSON.stringify({ ...registry, sensors: [...registry.sensors, extra] }))
    // Signals go to the engine itself (pino logs its pid), as a service manager would send them.
    const engine = started.pid
    process.kill(engine, 'SIGHUP')
    await waitFor(async () => (await fetch(`${http}/api/sensors/RG-9001`)).status === 200, { timeoutMs: 10_000, message: 'the reloaded registry' })

    writeFileSync(registryFile, '{"segments": [], "sensors": [{"id": "bad"}], "boards": []}')
    process.kill(engine, 'SIGHUP')
    await waitFor(() => run.logs.some((l) => l.msg === 'registry reload failed; keeping the current registry'), { timeoutMs: 10_000, message: 'the failed reload log line' })
    expect((await fetch(`${http}/api/sensors/RG-9001`)).status).toBe(200)

    expect(run.logs.filter((l) => l.msg === 'influxdb unavailable')).toHaveLength(1)
    process.kill(engine, 'SIGTERM')
    expect(await withTimeout(run.exited, 15_000, 'the engine to exit')).toBe(0)
  })
})
