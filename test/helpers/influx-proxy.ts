import { createServer, request as httpRequest, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'

/** How the proxy treats requests: forward them, hold them until released, or drop the connection. */
export type ProxyMode = 'pass' | 'hold' | 'down'

/** An HTTP proxy in front of InfluxDB for fault injection. */
export interface InfluxProxy {
  /** http://127.0.0.1:PORT */
  readonly url: string
  mode: ProxyMode
  /** Requests received so far, by path (`/write`, `/query`, `/ping`). */
  readonly received: Record<string, number>
  /** Requests being held. */
  readonly holding: number
  /** Resolves when a request of `path` arrives while holding (or at once if one is held). */
  nextHeld(path: string): Promise<void>
  /** Forwards every held request and switches to `mode` (default pass). */
  release(mode?: ProxyMode): void
  close(): Promise<void>
}

/** Starts a proxy on a free port forwarding to `target` (e.g. the private influxd's URL). */
export async function startInfluxProxy(target: string): Promise<InfluxProxy> {
  const upstream = new URL(target)
  const held: { req: IncomingMessage; res: ServerResponse; body: Buffer }[] = []
  const received: Record<string, number> = {}
  const waiters: { path: string; resolve: () => void }[] = []
  let mode: ProxyMode = 'pass'

  function forward(req: IncomingMessage, res: ServerResponse, body: Buffer): void {
    const out = httpRequest(
      { host: upstream.hostname, port: upstream.port, method: req.method, path: req.url, headers: { ...req.headers, host: upstream.host } },
      (answer) => {
        res.writeHead(answer.statusCode ?? 502, answer.headers)
        answer.pipe(res)
      },
    )
    out.on('error', () => res.destroy())
    out.end(body)
  }

  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = []
    req.on('data', (c: Buffer) => chunks.push(c))
    req.on('end', () => {
      const body = Buffer.concat(chunks)
      const path = (req.url ?? '/').split('?')[0] ?? '/'
      received[path] = (received[path] ?? 0) + 1
      if (mode === 'down') return void req.socket.destroy()
      if (mode === 'hold') {
        held.push({ req, res, body })
        for (const w of waiters.filter((w) => w.path === path)) {
          waiters.splice(waiters.indexOf(w), 1)
          w.resolve()
        }
        return
      }
      forward(req, res, body)
    })
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()))
  const { port } = server.address() as AddressInfo
  return {
    url: `http://127.0.0.1:${port}`,
    get mode() {
      return mode
    },
    set mode(m: ProxyMode) {
      mode = m
    },
    received,
    get holding() {
      return held.length
    },
    nextHeld(path) {
      if (held.some((h) => (h.req.url ?? '').startsWith(path))) return Promise.resolve()
      return new Promise((resolve) => waiters.push({ path, resolve }))
    },
    release(next = 'pass') {
      mode = next
      for (const h of held.splice(0)) forward(h.req, h.res, h.body)
    },
    close() {
      for (const h of held.splice(0)) h.res.destroy()
      server.closeAllConnections()
      return new Promise((resolve) => server.close(() => resolve()))
    },
  }
}
