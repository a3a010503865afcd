import { randomUUID } from 'node:crypto'
import { connectAsync, type MqttClient } from 'mqtt'
import { pino } from 'pino'
import { afterAll, afterEach, beforeAll, describe, expect, inject, it } from 'vitest'
import { createExternalBroker, nextReconnectDelay, type ExternalBroker, type ExternalBrokerOptions } from '../../ingest/external-broker.js'
import type { BrokerMessage } from '../../ports.js'
import { startMosquitto, type Mosquitto } from '../helpers/mosquitto.js'
import { deferred, waitFor } from '../helpers/wait-for.js'
import { brokerContract, mqttDevice } from './broker-contract.js'

const logger = pino({ level: 'silent' })
const mosquittoUrl = inject('mosquittoUrl')

brokerContract('external Mosquitto through mqtt.js', async () => {
  const broker = createExternalBroker({ url: mosquittoUrl, clientId: `engine-${randomUUID()}`, logger })
  await broker.start()
  const device = await mqttDevice(mosquittoUrl)
  return {
    broker,
    device,
    deviceAckWaitsForHandlers: false,
    async close() {
      await device.close()
      await broker.close()
    },
  }
})

describe('nextReconnectDelay', () => {
  it.each([
    [1000, 2000],
    [16_000, 30_000],
    [30_000, 30_000],
  ])('after %i ms waits %i ms next', (current, next) => {
    expect(nextReconnectDelay(current, 30_000)).toBe(next)
  })
})

