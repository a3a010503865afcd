import { spawn, type ChildProcess } from 'node:child_process'
import { copyFileSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { afterAll, describe, expect, it } from 'vitest'
import { BUNDLED_REGISTRY } from '../../config.js'
import { waitFor, withTimeout } from '../helpers/wait-for.js'

const ROOT = fileURLToPath(new URL('../..', import.meta.url))

/** A started `npm start` with its parsed pino log lines. */
function npmStart(env: Record<string, string>): { child: ChildProcess; logs: Record<string, unknown>[]; exited: Promise<number | null> } {
  const child = spawn('npm', ['start', '--silent'], { cwd: ROOT, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'], detached: true })
  const logs: Record<string, unknown>[] = []
  let buffer = ''
  child.stdout?.on('data', (chunk: Buffer) => {
    buffer += chunk.toString()
    let nl: number
    while ((nl = buffer.indexOf('\n')) >= 0) {
      const line = buffer.slice(0, nl)
      buffer = buffer.slice(nl + 1)
      try {
        logs.push(JSON.parse(line))
      } catch {
        logs.push({ msg: line })
      }
    }
  })
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)))
  return { child, logs, exited }
}

describe('npm start', () => {
  const dir = mkdtempSync(join(tmpdir(), 'cw-start-'))
  const registryFile = join(dir, 'registry.json')
  copyFileSync(BUNDLED_REGISTRY, registryFile)
  const run = npmStart({
    CITYWATER_HTTP_PORT: '0',
    CITYWATER_MQTT_PORT: '0',
    CITYWATER_DATA_DIR: join(dir, 'data'),
    CITYWATER_REGISTRY: registryFile,
    // Nothing listens on the discard port: the engine must run without InfluxDB.
    CITYWATER_INFLUX_URL: 'http://127.0.0.1:9',
    CITYWATER_LOG_LEVEL: 'info',
  })
  afterAll(() => {
    if (run.child.exitCode === null && run.child.pid !== undefined) process.kill(-run.child.pid, 'SIGKILL')
  })

  it('serves /healthz and the sensor list, reloads the registry on SIGHUP and stops on SIGTERM', async () => {
    const started = await waitFor(() => run.logs.find((l) => l.msg === 'citywater started'), { timeoutMs: 30_000, message: 'the start log line' })
    const http = started.http as string
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
    const engine = started.pid as number
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
