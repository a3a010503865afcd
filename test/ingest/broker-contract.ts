import { randomUUID } from 'node:crypto'
import { connectAsync, type MqttClient } from 'mqtt'
import { afterEach, describe, expect, it } from 'vitest'
import type { MemoryBroker } from '../../ingest/memory-broker.js'
import { topicMatches } from '../../ingest/topic-match.js'
import type { Broker, BrokerMessage } from '../../ports.js'
import { deferred, waitFor } from '../helpers/wait-for.js'

/** A message a device received. */
export interface DeviceMessage {
  topic: string
  payload: Buffer
}

/** A sensor-side client of the broker under test. */
export interface DeviceDouble {
  /** Publishes; settles on the acknowledgement for QoS ≥ 1, once written for QoS 0. */
  publish(topic: string, payload: string | Buffer, qos: 0 | 1 | 2): Promise<void>
  /** Subscribes (resolves on SUBACK). */
  subscribe(filter: string): Promise<void>
  /** Resolves with the next received message whose topic satisfies `match`, in arrival order, with a deadline. */
  next(match: (topic: string) => boolean, timeoutMs?: number): Promise<DeviceMessage>
  close(): Promise<void>
}

/** One started adapter with a device talking to it. */
export interface BrokerHarness {
  broker: Broker
  device: DeviceDouble
  /**
   * Whether the device's own acknowledgement waits for the engine's handlers: true for the embedded broker and the
   * in-memory double. With an external broker the broker acknowledges the device itself; that the engine's PUBACK
   * to the broker waits for the handlers is tested in the external adapter's own suite (redelivery).
   */
  deviceAckWaitsForHandlers: boolean
  close(): Promise<void>
}

/** A device double on mqtt.js, recording every message it receives. */
export async function mqttDevice(url: string, options: { clientId?: string } = {}): Promise<DeviceDouble & { client: MqttClient }> {
  const client = await connectAsync(url, { clientId: options.clientId ?? `device-${randomUUID()}`, reconnectPeriod: 0, protocolVersion: 4 })
  const received: DeviceMessage[] = []
  let cursor = 0
  client.on('message', (topic, payload) => received.push({ topic, payload }))
  client.on('error', () => {})
  return {
    client,
    async publish(topic, payload, qos) {
      await client.publishAsync(topic, payload, { qos })
    },
    async subscribe(filter) {
      await client.subscribeAsync(filter, { qos: 1 })
    },
    next(match, timeoutMs = 5000) {
      return waitFor(
        () => {
          for (let i = cursor; i < received.length; i++) {
            const message = received[i] as DeviceMessage
            if (match(message.topic)) {
              cursor = i + 1
              return message
            }
          }
          return undefined
        },
        { timeoutMs, message: 'a message at the device' },
      )
    },
    async close() {
      await client.endAsync(true)
    },
  }
}

/** A device double for the in-memory broker: publishes are injected, engine publications are what it receives. */
export function memoryDevice(broker: MemoryBroker): DeviceDouble {
  const filters: string[] = []
  let cursor = 0
  return {
    publish: (topic, payload, qos) => broker.inject(topic, payload, qos),
    async subscribe(filter) {
      filters.push(filter)
    },
    next(match, timeoutMs = 5000) {
      return waitFor(
        () => {
          for (let i = cursor; i < broker.published.length; i++) {
            const message = broker.published[i] as BrokerMessage
            if (filters.some((f) => topicMatches(f, message.topic)) && match(message.topic)) {
              cursor = i + 1
              return { topic: message.topic, payload: message.payload }
            }
          }
          return undefined
        },
        { timeoutMs, message: 'a message at the device' },
      )
    },
    async close() {},
  }
}

/**
 * The contract every Broker adapter passes (as aedes-persistence's abstract suite): `factory` returns a started
 * adapter and a device; every test works under its own topic prefix, so adapters may share a broker.
 */
