import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { PassThrough } from 'node:stream'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { simulateCli } from '../../simulators/simulate-cli.js'
import type { SimulateCliIo } from '../../simulators/simulate-cli.js'
import { fixtureRegistry } from '../helpers/fixture-registry.js'
import { waitFor } from '../helpers/wait-for.js'
import { startRecorder, startTestBroker } from './aedes-broker.js'
import type { TestBroker } from './aedes-broker.js'

function capture(tty = false): SimulateCliIo & { out: () => string; err: () => string } {
  let out = ''
  let err = ''
  return {
    stdout: { write: (s: string) => (out += s) },
    stderr: { write: (s: string) => (err += s), isTTY: tty },
    out: () => out,
    err: () => err,
  }
}

describe('citywater simulate', () => {
  let dir: string
  let registryFile: string
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'citywater-sim-'))
    registryFile = join(dir, 'registry.json')
    writeFileSync(registryFile, JSON.stringify(fixtureRegistry()))
  })
  afterAll(() => rmSync(dir, { recursive: true, force: true }))

  it('prints every option with its default on --help', async () => {
    const io = capture()
    expect(await simulateCli(['--help'], io)).toBe(0)
    for (const option of ['--broker', '--scenario', '--seed', '--start', '--speed', '--rate', '--qos', '--duration', '--registry', '--prefix', '--username', '--password', '--wait-go', '--help']) {
      expect(io.out()).toContain(option)
    }
    expect(io.out()).toContain('mqtt://127.0.0.1:1883')
    expect(io.out()).toMatch(/default normal/)
  })

  it.each([
    [['--speed', '0'], '--speed'],
    [['--speed', 'fast'], '--speed'],
    [['--rate', '-5'], '--rate'],
    [['--qos', '3'], '--qos'],
    [['--seed', '1.5'], '--seed'],
    [['--start', 'yesterday'], '--start'],
    [['--duration', '0'], '--duration'],
    [['--broker', 'http://127.0.0.1'], '--broker'],
    [['--broker', 'not a url'], '--broker'],
    [['--prefix', 'a/b'], '--prefix'],
    [['--scenario', 'hurricane'], '--scenario'],
    [['--scenario', './my-scenario.json'], '--scenario'],
    [['--bogus'], '--bogus'],
    [['--speed'], '--speed'],
    [['--registry', '/nonexistent/registry.json'], '/nonexistent/registry.json'],
    [['--scenario', 'load', '--batch', '101'], '--batch'],
    [['--scenario', 'load', '--interval', '0.0001'], '--interval'],
    [['--scenario', 'load', '--interval', 'registri'], '--interval'],
    [['--interval', 'registry'], '--interval'],
    [['--batch', '10'], '--batch'],
    [['--max-inflight', '0'], '--max-inflight'],
  ])('exits 2 with a one-line message for %j naming %s', async (argv, name) => {
    const io = capture()
    expect(await simulateCli(argv, io)).toBe(2)
    expect(io.err()).toContain(name)
    expect(io.err().trim().split('\n')).toHaveLength(1)
    expect(io.out()).toBe('')
  })

  describe('against a broker', () => {
    let broker: TestBroker
    beforeAll(async () => {
      broker = await startTestBroker()
    })
    afterAll(() => broker.close())

    it('sends the load scenario in gateway batches with --batch and --interval and counts their readings in the --json summary', async () => {
      const recorder = await startRecorder(broker.url, 'city/+/gateway/#')
      try {
        const io = capture()
        const argv = ['--broker', broker.url, '--registry', registryFile, '--scenario', 'load', '--interval', '0.5', '--batch', '10', '--start', '2026-11-27T00:00:00+08:00', '--speed', '1000', '--duration', '0.002', '--qos', '1', '--json']
        expect(await simulateCli(argv, io)).toBe(0)
        const summary = JSON.parse(io.out()) as { published: number; readings: number; firstPublishAt: number; lastSettledAt: number }
        const sensors = fixtureRegistry().sensors.length
        // 2 s of event time at one reading per 0.5 s: 4 readings per sensor.
        expect(summary).toMatchObject({ readings: 4 * sensors, readingsAcknowledged: 4 * sensors, failed: 0, readingsFailed: 0 })
        expect(summary.published).toBeLessThan(summary.readings)
        expect(summary.lastSettledAt).toBeGreaterThanOrEqual(summary.firstPublishAt)
        await waitFor(() => recorder.messages.length >= summary.published, { message: 'every batch' })
        const batch = JSON.parse(recorder.messages[0]?.payload ?? '[]') as { sensor: string }[]
        expect(batch.length).toBeLessThanOrEqual(10)
        expect(batch[0]).toHaveProperty('sensor')
      } finally {
        await recorder.client.endAsync()
      }
    })

    it('publishes the window, prints the summary on stdout and exits 0', async () => {
      const recorder = await startRecorder(broker.url, 'city/#')
      try {
        const io = capture()
        const argv = ['--broker', broker.url, '--registry', registryFile, '--start', '2026-11-27T00:00:00+08:00', '--speed', '6000', '--duration', '0.1', '--seed', '3', '--qos', '1']
        expect(await simulateCli(argv, io)).toBe(0)
        expect(io.out()).toMatch(/^published 100, acknowledged 100, failed 0 in [0-9.]+ s, event time 2026-11-26T16:00:00.000Z .. 2026-11-26T16:09:00.000Z\n$/)
        expect(io.err()).toBe('')
        await waitFor(() => recorder.messages.length >= 100, { message: '100 messages' })
        expect(JSON.parse(recorder.messages[0]?.payload ?? '{}')).toMatchObject({ ts: Date.parse('2026-11-27T00:00:00+08:00'), seq: 1 })
      } finally {
        await recorder.client.endAsync()
      }
    })

    it('rewrites a progress line in place on a terminal and clears it before the summary', async () => {
      const io = capture(true)
      const argv = ['--broker', broker.url, '--registry', registryFile, '--start', '1795708800000', '--speed', '6000', '--duration', '0.1', '--prefix', 'tty']
      expect(await simulateCli(argv, io)).toBe(0)
      expect(io.err()).toMatch(/^\rsimulate: [0-9,]+ published, [0-9,]+ msg\/s, [0-9,]+ acknowledged, 0 failed, event time \S+\x1b\[K/)
      expect(io.err().endsWith('\r\x1b[K')).toBe(true)
      expect(io.err()).not.toContain('\n')
      expect(io.out()).toMatch(/^published 100, acknowledged 100, failed 0/)
    })

    it('with --wait-go prints a ready line once connected and publishes only after a line on stdin', async () => {
      const stdin = new PassThrough()
      const io = { ...capture(), stdin }
      const argv = ['--broker', broker.url, '--registry', registryFile, '--start', '1795708800000', '--speed', '6000', '--duration', '0.1', '--qos', '1', '--json', '--wait-go']
      const run = simulateCli(argv, io)
      await waitFor(() => io.out().includes('\n'), { message: 'the ready line' })
      expect(JSON.parse(io.out())).toEqual({ ready: true })
      const goAt = Date.now()
      stdin.write('go\n')
      expect(await run).toBe(0)
      const lines = io.out().trim().split('\n')
      expect(lines).toHaveLength(2)
      const summary = JSON.parse(lines[1] as string) as { published: number; acknowledged: number; firstPublishAt: number }
      expect(summary).toMatchObject({ published: 100, acknowledged: 100 })
      expect(summary.firstPublishAt).toBeGreaterThanOrEqual(goAt)
      expect(stdin.isPaused()).toBe(true)
    })

    it('with --wait-go stops cleanly, having published nothing, on an abort before the go line', async () => {
      const abort = new AbortController()
      const io = { ...capture(), stdin: new PassThrough(), signal: abort.signal }
      const run = simulateCli(['--broker', broker.url, '--registry', registryFile, '--start', '1795708800000', '--speed', '60', '--wait-go'], io)
      await waitFor(() => io.err().includes('waiting for a line on standard input'), { message: 'the ready line' })
      abort.abort()
      expect(await run).toBe(0)
      expect(io.out()).toMatch(/^published 0, acknowledged 0, failed 0/)
    })

    it('stops cleanly on an abort (as on SIGINT) with the summary', async () => {
      const abort = new AbortController()
      const io = { ...capture(), signal: abort.signal }
      const run = simulateCli(['--broker', broker.url, '--registry', registryFile, '--start', '1795708800000', '--speed', '60'], io)
      setImmediate(() => abort.abort())
      expect(await run).toBe(0)
      expect(io.out()).toMatch(/^published \d+, acknowledged \d+, failed 0/)
    })
  })

  it('exits 1 when the broker is unreachable', async () => {
    const broker = await startTestBroker()
    const url = broker.url
    await broker.close()
    const io = capture()
    expect(await simulateCli(['--broker', url, '--registry', registryFile, '--duration', '1'], io)).toBe(1)
    expect(io.err()).toContain(`cannot connect to ${url}`)
  })
})
