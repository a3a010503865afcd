import { readdirSync, readFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'

/** The folder of the Grafana dashboards and provisioning files. */
export const GRAFANA_DIR = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'dashboards', 'grafana')

/** A Grafana dashboard as far as the tests read it. */
export interface Dashboard {
  uid: string
  title: string
  schemaVersion: number
  timezone: string
  panels: Panel[]
  annotations: { list: Annotation[] }
  templating: { list: Variable[] }
  [key: string]: unknown
}

export interface DataSourceRef {
  type?: string
  uid?: string
}

export interface Target {
  refId: string
  datasource?: DataSourceRef
  query?: string
  rawQuery?: boolean
  resultFormat?: string
}

export interface Panel {
  id: number
  type: string
  title: string
  datasource?: DataSourceRef
  targets?: Target[]
  panels?: Panel[]
  /** Minimum interval, e.g. `1h`. */
  interval?: string
  /** Relative time override, e.g. `1y`. */
  timeFrom?: string
}

export interface Annotation {
  name: string
  builtIn?: number
  datasource?: DataSourceRef
  target?: Target & { textColumn?: string; tagsColumn?: string }
}

export interface Variable {
  name: string
  type: string
  query?: string
  datasource?: DataSourceRef
  includeAll?: boolean
  allValue?: string
  current?: { value?: string | string[] }
}

/** One InfluxQL query of a dashboard and where it sits. */
export interface DashboardQuery {
  dashboard: string
  /** `panel "Title" A`, `annotation "Alerts"` or `variable $district`. */
  where: string
  source: 'panel' | 'annotation' | 'variable'
  query: string
  datasource: DataSourceRef | undefined
  rawQuery: boolean | undefined
  panel?: Panel
  variable?: Variable
}

/** Every dashboard JSON file, by file name. */
export function loadDashboards(): Map<string, Dashboard> {
  const dir = join(GRAFANA_DIR, 'dashboards')
  const files = readdirSync(dir).filter((f) => f.endsWith('.json')).sort()
  return new Map(files.map((f) => [f, JSON.parse(readFileSync(join(dir, f), 'utf8')) as Dashboard]))
}

/** Every panel, the panels of rows (collapsed rows keep theirs inside) included. */
export function allPanels(dashboard: Dashboard): Panel[] {
  return dashboard.panels.flatMap((p) => [p, ...(p.panels ?? [])])
}

/** The queries of panel targets, annotations and query variables, in that order. */
export function dashboardQueries(dashboard: Dashboard): DashboardQuery[] {
  const out: DashboardQuery[] = []
  for (const panel of allPanels(dashboard)) {
    for (const target of panel.targets ?? []) {
      out.push({ dashboard: dashboard.uid, where: `panel "${panel.title}" ${target.refId}`, source: 'panel', query: target.query ?? '', datasource: target.datasource ?? panel.datasource, rawQuery: target.rawQuery, panel })
    }
  }
  for (const annotation of dashboard.annotations.list) {
    if (annotation.builtIn === 1) continue
    out.push({ dashboard: dashboard.uid, where: `annotation "${annotation.name}"`, source: 'annotation', query: annotation.target?.query ?? '', datasource: annotation.datasource, rawQuery: annotation.target?.rawQuery })
  }
  for (const variable of dashboard.templating.list) {
    if (variable.type !== 'query') continue
    out.push({ dashboard: dashboard.uid, where: `variable $${variable.name}`, source: 'variable', query: variable.query ?? '', datasource: variable.datasource, rawQuery: true, variable })
  }
  return out
}

/** What Grafana substitutes into a query. */
export interface Substitution {
  /** Range start and end, epoch milliseconds. */
  from: number
  to: number
  /** `$__interval`, an InfluxQL duration. */
  interval: string
  /** Template variable values, already formatted as Grafana would (regex-escaped, `(a|b)` for several). */
  variables: Record<string, string>
}

const DURATION_MS: Record<string, number> = { ms: 1, s: 1e3, m: 6e4, h: 3.6e6, d: 8.64e7, w: 6.048e8, y: 3.1536e10 }

/** A Grafana relative duration (`90d`, `1y`) in milliseconds. */
export function durationMs(text: string): number {
  const m = /^([0-9]+)(ms|s|m|h|d|w|y)$/.exec(text)
  if (m === null) throw new Error(`not a duration: ${text}`)
  return Number(m[1]) * (DURATION_MS[m[2] ?? 's'] ?? 0)
}

