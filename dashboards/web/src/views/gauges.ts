import { h, s, setAttr, setText } from '../dom.js'
import { classLabel, DASH, formatConfidence, formatIndexValue, indexLevel } from '../format.js'
import { label, t, type Lang } from '../i18n.js'
import type { ClearIndex, IndexEntry, IndexName, NullIndex, SmoothIndex } from '../types.js'
import { DISTRICT_SEGMENT } from '../trend-data.js'

type AnyIndex = ClearIndex | SmoothIndex | NullIndex

interface GaugeModel {
  key: string
  district: string
  segment: string
  index: IndexName
  type: string | undefined
  value: AnyIndex
}

/** The gauges to show: per district its two indices, then each segment's own index, in the API's order. */
export function gaugeModels(entries: Iterable<IndexEntry>): { district: string; gauges: GaugeModel[] }[] {
  const byDistrict = new Map<string, { districtGauges: GaugeModel[]; segmentGauges: GaugeModel[] }>()
  for (const e of entries) {
    const group = byDistrict.get(e.district) ?? { districtGauges: [], segmentGauges: [] }
    byDistrict.set(e.district, group)
    const segment = e.segment ?? DISTRICT_SEGMENT
    for (const index of ['clear', 'smooth'] as const) {
      const value = e[index]
      // null: the index does not apply (no clear-water index of a drainage zone).
      if (value === null) continue
      const model = { key: `${e.district}|${segment}|${index}`, district: e.district, segment, index, type: e.type, value }
      ;(e.segment === undefined ? group.districtGauges : group.segmentGauges).push(model)
    }
  }
  return [...byDistrict.entries()]
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([district, g]) => ({ district, gauges: [...g.districtGauges, ...g.segmentGauges] }))
}

const ARC = 'M 12 62 A 48 48 0 0 1 108 62'

function createGauge(m: GaugeModel): HTMLElement {
  const big = m.segment === DISTRICT_SEGMENT
  return h(
    'div',
    { class: big ? 'gauge gauge-district' : 'gauge', 'data-testid': 'gauge', 'data-district': m.district, 'data-segment': m.segment, 'data-index': m.index, 'data-level': '' },
    h('div', { class: 'gauge-head' }, h('span', { class: 'gauge-name', 'data-role': 'name' }), h('span', { class: 'gauge-kind', 'data-role': 'kind' })),
    s(
      'svg',
      { class: 'gauge-dial', viewBox: '0 0 120 68', 'aria-hidden': 'true' },
      s('path', { class: 'gauge-track', d: ARC, pathLength: 100 }),
      s('path', { class: 'gauge-bar', d: ARC, pathLength: 100, 'stroke-dasharray': '0 100' }),
    ),
    h('div', { class: 'gauge-value', 'data-role': 'value' }, DASH),
    h('div', { class: 'gauge-level', 'data-role': 'level' }),
    h(
      'div',
      { class: 'gauge-meta' },
      h('span', { class: 'gauge-confidence' }, h('span', { 'data-role': 'confidence-label' }), ' ', h('span', { 'data-role': 'confidence' }, DASH)),
      h('span', { class: 'gauge-extra', 'data-role': 'extra' }),
    ),
    h('div', { class: 'gauge-flags', 'data-role': 'flags' }),
  )
}

function levelText(lang: Lang, m: GaugeModel): string {
  const v = m.value
  if (v.value === null) return v.reason
  if (m.index === 'clear') {
    const c = v as ClearIndex
    return c.grade === undefined ? classLabel(lang, c.class) : `${classLabel(lang, c.class)} · ${label(lang, c.grade)}`
  }
  return label(lang, (v as SmoothIndex).band)
}

function extraText(lang: Lang, m: GaugeModel): string {
  const v = m.value
  if (v.value === null) return ''
  const worst = (v as ClearIndex | SmoothIndex).worstSegment
  if (worst) return `${t(lang, 'worstSegment')} ${worst}`
  const limiting = (v as ClearIndex | SmoothIndex).limiting
  return limiting ? `${t(lang, 'limiting')} ${limiting}` : ''
}

function updateGauge(el: HTMLElement, m: GaugeModel, lang: Lang, names: ReadonlyMap<string, string>): void {
  const level = indexLevel(m.index, m.value)
  setAttr(el, 'data-level', level)
  setAttr(el, 'class', `${m.segment === DISTRICT_SEGMENT ? 'gauge gauge-district' : 'gauge'} lv-${m.index}-${level || 'none'}`)
  const name = names.get(m.segment)
  setText(el.querySelector('[data-role="name"]'), m.segment === DISTRICT_SEGMENT ? `${m.district} ${t(lang, 'district')}` : (name ?? m.segment))
  setText(el.querySelector('[data-role="kind"]'), m.segment === DISTRICT_SEGMENT ? t(lang, m.index) : `${m.type ? label(lang, m.type) : ''} · ${t(lang, m.index)}`)
  setText(el.querySelector('[data-role="value"]'), formatIndexValue(m.value))
  const bar = el.querySelector('.gauge-bar')
  if (bar !== null) setAttr(bar, 'stroke-dasharray', `${m.value.value === null ? 0 : Math.max(0, Math.min(100, m.value.value))} 100`)
  setText(el.querySelector('[data-role="level"]'), levelText(lang, m))
  setText(el.querySelector('[data-role="confidence-label"]'), t(lang, 'confidence'))
  setText(el.querySelector('[data-role="confidence"]'), formatConfidence(m.value.value === null ? null : (m.value as ClearIndex | SmoothIndex).confidence))
  setText(el.querySelector('[data-role="extra"]'), extraText(lang, m))
  const flags = m.value.value === null ? [] : ((m.value as ClearIndex | SmoothIndex).flags ?? [])
  setText(el.querySelector('[data-role="flags"]'), flags.join(' · '))
  const full = name === undefined ? m.segment : `${name} (${m.segment})`
  el.title = m.value.value === null ? `${full}: ${m.value.reason}` : full
}

/** Keeps `#overview` showing a gauge per index entry, updated in place. */
export function createGaugesView(root: HTMLElement): { render(entries: Iterable<IndexEntry>, lang: Lang, names?: ReadonlyMap<string, string>): void } {
  const gauges = new Map<string, HTMLElement>()
  const districts = new Map<string, { box: HTMLElement; title: HTMLElement; grid: HTMLElement }>()
  return {
    render(entries, lang, names = new Map()) {
      const seen = new Set<string>()
      for (const { district, gauges: models } of gaugeModels(entries)) {
        let d = districts.get(district)
        if (d === undefined) {
          const title = h('h3', { class: 'district-title' })
          const grid = h('div', { class: 'gauge-grid' })
          d = { box: h('div', { class: 'district', 'data-district': district }, title, grid), title, grid }
          districts.set(district, d)
          root.append(d.box)
        }
        setText(d.title, district)
        let previous: Element | null = null
        for (const m of models) {
          seen.add(m.key)
          let el = gauges.get(m.key)
          if (el === undefined) {
            el = createGauge(m)
            gauges.set(m.key, el)
          }
          updateGauge(el, m, lang, names)
          // Keep the API's order without moving nodes that are already in place.
          const expected: Element | null = previous === null ? d.grid.firstElementChild : previous.nextElementSibling
          if (expected !== el) d.grid.insertBefore(el, expected)
          previous = el
        }
      }
      for (const [key, el] of gauges) {
        if (seen.has(key)) continue
        el.remove()
        gauges.delete(key)
      }
    },
  }
}
