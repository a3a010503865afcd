import type { HistoryPoint, IndexEntry, IndexName } from './types.js'

/** The segment tag of a district's own series (SPEC §10). */
export const DISTRICT_SEGMENT = '_all'

/** One line of a trend chart. */
export interface TrendSeries {
  index: IndexName
  district: string
  /** Segment or zone id; `_all` for the district. */
  segment: string
  /** [epoch ms, value], ascending. */
  points: [number, number][]
}

/** uPlot's aligned data: x in epoch seconds, then one column per series (null where it has no point). */
export type AlignedColumns = [number[], ...(number | null)[][]]

/** Index series for the trend charts: history from the API, then live index events, trimmed to a window. */
export interface TrendStore {
  /** Adds `/api/indices/history` points. */
  addHistory(points: readonly HistoryPoint[]): void
  /** Adds the values of a live index entry at its event time `at` (else at `now`); returns true when a chart changed. */
  addLive(entry: IndexEntry, now: number): boolean
  /** The series of one index, district lines first, then segments by id. */
  series(index: IndexName): TrendSeries[]
  /** The series of one index in uPlot's aligned form, trimmed to the window ending at `now`. */
  aligned(index: IndexName, now: number): { series: TrendSeries[]; data: AlignedColumns }
}

/** Options of createTrendStore. */
export interface TrendStoreOptions {
  /** How far back the charts reach, in milliseconds. */
  windowMs: number
  /** Live values falling in one bucket of this many milliseconds replace each other (bounds the points). */
  bucketMs: number
}

/** Creates an empty TrendStore. */
export function createTrendStore(options: TrendStoreOptions): TrendStore {
  const all = new Map<string, TrendSeries>()
  const seriesOf = (index: IndexName, district: string, segment: string): TrendSeries => {
    const key = `${index}|${district}|${segment}`
    let s = all.get(key)
    if (s === undefined) {
      s = { index, district, segment, points: [] }
      all.set(key, s)
    }
    return s
  }
  const insert = (s: TrendSeries, t: number, v: number): void => {
    const pts = s.points
    const last = pts[pts.length - 1]
    if (last === undefined || last[0] < t) {
      pts.push([t, v])
      return
    }
    let i = pts.length - 1
    while (i >= 0 && (pts[i] as [number, number])[0] > t) i -= 1
    if (i >= 0 && (pts[i] as [number, number])[0] === t) (pts[i] as [number, number])[1] = v
    else pts.splice(i + 1, 0, [t, v])
  }
  const trim = (s: TrendSeries, from: number): void => {
    let n = 0
    while (n < s.points.length && (s.points[n] as [number, number])[0] < from) n += 1
    if (n > 0) s.points.splice(0, n)
  }
  const sorted = (index: IndexName): TrendSeries[] =>
    [...all.values()]
      .filter((s) => s.index === index)
      .sort((a, b) => Number(b.segment === DISTRICT_SEGMENT) - Number(a.segment === DISTRICT_SEGMENT) || a.district.localeCompare(b.district) || a.segment.localeCompare(b.segment))

  return {
    addHistory(points) {
      for (const p of points) {
        const t = Date.parse(p.time)
        if (!Number.isFinite(t) || typeof p.value !== 'number') continue
        insert(seriesOf(p.index, p.district, p.segment), t, p.value)
      }
    },
    addLive(entry, now) {
      // A live index event carries the event time of its latest input (`at`); a snapshot entry does not.
      const at = entry.at === undefined ? Number.NaN : Date.parse(entry.at)
      const bucket = Math.floor((Number.isFinite(at) ? at : now) / options.bucketMs) * options.bucketMs
      let changed = false
      for (const index of ['clear', 'smooth'] as const) {
        const value = entry[index]
        if (value === null || value.value === null) continue
        const s = seriesOf(index, entry.district, entry.segment ?? DISTRICT_SEGMENT)
        const last = s.points[s.points.length - 1]
        if (last !== undefined && last[0] === bucket) {
          if (last[1] === value.value) continue
          last[1] = value.value
        } else if (last !== undefined && last[0] > bucket) {
          if (s.points.some(([t, v]) => t === bucket && v === value.value)) continue
          insert(s, bucket, value.value)
        } else {
          s.points.push([bucket, value.value])
        }
        changed = true
      }
      return changed
    },
    series: sorted,
    aligned(index, now) {
      const series = sorted(index)
      const times = new Set<number>()
      for (const s of series) {
        trim(s, now - options.windowMs)
        for (const [t] of s.points) times.add(t)
      }
      const xs = [...times].sort((a, b) => a - b)
      const at = new Map(xs.map((t, i) => [t, i]))
      const columns = series.map((s) => {
        const col: (number | null)[] = new Array<number | null>(xs.length).fill(null)
        for (const [t, v] of s.points) col[at.get(t) as number] = v
        return col
      })
      return { series, data: [xs.map((t) => t / 1000), ...columns] }
    },
  }
}