/**
 * Substitutes Grafana's InfluxDB macros as Grafana does: `$timeFilter` → `time >= …ms and time <= …ms`,
 * `$__interval_ms`, `$__interval`, then `$name`, `${name}` and `[[name]]` from `variables`; unknown names stay.
 */
export function interpolate(query: string, s: Substitution): string {
  const lookup = (whole: string, name: string): string => s.variables[name] ?? whole
  return query
    .replaceAll('$timeFilter', `time >= ${Math.trunc(s.from)}ms and time <= ${Math.trunc(s.to)}ms`)
    .replaceAll('$__interval_ms', String(durationMs(s.interval)))
    .replaceAll('$__interval', s.interval)
    .replace(/\$\{(\w+)\}/g, lookup)
    .replace(/\[\[(\w+)\]\]/g, lookup)
    .replace(/\$(\w+)/g, lookup)
}

/** A value of the YAML subset the provisioning files use. */
export type YamlValue = string | number | boolean | null | YamlValue[] | { [key: string]: YamlValue }

function scalar(text: string): YamlValue {
  if (text === '') return null
  if (/^(true|false)$/.test(text)) return text === 'true'
  if (/^-?[0-9]+(\.[0-9]+)?$/.test(text)) return Number(text)
  const quoted = /^(["'])(.*)\1$/.exec(text)
  return quoted ? (quoted[2] ?? '') : text
}

/**
 * Parses the YAML subset of Grafana provisioning files: nested maps by indentation, lists of maps (`- key: v`),
 * plain, quoted, numeric and boolean scalars, `#` comments. Throws on anything else, so a file that grows past
 * the subset fails the test instead of being misread.
 */
export function parseYaml(text: string): YamlValue {
  const lines = text
    .split('\n')
    .map((raw, n) => ({ n: n + 1, raw: raw.replace(/\s+#.*$/, '').replace(/^\s*#.*$/, '') }))
    .filter((l) => l.raw.trim() !== '')
    .map((l) => ({ n: l.n, indent: l.raw.length - l.raw.trimStart().length, text: l.raw.trim() }))
  let i = 0
  function block(indent: number): YamlValue {
    const first = lines[i]
    if (first === undefined || first.indent < indent) return null
    if (first.text.startsWith('- ')) {
      const list: YamlValue[] = []
      while (lines[i]?.indent === first.indent && lines[i]?.text.startsWith('- ')) {
        const line = lines[i] as (typeof lines)[number]
        // The item's own keys sit two columns right of the dash.
        lines[i] = { ...line, indent: line.indent + 2, text: line.text.slice(2).trim() }
        list.push(block(line.indent + 2))
      }
      return list
    }
    const map: { [key: string]: YamlValue } = {}
    while (lines[i] !== undefined && (lines[i]?.indent ?? -1) === first.indent && !lines[i]?.text.startsWith('- ')) {
      const line = lines[i] as (typeof lines)[number]
      const m = /^([A-Za-z_][\w-]*):(?:\s+(.*))?$/.exec(line.text)
      if (m === null) throw new Error(`line ${line.n}: not in the YAML subset: ${line.text}`)
      i++
      const key = m[1] ?? ''
      if (m[2] !== undefined && m[2] !== '') map[key] = scalar(m[2])
      else map[key] = (lines[i]?.indent ?? -1) > line.indent || lines[i]?.text.startsWith('- ') === true ? block(lines[i]?.indent ?? 0) : null
    }
    if (lines[i] !== undefined && (lines[i]?.indent ?? 0) > first.indent) throw new Error(`line ${lines[i]?.n}: unexpected indentation`)
    return map
  }
  const value = block(0)
  if (i < lines.length) throw new Error(`line ${lines[i]?.n}: unexpected ${lines[i]?.text}`)
  return value
}

/** The provisioning files by path under `provisioning/`, parsed. */
export function loadProvisioning(): Map<string, YamlValue> {
  const dir = join(GRAFANA_DIR, 'provisioning')
  const out = new Map<string, YamlValue>()
  for (const sub of readdirSync(dir).sort()) {
    for (const file of readdirSync(join(dir, sub)).sort()) {
      if (/\.ya?ml$/.test(file)) out.set(`${sub}/${file}`, parseYaml(readFileSync(join(dir, sub, file), 'utf8')))
    }
  }
  return out
}