describe('createExternalBroker', () => {
  const cleanups: (() => Promise<unknown>)[] = []
  afterEach(async () => {
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup()
  })

  function engine(options: Partial<ExternalBrokerOptions> = {}): ExternalBroker {
    const broker = createExternalBroker({ url: mosquittoUrl, clientId: `engine-${randomUUID()}`, logger, ...options })
    cleanups.push(() => broker.close())
    return broker
  }

  async function device(url = mosquittoUrl): Promise<MqttClient> {
    const client = await connectAsync(url, { clientId: `device-${randomUUID()}`, reconnectPeriod: 0 })
    client.on('error', () => {})
    cleanups.push(() => client.endAsync(true))
    return client
  }

  it('withholds the PUBACK to the broker until the handler resolves: a message in a pending handler is redelivered', async () => {
    const clientId = `engine-${randomUUID()}`
    const topic = `ext/${randomUUID()}/in`
    const first = engine({ clientId })
    const gate = deferred()
    const firstCalls: BrokerMessage[] = []
    await first.subscribe(topic, async (m) => {
      firstCalls.push(m)
      await gate.promise
    })
    await first.start()
    const d = await device()
    await d.publishAsync(topic, 'must survive', { qos: 1 })
    await waitFor(() => firstCalls.length === 1, { message: 'the first handler call' })
    await first.close()
    gate.resolve()

    // [MQTT-4.4.0-1] unacknowledged QoS 1 messages are resent when the session resumes
    const second = engine({ clientId })
    const secondCalls: BrokerMessage[] = []
    await second.subscribe(topic, (m) => {
      secondCalls.push(m)
    })
    await second.start()
    await waitFor(() => secondCalls.length === 1, { message: 'the redelivery' })
    expect(secondCalls[0]?.payload.toString()).toBe('must survive')
    expect(secondCalls[0]?.qos).toBe(1)
  })

  it('receives QoS 1 messages published while it was away, held until a handler subscribes', async () => {
    const clientId = `engine-${randomUUID()}`
    const topic = `ext/${randomUUID()}/in`
    const first = engine({ clientId })
    await first.subscribe(topic, () => {})
    await first.start()
    await first.close()

    const d = await device()
    await d.publishAsync(topic, 'queued 1', { qos: 1 })
    await d.publishAsync(topic, 'queued 2', { qos: 1 })

    const second = engine({ clientId })
    await second.start()
    // the session's messages may arrive before this subscribe(): they wait for it instead of being acknowledged
    const seen: string[] = []
    await second.subscribe(topic, (m) => {
      seen.push(m.payload.toString())
    })
    await waitFor(() => seen.length === 2, { message: 'both queued messages' })
    expect(seen).toEqual(['queued 1', 'queued 2'])
  })

  it('resolves start() after connectTimeoutMs when the broker is unreachable, and reports disconnected', async () => {
    const broker = engine({ url: 'mqtt://127.0.0.1:1', connectTimeoutMs: 100, reconnectPeriodMs: 50, maxReconnectPeriodMs: 200 })
    await broker.subscribe('x/#', () => {})
    await broker.start()
    expect(broker.connected).toBe(false)
    await waitFor(() => broker.reconnectDelayMs === 200, { message: 'the backoff to reach its ceiling' })
    await expect(broker.publish('x/+', 'bad')).rejects.toThrow(/invalid MQTT topic name/)
  })

  describe('against a Mosquitto that restarts', () => {
    let mosquitto: Mosquitto

    beforeAll(async () => {
      mosquitto = await startMosquitto()
    }, 30_000)

    afterAll(async () => {
      await mosquitto.stop({ removeData: true })
    })

    it('reconnects with the persistent session and gets the QoS 1 messages published while it was disconnected', async () => {
      const topic = `ext/${randomUUID()}/in`
      const broker = engine({ url: mosquitto.url, reconnectPeriodMs: 2000 })
      const seen: string[] = []
      await broker.subscribe(topic, (m) => {
        seen.push(m.payload.toString())
      })
      await broker.start()
      expect(broker.connected).toBe(true)
      // start() resolves on the CONNACK and subscribes after it: a message received proves the subscription is in the
      // session before Mosquitto stops (on a loaded machine Mosquitto was once stopped first, and the session it saved
      // had no subscription to queue for).
      const before = await device(mosquitto.url)
      await before.publishAsync(topic, 'before', { qos: 1 })
      await waitFor(() => seen.length === 1, { message: 'a message before the restart' })

      await mosquitto.stop()
      await waitFor(() => !broker.connected, { message: 'the engine to notice' })
      await mosquitto.start()
      const d = await device(mosquitto.url)
      await d.publishAsync(topic, 'while away', { qos: 1 })
      // the engine waits 2 s before its first reconnect attempt, so this message was queued in its session
      expect(broker.connected).toBe(false)

      // Up to 2 + 4 + 8 s if Mosquitto's restart outlasts the engine's first attempts (each failed one doubles its
      // wait); on a timeout the state says whether the engine had reconnected.
      await waitFor(
        () => {
          if (seen.length === 2) return true
          throw new Error(`engine ${broker.connected ? 'reconnected' : 'not reconnected'}, next reconnect delay ${broker.reconnectDelayMs} ms`)
        },
        { timeoutMs: 20_000, message: 'the queued message' },
      )
      expect(broker.connected).toBe(true)
      await d.publishAsync(topic, 'live again', { qos: 1 })
      await waitFor(() => seen.length === 3, { message: 'a live message after the reconnect' })
      expect(seen).toEqual(['before', 'while away', 'live again'])
    }, 60_000)

    it('re-subscribes when the broker lost the session (CONNACK sessionPresent 0)', async () => {
      const topic = `ext/${randomUUID()}/in`
      const broker = engine({ url: mosquitto.url, reconnectPeriodMs: 100 })
      const seen: string[] = []
      await broker.subscribe(topic, (m) => {
        seen.push(m.payload.toString())
      })
      await broker.start()

      await mosquitto.stop()
      await waitFor(() => !broker.connected, { message: 'the engine to notice' })
      await mosquitto.start({ wipeSessions: true })
      await waitFor(() => broker.connected, { timeoutMs: 10_000, message: 'the reconnect' })
      const d = await device(mosquitto.url)
      // the SUBSCRIBE follows the CONNACK; probe until it took effect
      await waitFor(
        async () => {
          await d.publishAsync(topic, 'probe', { qos: 1 })
          return seen.length > 0
        },
        { intervalMs: 50, message: 'the re-issued subscription' },
      )
      expect(seen[0]).toBe('probe')
    })

    it('connects later when the broker was down at start', async () => {
      await mosquitto.stop()
      const topic = `ext/${randomUUID()}/in`
      const broker = engine({ url: mosquitto.url, connectTimeoutMs: 100, reconnectPeriodMs: 100, maxReconnectPeriodMs: 200 })
      const seen: string[] = []
      await broker.subscribe(topic, (m) => {
        seen.push(m.payload.toString())
      })
      await broker.start()
      expect(broker.connected).toBe(false)
      await mosquitto.start()
      await waitFor(() => broker.connected, { timeoutMs: 10_000, message: 'the late connection' })
      expect(broker.reconnectDelayMs).toBe(100)
      const d = await device(mosquitto.url)
      await waitFor(
        async () => {
          await d.publishAsync(topic, 'hello', { qos: 1 })
          return seen.length > 0
        },
        { intervalMs: 50, message: 'the subscription issued on connect' },
      )
    })
  })
})
