import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, utimesSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { afterAll, describe, expect, it } from 'vitest'
import { buildEngine, ENGINE_BUNDLE, type EngineManifest } from '../../bin/build-engine.js'
import { spawnEngine } from '../helpers/engine-process.js'
import { runNode, type Finished } from '../helpers/run-node.js'

const ROOT = fileURLToPath(new URL('../..', import.meta.url))

/** Runs `node bin/citywater.js args` under `root` to completion. */
function run(root: string, args: string[], env: Record<string, string> = {}): Promise<Finished> {
  return runNode(join(root, 'bin', 'citywater.js'), args, env)
}

describe('bin/citywater.js runs the bundle only while it is fresh', () => {
  // A project of three files: a bundle and the sources say which one ran.
  const root = mkdtempSync(join(tmpdir(), 'cw-bundle-'))
  mkdirSync(join(root, 'bin'))
  mkdirSync(join(root, 'dist'))
  copyFileSync(join(ROOT, 'bin', 'citywater.js'), join(root, 'bin', 'citywater.js'))
  writeFileSync(join(root, 'package.json'), '{"type":"module"}')
  symlinkSync(join(ROOT, 'node_modules'), join(root, 'node_modules'), 'dir')
  writeFileSync(join(root, 'cli.ts'), "export async function main(argv: string[]): Promise<void> { console.log('sources', argv.join(' ')) }\n")
  writeFileSync(join(root, 'dist', 'citywater.mjs'), "export async function main(argv) { console.log('bundle', argv.join(' ')) }\n")
  const manifestFile = join(root, 'dist', 'citywater.manifest.json')
  const writeManifest = (inputs: EngineManifest['inputs']): void => writeFileSync(manifestFile, JSON.stringify({ bundle: ENGINE_BUNDLE, inputs }))
  const cli = (): EngineManifest['inputs'][number] => {
    const source = readFileSync(join(root, 'cli.ts'))
    return ['cli.ts', Math.floor(Date.now() / 1000) * 1000, source.length]
  }
  afterAll(() => rmSync(root, { recursive: true, force: true }))

  it('runs the bundle when every input has its recorded mtime and size', async () => {
    const input = cli()
    utimesSync(join(root, 'cli.ts'), input[1] / 1000, input[1] / 1000)
    writeManifest([input])
    expect((await run(root, ['start', '--x'])).stdout).toBe('bundle start --x\n')
  })

  it('runs the sources when an input changed since the build', async () => {
    const input = cli()
    utimesSync(join(root, 'cli.ts'), input[1] / 1000 - 60, input[1] / 1000 - 60)
    writeManifest([input])
    expect((await run(root, ['start'])).stdout).toBe('sources start\n')
    writeManifest([[input[0], input[1] - 60_000, input[2] + 1]])
    expect((await run(root, ['start'])).stdout).toBe('sources start\n')
  })

  it('runs the sources with CITYWATER_BUNDLE=0, without a manifest, or when an input is gone', async () => {
    const input = cli()
    utimesSync(join(root, 'cli.ts'), input[1] / 1000, input[1] / 1000)
    writeManifest([input])
    expect((await run(root, ['x'], { CITYWATER_BUNDLE: '0' })).stdout).toBe('sources x\n')
    writeManifest([input, ['gone.ts', input[1], 1]])
    expect((await run(root, ['x'])).stdout).toBe('sources x\n')
    rmSync(manifestFile)
    expect((await run(root, ['x'])).stdout).toBe('sources x\n')
  })
})

describe('the engine bundle', () => {
  it('covers the engine and finds its files relative to the sources: registry, rules, dashboard, scenarios', async () => {
    const manifest = await buildEngine()
    const inputs = manifest.inputs.map(([path]) => path)
    expect(inputs).toEqual(expect.arrayContaining(['cli.ts', 'app.ts', 'config.ts', 'api/dashboard-routes.ts', 'simulators/scenario-storm.ts']))
    expect(inputs.some((p) => p.includes('node_modules'))).toBe(false)
    const dataDir = mkdtempSync(join(tmpdir(), 'cw-bundle-engine-'))
    const engine = spawnEngine({ CITYWATER_DATA_DIR: dataDir, CITYWATER_MQTT_PORT: '0', CITYWATER_HTTP_PORT: '0', CITYWATER_INFLUX_URL: 'http://127.0.0.1:9' })
    try {
      const { http, mqtt } = await engine.started(60_000)
      const started = engine.logs.find((l) => l.msg === 'citywater started') as Record<string, unknown>
      expect(started.code).toBe('bundle')
      expect(started.sensors).toBe(405)
      expect((await fetch(`${http}/`)).status).toBe(200)
      expect(((await (await fetch(`${http}/api/rules`)).json()) as { rules: unknown[] }).rules.length).toBeGreaterThan(0)
      const storm = await run(ROOT, ['simulate', '--broker', mqtt, '--scenario', 'storm', '--start', String(Date.now() - 60_000), '--speed', '60', '--duration', '1', '--json'])
      expect(storm.code).toBe(0)
      expect(JSON.parse(storm.stdout.trim().split('\n').pop() as string).readings).toBeGreaterThan(0)
    } finally {
      engine.child.kill('SIGTERM')
      await engine.exited
      rmSync(dataDir, { recursive: true, force: true })
    }
  })
})
