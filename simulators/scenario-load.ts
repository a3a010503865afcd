import { AppError } from '../errors.js'
import type { HookedScenario, SimulatedMessage } from './generate-messages.js'
import { scenarioNormal } from './scenario-normal.js'
import type { ScenarioFactory } from './scenario.js'

/** Options of the load scenario. */
export interface LoadOptions {
  /**
   * Event-time seconds between two readings of every sensor, whatever its registry `intervalS`; default 1. At least
   * 0.001 (so every `(sensor, ts)` is distinct in whole milliseconds). Readings per event-time second = sensors / intervalS.
   * `'registry'`: every sensor at its own registry `intervalS`, the cadence of a running network (the benchmark's soak).
   */
  intervalS?: number | 'registry'
  /**
   * Readings per message; default 1 (each sensor on its own topic). Above 1 (at most 100) readings go out as JSON
   * arrays on `{prefix}/{district}/gateway/LOAD-{district}`, each reading carrying its `sensor`.
   */
  batch?: number
  /** With batching, most event-time ms a reading waits for its batch to fill; default 1000. */
  maxBatchDelayMs?: number
}

/** Defaults of the load scenario. */
export const LOAD_DEFAULTS = { intervalS: 1, batch: 1, maxBatchDelayMs: 1000 } as const

/** Largest gateway batch the load scenario sends. */
export const MAX_LOAD_BATCH = 100

interface Batch {
  district: string
  first: number
  last: number
  items: string[]
  seq: number
}

/**
 * The benchmark's maximum-rate scenario: every sensor reads every `intervalS` (1 s; or its registry interval) of event time with the values of
 * `normal`, so every reading is valid and `(sensor, ts)` never repeats (count stored = count published), optionally
 * batched by district gateway. Publishing speed is then `--speed` × sensors / intervalS, capped by `--rate`.
 */
export function loadScenario(options: LoadOptions = {}): ScenarioFactory {
  const intervalS = options.intervalS ?? LOAD_DEFAULTS.intervalS
  const batch = options.batch ?? LOAD_DEFAULTS.batch
  const maxDelay = options.maxBatchDelayMs ?? LOAD_DEFAULTS.maxBatchDelayMs
  if (intervalS !== 'registry' && !(Number.isFinite(intervalS) && intervalS >= 0.001)) throw new AppError('CW_ERR_CONFIG_INVALID', [`load intervalS must be ≥ 0.001, got ${intervalS}`])
  if (!(Number.isInteger(batch) && batch >= 1 && batch <= MAX_LOAD_BATCH)) {
    throw new AppError('CW_ERR_CONFIG_INVALID', [`load batch must be an integer in [1, ${MAX_LOAD_BATCH}], got ${batch}`])
  }
  return (context): HookedScenario => {
    const normal = scenarioNormal(context)
    const base: HookedScenario = { name: 'load', reading: (sensor, ts) => normal.reading(sensor, ts), tickIntervalS: (sensor) => (intervalS === 'registry' ? sensor.intervalS : intervalS) }
    if (batch === 1) return base
    const open = new Map<string, Batch>()
    const sent = new Map<string, number>()

    function emit(b: Batch, prefix: string): SimulatedMessage {
      open.delete(b.district)
      const id = `LOAD-${b.district}`
      const seq = (sent.get(id) ?? 0) + 1
      sent.set(id, seq)
      return { topic: `${prefix}/${b.district}/gateway/${id}`, payload: `[${b.items.join(',')}]`, ts: b.last, sensor: id, seq, readings: b.items.length }
    }

    return {
      ...base,
      rewrite(message, ctx) {
        const out: SimulatedMessage[] = []
        // Batches that waited long enough go out first, oldest first (Map order is creation order).
        for (const b of open.values()) if (message.ts - b.first >= maxDelay) out.push(emit(b, ctx.topicPrefix))
        const district = ctx.sensor.district
        let b = open.get(district)
        if (b === undefined) open.set(district, (b = { district, first: message.ts, last: message.ts, items: [], seq: 0 }))
        b.items.push(`{"sensor":${JSON.stringify(message.sensor)},${message.payload.slice(1)}`)
        b.last = message.ts
        if (b.items.length >= batch) out.push(emit(b, ctx.topicPrefix))
        return out
      },
      flush(prefix) {
        return [...open.values()].map((b) => emit(b, prefix))
      },
    }
  }
}

/** `load` with its defaults: every sensor every second of event time, one reading per message. */
export const scenarioLoad: ScenarioFactory = loadScenario()
