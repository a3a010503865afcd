import { h, s, setAttr, setText } from '../dom.js'
import { formatTime, readingSummary } from '../format.js'
import { kindLabel, label, t, type Lang } from '../i18n.js'
import { centroids, fitProjection } from '../projection.js'
import type { Reading, Sensor } from '../types.js'

const WIDTH = 1000
const PADDING = 24
const STATUSES = ['online', 'stale', 'fault', 'unknown'] as const

/** The sensor's tooltip: name, id, status and last reading. */
export function sensorTitle(sensor: Sensor, last: Reading | null, lang: Lang): string {
  const lines = [`${sensor.name} (${sensor.id})`, `${kindLabel(lang, sensor.kind)} · ${sensor.segment} · ${label(lang, sensor.status)}`]
  if (last !== null) lines.push(`${t(lang, 'lastValue')}: ${readingSummary(last)} @ ${formatTime(lang, last.ts)}`)
  return lines.join('\n')
}

/** The `#map` section: the registry's sensors as an SVG, coloured by status, segments labelled. */
export function createMapView(root: HTMLElement): { render(sensors: readonly Sensor[], readings: ReadonlyMap<string, Reading>, lang: Lang): void } {
  const svg = s('svg', { 'data-testid': 'map', class: 'sensor-map', viewBox: `0 0 ${WIDTH} ${WIDTH / 2}`, role: 'img', preserveAspectRatio: 'xMidYMid meet' })
  const labels = s('g', { class: 'map-labels' })
  const dots = s('g', { class: 'map-sensors' })
  svg.append(labels, dots)
  const legend = h('ul', { class: 'map-legend' })
  const info = h('p', { class: 'map-info', 'data-role': 'info', 'aria-live': 'polite' })
  root.append(h('div', { class: 'map-frame' }, svg), legend, info)
  const circles = new Map<string, { el: SVGCircleElement; title: SVGTitleElement }>()
  let layoutKey = ''
  let selected: string | undefined
  let current: { sensors: ReadonlyMap<string, Sensor>; readings: ReadonlyMap<string, Reading>; lang: Lang } = { sensors: new Map(), readings: new Map(), lang: 'zh-CN' }

  const showInfo = (): void => {
    const sensor = selected === undefined ? undefined : current.sensors.get(selected)
    if (sensor === undefined) return setText(info, t(current.lang, 'tapSensor'))
    setText(info, sensorTitle(sensor, current.readings.get(sensor.id) ?? sensor.last, current.lang).replaceAll('\n', ' — '))
  }

  const layout = (sensors: readonly Sensor[]): void => {
    const placed = sensors.filter((x) => Number.isFinite(x.lat) && Number.isFinite(x.lon))
    const projection = fitProjection(placed, WIDTH, PADDING)
    setAttr(svg, 'viewBox', `0 0 ${WIDTH} ${projection.height}`)
    labels.replaceChildren()
    for (const [segment, c] of centroids(placed, (x) => x.segment)) {
      const p = projection.project(c.lat, c.lon)
      labels.append(s('text', { class: 'map-label', x: p.x, y: p.y, 'text-anchor': 'middle', 'data-segment': segment }, segment))
    }
    dots.replaceChildren()
    circles.clear()
    for (const sensor of placed) {
      const p = projection.project(sensor.lat, sensor.lon)
      const title = s('title')
      const el = s('circle', { class: `sensor k-${sensor.kind}`, cx: p.x, cy: p.y, r: sensor.kind === 'parking' ? 8 : 6, 'data-sensor': sensor.id, 'data-status': sensor.status, tabindex: 0 }, title)
      const select = () => {
        selected = sensor.id
        showInfo()
      }
      el.addEventListener('click', select)
      el.addEventListener('focus', select)
      circles.set(sensor.id, { el, title })
      dots.append(el)
    }
  }

  return {
    render(sensors, readings, lang) {
      const key = sensors.map((x) => `${x.id}@${x.lat},${x.lon}`).join(';')
      if (key !== layoutKey) {
        layout(sensors)
        layoutKey = key
      }
      current = { sensors: new Map(sensors.map((x) => [x.id, x])), readings, lang }
      for (const sensor of sensors) {
        const c = circles.get(sensor.id)
        if (c === undefined) continue
        setAttr(c.el, 'data-status', sensor.status)
        setAttr(c.el, 'class', `sensor k-${sensor.kind} st-${sensor.status}`)
        setText(c.title, sensorTitle(sensor, readings.get(sensor.id) ?? sensor.last, lang))
      }
      const counts = new Map<string, number>()
      for (const sensor of sensors) counts.set(sensor.status, (counts.get(sensor.status) ?? 0) + 1)
      legend.replaceChildren(
        ...STATUSES.map((st) => h('li', { class: `legend-item st-${st}` }, h('span', { class: 'legend-dot' }), `${label(lang, st)} ${counts.get(st) ?? 0}`)),
      )
      showInfo()
    },
  }
}
