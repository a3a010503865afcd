import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import { afterEach, describe, expect, it } from 'vitest'
import { dropPhaseDatabase } from '../../bench/run-bench.js'

/** An HTTP server standing in for InfluxDB on a free loopback port: `/ping` answers 204, `/query` as `onQuery` does. */
async function fakeInflux(onQuery: (req: IncomingMessage, res: ServerResponse) => void): Promise<{ url: string; server: Server; queries: string[] }> {
  const queries: string[] = []
  const server = createServer((req, res) => {
    if (req.url?.startsWith('/ping') === true) {
      res.writeHead(204).end()
      return
    }
    let body = ''
    req.on('data', (c: Buffer) => (body += c.toString()))
    req.on('end', () => {
      queries.push(new URLSearchParams(body).get('q') ?? '')
      onQuery(req, res)
    })
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, server, queries }
}

const servers: Server[] = []
afterEach(async () => {
  for (const server of servers.splice(0)) {
    server.closeAllConnections()
    await new Promise((resolve) => server.close(resolve))
  }
})

describe('dropPhaseDatabase', () => {
  it('drops the database and says nothing when InfluxDB answers at once', async () => {
    const influx = await fakeInflux((_req, res) => res.writeHead(200, { 'content-type': 'application/json' }).end('{"results":[{"statement_id":0}]}'))
    servers.push(influx.server)
    const lines: string[] = []
    await expect(dropPhaseDatabase(influx.url, 'bench_e2e', 5_000, (l) => lines.push(l))).resolves.toBe(true)
    expect(influx.queries).toEqual(['DROP DATABASE "bench_e2e"'])
    expect(lines).toEqual([])
  })

  it('goes on after a drop InfluxDB gives no answer, saying so and whether it still answers a ping', async () => {
    // answers /ping, never /query: the stall seen in two quick runs
    const influx = await fakeInflux(() => {})
    servers.push(influx.server)
    const lines: string[] = []
    await expect(dropPhaseDatabase(influx.url, 'bench_big', 300, (l) => lines.push(l))).resolves.toBe(false)
    expect(lines).toHaveLength(1)
    expect(lines[0]).toMatch(/^InfluxDB gave DROP DATABASE bench_big no answer within 0\.3 s \(it answered a ping in \d+ ms\); going on, that database left behind$/)
  })

  it('throws when InfluxDB refuses the drop or cannot be reached', async () => {
    const influx = await fakeInflux((_req, res) => res.writeHead(200, { 'content-type': 'application/json' }).end('{"results":[{"statement_id":0,"error":"database is busy"}]}'))
    servers.push(influx.server)
    await expect(dropPhaseDatabase(influx.url, 'bench_alone', 5_000, () => {})).rejects.toThrow('dropping database bench_alone failed: database is busy')
    // a port nothing listens on any more: refused at once, not a stall to go on from
    const gone = await fakeInflux(() => {})
    await new Promise((resolve) => gone.server.close(resolve))
    await expect(dropPhaseDatabase(gone.url, 'bench_alone', 5_000, () => {})).rejects.toMatchObject({ code: 'CW_ERR_INFLUX_UNAVAILABLE' })
  })
})
