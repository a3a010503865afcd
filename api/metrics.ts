import type { LatencyHistogram } from '../storage/latency-histogram.js'

/** One sample of a metric family. */
export interface MetricSample {
  labels?: Record<string, string>
  /** Appended to the family name, e.g. `_bucket`, `_sum`, `_count`. */
  suffix?: string
  value: number
}

/** A Prometheus metric family. */
export interface MetricFamily {
  name: string
  help: string
  type: 'counter' | 'gauge' | 'histogram' | 'summary'
  samples: MetricSample[]
}

function escapeLabel(v: string): string {
  return v.replace(/\\/g, '\\\\').replace(/\n/g, '\\n').replace(/"/g, '\\"')
}

function formatValue(v: number): string {
  if (Number.isNaN(v)) return 'NaN'
  if (v === Number.POSITIVE_INFINITY) return '+Inf'
  if (v === Number.NEGATIVE_INFINITY) return '-Inf'
  return String(v)
}

/** Renders families in the Prometheus text exposition format 0.0.4. */
export function renderMetrics(families: readonly MetricFamily[]): string {
  const out: string[] = []
  for (const f of families) {
    out.push(`# HELP ${f.name} ${f.help.replace(/\\/g, '\\\\').replace(/\n/g, '\\n')}`)
    out.push(`# TYPE ${f.name} ${f.type}`)
    for (const s of f.samples) {
      const labels = s.labels && Object.keys(s.labels).length > 0
        ? `{${Object.entries(s.labels).map(([k, v]) => `${k}="${escapeLabel(v)}"`).join(',')}}`
        : ''
      out.push(`${f.name}${s.suffix ?? ''}${labels} ${formatValue(s.value)}`)
    }
  }
  return `${out.join('\n')}\n`
}

/** A single-sample family. */
export function single(name: string, help: string, type: 'counter' | 'gauge', value: number): MetricFamily {
  return { name, help, type, samples: [{ value }] }
}

/** A Prometheus histogram family from a cumulative histogram. */
export function histogram(name: string, help: string, h: LatencyHistogram): MetricFamily {
  return {
    name,
    help,
    type: 'histogram',
    samples: [
      ...h.buckets.map((b) => ({ suffix: '_bucket', labels: { le: String(b.le) }, value: b.count })),
      { suffix: '_bucket', labels: { le: '+Inf' }, value: h.count },
      { suffix: '_sum', value: h.sum },
      { suffix: '_count', value: h.count },
    ],
  }
}
