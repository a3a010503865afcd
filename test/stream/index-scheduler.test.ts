import { Subject, take } from 'rxjs'
import { TestScheduler } from 'rxjs/testing'
import { describe, expect, it } from 'vitest'
import { indexSchedule, slicedByTurn, throttleByKey } from '../../stream/index-scheduler.js'
import { waitFor } from '../helpers/wait-for.js'

const testScheduler = () => new TestScheduler((actual, expected) => expect(actual).toEqual(expected))

describe('throttleByKey', () => {
  it('passes the first change of a key at once and the last one of its second at the end of that second', () => {
    testScheduler().run(({ hot, expectObservable }) => {
      const source = hot('a 99ms a 99ms a 2s a', { a: 'seg-a' })
      // leading at 0, trailing at 1000 (which opens the next period), the late change leads again
      expectObservable(source.pipe(throttleByKey(1000, 5000))).toBe('a 999ms a 1200ms a', { a: 'seg-a' })
    })
  })

  it('throttles each key on its own', () => {
    testScheduler().run(({ hot, expectObservable }) => {
      const source = hot('a b a b 996ms -', { a: 'seg-a', b: 'seg-b' })
      expectObservable(source.pipe(throttleByKey(1000, 5000))).toBe('a b 998ms a b', { a: 'seg-a', b: 'seg-b' })
    })
  })

  it('never emits one key twice within a period, however dense its changes', () => {
    testScheduler().run(({ hot, expectObservable }) => {
      const dense = 'a 9ms '.repeat(350)
      const source = hot(dense, { a: 'k' })
      // changes for 3.5 s: 0, 1000, 2000, 3000 and the trailing one at 4000
      expectObservable(source.pipe(throttleByKey(1000, 5000))).toBe('a 999ms a 999ms a 999ms a 999ms a', { a: 'k' })
    })
  })

  it('ends idle groups, and a key that changes again after its group ended leads again', () => {
    testScheduler().run(({ hot, expectObservable }) => {
      const source = hot('a 1499ms a', { a: 'k' })
      // the group ends 1000 ms after its last change; the change at 1500 opens a new group and leads
      expectObservable(source.pipe(throttleByKey(500, 1000))).toBe('a 1499ms a', { a: 'k' })
    })
  })
})

describe('indexSchedule', () => {
  it('recomputes changed keys at most once a second and refreshes every key every 10 s', () => {
    testScheduler().run(({ hot, expectObservable }) => {
      const dirty = hot('a a 10s -', { a: 'segment:seg-a' })
      const key = { type: 'key', key: 'segment:seg-a' }
      const refresh = { type: 'refresh' }
      expectObservable(dirty.pipe(indexSchedule({}), take(4))).toBe('k 999ms k 8999ms r 9999ms (r|)', { k: key, r: refresh })
    })
  })

  it('takes its periods from the options', () => {
    testScheduler().run(({ hot, expectObservable }) => {
      const dirty = hot('a a', { a: 'k' })
      expectObservable(dirty.pipe(indexSchedule({ throttleMs: 100, refreshMs: 250 }), take(4))).toBe('k 99ms k 149ms r 249ms (r|)', {
        k: { type: 'key', key: 'k' },
        r: { type: 'refresh' },
      })
    })
  })
})

describe('slicedByTurn', () => {
  it('passes values through in order, in the same virtual frame', () => {
    testScheduler().run(({ hot, expectObservable }) => {
      const source = hot('(abcde) 5ms f', { a: 1, b: 2, c: 3, d: 4, e: 5, f: 6 })
      expectObservable(source.pipe(slicedByTurn(2))).toBe('(abcde) 5ms f', { a: 1, b: 2, c: 3, d: 4, e: 5, f: 6 })
    })
  })

  it('emits at most maxPerTurn values in one turn and the rest in later turns, with I/O in between', async () => {
    const source = new Subject<number>()
    const seen: number[] = []
    const sub = source.pipe(slicedByTurn(3)).subscribe((v) => seen.push(v))
    for (let i = 1; i <= 8; i++) source.next(i)
    // Synchronously, only the first turn's share.
    expect(seen).toEqual([1, 2, 3])
    // A setImmediate callback (the check phase after I/O) runs before the next slice's timer.
    await new Promise((resolve) => setImmediate(resolve))
    expect(seen.length).toBeLessThan(8)
    await waitFor(() => seen.length === 8, { timeoutMs: 2000, intervalMs: 1, message: 'the later slices' })
    expect(seen).toEqual([1, 2, 3, 4, 5, 6, 7, 8])
    sub.unsubscribe()
  })

  it('hands over what is still queued when the source completes', () => {
    const source = new Subject<number>()
    const seen: number[] = []
    source.pipe(slicedByTurn(1)).subscribe((v) => seen.push(v))
    source.next(1)
    source.next(2)
    source.next(3)
    source.complete()
    expect(seen).toEqual([1, 2, 3])
  })
})
