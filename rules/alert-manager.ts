import { randomBytes } from 'node:crypto'
import type { Logger } from 'pino'
import type { Level } from '../domain.js'
import type { Clock } from '../ports.js'
import type { Alert, AlertFilter, AlertStore } from '../storage/alert-store.js'
import { alertEventLines } from './alert-event-lines.js'
import type { Condition } from './condition.js'
import { allTargets, effectiveTier, escalationDue, notificationTargets, tierRef, type EscalationSettings } from './escalation.js'
import { createMqttNotifier, type MqttPublish } from './notifiers/mqtt-notifier.js'
import {
  alertDetailJson,
  alertJson,
  levelRank,
  maxLevel,
  type AlertDetailJson,
  type AlertEventKind,
  type AlertJson,
  type AlertNotification,
  type IncidentNotification,
} from './notifiers/notification.js'
import { createWebhookNotifier, type WebhookNotifier, type WebhookNotifierOptions, type WebhookTarget } from './notifiers/webhook-notifier.js'
import { LEVEL_NAMES, RULE_DEFAULTS, type RuleSet } from './rule-schema.js'

/** The alerting part of the rules file: who is notified and how noise is held back. */
export interface AlertSettings {
  /** On-call tiers and per-level timeouts; none: no escalation, every webhook hears everything. */
  escalation?: EscalationSettings
  /** Flap detection and incident grouping; each off when absent. */
  noise?: RuleSet['noise']
  /** Notification targets (JSON, DingTalk, WeCom). */
  webhooks?: RuleSet['webhooks']
  /** Multiplies escalation timeouts and the flap and incident windows (the file's `defaults.durationScale`); default 1. */
  durationScale?: number
}

/** The AlertSettings of a rules file. */
export function alertSettingsOf(set: RuleSet): AlertSettings {
  return {
    ...(set.escalation === undefined ? {} : { escalation: set.escalation }),
    ...(set.noise === undefined ? {} : { noise: set.noise }),
    ...(set.webhooks === undefined ? {} : { webhooks: set.webhooks }),
    durationScale: set.defaults?.durationScale ?? RULE_DEFAULTS.durationScale,
  }
}

/** Where the manager publishes; the app binds these to the broker, the websocket hub and the write-ahead log. */
export interface AlertNotify {
  /** MQTT publish, QoS 1; retained alert JSON while active, an empty retained payload on resolve. */
  mqtt: MqttPublish
  /** Websocket `alert` event with the alert JSON, on every transition. */
  ws: (alert: AlertJson) => void
  /** `alert_event` line-protocol points (precision ms) and their time range, e.g. `wal.appendPoints`. */
  points?: (lines: string[], minTs: number, maxTs: number) => void
}

/** Options of createAlertManager. */
export interface AlertManagerOptions {
  store: AlertStore
  /** Wall clock: escalation timeouts, silences, incident windows, notification and operator times. */
  clock: Clock
  settings: AlertSettings
  notify: AlertNotify
  logger: Logger
  /** Webhook delivery tuning (timeouts, backoff, poll interval, fetch); clock defaults to `clock`. */
  delivery?: Partial<Omit<WebhookNotifierOptions, 'store' | 'logger'>>
}

/** Turns rule conditions into alerts and notifications (SPEC §8). */
export interface AlertManager {
  /** Raises, updates and resolves alerts from the rules' conditions; publishes transitions and due notifications. */
  apply(conditions: readonly Condition[]): void
  /** An operator acknowledges an open alert; throws CW_ERR_ALERT_NOT_FOUND (404) or CW_ERR_ALERT_TRANSITION (409). */
  acknowledge(id: string, who: string, note?: string | null): AlertJson
  /** An operator resolves an alert; throws CW_ERR_ALERT_NOT_FOUND (404) or CW_ERR_ALERT_TRANSITION (409). */
  resolve(id: string, who: string, note?: string | null): AlertJson
  /** One alert with its audit trail; undefined when unknown. */
  get(id: string): AlertDetailJson | undefined
  /** Alerts matching the filter, newest raised first. */
  list(filter?: AlertFilter): AlertJson[]
  /** Alerts not resolved, newest raised first (the websocket `alerts` snapshot). */
  active(): AlertJson[]
  /** Escalations, flap clearing, incident flushes and notifications held by silences or flapping; call every few seconds. */
  tick(): void
  /** New settings after the rules were replaced. */
  update(settings: AlertSettings): void
  /** Republishes the retained MQTT message of every active alert and starts webhook delivery. */
  start(): void
  /** Stops timers and webhook delivery; what is queued stays in the outbox. */
  close(): Promise<void>
  /** The webhook notifier (delivery loop over the outbox). */
  readonly webhooks: WebhookNotifier
}

