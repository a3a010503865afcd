import type { MqttClient } from 'mqtt'
import type { SimulatedMessage } from '../../simulators/generate-messages.js'

/**
 * Publishes `messages` in order over one connection at QoS 1, as fast as the broker acknowledges them, with at
 * most `maxInflight` unacknowledged. No pacing: the engine sees the same ordered stream whatever the machine's
 * speed, so only event time matters. Returns how many were published.
 */
export async function publishInOrder(client: MqttClient, messages: Iterable<SimulatedMessage>, maxInflight = 200): Promise<number> {
  const inflight = new Set<Promise<unknown>>()
  let published = 0
  let failure: unknown
  for (const m of messages) {
    if (failure !== undefined) break
    const p: Promise<unknown> = client.publishAsync(m.topic, m.payload, { qos: 1 }).then(
      () => inflight.delete(p),
      (err: unknown) => {
        failure ??= err
        inflight.delete(p)
      },
    )
    inflight.add(p)
    published++
    if (inflight.size >= maxInflight) await Promise.race(inflight)
  }
  await Promise.all(inflight)
  if (failure !== undefined) throw failure
  return published
}
