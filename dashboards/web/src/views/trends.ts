import uPlot from 'uplot'
import { h, setText } from '../dom.js'
import { formatHourMinute, TIME_ZONE } from '../format.js'
import { t, type Lang } from '../i18n.js'
import { DISTRICT_SEGMENT, type TrendStore } from '../trend-data.js'
import type { IndexName } from '../types.js'

/** Line colours for the segment series, distinct on a dark background. */
const PALETTE = ['#4fc3f7', '#81c784', '#ffb74d', '#ba68c8', '#f06292', '#4db6ac', '#dce775', '#9575cd', '#ff8a65', '#90a4ae', '#aed581', '#64b5f6']
const DISTRICT_COLOUR = '#ffffff'
const HEIGHT = 260

interface Chart {
  index: IndexName
  box: HTMLElement
  title: HTMLElement
  empty: HTMLElement
  plot: uPlot | undefined
  /** The series the plot was built with: rebuilt when it changes. */
  signature: string
}

function options(lang: Lang, names: { label: string; district: boolean }[], width: number): uPlot.Options {
  let colour = 0
  return {
    width,
    height: HEIGHT,
    tzDate: (ts) => uPlot.tzDate(new Date(ts * 1000), TIME_ZONE),
    scales: { x: { time: true }, y: { range: [0, 100] } },
    legend: { live: false },
    cursor: { drag: { x: false, y: false } },
    axes: [
      { stroke: '#9aa7b4', grid: { stroke: '#2a3440', width: 1 }, ticks: { stroke: '#2a3440' }, values: (_u, splits) => splits.map((v) => formatHourMinute(lang, v * 1000)) },
      { stroke: '#9aa7b4', grid: { stroke: '#2a3440', width: 1 }, ticks: { stroke: '#2a3440' }, size: 40 },
    ],
    series: [
      { label: lang === 'en' ? 'Time' : '时间' },
      ...names.map((n) => ({
        label: n.label,
        stroke: n.district ? DISTRICT_COLOUR : (PALETTE[colour++ % PALETTE.length] as string),
        width: n.district ? 3 : 1.5,
        spanGaps: true,
        points: { show: false },
        value: (_u: uPlot, v: number | null) => (v === null ? '—' : v.toFixed(1)),
      })),
    ],
  }
}

/** The `#trends` section: one uPlot chart per index, history first, live values appended. */
export function createTrendsView(root: HTMLElement, store: TrendStore): { render(lang: Lang, now: number): void; setError(message: string | undefined): void } {
  const error = h('p', { class: 'trend-error', 'data-role': 'trend-error', hidden: true })
  const grid = h('div', { class: 'trend-grid' })
  root.append(error, grid)
  const charts: Chart[] = (['clear', 'smooth'] as const).map((index) => {
    const title = h('h3', { class: 'trend-title' })
    const empty = h('p', { class: 'empty' })
    const box = h('div', { class: 'trend-plot' })
    grid.append(h('div', { class: 'trend', 'data-testid': 'trend', 'data-index': index }, title, empty, box))
    return { index, box, title, empty, plot: undefined, signature: '' }
  })
  let lastLang: Lang | undefined
  const widthOf = (c: Chart): number => Math.max(280, Math.floor(c.box.clientWidth || 600))

  const resize = new ResizeObserver(() => {
    for (const c of charts) if (c.plot !== undefined && Math.abs(c.plot.width - widthOf(c)) > 2) c.plot.setSize({ width: widthOf(c), height: HEIGHT })
  })
  for (const c of charts) resize.observe(c.box)

  return {
    setError(message) {
      error.hidden = message === undefined
      setText(error, message ?? '')
    },
    render(lang, now) {
      for (const c of charts) {
        setText(c.title, t(lang, c.index))
        const { series, data } = store.aligned(c.index, now)
        setText(c.empty, data[0].length === 0 ? t(lang, 'noHistory') : '')
        c.empty.hidden = data[0].length > 0
        const names = series.map((x) => ({ label: x.segment === DISTRICT_SEGMENT ? `${x.district} ${t(lang, 'district')}` : x.segment, district: x.segment === DISTRICT_SEGMENT }))
        const signature = `${lang}|${names.map((n) => n.label).join(',')}`
        if (c.plot === undefined || signature !== c.signature || lang !== lastLang) {
          c.plot?.destroy()
          c.plot = new uPlot(options(lang, names, widthOf(c)), data as uPlot.AlignedData, c.box)
          c.signature = signature
        } else {
          c.plot.setData(data as uPlot.AlignedData)
        }
      }
      lastLang = lang
    },
  }
}
