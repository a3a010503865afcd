import { randomUUID } from 'node:crypto'
import { connectAsync, type MqttClient } from 'mqtt'
import { pino } from 'pino'
import { afterEach, describe, expect, inject, it } from 'vitest'
import { createEmbeddedBroker } from '../../ingest/embedded-broker.js'
import { createExternalBroker } from '../../ingest/external-broker.js'
import { WithholdAck, type Broker, type BrokerMessage } from '../../ports.js'
import { nextEvent, waitFor, withTimeout } from '../helpers/wait-for.js'

const logger = pino({ level: 'silent' })
const cleanups: (() => Promise<unknown>)[] = []
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c().catch(() => {})
})

/** A handler that withholds acknowledgements while `full` is set and records what it took. */
function walLike() {
  const state = { full: false, taken: [] as string[], withheld: 0 }
  const handler = (m: BrokerMessage) => {
    if (state.full && m.qos > 0) {
      state.withheld++
      throw new WithholdAck('log full')
    }
    state.taken.push(m.payload.toString())
  }
  return { state, handler }
}

describe.each([
  ['embedded', async (): Promise<{ broker: Broker; deviceUrl: string }> => {
    const broker = createEmbeddedBroker({ port: 0, logger })
    await broker.start()
    return { broker, deviceUrl: `mqtt://127.0.0.1:${broker.port}` }
  }],
  ['external (Mosquitto)', async (): Promise<{ broker: Broker; deviceUrl: string }> => {
    const url = inject('mosquittoUrl')
    const broker = createExternalBroker({ url, clientId: `cw-withhold-${randomUUID()}`, logger, reconnectPeriodMs: 50 })
    await broker.start()
    return { broker, deviceUrl: url }
  }],
])('a withheld acknowledgement through the %s broker', (kind, make) => {
  it('leaves the message with its sender until it is taken, then it is taken exactly once', async () => {
    const { broker, deviceUrl } = await make()
    cleanups.push(() => broker.close())
    const { state, handler } = walLike()
    const topic = `city/xihu/water_level/WH-${randomUUID().slice(0, 8)}`
    await broker.subscribe(topic, handler)
    const device: MqttClient = await connectAsync(deviceUrl, { clientId: `dev-${randomUUID()}`, clean: false, reconnectPeriod: 50 })
    cleanups.push(() => device.endAsync(true))

    state.full = true
    const acked = device.publishAsync(topic, 'r1', { qos: 1 })
    await waitFor(() => state.withheld >= 1, { timeoutMs: 5000, message: 'the first refusal' })
    if (kind === 'embedded') await nextEvent(device, 'close', 5000)
    expect(state.taken).toEqual([])

    state.full = false
    await withTimeout(acked, 10_000, 'the PUBACK after space was freed')
    await waitFor(() => state.taken.includes('r1'), { message: 'the message taken' })
    // A later message proves nothing more of r1 is pending.
    await device.publishAsync(topic, 'r2', { qos: 1 })
    await waitFor(() => state.taken.includes('r2'), { message: 'the next message' })
    expect(state.taken.filter((p) => p === 'r1')).toHaveLength(1)
  })
})

describe('setAccepting on the embedded broker', () => {
  it('disconnects QoS 1 publishers, refuses new connections, and accepts again', async () => {
    const broker = createEmbeddedBroker({ port: 0, logger })
    await broker.start()
    cleanups.push(() => broker.close())
    await broker.subscribe('city/#', () => {})
    const url = `mqtt://127.0.0.1:${broker.port}`
    const publisher = await connectAsync(url, { reconnectPeriod: 0 })
    const listener = await connectAsync(url, { reconnectPeriod: 0 })
    cleanups.push(() => publisher.endAsync(true), () => listener.endAsync(true))
    await publisher.publishAsync('city/xihu/flow/F', '{}', { qos: 1 })
    const closed = nextEvent(publisher, 'close', 5000)
    await broker.setAccepting(false)
    await closed
    expect(listener.connected).toBe(true)
    await expect(connectAsync(url, { reconnectPeriod: 0, connectTimeout: 2000 })).rejects.toThrow(/unavailable/i)
    await broker.setAccepting(true)
    const again = await connectAsync(url, { reconnectPeriod: 0 })
    cleanups.push(() => again.endAsync(true))
    expect(again.connected).toBe(true)
  })
})

describe('setAccepting on the external broker', () => {
  it('leaves the broker and gets the messages published meanwhile from its persistent session', async () => {
    const url = inject('mosquittoUrl')
    const broker = createExternalBroker({ url, clientId: `cw-pause-${randomUUID()}`, logger, reconnectPeriodMs: 50 })
    await broker.start()
    cleanups.push(() => broker.close())
    const taken: string[] = []
    const topic = `city/xihu/flow/PA-${randomUUID().slice(0, 8)}`
    await broker.subscribe(topic, (m) => void taken.push(m.payload.toString()))
    const device = await connectAsync(url, { reconnectPeriod: 0 })
    cleanups.push(() => device.endAsync(true))
    await device.publishAsync(topic, 'before', { qos: 1 })
    await waitFor(() => taken.includes('before'), { message: 'the first message' })

    await broker.setAccepting(false)
    expect(broker.connected).toBe(false)
    for (const p of ['during-1', 'during-2']) await device.publishAsync(topic, p, { qos: 1 })
    expect(taken).toEqual(['before'])

    await broker.setAccepting(true)
    await waitFor(() => taken.length === 3, { timeoutMs: 10_000, message: 'the messages kept by the session' })
    expect(taken).toEqual(['before', 'during-1', 'during-2'])
  })
})
