import { t, type Lang } from './i18n.js'
import type { Alert, AlertLevel, ClearIndex, IndexName, Lot, NullIndex, Reading, SmoothIndex } from './types.js'

/** Shown where a value is missing. */
export const DASH = '—'

/** The time zone every time on the dashboard is shown in (SPEC §2). */
export const TIME_ZONE = 'Asia/Shanghai'

const ROMAN = ['', 'Ⅰ', 'Ⅱ', 'Ⅲ', 'Ⅳ', 'Ⅴ']

/** An index value as text: `value.toFixed(1)` as `/api/indices` gives it, or a dash when it cannot be computed. */
export function formatIndexValue(index: ClearIndex | SmoothIndex | NullIndex | null): string {
  return index === null || index.value === null ? DASH : index.value.toFixed(1)
}

/** The gauge level: the water class (`"3"`) of a clear-water index, the band of a smooth-water one, `""` without a value. */
export function indexLevel(name: IndexName, index: ClearIndex | SmoothIndex | NullIndex | null): string {
  if (index === null || index.value === null) return ''
  return name === 'clear' ? String((index as ClearIndex).class) : (index as SmoothIndex).band
}

/** A confidence of 0–1 as a whole percentage, or a dash when the entry has none (districts). */
export function formatConfidence(confidence: number | undefined | null): string {
  return typeof confidence === 'number' && Number.isFinite(confidence) ? `${Math.round(confidence * 100)}%` : DASH
}

/** GB 3838 water class 1–6 as the bureau writes it: `Ⅲ类`, `劣Ⅴ类` / `Class Ⅲ`, `Worse than V`. */
export function classLabel(lang: Lang, n: number): string {
  if (n >= 6) return t(lang, 'class6')
  return t(lang, 'class', { n: ROMAN[n] ?? String(n) })
}

const formatters = new Map<string, Intl.DateTimeFormat>()

function formatter(lang: Lang, withDate: boolean): Intl.DateTimeFormat {
  const key = `${lang}|${withDate}`
  let f = formatters.get(key)
  if (f === undefined) {
    f = new Intl.DateTimeFormat(lang, {
      timeZone: TIME_ZONE,
      hourCycle: 'h23',
      hour: '2-digit',
      minute: '2-digit',
      second: '2-digit',
      ...(withDate ? { month: '2-digit', day: '2-digit' } : {}),
    })
    formatters.set(key, f)
  }
  return f
}

/** A time in Asia/Shanghai: `HH:mm:ss`, with the month and day when it is not on the same Shanghai day as `now`. */
export function formatTime(lang: Lang, time: string | number | null | undefined, now: number = Date.now()): string {
  if (time === null || time === undefined) return DASH
  const ms = typeof time === 'number' ? time : Date.parse(time)
  if (!Number.isFinite(ms)) return DASH
  return formatter(lang, shanghaiDay(ms) !== shanghaiDay(now)).format(ms)
}

/** Hours and minutes in Asia/Shanghai (`14:05`), for chart axes. */
export function formatHourMinute(lang: Lang, ms: number): string {
  const key = `${lang}|hm`
  let f = formatters.get(key)
  if (f === undefined) {
    f = new Intl.DateTimeFormat(lang, { timeZone: TIME_ZONE, hourCycle: 'h23', hour: '2-digit', minute: '2-digit' })
    formatters.set(key, f)
  }
  return f.format(ms)
}

/** The calendar day in Shanghai (UTC+8, no daylight saving) of an epoch time. */
export function shanghaiDay(ms: number): number {
  return Math.floor((ms + 8 * 3_600_000) / 86_400_000)
}

/** A measured value with at most 3 decimals and no trailing zeros, or a dash. */
export function formatNumber(value: number | null | undefined): string {
  if (value === null || value === undefined || !Number.isFinite(value)) return DASH
  return String(Number(value.toFixed(3)))
}

/** A reading's values as `level_m 3.91, flow_m3s 12.4`. */
export function readingSummary(reading: Reading | null): string {
  if (reading === null) return DASH
  return Object.entries(reading.values)
    .map(([field, v]) => `${field} ${formatNumber(v)}`)
    .join(', ')
}

/** A guidance-board line as the board shows it: free spaces, `FULL`, `CLOSED`, or `--` before any data. */
export function lotText(lot: Pick<Lot, 'status' | 'free'> | undefined): string {
  if (lot === undefined) return '--'
  if (lot.status === 'closed') return 'CLOSED'
  if (lot.status === 'full') return 'FULL'
  return String(Math.max(0, lot.free))
}

const LEVEL_RANK: Record<AlertLevel, number> = { blue: 1, yellow: 2, orange: 3, red: 4 }

/** Alerts in the order a duty officer reads them: highest level first, then the newest raised. */
export function sortAlerts(alerts: Iterable<Alert>): Alert[] {
  return [...alerts].sort((a, b) => LEVEL_RANK[b.level] - LEVEL_RANK[a.level] || Date.parse(b.raisedAt) - Date.parse(a.raisedAt) || a.id.localeCompare(b.id))
}
