import { createHmac } from 'node:crypto'
import type { Logger } from 'pino'
import type { Level } from '../../domain.js'
import type { Clock } from '../../ports.js'
import type { AlertStore, OutboxItem, OutboxMessage } from '../../storage/alert-store.js'
import { dingtalkFormat, dingtalkSignedUrl } from './dingtalk-format.js'
import type { Notification } from './notification.js'
import { wecomFormat } from './wecom-format.js'

/** Body formats of a webhook target. */
export type WebhookFormat = 'json' | 'dingtalk' | 'wecom'

/** Where a notification is POSTed: a webhook of the rules file, or a bare URL named by an escalation tier. */
export interface WebhookTarget {
  /** Webhook id, or the URL itself for a bare URL. */
  id: string
  url: string
  /** json: HMAC-SHA256 key of X-Citywater-Signature; dingtalk: the robot's signing secret; wecom: unused. */
  secret?: string
  format: WebhookFormat
  /** Lowest alert level sent to this target; default all. */
  minLevel?: Level
}

/** Header carrying `sha256=<hex HMAC-SHA256 of the body>` on JSON webhooks (SPEC §8). */
export const SIGNATURE_HEADER = 'x-citywater-signature'

/** Header carrying the outbox entry id, the same on every retry, so receivers can drop duplicates. */
export const DELIVERY_HEADER = 'x-citywater-delivery'

/** Every default of WebhookNotifierOptions in one place. */
export const WEBHOOK_DEFAULTS = {
  /** Request timeout, ms. */
  timeoutMs: 10_000,
  /** First retry delay, ms; doubles per failed attempt. */
  backoffBaseMs: 1_000,
  /** Longest retry delay, ms. */
  backoffCapMs: 300_000,
  /** How often the outbox is polled for due entries, ms. */
  pollMs: 1_000,
  /** Entries taken from the outbox per pass. */
  batchSize: 50,
  /** How long `close` lets requests already sent finish before it aborts them, ms. */
  closeGraceMs: 2_000,
} as const

/** Options of the webhook notifier; defaults in WEBHOOK_DEFAULTS. */
export interface WebhookNotifierOptions {
  /** The durable outbox. */
  store: Pick<AlertStore, 'enqueueOutbox' | 'dueOutbox' | 'outboxDelivered' | 'outboxFailed'>
  /** Wall clock of enqueue times, due times and backoff. */
  clock: Clock
  logger: Logger
  /** HTTP client; default the global fetch. */
  fetch?: typeof fetch
  /** Request timeout, ms; default 10 s. */
  timeoutMs?: number
  /** First retry delay, ms; default 1 s. */
  backoffBaseMs?: number
  /** Longest retry delay, ms; default 5 min. */
  backoffCapMs?: number
  /** Outbox poll interval, ms; default 1 s. */
  pollMs?: number
  /** Entries per pass; default 50. */
  batchSize?: number
  /** Jitter source in [0, 1); default Math.random. */
  random?: () => number
  /** How long `close` lets requests already sent finish before aborting them, ms; default 2 s (at most the timeout). */
  closeGraceMs?: number
}

/** Posts notifications to webhooks through the store's durable outbox. */
export interface WebhookNotifier {
  /** Formats and queues a notification for one target (durable once this returns); returns the outbox id. */
  enqueue(target: WebhookTarget, notification: Notification): number
  /** Targets known now; a DingTalk robot's URL is signed at delivery with the secret of the target of that URL. */
  setTargets(targets: readonly WebhookTarget[]): void
  /** Starts the delivery loop (also delivers what a previous run left in the outbox). */
  start(): void
  /** Delivers what is due now, without waiting for the next poll. */
  kick(): void
  /** One delivery pass; resolves with the number of entries attempted. */
  deliverDue(): Promise<number>
  /**
   * Stops the loop: takes no further entry, lets requests in flight finish for up to `closeGraceMs`, then aborts the
   * rest (they stay in the outbox for the next start).
   */
  close(): Promise<void>
}

/** `sha256=` and the hex HMAC-SHA256 of the exact body. */
export function signBody(body: string, secret: string): string {
  return `sha256=${createHmac('sha256', secret).update(body, 'utf8').digest('hex')}`
}

/** The body a target receives: the notification itself (json), or a DingTalk or WeCom robot message. */
export function webhookBody(target: Pick<WebhookTarget, 'format'>, notification: Notification): string {
  switch (target.format) {
    case 'dingtalk':
      return JSON.stringify(dingtalkFormat(notification))
    case 'wecom':
      return JSON.stringify(wecomFormat(notification))
    default:
      return JSON.stringify(notification)
  }
}

/** The outbox entry of a notification for a target; JSON bodies are signed now, over the exact stored body. */
export function webhookRequest(target: WebhookTarget, notification: Notification): OutboxMessage {
  const body = webhookBody(target, notification)
  const headers: Record<string, string> = { 'content-type': 'application/json', 'user-agent': 'citywater' }
  // Without a secret (a bare URL in an escalation tier) there is nothing to sign with: no signature header.
  if (target.format === 'json' && target.secret !== undefined) headers[SIGNATURE_HEADER] = signBody(body, target.secret)
  return { target: target.url, body, headers }
}

/** Delay before the next attempt after `attempts` failures: base · 2^(attempts−1), capped, with equal jitter (half fixed, half random). */
export function backoffMs(attempts: number, baseMs: number, capMs: number, random: () => number = Math.random): number {
  const exp = Math.min(capMs, baseMs * 2 ** Math.max(0, Math.min(attempts - 1, 40)))
  return Math.round(exp / 2 + (exp / 2) * random())
}

