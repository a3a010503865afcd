import type { Level } from '../domain.js'
import type { Alert } from '../storage/alert-store.js'
import { levelRank, type TierRef } from './notifiers/notification.js'
import type { WebhookTarget } from './notifiers/webhook-notifier.js'
import { RULE_DEFAULTS, type RuleSet } from './rule-schema.js'

/** On-call tiers and per-level timeouts of the rules file. */
export type EscalationSettings = NonNullable<RuleSet['escalation']>

/** What decides who is notified: the rules file's webhooks and escalation tiers. */
export interface TargetSettings {
  escalation?: EscalationSettings
  webhooks?: RuleSet['webhooks']
}

const isUrl = (s: string): boolean => /^https?:\/\/\S+$/.test(s)

/** The target of a tier entry: a webhook id of the file, or a bare URL (JSON, unsigned); undefined when neither. */
function targetOf(entry: string, settings: TargetSettings): WebhookTarget | undefined {
  const hook = settings.webhooks?.find((w) => w.id === entry)
  if (hook !== undefined) {
    return {
      id: hook.id,
      url: hook.url,
      format: hook.format ?? RULE_DEFAULTS.webhookFormat,
      ...(hook.secret === undefined ? {} : { secret: hook.secret }),
      ...(hook.minLevel === undefined ? {} : { minLevel: hook.minLevel }),
    }
  }
  return isUrl(entry) ? { id: entry, url: entry, format: 'json' } : undefined
}

/** Every target the settings can reach (webhooks and bare tier URLs), e.g. for DingTalk URL signing. */
export function allTargets(settings: TargetSettings): WebhookTarget[] {
  const entries = [...(settings.webhooks ?? []).map((w) => w.id), ...(settings.escalation?.tiers ?? []).flatMap((t) => t.targets)]
  return dedupe(entries.map((e) => targetOf(e, settings)))
}

function dedupe(targets: readonly (WebhookTarget | undefined)[]): WebhookTarget[] {
  const byUrl = new Map<string, WebhookTarget>()
  for (const t of targets) if (t !== undefined && !byUrl.has(t.url)) byUrl.set(t.url, t)
  return [...byUrl.values()]
}

/** The tier actually reached: the stored tier clamped to the configured tiers (rules may have lost some). */
export function effectiveTier(settings: TargetSettings, tier: number): number {
  const count = settings.escalation?.tiers.length ?? 0
  return count === 0 ? 0 : Math.min(Math.max(0, tier), count - 1)
}

/** Tier `tier` as notifications name it; null without escalation. */
export function tierRef(settings: TargetSettings, tier: number): TierRef | null {
  const tiers = settings.escalation?.tiers
  if (tiers === undefined || tiers.length === 0) return null
  const index = effectiveTier(settings, tier)
  return { index, name: tiers[index]?.name ?? `tier ${index + 1}` }
}

/**
 * Who hears about an alert at `level` that has reached `tier`: every webhook named by no tier (broadcast targets,
 * e.g. a duty group chat), plus the targets of tiers 0…tier; without escalation, every webhook. Targets whose
 * minLevel is above `level` are left out.
 */
export function notificationTargets(settings: TargetSettings, level: Level, tier: number): WebhookTarget[] {
  const tiers = settings.escalation?.tiers ?? []
  const named = new Set(tiers.flatMap((t) => t.targets))
  const broadcast = (settings.webhooks ?? []).filter((w) => !named.has(w.id)).map((w) => targetOf(w.id, settings))
  const reached = tiers.slice(0, effectiveTier(settings, tier) + 1).flatMap((t) => t.targets.map((e) => targetOf(e, settings)))
  return dedupe([...broadcast, ...reached]).filter((t) => levelRank(level) >= levelRank(t.minLevel ?? 'blue'))
}

/** Escalation timeout of a level, ms, scaled by the rules file's durationScale. */
export function escalationTimeoutMs(escalation: EscalationSettings, level: Level, durationScale = 1): number {
  return Math.max(1, Math.round(escalation.timeoutsS[level] * 1000 * durationScale))
}

/**
 * The tier an alert escalates to at `now` (wall clock, epoch ms), or undefined when it is not due: only an `open`
 * (unacknowledged) alert that was notified and has gone its level's timeout without a newer notification
 * escalates; at the last tier it is re-notified there. Restart-safe: reads only the stored tier and notifiedAt.
 */
export function escalationDue(
  alert: Pick<Alert, 'state' | 'level' | 'tier' | 'notifiedAt'>,
  escalation: EscalationSettings | undefined,
  now: number,
  durationScale = 1,
): number | undefined {
  if (escalation === undefined || escalation.tiers.length === 0) return undefined
  if (alert.state !== 'open' || alert.notifiedAt === null) return undefined
  // The current level sets the pace: a hazard that has eased escalates more slowly.
  if (now - Date.parse(alert.notifiedAt) < escalationTimeoutMs(escalation, alert.level, durationScale)) return undefined
  return Math.min(alert.tier + 1, escalation.tiers.length - 1)
}
