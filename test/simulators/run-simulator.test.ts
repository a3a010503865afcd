import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { generateMessages, runSimulator } from '../../simulators/run-simulator.js'
import type { SimulatorProgress } from '../../simulators/run-simulator.js'
import { fixtureRegistry } from '../helpers/fixture-registry.js'
import { waitFor } from '../helpers/wait-for.js'
import { startRecorder, startTestBroker } from './aedes-broker.js'
import type { TestBroker } from './aedes-broker.js'

const START = Date.parse('2026-11-27T00:00:00Z')

describe('runSimulator against an embedded aedes broker', () => {
  let broker: TestBroker
  const cleanups: (() => Promise<void>)[] = []
  beforeEach(async () => {
    broker = await startTestBroker()
    cleanups.push(() => broker.close())
  })
  afterEach(async () => {
    for (const c of cleanups.splice(0).reverse()) await c()
  })

  async function recorder() {
    const r = await startRecorder(broker.url, 'city/#')
    cleanups.push(() => r.client.endAsync())
    return r
  }

  it('publishes exactly the readings of the window, in order, and every one is acknowledged', async () => {
    const { messages } = await recorder()
    const registry = fixtureRegistry()
    // 0.5 s at 3600× is 30 min of event time: 30 readings for each of the 10 sensors (interval 60 s).
    const options = { broker: broker.url, registry, seed: 5, start: START, speed: 3600, durationS: 0.5, qos: 1 as const }
    const summary = await runSimulator(options)
    expect(summary).toMatchObject({ published: 300, acknowledged: 300, failed: 0, firstTs: START, lastTs: START + 29 * 60_000 })
    expect(summary.durationMs).toBeGreaterThanOrEqual(29 * 60_000 / 3600 - 20)
    await waitFor(() => messages.length >= summary.published, { message: `${summary.published} messages` })
    const expected = [...generateMessages(options)].map((m) => ({ topic: m.topic, payload: m.payload }))
    expect(messages).toEqual(expected)
    expect(new Set(messages.map((m) => m.topic))).toEqual(new Set(registry.sensors.map((s) => `city/xihu/${s.kind}/${s.id}`)))
  })

  it('counts no acknowledgements at QoS 0 and honours the topic prefix', async () => {
    const r = await startRecorder(broker.url, 'sim/#')
    cleanups.push(() => r.client.endAsync())
    const summary = await runSimulator({ broker: broker.url, registry: fixtureRegistry(), start: START, speed: 6000, durationS: 0.1, qos: 0, topicPrefix: 'sim' })
    expect(summary).toMatchObject({ published: 100, acknowledged: 0, failed: 0 })
    await waitFor(() => r.messages.length >= 100, { message: '100 messages' })
    expect(r.messages.every((m) => m.topic.startsWith('sim/xihu/'))).toBe(true)
  })

  it('runs until aborted without a duration, then drains and reports what it published', async () => {
    const { messages } = await recorder()
    const abort = new AbortController()
    const progress: SimulatorProgress[] = []
    const summary = await runSimulator({
      broker: broker.url,
      registry: fixtureRegistry(),
      start: START,
      speed: 600,
      signal: abort.signal,
      progressIntervalMs: 20,
      onProgress: (p) => {
        progress.push(p)
        if (p.published >= 50) abort.abort()
      },
    })
    expect(summary.published).toBeGreaterThanOrEqual(50)
    expect(summary.acknowledged).toBe(summary.published)
    expect(summary.failed).toBe(0)
    expect(progress.at(-1)).toMatchObject({ published: summary.published, inFlight: 0 })
    await waitFor(() => messages.length >= summary.published, { message: `${summary.published} messages` })
    expect(messages).toHaveLength(summary.published)
  })

  it('caps the message rate with rate', async () => {
    const { messages } = await recorder()
    // 200 messages at 400/s (burst 20) cannot take less than (200 − 20) / 400 s.
    const summary = await runSimulator({ broker: broker.url, registry: fixtureRegistry(), start: START, speed: 1e6, durationS: 0.0012, rate: 400 })
    expect(summary.published).toBe(200)
    expect(summary.durationMs).toBeGreaterThanOrEqual(((200 - 20) / 400) * 1000 - 15)
    await waitFor(() => messages.length >= 200, { message: '200 messages' })
  })

  it('keeps a bounded number of messages in flight', async () => {
    const progress: SimulatorProgress[] = []
    const summary = await runSimulator({
      broker: broker.url,
      registry: fixtureRegistry(),
      start: START,
      speed: 1e6,
      durationS: 0.012,
      maxInflight: 8,
      progressIntervalMs: 1,
      onProgress: (p) => progress.push(p),
    })
    expect(summary).toMatchObject({ published: 2000, acknowledged: 2000, failed: 0 })
    expect(Math.max(...progress.map((p) => p.inFlight))).toBeLessThanOrEqual(8)
  })

  it('fails clearly when the broker is unreachable', async () => {
    const url = broker.url
    await broker.close()
    cleanups.length = 0
    await expect(runSimulator({ broker: url, registry: fixtureRegistry(), start: START, durationS: 1 })).rejects.toThrow(/cannot connect to mqtt:\/\/127\.0\.0\.1/)
  })

  it('rejects invalid options before connecting', async () => {
    await expect(runSimulator({ broker: 'http://x', registry: fixtureRegistry() })).rejects.toThrow(/broker/)
    await expect(runSimulator({ broker: broker.url, registry: fixtureRegistry(), qos: 3 as never })).rejects.toThrow(/qos/)
    await expect(runSimulator({ broker: broker.url, registry: fixtureRegistry(), scenario: 'nope' })).rejects.toThrow(/unknown scenario/)
  })
})
