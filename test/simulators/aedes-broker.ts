import { once } from 'node:events'
import { createServer } from 'node:net'
import type { AddressInfo } from 'node:net'
import { Aedes } from 'aedes'
import { connectAsync } from 'mqtt'
import type { MqttClient } from 'mqtt'

/** A bare aedes broker on a free loopback port, for the simulator tests. */
export interface TestBroker {
  url: string
  close(): Promise<void>
}

/** Starts aedes 1.x (`Aedes.createBroker`) behind a node:net server on port 0. */
export async function startTestBroker(): Promise<TestBroker> {
  const broker = await Aedes.createBroker()
  const server = createServer(broker.handle)
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  const { port } = server.address() as AddressInfo
  return {
    url: `mqtt://127.0.0.1:${port}`,
    async close() {
      server.close()
      await new Promise<void>((resolve) => broker.close(() => resolve()))
    },
  }
}

/** A subscriber that records every message on `filter` (QoS 1), in arrival order. */
export async function startRecorder(url: string, filter = '#'): Promise<{ client: MqttClient; messages: { topic: string; payload: string }[] }> {
  const client = await connectAsync(url, { reconnectPeriod: 0 })
  const messages: { topic: string; payload: string }[] = []
  client.on('message', (topic, payload) => messages.push({ topic, payload: payload.toString('utf8') }))
  await client.subscribeAsync(filter, { qos: 1 })
  return { client, messages }
}
