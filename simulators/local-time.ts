const HOUR_MS = 3_600_000
const DAY_MS = 86_400_000
/** Asia/Shanghai is UTC+8 all year (no daylight saving), so no Intl lookup is needed. */
const SHANGHAI_OFFSET_MS = 8 * HOUR_MS
/** Mean length of a Gregorian year in days. */
const YEAR_DAYS = 365.2425

/** Local time of an instant in Asia/Shanghai, as the diurnal and seasonal cycles need it. */
export interface LocalTime {
  /** Hour of the day with fraction, [0, 24). */
  hour: number
  /** Day of the year with fraction, [0, 365.2425); 0 is 1 January 00:00. */
  dayOfYear: number
  /** 0 Sunday … 6 Saturday. */
  weekday: number
}

/** Asia/Shanghai local time of `ts` (epoch ms). */
export function localTime(ts: number): LocalTime {
  const local = ts + SHANGHAI_OFFSET_MS
  const days = Math.floor(local / DAY_MS)
  const hour = (local - days * DAY_MS) / HOUR_MS
  // 1970-01-01 was a Thursday (4); the ((x % 7) + 7) % 7 keeps pre-1970 instants non-negative.
  const weekday = (((days + 4) % 7) + 7) % 7
  const dayOfYear = (((local / DAY_MS) % YEAR_DAYS) + YEAR_DAYS) % YEAR_DAYS
  return { hour, dayOfYear, weekday }
}
