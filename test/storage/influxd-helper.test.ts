import { existsSync } from 'node:fs'
import { once } from 'node:events'
import { createServer } from 'node:net'
import { describe, expect, it } from 'vitest'
import { createInfluxd, startInfluxd } from '../helpers/influxd.js'
import { rows, writeLines } from './storage-fixtures.js'

async function ping(url: string): Promise<number> {
  const res = await fetch(`${url}/ping`)
  await res.arrayBuffer()
  return res.status
}

describe('private influxd helper', () => {
  it('starts influxd on a free loopback port, restarts it with its data, and removes its directory on stop', async () => {
    const influxd = await startInfluxd()
    try {
      expect(influxd.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/)
      expect(await ping(influxd.url)).toBe(204)
      await fetch(`${influxd.url}/query`, { method: 'POST', body: new URLSearchParams({ q: 'CREATE DATABASE kept' }) }).then((r) => r.text())
      expect(await writeLines(influxd.url, 'kept', 'm v=1 1000')).toBe(204)

      await influxd.stop({ keepData: true })
      expect(influxd.running).toBe(false)
      await expect(ping(influxd.url)).rejects.toThrow()
      expect(existsSync(influxd.dir)).toBe(true)

      await influxd.start()
      expect(await rows(influxd.url, 'kept', 'SELECT * FROM m')).toEqual([{ time: 1000, v: 1 }])
    } finally {
      await influxd.stop()
    }
    expect(existsSync(influxd.dir)).toBe(false)
  })

  it('picks new ports when the chosen one was taken before influxd bound it', async () => {
    const influxd = await createInfluxd()
    const taken = Number(new URL(influxd.url).port)
    const squatter = createServer()
    squatter.listen(taken, '127.0.0.1')
    await once(squatter, 'listening')
    try {
      await influxd.start()
      expect(Number(new URL(influxd.url).port)).not.toBe(taken)
      expect(await ping(influxd.url)).toBe(204)
    } finally {
      squatter.close()
      await influxd.stop()
    }
  })

  it('fails clearly with pinned ports that are taken', async () => {
    const influxd = await createInfluxd({ pinPorts: true })
    const squatter = createServer()
    squatter.listen(Number(new URL(influxd.url).port), '127.0.0.1')
    await once(squatter, 'listening')
    try {
      await expect(influxd.start()).rejects.toThrow(/address already in use/)
    } finally {
      squatter.close()
      await influxd.stop()
    }
  })
})
