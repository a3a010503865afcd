import { createApi, wsUrl } from './api.js'
import { createConnection, type ConnState } from './connection.js'
import { setAttr, setText } from './dom.js'
import { formatTime } from './format.js'
import { DEFAULT_LANG, isLang, t, type LabelKey, type Lang } from './i18n.js'
import { applyActionResult, applyFrame, emptyState, subscribeMessage, type Section } from './state.js'
import { createTrendStore } from './trend-data.js'
import type { Alert, Board, HistoryPoint, Sensor } from './types.js'
import { createAlertsView } from './views/alerts.js'
import { createGaugesView } from './views/gauges.js'
import { createMapView } from './views/map.js'
import { createParkingView } from './views/parking.js'
import { createTrendsView } from './views/trends.js'

const CHANNELS = ['indices', 'alerts', 'parking', 'readings'] as const
const LANG_KEY = 'citywater.lang'
const TREND_WINDOW_MS = 6 * 3_600_000
const TREND_EVERY = '5m'
const SENSOR_POLL_MS = 30_000
/** Readings arrive several a second: the map and trends are redrawn at most this often. */
const SLOW_RENDER_MS = 1_000

/** A part of the page waiting to be redrawn. */
type Dirty = Section | 'trends' | 'labels'

function body(id: string): HTMLElement {
  const el = document.querySelector<HTMLElement>(`#${id} [data-role="body"]`)
  if (el === null) throw new Error(`missing section #${id}`)
  return el
}

function storedLang(): Lang {
  try {
    const v = localStorage.getItem(LANG_KEY)
    return isLang(v) ? v : DEFAULT_LANG
  } catch {
    return DEFAULT_LANG
  }
}

