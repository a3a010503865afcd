import type { Registry, Sensor, Reading } from '../domain.js'
import { generateMessages } from '../simulators/generate-messages.js'

/**
 * The first `count` readings of the load scenario over `registry` from `start` (every sensor every `intervalS`),
 * as the engine stores them: flagged good, device time. What "InfluxDB alone" writes and the baseline receives.
 */
export function* loadReadings(registry: Registry, start: number, intervalS: number, count: number): Generator<Reading> {
  const sensors = new Map<string, Sensor>(registry.sensors.map((s) => [s.id, s]))
  let n = 0
  for (const m of generateMessages({ registry, scenario: 'load', load: { intervalS }, start, speed: 1 })) {
    if (n++ >= count) return
    const sensor = sensors.get(m.sensor) as Sensor
    yield simulatedReading(sensor, m.payload)
  }
}

/** A simulated message's payload as ingest would accept it for `sensor`: device time, flagged as given (default good). */
export function simulatedReading(sensor: Sensor, payload: string, quality: Reading['quality'] = 'good', qualityReason = ''): Reading {
  const { ts, seq, ...fields } = JSON.parse(payload) as Record<string, number>
  return {
    sensor: sensor.id,
    kind: sensor.kind,
    district: sensor.district,
    segment: sensor.segment,
    ts: ts as number,
    ...(seq !== undefined ? { seq } : {}),
    fields,
    quality,
    qualityReason,
    tsSource: 'device',
    receivedAt: ts as number,
  }
}
