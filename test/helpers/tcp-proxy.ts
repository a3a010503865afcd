import { createServer, connect, type Server, type Socket } from 'node:net'
import type { AddressInfo } from 'node:net'

/** A TCP proxy that can drop every connection, as a flaky network between a browser and the engine would. */
export interface TcpProxy {
  /** The local port clients connect to. */
  readonly port: number
  /** Connections accepted so far. */
  readonly accepted: number
  /** Destroys every open connection and refuses (resets) new ones until `restore()`. */
  cut(): void
  /** Accepts and forwards connections again. */
  restore(): void
  close(): Promise<void>
}

/** Starts a proxy on a free port forwarding to `targetPort` on 127.0.0.1. */
export async function startTcpProxy(targetPort: number): Promise<TcpProxy> {
  const open = new Set<Socket>()
  let down = false
  let accepted = 0
  const server: Server = createServer((client) => {
    if (down) {
      client.resetAndDestroy()
      return
    }
    accepted++
    const upstream = connect({ host: '127.0.0.1', port: targetPort })
    open.add(client)
    open.add(upstream)
    const drop = (): void => {
      open.delete(client)
      open.delete(upstream)
      client.destroy()
      upstream.destroy()
    }
    client.on('error', drop).on('close', drop)
    upstream.on('error', drop).on('close', drop)
    client.pipe(upstream)
    upstream.pipe(client)
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  return {
    port: (server.address() as AddressInfo).port,
    get accepted() {
      return accepted
    },
    cut() {
      down = true
      for (const socket of open) socket.resetAndDestroy()
      open.clear()
    },
    restore() {
      down = false
    },
    async close() {
      for (const socket of open) socket.destroy()
      await new Promise<void>((resolve) => server.close(() => resolve()))
    },
  }
}
