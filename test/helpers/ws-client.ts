import { WebSocket } from 'ws'

/** A websocket test client that records frames and waits for one matching a predicate. */
export interface WsTestClient {
  socket: WebSocket
  frames: Record<string, unknown>[]
  next(predicate: (frame: Record<string, unknown>) => boolean, timeoutMs?: number): Promise<Record<string, unknown>>
  send(message: unknown): void
  close(): Promise<void>
}

/** Connects and resolves once open. */
export async function connectWs(url: string): Promise<WsTestClient> {
  const socket = new WebSocket(url)
  const frames: Record<string, unknown>[] = []
  const waiters: { predicate: (f: Record<string, unknown>) => boolean; resolve: (f: Record<string, unknown>) => void; from: number }[] = []
  socket.on('message', (data) => {
    const frame = JSON.parse(data.toString()) as Record<string, unknown>
    frames.push(frame)
    for (const w of [...waiters]) {
      if (w.predicate(frame)) {
        waiters.splice(waiters.indexOf(w), 1)
        w.resolve(frame)
      }
    }
  })
  await new Promise<void>((resolve, reject) => {
    socket.once('open', () => resolve())
    socket.once('error', reject)
  })
  return {
    socket,
    frames,
    next(predicate, timeoutMs = 5000) {
      const seen = frames.find(predicate)
      if (seen !== undefined) {
        frames.splice(frames.indexOf(seen), 1)
        return Promise.resolve(seen)
      }
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`no matching websocket frame within ${timeoutMs} ms; got ${JSON.stringify(frames.slice(-5))}`)), timeoutMs)
        waiters.push({ predicate, from: frames.length, resolve: (f) => { clearTimeout(timer); frames.splice(frames.indexOf(f), 1); resolve(f) } })
      })
    },
    send(message) {
      socket.send(typeof message === 'string' ? message : JSON.stringify(message))
    },
    close() {
      if (socket.readyState === WebSocket.CLOSED) return Promise.resolve()
      return new Promise((resolve) => {
        socket.once('close', () => resolve())
        socket.close()
      })
    },
  }
}
