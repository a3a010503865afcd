import { describe, expect, it } from 'vitest'
import { backoffDelay, createConnection, parseFrame, type ConnState, type SocketLike } from '../../dashboards/web/src/connection.js'
import type { ServerFrame } from '../../dashboards/web/src/types.js'

class FakeSocket implements SocketLike {
  sent: string[] = []
  closed = false
  onopen: ((ev: unknown) => void) | null = null
  onmessage: ((ev: { data: unknown }) => void) | null = null
  onclose: ((ev: unknown) => void) | null = null
  onerror: ((ev: unknown) => void) | null = null
  constructor(readonly url: string) {}
  send(data: string): void {
    this.sent.push(data)
  }
  close(): void {
    this.closed = true
  }
  serverSends(frame: unknown): void {
    this.onmessage?.({ data: JSON.stringify(frame) })
  }
  drop(): void {
    this.onerror?.({})
    this.onclose?.({})
  }
}

/** A connection on fake sockets and a manual timer queue. */
function harness() {
  const sockets: FakeSocket[] = []
  const timers: { fn: () => void; ms: number }[] = []
  const states: [ConnState, number][] = []
  const frames: ServerFrame[] = []
  let seq = 0
  const conn = createConnection({
    url: () => 'ws://engine/ws',
    subscribe: () => JSON.stringify(seq > 0 ? { type: 'subscribe', since: seq } : { type: 'subscribe' }),
    onFrame: (f) => {
      frames.push(f)
      if ('seq' in f) seq = Math.max(seq, f.seq)
    },
    onState: (s, n) => states.push([s, n]),
    createSocket: (url) => {
      const s = new FakeSocket(url)
      sockets.push(s)
      return s
    },
    random: () => 1,
    setTimer: (fn, ms) => {
      const t = { fn, ms }
      timers.push(t)
      return t
    },
    clearTimer: (h) => {
      const i = timers.indexOf(h as { fn: () => void; ms: number })
      if (i >= 0) timers.splice(i, 1)
    },
  })
  const last = () => sockets[sockets.length - 1] as FakeSocket
  const fire = () => (timers.shift() as { fn: () => void }).fn()
  return { conn, sockets, timers, states, frames, last, fire }
}

describe('backoffDelay', () => {
  it.each([
    [1, 1, 500],
    [2, 1, 1000],
    [3, 1, 2000],
    [6, 1, 15000],
    [20, 1, 15000],
    [3, 0, 1000],
  ])('waits at most base x 2^(attempt-1), capped, with jitter down to half: attempt %i random %d -> %i ms', (attempt, r, ms) => {
    expect(backoffDelay(attempt, 500, 15_000, () => r)).toBe(ms)
  })
})

describe('parseFrame', () => {
  it('takes JSON objects with a type and nothing else', () => {
    expect(parseFrame('{"type":"index","seq":1,"data":{}}')).toEqual({ type: 'index', seq: 1, data: {} })
    expect(parseFrame('not json')).toBeUndefined()
    expect(parseFrame('[1]')).toBeUndefined()
    expect(parseFrame('null')).toBeUndefined()
    expect(parseFrame(new Uint8Array([1]))).toBeUndefined()
  })
})

describe('createConnection', () => {
  it('is connecting until the snapshot arrives, then live', () => {
    const h = harness()
    expect(h.conn.state).toBe('connecting')
    h.last().onopen?.({})
    expect(h.last().sent).toEqual(['{"type":"subscribe"}'])
    expect(h.conn.state).toBe('connecting')
    h.last().serverSends({ type: 'snapshot', seq: 7, data: {} })
    expect(h.conn.state).toBe('live')
    expect(h.states).toEqual([['connecting', 0], ['live', 0]])
  })

  it('reconnects with growing delays and counts the attempts until a snapshot', () => {
    const h = harness()
    h.last().onopen?.({})
    h.last().serverSends({ type: 'snapshot', seq: 7, data: {} })
    h.last().drop()
    expect(h.conn.state).toBe('reconnecting')
    expect(h.conn.attempt).toBe(1)
    expect(h.timers.map((t) => t.ms)).toEqual([500])
    h.fire()
    h.last().drop()
    expect(h.timers.map((t) => t.ms)).toEqual([1000])
    expect(h.states.at(-1)).toEqual(['reconnecting', 2])
    h.fire()
    h.last().onopen?.({})
    h.last().serverSends({ type: 'snapshot', seq: 9, resumed: true, data: {} })
    expect(h.conn.state).toBe('live')
    expect(h.conn.attempt).toBe(0)
    expect(h.sockets).toHaveLength(3)
  })

  it('resubscribes with since = the last seq it received', () => {
    const h = harness()
    h.last().onopen?.({})
    h.last().serverSends({ type: 'snapshot', seq: 7, data: {} })
    h.last().serverSends({ type: 'alert', seq: 8, data: {} })
    h.last().drop()
    h.fire()
    h.last().onopen?.({})
    expect(h.last().sent).toEqual(['{"type":"subscribe","since":8}'])
  })

  it('skips the wait when asked, and stops for good on close', () => {
    const h = harness()
    h.last().drop()
    h.conn.retryNow()
    expect(h.sockets).toHaveLength(2)
    expect(h.timers).toHaveLength(0)
    h.conn.close()
    expect(h.sockets[1]?.closed).toBe(true)
    h.sockets[1]?.drop()
    expect(h.timers).toHaveLength(0)
    expect(h.sockets).toHaveLength(2)
  })

  it('ignores frames that are not JSON objects', () => {
    const h = harness()
    h.last().onmessage?.({ data: 'garbage' })
    expect(h.frames).toEqual([])
  })
})
