import type { ServerFrame } from './types.js'

/** What the connection indicator shows. */
export type ConnState = 'connecting' | 'live' | 'reconnecting'

/** The part of a browser WebSocket the connection uses (so tests can pass a fake). */
export interface SocketLike {
  send(data: string): void
  close(code?: number, reason?: string): void
  onopen: ((ev: unknown) => void) | null
  onmessage: ((ev: { data: unknown }) => void) | null
  onclose: ((ev: unknown) => void) | null
  onerror: ((ev: unknown) => void) | null
}

/** Options of createConnection. */
export interface ConnectionOptions {
  /** The websocket URL, read at each attempt. */
  url: () => string
  /** The subscribe message to send once open, read at each attempt (it carries `since`). */
  subscribe: () => string
  onFrame: (frame: ServerFrame) => void
  /** Called on every state change with the number of the reconnect attempt (0 once live). */
  onState: (state: ConnState, attempt: number) => void
  /** Opens a socket; default the browser's WebSocket. */
  createSocket?: (url: string) => SocketLike
  /** First reconnect delay in milliseconds; default 500. Doubles per attempt. */
  baseDelayMs?: number
  /** Longest reconnect delay in milliseconds; default 15000. */
  maxDelayMs?: number
  /** 0–1 random source for the jitter; default Math.random. */
  random?: () => number
  setTimer?: (fn: () => void, ms: number) => unknown
  clearTimer?: (handle: unknown) => void
}

/** An open-ended websocket session that reconnects with backoff. */
export interface Connection {
  readonly state: ConnState
  readonly attempt: number
  /** Skips the wait of a pending reconnect (the browser came back online). */
  retryNow(): void
  close(): void
}

/** Delay before reconnect attempt `attempt` (1, 2, ...): exponential up to `maxMs`, with jitter between half and all of it. */
export function backoffDelay(attempt: number, baseMs = 500, maxMs = 15_000, random: () => number = Math.random): number {
  const ceiling = Math.min(maxMs, baseMs * 2 ** Math.max(0, attempt - 1))
  return Math.round(ceiling * (0.5 + 0.5 * random()))
}

/** Parses a text frame; undefined for anything that is not a JSON object with a `type`. */
export function parseFrame(data: unknown): ServerFrame | undefined {
  if (typeof data !== 'string') return undefined
  try {
    const frame = JSON.parse(data) as unknown
    return frame !== null && typeof frame === 'object' && typeof (frame as { type?: unknown }).type === 'string' ? (frame as ServerFrame) : undefined
  } catch {
    return undefined
  }
}

/**
 * Connects, subscribes, and after every close reconnects with backoff and subscribes again (with `since`, from
 * `subscribe()`). `live` starts at the snapshot, not at the open: only then is the page current.
 */
export function createConnection(options: ConnectionOptions): Connection {
  const createSocket = options.createSocket ?? ((url: string) => new (globalThis as unknown as { WebSocket: new (url: string) => SocketLike }).WebSocket(url))
  const setTimer = options.setTimer ?? ((fn: () => void, ms: number) => setTimeout(fn, ms))
  const clearTimer = options.clearTimer ?? ((h: unknown) => clearTimeout(h as ReturnType<typeof setTimeout>))
  let state: ConnState = 'connecting'
  let attempt = 0
  let socket: SocketLike | undefined
  let timer: unknown
  let closed = false

  const setState = (next: ConnState): void => {
    state = next
    options.onState(state, attempt)
  }

  const open = (): void => {
    timer = undefined
    if (closed) return
    const ws = createSocket(options.url())
    socket = ws
    ws.onopen = () => ws.send(options.subscribe())
    ws.onmessage = (ev) => {
      const frame = parseFrame(ev.data)
      if (frame === undefined) return
      if (frame.type === 'snapshot') {
        attempt = 0
        setState('live')
      }
      options.onFrame(frame)
    }
    ws.onerror = () => {}
    ws.onclose = () => {
      if (socket !== ws) return
      socket = undefined
      if (closed) return
      attempt += 1
      setState('reconnecting')
      timer = setTimer(open, backoffDelay(attempt, options.baseDelayMs, options.maxDelayMs, options.random))
    }
  }

  options.onState(state, attempt)
  open()
  return {
    get state() {
      return state
    },
    get attempt() {
      return attempt
    },
    retryNow() {
      if (timer === undefined || closed) return
      clearTimer(timer)
      open()
    },
    close() {
      closed = true
      if (timer !== undefined) clearTimer(timer)
      socket?.close(1000, 'page closed')
      socket = undefined
    },
  }
}