interface Incident {
  id: string
  /** Wall time the current window opened, ms. */
  openedAt: number
  /** Alerts whose notification waits for the window's end. */
  pending: Set<string>
  timer: NodeJS.Timeout | undefined
}

const iso = (ms: number): string => new Date(ms).toISOString()
const keyOf = (rule: string, subject: string): string => `${rule}\u0000${subject}`
const newIncidentId = (): string => `i-${randomBytes(4).toString('hex')}`

/**
 * The alert manager. One alert per (rule, subject): a condition at level ≥ 1 raises or updates it, level 0
 * resolves it, a `dataGap` condition holds it. Every transition (raise, level change, ack, resolve, flapping
 * change) goes to the websocket and the retained MQTT message; raise, level change, ack and resolve also give
 * an `alert_event` point. Value updates at the same level are stored (the API shows them) but not pushed.
 *
 * Webhooks are the notifications that reach people. They go out on raise and when the level rises above the
 * highest level already notified (a decrease only updates MQTT and the websocket), and on resolve of a notified
 * alert. Silences and flapping hold them (not the state on MQTT and the websocket); `tick` sends what was held
 * once the silence ends or the alert has been quiet for the flap window. An operator's resolve holds the subject
 * until its condition clears or rises above the resolved level, so a persisting condition does not re-raise.
 *
 * Incident grouping (wall clock): when a notification would make `minAlerts` in one district within `windowS`,
 * one incident notification lists them all instead, and for the next windows that district's notifications are
 * collected and sent as one incident update at each window's end (a timer, and `tick`); a window with nothing
 * new ends the incident. The first `minAlerts − 1` alerts therefore go out at once, without waiting.
 */
