import { take } from 'rxjs'
import { TestScheduler } from 'rxjs/testing'
import { describe, expect, it } from 'vitest'
import { indexSchedule, throttleByKey } from '../../stream/index-scheduler.js'

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