export function brokerContract(name: string, factory: () => Promise<BrokerHarness>): void {
  describe(`Broker contract: ${name}`, () => {
    let harness: BrokerHarness | undefined
    let prefix = ''

    async function setup(): Promise<BrokerHarness> {
      harness = await factory()
      prefix = `contract/${randomUUID()}`
      return harness
    }

    afterEach(async () => {
      await harness?.close()
      harness = undefined
    })

    it('is connected once started and not after close', async () => {
      const { broker } = await setup()
      expect(broker.connected).toBe(true)
      await broker.close()
      expect(broker.connected).toBe(false)
      await broker.close()
    })

    it.each([0, 1] as const)('hands a QoS %i client publish on a matching topic to the handler with topic, payload and qos', async (qos) => {
      const { broker, device } = await setup()
      const seen: BrokerMessage[] = []
      await broker.subscribe(`${prefix}/+/+`, (m) => {
        seen.push(m)
      })
      await device.publish(`${prefix}/xihu/WL-1`, '{"level_m":3.9}', qos)
      await waitFor(() => seen.length === 1, { message: 'the handler call' })
      expect(seen[0]?.topic).toBe(`${prefix}/xihu/WL-1`)
      expect(seen[0]?.payload.toString()).toBe('{"level_m":3.9}')
      expect(seen[0]?.qos).toBe(qos)
      expect(Buffer.isBuffer(seen[0]?.payload)).toBe(true)
    })

    it('does not hand over topics that match no subscription', async () => {
      const { broker, device } = await setup()
      const seen: string[] = []
      await broker.subscribe(`${prefix}/in/+`, (m) => {
        seen.push(m.topic)
      })
      await device.publish(`${prefix}/other/x`, 'no', 1)
      await device.publish(`${prefix}/in/x/deeper`, 'no', 1)
      await device.publish(`${prefix}/in/x`, 'yes', 1)
      await waitFor(() => seen.length > 0, { message: 'the matching message' })
      expect(seen).toEqual([`${prefix}/in/x`])
    })

    it('calls every handler whose filter matches', async () => {
      const { broker, device } = await setup()
      const seen: string[] = []
      await broker.subscribe(`${prefix}/a/+`, () => {
        seen.push('plus')
      })
      await broker.subscribe(`${prefix}/b/#`, () => {
        seen.push('hash')
      })
      await device.publish(`${prefix}/a/1`, '1', 1)
      await device.publish(`${prefix}/b/1/2`, '2', 1)
      await waitFor(() => seen.length === 2, { message: 'both handlers' })
      expect(seen).toEqual(['plus', 'hash'])
    })

    it('delivers what the engine publishes to a subscribed client', async () => {
      const { broker, device } = await setup()
      await device.subscribe(`${prefix}/alerts/#`)
      await broker.publish(`${prefix}/alerts/flood`, Buffer.from('{"level":"red"}'), { qos: 1 })
      await broker.publish(`${prefix}/alerts/quality`, 'string payload', { qos: 0 })
      const first = await device.next((t) => t.startsWith(`${prefix}/alerts/`))
      const second = await device.next((t) => t.startsWith(`${prefix}/alerts/`))
      expect([first.topic, first.payload.toString()]).toEqual([`${prefix}/alerts/flood`, '{"level":"red"}'])
      expect([second.topic, second.payload.toString()]).toEqual([`${prefix}/alerts/quality`, 'string payload'])
    })

    it('rejects publishing on a topic with wildcards', async () => {
      const { broker } = await setup()
      await expect(broker.publish(`${prefix}/+/x`, 'x')).rejects.toThrow(/invalid MQTT topic name/)
    })

    it('rejects subscribing with an invalid filter', async () => {
      const { broker } = await setup()
      await expect(broker.subscribe(`${prefix}/#/x`, () => {})).rejects.toThrow(/invalid MQTT topic filter/)
    })

    it('keeps handing over messages after a handler throws or rejects, and still acknowledges them', async () => {
      const { broker, device } = await setup()
      const seen: string[] = []
      await broker.subscribe(`${prefix}/+`, async (m) => {
        const body = m.payload.toString()
        seen.push(body)
        if (body === 'throw') throw new Error('handler bug')
        if (body === 'reject') await Promise.reject(new Error('storage down'))
      })
      const acks = [device.publish(`${prefix}/a`, 'throw', 1), device.publish(`${prefix}/a`, 'reject', 1), device.publish(`${prefix}/a`, 'fine', 1)]
      await Promise.all(acks)
      await waitFor(() => seen.includes('fine'), { message: 'the message after the failures' })
      expect(seen).toEqual(['throw', 'reject', 'fine'])
    })

    it('acknowledges a QoS 1 publish only after the handler has resolved', async (context) => {
      const { broker, device, deviceAckWaitsForHandlers } = await setup()
      if (!deviceAckWaitsForHandlers) context.skip()
      const gate = deferred()
      await device.subscribe(`${prefix}/marker`)
      await broker.subscribe(`${prefix}/in`, async () => {
        // the marker goes to the publishing device on the same connection: a PUBACK written before the
        // handler ran would arrive before it (TCP keeps order)
        await broker.publish(`${prefix}/marker`, 'handler running')
        await gate.promise
      })
      let acked = false
      const ack = device.publish(`${prefix}/in`, 'durable', 1).then(() => {
        acked = true
      })
      await device.next((t) => t === `${prefix}/marker`)
      expect(acked).toBe(false)
      gate.resolve()
      await ack
      expect(acked).toBe(true)
    })
  })
}
