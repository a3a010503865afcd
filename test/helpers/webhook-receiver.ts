import { createHmac } from 'node:crypto'
import { once } from 'node:events'
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'

/** One request the receiver got. */
export interface ReceivedWebhook {
  path: string
  headers: IncomingHttpHeaders
  body: string
  json: Record<string, unknown>
  /** Whether X-Citywater-Signature is the HMAC-SHA256 of the exact body with the receiver's secret. */
  verified: boolean
}

/** A running receiver; `close` may be called more than once. */
export interface WebhookReceiver {
  /** Base URL, `http://127.0.0.1:<port>`. */
  url: string
  port: number
  received: ReceivedWebhook[]
  close: () => Promise<void>
}

/**
 * A real HTTP webhook receiver on 127.0.0.1 (port 0 unless given) that records every request, checks its signature
 * against `secret` and answers 200 `{"ok":true}`. The caller closes it (e.g. by pushing `close` to its cleanups).
 */
export async function startWebhookReceiver(secret: string, port = 0): Promise<WebhookReceiver> {
  const received: ReceivedWebhook[] = []
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = []
    req.on('data', (c: Buffer) => chunks.push(c))
    req.on('end', () => {
      const body = Buffer.concat(chunks).toString('utf8')
      const expected = `sha256=${createHmac('sha256', secret).update(body).digest('hex')}`
      received.push({ path: req.url ?? '', headers: req.headers, body, json: JSON.parse(body) as Record<string, unknown>, verified: req.headers['x-citywater-signature'] === expected })
      res.writeHead(200, { 'content-type': 'application/json' }).end('{"ok":true}')
    })
  })
  server.listen(port, '127.0.0.1')
  await once(server, 'listening')
  const actual = (server.address() as AddressInfo).port
  let closed = false
  const close = async () => {
    if (closed) return
    closed = true
    server.closeAllConnections()
    await new Promise<void>((resolve) => server.close(() => resolve()))
  }
  return { url: `http://127.0.0.1:${actual}`, port: actual, received, close }
}
