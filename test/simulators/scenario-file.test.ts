import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { BUNDLED_REGISTRY } from '../../config.js'
import { AppError } from '../../errors.js'
import { loadRegistry } from '../../registry/load-registry.js'
import { generateMessages } from '../../simulators/generate-messages.js'
import { loadScenarioFile, parseScenarioFile } from '../../simulators/scenario-file.js'
import { SCENARIOS } from '../../simulators/scenario.js'
import { simulateCli } from '../../simulators/simulate-cli.js'
import { startRecorder, startTestBroker } from './aedes-broker.js'
import { waitFor } from '../helpers/wait-for.js'

const START = Date.parse('2026-11-27T00:00:00+08:00')
const rain = { startS: 0, durationS: 3600, fromMmH: 10 }

describe('scenario files', () => {
  let dir: string
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'citywater-scenario-'))
  })
  afterAll(() => rmSync(dir, { recursive: true, force: true }))

  it.each(['normal', 'storm', 'pollution', 'parking-rush'])('bundles %s as a valid scenario file', (name) => {
    const timeline = loadScenarioFile(new URL(`../../simulators/scenarios/${name}.json`, import.meta.url).pathname)
    expect(timeline.name).toBe(name)
    expect(Object.keys(SCENARIOS)).toContain(name)
  })

  it('fills in the defaults', () => {
    const t = parseScenarioFile({ name: 'x', rain: [rain], pollution: [{ segment: 's', parameter: 'nh3n_mgl', concentration: 1, startS: 0, durationS: 60, speedMs: 0.2 }], parking: [{ startS: 0, durationS: 7200, multiplier: 2 }] })
    expect(t.rain[0]?.toMmH).toBe(10)
    expect(t.pollution[0]).toMatchObject({ rampS: 7200, decayM: 10_000, doDropMgl: 0 })
    expect(t.parking[0]?.rampS).toBe(1800)
    expect(t.faults).toEqual([])
  })

  it('keeps fault phases with their extra settings for the faults hook', () => {
    const t = parseScenarioFile({ name: 'x', faults: [{ type: 'spike', startS: 60, durationS: 600, sensors: ['TD-0001'], magnitude: 30 }] })
    expect(t.faults).toEqual([{ type: 'spike', startS: 60, durationS: 600, sensors: ['TD-0001'], magnitude: 30 }])
  })

  it.each([
    [{}, 'name is required'],
    [{ name: 'a b' }, 'name must match'],
    [{ name: 'x', wind: [] }, 'wind is not a known property'],
    [{ name: 'x', rain: [{ startS: 0, durationS: 60 }] }, 'rain[0].fromMmH is required'],
    [{ name: 'x', rain: [{ ...rain, fromMmH: -1 }] }, 'rain[0].fromMmH must be >= 0'],
    [{ name: 'x', rain: [{ ...rain, durationS: 0 }] }, 'rain[0].durationS must be > 0'],
    [{ name: 'x', rain: [{ ...rain, zones: 'zone-1' }] }, 'rain[0].zones must be array'],
    [{ name: 'x', rain: [{ ...rain, factors: { 'zone-1': 'big' } }] }, 'rain[0].factors.zone-1 must be number'],
    [{ name: 'x', pollution: [{ segment: 's', parameter: 'arsenic', concentration: 1, startS: 0, durationS: 60, speedMs: 0.2 }] }, 'pollution[0].parameter must be one of'],
    [{ name: 'x', pollution: [{ segment: 's', parameter: 'nh3n_mgl', concentration: 1, startS: 0, durationS: 60, speedMs: 0 }] }, 'pollution[0].speedMs must be > 0'],
    [{ name: 'x', parking: [{ startS: 0, durationS: 600, multiplier: 1.5, rampS: 600 }] }, 'parking[0].rampS must be at most half'],
    [{ name: 'x', parking: [{ startS: -5, durationS: 600, multiplier: 1.5 }] }, 'parking[0].startS must be >= 0'],
    [{ name: 'x', faults: [{ type: 'gremlins', startS: 0, durationS: 60 }] }, 'faults[0].type must be one of'],
    [{ name: 'x', faults: [{ type: 'spike', startS: 0 }] }, 'faults[0].durationS is required'],
  ])('rejects %j naming the field: %s', (json, message) => {
    let error: unknown
    try {
      parseScenarioFile(json, 'bad.json')
    } catch (err) {
      error = err
    }
    expect(error).toBeInstanceOf(AppError)
    expect((error as AppError).code).toBe('CW_ERR_CONFIG_INVALID')
    expect((error as AppError).message).toContain('bad.json: ')
    expect((error as AppError).message).toContain(message)
  })

  it('names the file when it cannot be read or parsed', () => {
    expect(() => loadScenarioFile(join(dir, 'missing.json'))).toThrow(/missing\.json: cannot be read \(ENOENT\)/)
    const broken = join(dir, 'broken.json')
    writeFileSync(broken, '{"name": ')
    expect(() => loadScenarioFile(broken)).toThrow(/broken\.json: not valid JSON/)
  })

  it('rejects references the registry does not have when the scenario is built', () => {
    const file = join(dir, 'ghost.json')
    writeFileSync(file, JSON.stringify({ name: 'ghost', rain: [{ ...rain, zones: ['zone-99'] }] }))
    const registry = loadRegistry(BUNDLED_REGISTRY)
    expect(() => generateMessages({ registry, scenario: file, start: START, durationS: 60 }).next()).toThrow(/rain\[0\]\.zones: 'zone-99' is not a drainage zone/)
  })

  it('runs a scenario file through generateMessages like a bundled one', () => {
    const registry = loadRegistry(BUNDLED_REGISTRY)
    const file = new URL('../../simulators/scenarios/storm.json', import.meta.url).pathname
    const a = [...generateMessages({ registry, scenario: file, start: START, durationS: 3 * 3600 })].map((m) => `${m.topic} ${m.payload}`)
    const b = [...generateMessages({ registry, scenario: 'storm', start: START, durationS: 3 * 3600 })].map((m) => `${m.topic} ${m.payload}`)
    expect(a).toEqual(b)
  })

  it('the normal scenario file reproduces the normal scenario byte for byte', () => {
    const registry = loadRegistry(BUNDLED_REGISTRY)
    const file = new URL('../../simulators/scenarios/normal.json', import.meta.url).pathname
    const a = [...generateMessages({ registry, scenario: file, start: START, durationS: 3600 })].map((m) => m.payload)
    const b = [...generateMessages({ registry, scenario: 'normal', start: START, durationS: 3600 })].map((m) => m.payload)
    expect(a).toEqual(b)
  })

  describe('citywater simulate --scenario FILE', () => {
    it('exits 2 naming the field of an invalid file', async () => {
      const bad = join(dir, 'bad.json')
      writeFileSync(bad, JSON.stringify({ name: 'x', rain: [{ startS: 0, durationS: 60, fromMmH: 'lots' }] }))
      let err = ''
      const code = await simulateCli(['--scenario', bad], { stdout: { write: () => true }, stderr: { write: (s: string) => (err += s) } })
      expect(code).toBe(2)
      expect(err).toContain('--scenario')
      expect(err).toContain('rain[0].fromMmH must be number')
      expect(err.trim().split('\n')).toHaveLength(1)
    })

    it('lists the bundled scenarios and FILE in --help', async () => {
      let out = ''
      expect(await simulateCli(['--help'], { stdout: { write: (s: string) => (out += s) }, stderr: { write: () => true } })).toBe(0)
      for (const name of ['normal', 'storm', 'pollution', 'parking-rush', 'NAME|FILE', 'Scenario files']) expect(out).toContain(name)
    })

    it('publishes a scenario file against a broker', async () => {
      const broker = await startTestBroker()
      const recorder = await startRecorder(broker.url, 'city/+/rainfall/#')
      try {
        const file = join(dir, 'shower.json')
        writeFileSync(file, JSON.stringify({ name: 'shower', rain: [{ startS: 0, durationS: 3600, fromMmH: 12 }] }))
        let out = ''
        const argv = ['--broker', broker.url, '--scenario', file, '--start', '2026-11-27T00:00:00+08:00', '--speed', '60000', '--duration', '0.01', '--qos', '1']
        expect(await simulateCli(argv, { stdout: { write: (s: string) => (out += s) }, stderr: { write: () => true } })).toBe(0)
        expect(out).toMatch(/^published \d+, acknowledged \d+, failed 0/)
        // 10 min of event time: each of the 15 gauges reads at 0, 5 min; the second holds 1 mm (12 mm/h for 5 min, ±7 %).
        await waitFor(() => recorder.messages.length >= 30, { message: '30 rain readings' })
        const second = recorder.messages.map((m) => JSON.parse(m.payload) as { seq: number; rain_mm: number }).filter((p) => p.seq === 2)
        expect(second.length).toBe(15)
        for (const p of second) expect(p.rain_mm).toBeGreaterThanOrEqual(0.9)
      } finally {
        await recorder.client.endAsync()
        await broker.close()
      }
    })
  })
})
