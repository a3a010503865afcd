import { fieldPrecision } from './field-precision.js'
import { FAULT_CYCLE_MS, cycleFaults } from './fault-plan.js'
import type { Fault } from './fault-plan.js'
import type { HookedScenario, RewriteContext, SimulatedMessage } from './generate-messages.js'
import { scenarioNormal } from './scenario-normal.js'
import type { ReadingFields, ScenarioFactory } from './scenario.js'

/** The fault of `faults` covering `sensor`'s reading at `ts`, if any. */
function covering(faults: readonly Fault[] | undefined, ts: number): Fault | undefined {
  if (faults === undefined) return undefined
  for (const f of faults) if (ts >= f.ts && ts < f.ts + f.count * f.intervalMs) return f
  return undefined
}

/** The payload with its leading `"ts":N` replaced. */
function withTs(payload: string, ts: number): string {
  return payload.replace(/^\{"ts":-?\d+/, `{"ts":${ts}`)
}

/**
 * Normal weather plus the sensor faults of `faultPlan` (simulators/fault-plan.ts), planned from the seed per 12 h
 * cycle: stuck DO (flat line), river-stage spikes, −9999 sentinels, drop-outs, clock skew both ways, duplicates,
 * reversed bursts within the lateness, broken JSON, wrong field types, unregistered sensors, wrong-kind topics.
 * `expectedOutcomes(faultPlan(...))` says what the engine must make of them.
 */
export const scenarioFaults: ScenarioFactory = (context): HookedScenario => {
  const { registry, rng, start, end } = context
  const normal = scenarioNormal(context)
  const bySensor = new Map<string, Fault[]>()
  let plannedCycles = 0
  /** Plans cycles lazily up to the one holding `ts`, so an endless run keeps getting faults. */
  function faultsOf(sensorId: string, ts: number): Fault | undefined {
    const cycle = Math.floor((ts - start) / FAULT_CYCLE_MS)
    while (plannedCycles <= cycle) {
      for (const f of cycleFaults(registry, rng.seed, start, end, plannedCycles)) {
        let list = bySensor.get(f.sensor)
        if (list === undefined) bySensor.set(f.sensor, (list = []))
        list.push(f)
      }
      plannedCycles++
    }
    return covering(bySensor.get(sensorId), ts)
  }
  /** Readings of a reordered burst held back, oldest first. */
  let held: SimulatedMessage[] = []

  return {
    name: 'faults',
    reading(sensor, ts) {
      const fields = normal.reading(sensor, ts)
      const fault = faultsOf(sensor.id, ts)
      if (fields === null || fault === undefined) return fields
      const out: ReadingFields = { ...fields }
      switch (fault.type) {
        case 'dropout':
          return null
        case 'flat':
        case 'sentinel':
          if (fault.field !== undefined && fault.value !== undefined) out[fault.field] = fault.value
          return out
        case 'spike': {
          const field = fault.field ?? ''
          const v = out[field]
          if (v !== undefined) out[field] = fieldPrecision(sensor.kind, field, v + (fault.offset ?? 0))
          return out
        }
        default:
          return out
      }
    },
    rewrite(message: SimulatedMessage, ctx: RewriteContext): SimulatedMessage[] {
      const fault = faultsOf(message.sensor, message.ts)
      if (fault === undefined) return [message]
      switch (fault.type) {
        case 'ts_future':
        case 'ts_expired':
          return [{ ...message, payload: withTs(message.payload, message.ts + (fault.shiftMs ?? 0)) }]
        case 'duplicate':
          return Array.from({ length: 1 + (fault.copies ?? 1) }, () => message)
        case 'reorder': {
          held.push(message)
          if (message.ts < fault.ts + (fault.count - 1) * fault.intervalMs) return []
          // The newest first, then the held ones newest to oldest, all in the newest's slot.
          const burst = held.reverse().map((m) => ({ ...m, ts: message.ts }))
          held = []
          return burst
        }
        case 'malformed_json':
          // Cut off mid-number: no closing brace.
          return [{ ...message, payload: message.payload.slice(0, -2) }]
        case 'schema': {
          const field = fault.field ?? ''
          const value = ctx.fields[field]
          if (value === undefined) return [message]
          const key = `,${JSON.stringify(field)}:${JSON.stringify(value)}`
          return [{ ...message, payload: message.payload.replace(key, `,${JSON.stringify(field)}:${JSON.stringify(String(value))}`) }]
        }
        case 'unknown_sensor': {
          const tail = fault.topicTail ?? ''
          return [message, { ...message, topic: `${ctx.topicPrefix}/${tail}`, sensor: tail.slice(tail.lastIndexOf('/') + 1) }]
        }
        case 'topic_mismatch':
          return [{ ...message, topic: `${ctx.topicPrefix}/${fault.topicTail ?? ''}` }]
        default:
          return [message]
      }
    },
    flush() {
      const rest = held.reverse()
      held = []
      return rest
    },
  }
}
