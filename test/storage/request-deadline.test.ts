import { describe, expect, it } from 'vitest'
import { requestDeadline } from '../../storage/influx-http.js'
import { withTimeout } from '../helpers/wait-for.js'

describe('requestDeadline.race', () => {
  it('rejects a promise that never settles once the deadline fires', async () => {
    const deadline = requestDeadline(20)
    const never = new Promise<string>(() => undefined)
    await expect(withTimeout(deadline.race(never), 2000, 'the deadline')).rejects.toThrow('no answer within 20 ms')
    expect(deadline.timedOut).toBe(true)
    deadline.done()
  })

  it('rejects at once when a parent signal aborts (engine shutdown)', async () => {
    const parent = new AbortController()
    const deadline = requestDeadline(60_000, [parent.signal])
    const pending = deadline.race(new Promise<string>(() => undefined))
    parent.abort()
    await expect(withTimeout(pending, 2000, 'the abort')).rejects.toThrow('aborted')
    expect(deadline.timedOut).toBe(false)
    deadline.done()
  })

  it('passes a settled value or error through, and a fired deadline rejects what is raced after it', async () => {
    const deadline = requestDeadline(60_000)
    await expect(deadline.race(Promise.resolve('ok'))).resolves.toBe('ok')
    await expect(deadline.race(Promise.reject(new Error('refused')))).rejects.toThrow('refused')
    deadline.done()
    const fired = requestDeadline(0)
    await new Promise((resolve) => fired.signal.addEventListener('abort', resolve, { once: true }))
    await expect(fired.race(Promise.resolve('late'))).rejects.toThrow('no answer within 0 ms')
  })
})
