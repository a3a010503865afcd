import type { AlertLevel, Report } from './condition.js'
import type { CompiledComposite } from './compile-rules.js'
import { levelName } from './rule-messages.js'

/** One subject of another rule, as a composite sees it. */
export interface CompositeMember {
  subject: string
  level: AlertLevel
  segment: string | null
  district: string
  /** Drainage zones whose `riverGauges` list the subject: a river gauge counts for the zones draining into its river. */
  zones: readonly string[]
}

/** Whether a member lies in a composite's scope: its segment, a zone it is a river gauge of, or its district. */
export function inScope(member: CompositeMember, scope: 'segment' | 'district', key: string): boolean {
  if (scope === 'district') return member.district === key
  return member.segment === key || member.subject === key || member.zones.includes(key)
}

/**
 * A composite over one segment or district: each condition holds when at least `minSubjects` subjects of its rule in
 * the scope are at `minLevel` or above; the rule's level when all (or any) hold, else 0.
 */
export function compositeReport(rule: CompiledComposite, key: string, members: (rule: string) => readonly CompositeMember[], where: string): Report {
  let met = 0
  const parts: string[] = []
  for (const c of rule.conditions) {
    const hits = members(c.rule).filter((m) => m.level >= c.minLevel && inScope(m, rule.scope, key))
    const ok = hits.length >= c.minSubjects
    if (ok) met++
    const names = hits.slice(0, 3).map((m) => m.subject)
    const more = hits.length > 3 ? `, +${hits.length - 3}` : ''
    parts.push(`${c.rule} >= ${levelName(c.minLevel)}${c.minSubjects > 1 ? ` on ${c.minSubjects}` : ''}: ${hits.length === 0 ? 'none' : `${names.join(', ')}${more}`}`)
  }
  const needed = rule.match === 'all' ? rule.conditions.length : 1
  const level: AlertLevel = met >= needed ? rule.level : 0
  return {
    level,
    value: met,
    threshold: needed,
    message: `${rule.id} in ${where}: ${parts.join(rule.match === 'all' ? '; and ' : '; or ')} (${levelName(level)})`,
    dataGap: false,
  }
}
