import {
  asyncScheduler,
  interval,
  map,
  mergeWith,
  Observable,
  pipe,
  Subscription,
  type MonoTypeOperatorFunction,
  type OperatorFunction,
  type SchedulerLike,
} from 'rxjs'

/**
 * Per key, at most one value per `periodMs`: the first change at once (leading), the last one of the period at
 * its end (trailing, which starts the next period). A key whose period ends without a change is forgotten, so the
 * per-key state stays bounded (well within `idleMs`). A change inside an open period only sets a flag: no timer,
 * subscription or object per value, which matters at one change per reading.
 */
export function throttleByKey<K>(periodMs: number, idleMs: number, scheduler: SchedulerLike = asyncScheduler): MonoTypeOperatorFunction<K> {
  // State ends with the first quiet period, so it never outlives `idleMs` (at least one period).
  const period = Math.min(periodMs, Math.max(idleMs, 1))
  return (source) =>
    new Observable<K>((subscriber) => {
      /** Keys with an open period: whether a change arrived during it, and the action that ends it. */
      const open = new Map<K, { changed: boolean; end: Subscription }>()
      const startPeriod = (key: K, state: { changed: boolean; end: Subscription | undefined }): void => {
        state.end = scheduler.schedule(() => {
          if (!state.changed) {
            open.delete(key)
            return
          }
          state.changed = false
          subscriber.next(key)
          startPeriod(key, state)
        }, period)
      }
      const upstream = source.subscribe({
        next(key) {
          const state = open.get(key)
          if (state !== undefined) {
            state.changed = true
            return
          }
          const fresh = { changed: false, end: Subscription.EMPTY }
          open.set(key, fresh)
          subscriber.next(key)
          startPeriod(key, fresh)
        },
        error: (err: unknown) => subscriber.error(err),
        complete() {
          // Pending trailing changes go out before the end, as throttleTime's trailing option does.
          for (const [key, state] of open) if (state.changed) subscriber.next(key)
          subscriber.complete()
        },
      })
      return () => {
        upstream.unsubscribe()
        for (const state of open.values()) state.end.unsubscribe()
        open.clear()
      }
    })
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