function start(): void {
  const token = new URLSearchParams(location.search).get('token')
  const api = createApi(token)
  const state = emptyState()
  const trends = createTrendStore({ windowMs: TREND_WINDOW_MS, bucketMs: 60_000 })
  let lang = storedLang()
  let boards: Board[] = []
  let sensors: Sensor[] = []
  /** Segment and zone names from the registry (`/api/segments`), shown on the gauges. */
  let segmentNames = new Map<string, string>()
  let conn: { state: ConnState; attempt: number } = { state: 'connecting', attempt: 0 }
  let connectedAt: string | null = null
  let reconnects = 0
  let historyLoadedAt = 0

  const connEl = document.querySelector<HTMLElement>('[data-testid="conn"]') as HTMLElement
  const langButton = document.querySelector<HTMLButtonElement>('[data-testid="lang"]') as HTMLButtonElement
  const clock = document.querySelector<HTMLElement>('[data-role="clock"]')

  const gauges = createGaugesView(body('overview'))
  const alerts = createAlertsView(
    body('alerts'),
    (alert, action, note) => api.post<Alert>(`/api/alerts/${encodeURIComponent(alert.id)}/${action}`, { note }),
    (updated) => {
      if (applyActionResult(state, updated)) mark('alerts')
    },
  )
  const trendView = createTrendsView(body('trends'), trends)
  const map = createMapView(body('map'))
  const parking = createParkingView(body('parking'))

  const dirty = new Set<Dirty>()
  let scheduled = false
  let lastSlow = 0
  let slowTimer: ReturnType<typeof setTimeout> | undefined

  function render(): void {
    scheduled = false
    const now = Date.now()
    if (dirty.has('labels')) {
      document.documentElement.lang = lang
      document.title = t(lang, 'title')
      for (const el of document.querySelectorAll<HTMLElement>('[data-i18n]')) setText(el, t(lang, el.dataset.i18n as LabelKey))
      setText(langButton, t(lang, 'switchLang'))
      for (const s of ['conn', 'indices', 'alerts', 'parking', 'readings', 'trends'] as const) dirty.add(s)
    }
    if (dirty.has('conn')) {
      setAttr(connEl, 'data-state', conn.state)
      setAttr(connEl, 'data-seq', String(state.seq))
      const text = conn.state === 'reconnecting' ? `${t(lang, 'reconnecting')} (${t(lang, 'attempt', { n: conn.attempt })})` : t(lang, conn.state)
      setText(connEl.querySelector('[data-role="conn-text"]'), text)
    }
    if (dirty.has('indices')) gauges.render(state.indices.values(), lang, segmentNames)
    if (dirty.has('alerts')) alerts.render(state.alerts.values(), lang)
    if (dirty.has('parking')) parking.render(boards, state.lots, lang)
    // The map and the charts are the costly parts: at most once a second unless the language changed.
    const slowDue = dirty.has('labels') || now - lastSlow >= SLOW_RENDER_MS
    if ((dirty.has('readings') || dirty.has('trends')) && !slowDue) {
      slowTimer ??= setTimeout(() => {
        slowTimer = undefined
        schedule()
      }, SLOW_RENDER_MS - (now - lastSlow))
      for (const s of ['conn', 'indices', 'alerts', 'parking', 'labels'] as const) dirty.delete(s)
      return
    }
    if (dirty.has('readings')) map.render(sensors, state.readings, lang)
    if (dirty.has('trends')) trendView.render(lang, now)
    if (dirty.has('readings') || dirty.has('trends')) lastSlow = now
    dirty.clear()
  }

  function schedule(): void {
    if (scheduled) return
    scheduled = true
    setTimeout(render, 0)
  }

  function mark(...sections: Dirty[]): void {
    for (const s of sections) dirty.add(s)
    schedule()
  }

  /**
   * GETs `path`, applies the body and redraws `section`. A failure keeps what the page shows (stale statuses,
   * segment ids, the boards' last lines); the next poll, snapshot or reconnect tries again.
   */
  async function refresh<T>(path: string, apply: (body: T) => void, section: Dirty): Promise<void> {
    try {
      apply(await api.get<T>(path))
      mark(section)
    } catch {
      // kept as it is, see above
    }
  }
  const loadSensors = () => refresh<{ sensors: Sensor[] }>('/api/sensors', (body) => (sensors = body.sensors), 'readings')
  const loadSegments = () =>
    refresh<{ segments: { id: string; name: string }[] }>('/api/segments', (body) => (segmentNames = new Map(body.segments.map((seg) => [seg.id, seg.name]))), 'indices')
  const loadBoards = () => refresh<{ boards: Board[] }>('/api/parking', (body) => (boards = body.boards), 'parking')

  async function loadHistory(): Promise<void> {
    const now = Date.now()
    if (now - historyLoadedAt < 60_000) return
    historyLoadedAt = now
    try {
      const from = now - TREND_WINDOW_MS
      const { points } = await api.get<{ points: HistoryPoint[] }>(`/api/indices/history?from=${from}&to=${now + 60_000}&every=${TREND_EVERY}`)
      trends.addHistory(points)
      trendView.setError(undefined)
    } catch (err) {
      historyLoadedAt = 0
      trendView.setError(t(lang, 'historyFailed', { msg: err instanceof Error ? err.message : String(err) }))
    }
    mark('trends')
  }

  langButton.addEventListener('click', () => {
    lang = lang === 'zh-CN' ? 'en' : 'zh-CN'
    try {
      localStorage.setItem(LANG_KEY, lang)
    } catch {
      // Private mode: the choice lasts for this page only.
    }
    mark('labels')
  })

  const connection = createConnection({
    url: () => wsUrl(location, token),
    subscribe: () => subscribeMessage(CHANNELS, state.seq),
    onState(next, attempt) {
      if (next === 'reconnecting' && conn.state === 'live') reconnects += 1
      if (next === 'live') connectedAt = new Date().toISOString()
      conn = { state: next, attempt }
      mark('conn')
    },
    onFrame(frame) {
      const changed = new Set<Dirty>(applyFrame(state, frame))
      const now = Date.now()
      if (frame.type === 'index') {
        if (trends.addLive(frame.data, now)) changed.add('trends')
      } else if (frame.type === 'snapshot') {
        for (const e of state.indices.values()) trends.addLive(e, now)
        changed.add('trends')
        void loadBoards()
        void loadSegments()
        void loadSensors()
        void loadHistory()
      }
      if (changed.size > 0) mark(...changed)
    },
  })

  addEventListener('online', () => connection.retryNow())
  setInterval(() => void loadSensors(), SENSOR_POLL_MS)
  const tick = () => setText(clock, `${t(lang, 'timeZone')} ${formatTime(lang, Date.now())}`)
  tick()
  setInterval(tick, 1_000)

  Object.defineProperty(window, '__citywater', {
    value: Object.freeze({
      get seq() {
        return state.seq
      },
      get state() {
        return conn.state
      },
      get attempt() {
        return conn.attempt
      },
      get connectedAt() {
        return connectedAt
      },
      get reconnects() {
        return reconnects
      },
      get resumed() {
        return state.resumed
      },
      get lang() {
        return lang
      },
    }),
  })

  mark('labels')
}

if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', start)
else start()
