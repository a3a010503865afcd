import {
  asyncScheduler,
  debounceTime,
  groupBy,
  interval,
  map,
  mergeMap,
  mergeWith,
  pipe,
  throttleTime,
  type MonoTypeOperatorFunction,
  type OperatorFunction,
  type SchedulerLike,
} from 'rxjs'

/**
 * Per key, at most one value per `periodMs`: the first change at once (leading), the last one of the period at
 * its end (trailing, which starts the next period). A key's group ends after `idleMs` without values (never
 * sooner than `periodMs`, so no trailing value is pending), so the per-key state stays bounded.
 */
export function throttleByKey<K>(periodMs: number, idleMs: number, scheduler: SchedulerLike = asyncScheduler): MonoTypeOperatorFunction<K> {
  const idle = Math.max(idleMs, periodMs)
  return pipe(
    groupBy((key: K) => key, { duration: (group) => group.pipe(debounceTime(idle, scheduler)) }),
    mergeMap((group) => group.pipe(throttleTime(periodMs, scheduler, { leading: true, trailing: true }))),
  )
}

/** What the engine is told to do: recompute one key, or refresh every key. */
export type IndexTick = { type: 'key'; key: string } | { type: 'refresh' }

/** Options of indexSchedule; every default is here. */
export interface IndexScheduleOptions {
  /** Least time between two recomputations of one key, ms (SPEC §7: at most once a second); default 1000. */
  throttleMs?: number
  /** Period of the refresh of every key, ms (SPEC §7: every 10 s); default 10 000. */
  refreshMs?: number
  /** A key's throttle state is dropped after this long without changes, ms; default 60 000. */
  idleMs?: number
}

/**
 * The recompute schedule of the indices (SPEC §7): dirty keys in, ticks out; each key throttled to one
 * recomputation per `throttleMs` (leading and trailing), plus a `refresh` tick every `refreshMs`.
 */
export function indexSchedule(options: IndexScheduleOptions = {}, scheduler: SchedulerLike = asyncScheduler): OperatorFunction<string, IndexTick> {
  const throttleMs = options.throttleMs ?? 1000
  const refreshMs = options.refreshMs ?? 10_000
  const idleMs = options.idleMs ?? 60_000
  return pipe(
    throttleByKey<string>(throttleMs, idleMs, scheduler),
    map((key): IndexTick => ({ type: 'key', key })),
    mergeWith(interval(refreshMs, scheduler).pipe(map((): IndexTick => ({ type: 'refresh' })))),
  )
}