/** A robot answers HTTP 200 with `errcode` ≠ 0 when it refuses a message (DingTalk, WeCom); that is a failure. */
function robotError(text: string): string | undefined {
  if (!text.startsWith('{')) return undefined
  try {
    const body = JSON.parse(text) as { errcode?: unknown; errmsg?: unknown }
    if (typeof body.errcode === 'number' && body.errcode !== 0) return `errcode ${body.errcode}: ${String(body.errmsg ?? '')}`
  } catch {
    return undefined
  }
  return undefined
}

/**
 * The webhook notifier: `enqueue` writes the request to the SQLite outbox; a loop POSTs due entries (one at a time
 * per URL, URLs in parallel), marks a 2xx delivered and reschedules anything else with exponential backoff
 * (base 1 s, cap 5 min, jitter) until the store gives up after its outboxMaxAttempts. At-least-once: a receiver
 * may see an entry twice (same X-Citywater-Delivery) and, after retries, out of order; bodies carry `at`.
 */
export function createWebhookNotifier(options: WebhookNotifierOptions): WebhookNotifier {
  const { store, clock } = options
  const log = options.logger.child({ module: 'webhook-notifier' })
  const fetchFn = options.fetch ?? fetch
  const timeoutMs = options.timeoutMs ?? WEBHOOK_DEFAULTS.timeoutMs
  const baseMs = options.backoffBaseMs ?? WEBHOOK_DEFAULTS.backoffBaseMs
  const capMs = options.backoffCapMs ?? WEBHOOK_DEFAULTS.backoffCapMs
  const pollMs = options.pollMs ?? WEBHOOK_DEFAULTS.pollMs
  const batchSize = options.batchSize ?? WEBHOOK_DEFAULTS.batchSize
  const random = options.random ?? Math.random
  const closeGraceMs = Math.min(options.closeGraceMs ?? WEBHOOK_DEFAULTS.closeGraceMs, timeoutMs)
  let byUrl = new Map<string, WebhookTarget>()
  let timer: NodeJS.Timeout | undefined
  let closing = new AbortController()
  let running: Promise<number> | undefined
  let again = false
  let started = false
  /** Set by close: no further entry is taken, while the requests already sent may finish. */
  let draining = false

  async function deliver(item: OutboxItem): Promise<void> {
    const target = byUrl.get(item.target)
    const url = target?.format === 'dingtalk' && target.secret !== undefined ? dingtalkSignedUrl(item.target, target.secret, clock.now()) : item.target
    let error: string | undefined
    try {
      const response = await fetchFn(url, {
        method: 'POST',
        headers: { ...item.headers, [DELIVERY_HEADER]: String(item.id) },
        body: item.body,
        signal: AbortSignal.any([AbortSignal.timeout(timeoutMs), closing.signal]),
      })
      const text = await response.text()
      error = response.ok ? robotError(text) : `HTTP ${response.status}${text === '' ? '' : `: ${text.slice(0, 200)}`}`
    } catch (err) {
      error = err instanceof Error ? err.message : String(err)
    }
    const now = clock.now()
    if (error === undefined) {
      store.outboxDelivered(item.id, now)
      log.debug({ id: item.id, target: item.target }, 'webhook delivered')
      return
    }
    if (closing.signal.aborted) return
    const next = now + backoffMs(item.attempts + 1, baseMs, capMs, random)
    const result = store.outboxFailed(item.id, now, error, next)
    if (result?.dead === true) log.error({ id: item.id, target: item.target, attempts: result.attempts, error }, 'webhook given up')
    else log.warn({ id: item.id, target: item.target, attempts: result?.attempts, error, retryAt: new Date(next).toISOString() }, 'webhook delivery failed')
  }

  async function pass(): Promise<number> {
    let attempted = 0
    do {
      again = false
      const due = store.dueOutbox(clock.now(), batchSize)
      const queues = new Map<string, OutboxItem[]>()
      for (const item of due) {
        const queue = queues.get(item.target)
        if (queue === undefined) queues.set(item.target, [item])
        else queue.push(item)
      }
      await Promise.all(
        [...queues.values()].map(async (queue) => {
          for (const item of queue) {
            if (draining || closing.signal.aborted) return
            await deliver(item)
            attempted += 1
          }
        }),
      )
      if (due.length === batchSize) again = true
    } while (again && !draining && !closing.signal.aborted)
    return attempted
  }

  function deliverDue(): Promise<number> {
    if (running !== undefined) {
      again = true
      return running
    }
    running = pass()
      .catch((err: unknown) => {
        log.error({ err }, 'webhook delivery pass failed')
        return 0
      })
      .finally(() => {
        running = undefined
      })
    return running
  }

  return {
    enqueue(target, notification) {
      const id = store.enqueueOutbox(webhookRequest(target, notification), clock.now())
      log.debug({ id, target: target.id, type: notification.type }, 'webhook queued')
      return id
    },
    setTargets(targets) {
      byUrl = new Map(targets.map((t) => [t.url, t]))
    },
    start() {
      if (started) return
      started = true
      draining = false
      closing = new AbortController()
      timer = setInterval(() => void deliverDue(), pollMs)
      timer.unref()
      void deliverDue()
    },
    kick() {
      if (started) setImmediate(() => void deliverDue())
    },
    deliverDue,
    async close() {
      started = false
      if (timer !== undefined) clearInterval(timer)
      timer = undefined
      // A request the receiver may already have taken is let finish (briefly), so that its answer is recorded and a
      // restart does not send it again; what is still queued stays in the outbox for the next start.
      draining = true
      const inFlight = running
      if (inFlight !== undefined) {
        const grace = setTimeout(() => closing.abort(), closeGraceMs)
        await inFlight
        clearTimeout(grace)
      }
      closing.abort()
      await running
    },
  }
}
