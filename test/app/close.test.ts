import { connect, type Socket } from 'node:net'
import { afterEach, describe, expect, it } from 'vitest'
import { startTestApp, type TestApp } from '../helpers/test-app.js'
import { withTimeout } from '../helpers/wait-for.js'

describe('engine shutdown with a stuck HTTP client', () => {
  let t: TestApp | undefined
  let socket: Socket | undefined
  afterEach(async () => {
    socket?.destroy()
    await t?.close()
  })

  it('cuts a connection whose request never finishes instead of waiting for it', async () => {
    t = await startTestApp()
    const port = t.app.httpPort
    // A request whose headers never end keeps its connection busy, so closing idle connections misses it.
    socket = connect(port, '127.0.0.1')
    await new Promise<void>((resolve, reject) => socket!.once('connect', resolve).once('error', reject))
    socket.write('GET /healthz HTTP/1.1\r\nHost: citywater\r\n')
    const cut = new Promise<void>((resolve) => socket!.once('close', () => resolve()))
    const app = t
    t = undefined
    await withTimeout(app.close(), 15_000, 'the engine to close with a busy HTTP connection')
    await withTimeout(cut, 5_000, 'the busy connection to be cut')
    expect(socket.destroyed).toBe(true)
  })
})