export function createAlertManager(options: AlertManagerOptions): AlertManager {
  const { store, clock, notify } = options
  const log = options.logger.child({ module: 'alert-manager' })
  let settings = options.settings
  const mqtt = createMqttNotifier({ publish: notify.mqtt, logger: options.logger })
  const webhooks = createWebhookNotifier({ clock, ...options.delivery, store, logger: options.logger })
  webhooks.setTargets(allTargets(settings))
  const encode = alertEventLines()
  /** Active alerts by (rule, subject); the store is the truth, this saves a lookup per condition. */
  const activeByKey = new Map<string, Alert>()
  for (const alert of store.active()) activeByKey.set(keyOf(alert.rule, alert.subject), alert)
  /** Level up to which an operator-resolved subject is held; null: not held. Unknown keys are read from the store. */
  const heldAfterResolve = new Map<string, Level | null>()
  /** Per district: alerts notified within the incident window, with their wall time. */
  const recent = new Map<string, Map<string, number>>()
  const incidents = new Map<string, Incident>()
  let pendingLines: { line: string; at: number }[] = []
  let closed = false

  const scale = (): number => settings.durationScale ?? RULE_DEFAULTS.durationScale
  const windowMs = (s: number): number => Math.max(1, Math.round(s * 1000 * scale()))

  function flushPoints(): void {
    if (pendingLines.length === 0 || notify.points === undefined) {
      pendingLines = []
      return
    }
    const batch = pendingLines
    pendingLines = []
    let min = Number.POSITIVE_INFINITY
    let max = Number.NEGATIVE_INFINITY
    for (const p of batch) {
      min = Math.min(min, p.at)
      max = Math.max(max, p.at)
    }
    try {
      notify.points(
        batch.map((p) => p.line),
        min,
        max,
      )
    } catch (err) {
      log.warn({ err, points: batch.length }, 'alert_event points failed')
    }
  }

  /** Mirrors the alert's state on the websocket and MQTT; `at` also records an alert_event point. */
  function publishState(alert: Alert, at?: number): void {
    const json = alertJson(alert)
    try {
      notify.ws(json)
    } catch (err) {
      log.warn({ err, alert: alert.id }, 'websocket alert publish failed')
    }
    if (alert.state === 'resolved') mqtt.clear(json)
    else mqtt.publish(json)
    if (at !== undefined) {
      const point = encode(json, at)
      if (point !== null) pendingLines.push(point)
    }
  }

  function remember(alert: Alert): Alert {
    const key = keyOf(alert.rule, alert.subject)
    if (alert.state === 'resolved') {
      if (activeByKey.get(key)?.id === alert.id) activeByKey.delete(key)
    } else {
      activeByKey.set(key, alert)
    }
    return alert
  }

  /** Marks the alert flapping when its (rule, subject) made more than N transitions within the flap window. */
  function checkFlapping(alert: Alert, at: number): Alert {
    const flap = settings.noise?.flap
    if (flap === undefined || alert.flapping) return alert
    const count = store.transitionsSince(alert.id, at - windowMs(flap.windowS))
    if (count <= flap.transitions) return alert
    log.info({ alert: alert.id, rule: alert.rule, subject: alert.subject, transitions: count }, 'alert flapping, notifications held')
    return store.setFlapping(alert.id, true, at)
  }

  /** A raise or level change by the engine at event time `at`. */
  function engineTransition(alert: Alert, at: number): Alert {
    store.recordTransition(alert.id, at)
    const current = remember(checkFlapping(alert, at))
    publishState(current, at)
    return current
  }

  /** A resolve (engine or operator) at `at`: state out, and the receivers of earlier notifications told. */
  function resolved(alert: Alert, who: string, at: number, countsAsFlap: boolean): void {
    remember(alert)
    if (countsAsFlap) store.recordTransition(alert.id, at)
    publishState(alert, at)
    if (alert.notifiedAt !== null) sendAlert(alert, 'resolved', clock.now(), who)
  }

  function targetsOf(alert: Alert): WebhookTarget[] {
    return notificationTargets(settings, maxLevel(alert.level, alert.notifiedLevel), effectiveTier(settings, alert.tier))
  }

  /** Queues one alert notification to its targets; every event but `resolved` is recorded as notified. */
  function sendAlert(alert: Alert, event: AlertEventKind, now: number, by?: string): Alert {
    const tier = effectiveTier(settings, alert.tier)
    const notification: AlertNotification = {
      type: 'alert',
      event,
      at: iso(now),
      alert: alertJson(alert),
      tier: tierRef(settings, tier),
      ...(by === undefined ? {} : { by }),
    }
    for (const target of targetsOf(alert)) webhooks.enqueue(target, notification)
    webhooks.kick()
    log.info({ alert: alert.id, event, level: alert.level, tier }, 'alert notification')
    if (event === 'resolved') return alert
    return remember(store.markNotified(alert.id, maxLevel(alert.level, alert.notifiedLevel), now, tier))
  }

  /** Queues one incident notification listing `alerts` (each target gets those it would get alone) and marks the due ones notified. */
  function sendIncident(incidentId: string, district: string, alerts: readonly Alert[], due: ReadonlySet<string>, update: boolean, now: number): void {
    const perTarget = new Map<string, { target: WebhookTarget; alerts: AlertJson[] }>()
    for (const alert of alerts) {
      for (const target of targetsOf(alert)) {
        const entry = perTarget.get(target.url) ?? { target, alerts: [] }
        entry.alerts.push(alertJson(alert))
        perTarget.set(target.url, entry)
      }
    }
    for (const { target, alerts: listed } of perTarget.values()) {
      const notification: IncidentNotification = { type: 'incident', id: incidentId, at: iso(now), district, update, count: listed.length, alerts: listed }
      webhooks.enqueue(target, notification)
    }
    webhooks.kick()
    log.info({ incident: incidentId, district, alerts: alerts.length, update }, 'incident notification')
    for (const alert of alerts) {
      if (due.has(alert.id)) remember(store.markNotified(alert.id, maxLevel(alert.level, alert.notifiedLevel), now, effectiveTier(settings, alert.tier)))
    }
  }

  /** Whether a notification is owed and may go now: a level above the highest notified, someone to tell, not held. */
  function isDue(alert: Alert, now: number): boolean {
    if (alert.state === 'resolved' || alert.flapping) return false
    if (levelRank(alert.level) <= levelRank(alert.notifiedLevel)) return false
    // Someone acknowledged it before anyone was told: only a later rise is news.
    if (alert.state === 'acknowledged' && alert.notifiedLevel === null) return false
    // Nobody to tell (no webhooks, or all above this level): not recorded as notified, so a rise or new webhooks still count.
    if (targetsOf(alert).length === 0) return false
    return !store.isSilenced(alert, now)
  }

  function current(id: string): Alert | undefined {
    const detail = store.get(id)
    if (detail === undefined) return undefined
    const { audit: _audit, history: _history, ...alert } = detail
    return remember(alert)
  }

  function armIncident(district: string, incident: Incident): void {
    if (incident.timer !== undefined) clearTimeout(incident.timer)
    const incidentCfg = settings.noise?.incident
    if (incidentCfg === undefined || closed) return
    incident.timer = setTimeout(() => {
      incident.timer = undefined
      try {
        flushIncidents(clock.now(), false)
        flushPoints()
      } catch (err) {
        log.error({ err, district }, 'incident flush failed')
      }
    }, windowMs(incidentCfg.windowS))
    incident.timer.unref()
  }

  /** Sends the batches of incidents whose window has ended (all of them when `force`). */
  function flushIncidents(now: number, force: boolean): void {
    const incidentCfg = settings.noise?.incident
    for (const [district, incident] of incidents) {
      if (!force && incidentCfg !== undefined && now < incident.openedAt + windowMs(incidentCfg.windowS)) continue
      const batch: Alert[] = []
      for (const id of incident.pending) {
        const alert = current(id)
        if (alert !== undefined && isDue(alert, now)) batch.push(alert)
      }
      incident.pending.clear()
      if (batch.length === 0 || force || incidentCfg === undefined) {
        for (const alert of batch) sendAlert(alert, alert.notifiedLevel === null ? 'raised' : 'level_up', now)
        if (incident.timer !== undefined) clearTimeout(incident.timer)
        incidents.delete(district)
        continue
      }
      const [only] = batch
      if (batch.length === 1 && only !== undefined) sendAlert(only, only.notifiedLevel === null ? 'raised' : 'level_up', now)
      else sendIncident(incident.id, district, batch, new Set(batch.map((a) => a.id)), true, now)
      incident.openedAt = now
      armIncident(district, incident)
    }
  }

  /** Sends the notifications owed for `candidates`, grouped into incidents per district when configured. */
  function notifyDue(candidates: readonly Alert[], now: number): void {
    const seen = new Set<string>()
    const byDistrict = new Map<string, Alert[]>()
    for (const candidate of candidates) {
      if (seen.has(candidate.id)) continue
      seen.add(candidate.id)
      // A later condition of the same batch may have changed or resolved it since.
      const alert = activeByKey.get(keyOf(candidate.rule, candidate.subject))
      if (alert === undefined || alert.id !== candidate.id || !isDue(alert, now)) continue
      const list = byDistrict.get(alert.district)
      if (list === undefined) byDistrict.set(alert.district, [alert])
      else list.push(alert)
    }
    const incidentCfg = settings.noise?.incident
    for (const [district, alerts] of byDistrict) {
      if (incidentCfg === undefined) {
        for (const alert of alerts) sendAlert(alert, alert.notifiedLevel === null ? 'raised' : 'level_up', now)
        continue
      }
      const open = incidents.get(district)
      if (open !== undefined) {
        for (const alert of alerts) open.pending.add(alert.id)
        continue
      }
      const window = windowMs(incidentCfg.windowS)
      const notified = recent.get(district) ?? new Map<string, number>()
      for (const [id, at] of notified) if (at <= now - window) notified.delete(id)
      const earlier: Alert[] = []
      for (const id of notified.keys()) {
        if (alerts.some((a) => a.id === id)) continue
        const alert = current(id)
        if (alert !== undefined && alert.state !== 'resolved') earlier.push(alert)
      }
      if (earlier.length + alerts.length >= incidentCfg.minAlerts) {
        const incident: Incident = { id: newIncidentId(), openedAt: now, pending: new Set(), timer: undefined }
        sendIncident(incident.id, district, [...earlier, ...alerts], new Set(alerts.map((a) => a.id)), false, now)
        incidents.set(district, incident)
        recent.delete(district)
        armIncident(district, incident)
        continue
      }
      for (const alert of alerts) {
        sendAlert(alert, alert.notifiedLevel === null ? 'raised' : 'level_up', now)
        notified.set(alert.id, now)
      }
      if (notified.size > 0) recent.set(district, notified)
      else recent.delete(district)
    }
  }

  /** Whether an operator's resolve holds this subject at `level`; reads the last alert of the subject once after a restart. */
  function heldByOperator(key: string, rule: string, subject: string, level: Level): boolean {
    let held = heldAfterResolve.get(key)
    if (held === undefined) {
      held = null
      const [last] = store.list({ rule, subject, limit: 1 })
      if (last !== undefined && last.state === 'resolved') {
        const entry = store.get(last.id)?.audit.findLast((a) => a.what === 'resolved')
        if (entry !== undefined && entry.who !== 'engine') held = last.level
      }
      heldAfterResolve.set(key, held)
    }
    if (held === null) return false
    if (levelRank(level) <= levelRank(held)) return true
    heldAfterResolve.set(key, null)
    return false
  }

  function applyOne(c: Condition, due: Alert[]): void {
    const key = keyOf(c.rule, c.subject)
    if (c.level === 0) {
      // A data gap holds the level: absence of data is not evidence that the condition cleared.
      if (c.dataGap === true) return
      heldAfterResolve.set(key, null)
      if (!activeByKey.has(key)) return
      const alert = store.autoResolve(c.rule, c.subject, c.at, c.value ?? undefined)
      activeByKey.delete(key)
      if (alert !== null) resolved(alert, 'engine', c.at, true)
      return
    }
    const level = LEVEL_NAMES[c.level - 1]
    if (level === undefined) throw new Error(`condition level ${String(c.level)} out of range`)
    const existing = activeByKey.get(key)
    if (existing === undefined) {
      // Nothing to hold yet, and nothing to raise from without a value.
      if (c.dataGap === true && c.value === null) return
      if (heldByOperator(key, c.rule, c.subject, level)) return
    }
    const value = c.value ?? existing?.value ?? c.threshold ?? 0
    const result = store.raiseOrUpdate(
      {
        rule: c.rule,
        subject: c.subject,
        district: c.district,
        segment: c.segment,
        level,
        value,
        threshold: c.threshold ?? existing?.threshold ?? value,
        message: c.message,
        etaMinutes: c.etaMinutes ?? null,
      },
      c.at,
    )
    if (result.change === 'raised' || result.change === 'level_changed') {
      due.push(engineTransition(result.alert, c.at))
    } else {
      remember(result.alert)
    }
  }

  return {
    apply(conditions) {
      if (closed) return
      const due: Alert[] = []
      for (const c of conditions) {
        try {
          applyOne(c, due)
        } catch (err) {
          log.error({ err, rule: c.rule, subject: c.subject }, 'condition not applied')
        }
      }
      try {
        notifyDue(due, clock.now())
      } catch (err) {
        log.error({ err }, 'notifications failed')
      }
      flushPoints()
    },

    acknowledge(id, who, note = null) {
      const now = clock.now()
      const alert = remember(store.acknowledge(id, who, note, now))
      log.info({ alert: id, who }, 'alert acknowledged')
      publishState(alert, now)
      flushPoints()
      return alertJson(alert)
    },

    resolve(id, who, note = null) {
      const now = clock.now()
      const alert = store.resolve(id, who, note, now)
      log.info({ alert: id, who }, 'alert resolved by operator')
      heldAfterResolve.set(keyOf(alert.rule, alert.subject), alert.level)
      resolved(alert, who, now, false)
      flushPoints()
      return alertJson(alert)
    },

    get(id) {
      const detail = store.get(id)
      return detail === undefined ? undefined : alertDetailJson(detail)
    },

    list(filter) {
      return store.list(filter).map(alertJson)
    },

    active() {
      return store.active().map(alertJson)
    },

    tick() {
      if (closed) return
      const now = clock.now()
      try {
        flushIncidents(now, false)
        const flap = settings.noise?.flap
        const due: Alert[] = []
        for (let alert of store.active()) {
          try {
            alert = remember(alert)
            if (alert.flapping && (flap === undefined || store.transitionsSince(alert.id, now - windowMs(flap.windowS)) === 0)) {
              alert = remember(store.setFlapping(alert.id, false, now))
              log.info({ alert: alert.id }, 'alert no longer flapping')
              publishState(alert)
            }
            if (alert.flapping) continue
            const next = escalationDue(alert, settings.escalation, now, scale())
            if (next !== undefined && notificationTargets(settings, alert.level, next).length > 0 && !store.isSilenced(alert, now)) {
              alert = remember(store.setTier(alert.id, next, now))
              alert = sendAlert(alert, 'escalated', now)
            }
            due.push(alert)
          } catch (err) {
            log.error({ err, alert: alert.id }, 'alert tick failed')
          }
        }
        notifyDue(due, now)
      } catch (err) {
        log.error({ err }, 'alert tick failed')
      }
      flushPoints()
    },

    update(next) {
      const groupingOff = next.noise?.incident === undefined
      settings = next
      webhooks.setTargets(allTargets(settings))
      if (groupingOff) {
        flushIncidents(clock.now(), true)
        recent.clear()
      }
      flushPoints()
    },

    start() {
      for (const alert of store.active()) mqtt.publish(alertJson(remember(alert)))
      webhooks.start()
    },

    async close() {
      if (closed) return
      closed = true
      for (const incident of incidents.values()) if (incident.timer !== undefined) clearTimeout(incident.timer)
      incidents.clear()
      await webhooks.close()
    },

    webhooks,
  }
}
