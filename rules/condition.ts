import type { AlertLevel } from '../stream/indices/smooth-subscores.js'
import type { RuleType } from './rule-schema.js'

export type { AlertLevel }

/** What a rule says about one subject at one moment; the alert manager keeps one alert per `(rule, subject)`. */
export interface Condition {
  rule: string
  type: RuleType
  /** Sensor id for rules on readings, segment id for index rules, segment or district id for composites. */
  subject: string
  district: string
  segment: string | null
  /** 0 cleared past the reset value (the alert manager resolves the alert), 1 blue … 4 red. */
  level: AlertLevel
  /** The value the level was decided on (reading, rate, index), `null` when there is none (a data gap). */
  value: number | null
  /** The raise value of the level (the reset value crossed when 0), `null` when none applies. */
  threshold: number | null
  /** Human text, e.g. "Ponding 31.5 cm at Wensan Rd (orange, >= 27 cm)". */
  message: string
  /** When it was decided, epoch ms: event time, or wall time for `stale` and data-gap holds. */
  at: number
  /** `time_to_overflow`: predicted minutes until the limit, `null` when not rising. */
  etaMinutes?: number | null
  /** The level is held because the index is null or the sensor is silent. */
  dataGap?: boolean
  /** `tunnel_closure`: close the underpass, or reopening is recommended. */
  instruction?: 'close' | 'reopen'
}

/** What an evaluator reports about a subject: a Condition without its identity. */
export type Report = Omit<Condition, 'rule' | 'type' | 'subject' | 'district' | 'segment' | 'at'>
