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

/**
 * At most `maxPerTurn` values in one go: the rest wait for later turns, `maxPerTurn` each (scheduled at delay 0,
 * which on the async scheduler is a timer, so I/O runs between them). Keys whose throttle periods opened together
 * stay in step, so every second all their trailing ends fall due in the same timer phase; computed back to back they
 * held the event loop for tens of milliseconds, which is what publish-to-websocket latency then measured. Order is
 * kept; under the virtual-time TestScheduler the later slices run in the same frame.
 */
export function slicedByTurn<T>(maxPerTurn: number, scheduler: SchedulerLike = asyncScheduler): MonoTypeOperatorFunction<T> {
  return (source) =>
    new Observable<T>((subscriber) => {
      let queue: T[] = []
      let head = 0
      /** Values emitted since the turn's first one; reset by an action scheduled at that first one. */
      let inTurn = 0
      let turnEnd: Subscription | undefined
      const endTurn = (): void => {
        turnEnd = undefined
        inTurn = 0
        const end = Math.min(queue.length, head + maxPerTurn)
        while (head < end) emit(queue[head++] as T)
        if (head === queue.length) {
          queue = []
          head = 0
        }
      }
      const emit = (value: T): void => {
        inTurn++
        turnEnd ??= scheduler.schedule(endTurn, 0)
        subscriber.next(value)
      }
      const upstream = source.subscribe({
        next(value) {
          if (inTurn < maxPerTurn && head === queue.length) emit(value)
          else queue.push(value)
        },
        error: (err: unknown) => subscriber.error(err),
        complete() {
          while (head < queue.length) subscriber.next(queue[head++] as T)
          subscriber.complete()
        },
      })
      return () => {
        upstream.unsubscribe()
        turnEnd?.unsubscribe()
        queue = []
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
  /** Most key recomputations in one event-loop turn; the rest follow in later turns; default 8. */
  keysPerTurn?: number
}

/**
 * The recompute schedule of the indices (SPEC §7): dirty keys in, ticks out; each key throttled to one
 * recomputation per `throttleMs` (leading and trailing; a tick may then wait a few turns behind others due at the
 * same time, see slicedByTurn), plus a `refresh` tick every `refreshMs`.
 */
export function indexSchedule(options: IndexScheduleOptions = {}, scheduler: SchedulerLike = asyncScheduler): OperatorFunction<string, IndexTick> {
  const throttleMs = options.throttleMs ?? 1000
  const refreshMs = options.refreshMs ?? 10_000
  const idleMs = options.idleMs ?? 60_000
  return pipe(
    throttleByKey<string>(throttleMs, idleMs, scheduler),
    slicedByTurn<string>(options.keysPerTurn ?? 8, scheduler),
    map((key): IndexTick => ({ type: 'key', key })),
    mergeWith(interval(refreshMs, scheduler).pipe(map((): IndexTick => ({ type: 'refresh' })))),
  )
}
