import { once } from 'node:events'
import { createRequire } from 'node:module'
import { dirname, join } from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'
import { Worker } from 'node:worker_threads'
import Database from 'better-sqlite3'
import { afterEach, describe, expect, it } from 'vitest'
import type { Level } from '../../domain.js'
import { ALERT_STORE_SCHEMA_VERSION } from '../../storage/alert-store-schema.js'
import { openAlertStore, type AlertCondition, type AlertStore, type AlertStoreOptions } from '../../storage/alert-store.js'
import { manualClock, T0 } from '../helpers/alert-fixtures.js'
import { expectAppError } from '../helpers/expect-app-error.js'
import { tempDir } from './storage-fixtures.js'

const MIN = 60_000
const cleanups: Array<() => Promise<unknown> | unknown> = []

afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup()
})

async function freshFile(): Promise<string> {
  const { dir, remove } = await tempDir('citywater-alerts-')
  cleanups.push(remove)
  return join(dir, 'data', 'alerts.sqlite')
}

function open(file: string, options: Partial<AlertStoreOptions> = {}): AlertStore {
  const store = openAlertStore({ file, clock: manualClock(), ...options })
  cleanups.push(() => store.close())
  return store
}

function condition(overrides: Partial<AlertCondition> = {}): AlertCondition {
  return {
    rule: 'ponding-depth',
    subject: 'PD-0031',
    district: 'xihu',
    segment: 'zone-4',
    level: 'orange',
    value: 31.5,
    threshold: 27,
    message: 'Ponding 31.5 cm at Wensan Rd (orange, >= 27 cm)',
    etaMinutes: 12,
    ...overrides,
  }
}

const LEVELS: readonly Level[] = ['blue', 'yellow', 'orange', 'red']

describe('alert store file', () => {
  it('creates the folder and a WAL-mode file at the current schema version', async () => {
    const file = await freshFile()
    open(file)
    const raw = new Database(file, { readonly: true })
    cleanups.push(() => raw.close())
    expect(ALERT_STORE_SCHEMA_VERSION).toBeGreaterThanOrEqual(1)
    expect(raw.pragma('user_version', { simple: true })).toBe(ALERT_STORE_SCHEMA_VERSION)
    expect(raw.pragma('journal_mode', { simple: true })).toBe('wal')
  })

  it('reopens a migrated file without migrating again', async () => {
    const file = await freshFile()
    const first = openAlertStore({ file })
    first.raiseOrUpdate(condition(), T0)
    first.close()
    const second = open(file)
    expect(second.active()).toHaveLength(1)
  })

  it('refuses a file written by a newer engine with CW_ERR_ALERT_STORE_SCHEMA', async () => {
    const file = await freshFile()
    openAlertStore({ file }).close()
    const raw = new Database(file)
    raw.pragma(`user_version = ${ALERT_STORE_SCHEMA_VERSION + 1}`)
    raw.close()
    const err = expectAppError(() => openAlertStore({ file }))
    expect(err.code).toBe('CW_ERR_ALERT_STORE_SCHEMA')
    expect(err.statusCode).toBe(500)
  })
})

describe('one alert per (rule, subject)', () => {
  it('keeps 10 alerts under a burst of 1,000 interleaved raises for 10 subjects', async () => {
    const store = open(await freshFile())
    const changes: Record<string, number> = {}
    for (let i = 0; i < 1_000; i += 1) {
      const level = LEVELS[Math.floor(i / 10) % 4] as Level
      const { change } = store.raiseOrUpdate(condition({ subject: `PD-${i % 10}`, level, value: i }), T0 + i)
      changes[change] = (changes[change] ?? 0) + 1
    }
    expect(store.active()).toHaveLength(10)
    expect(store.list()).toHaveLength(10)
    expect(changes.raised).toBe(10)
    expect(new Set(store.active().map((a) => a.subject)).size).toBe(10)
  })

  it('keeps 10 alerts when raises come from a burst of concurrent promises', async () => {
    const store = open(await freshFile())
    const results = await Promise.all(
      Array.from({ length: 1_000 }, async (_, i) => {
        await Promise.resolve()
        return store.raiseOrUpdate(condition({ subject: `PD-${i % 10}`, value: i }), T0 + i)
      }),
    )
    expect(results.filter((r) => r.change === 'raised')).toHaveLength(10)
    expect(store.active()).toHaveLength(10)
  })

  it('keeps 10 alerts when two connections interleave raises on the same file', async () => {
    const file = await freshFile()
    const a = open(file)
    const b = open(file)
    for (let i = 0; i < 1_000; i += 1) (i % 2 === 0 ? a : b).raiseOrUpdate(condition({ subject: `PD-${i % 10}`, value: i }), T0 + i)
    expect(a.active()).toHaveLength(10)
    expect(b.list()).toHaveLength(10)
  })

  it('keeps 10 alerts when four worker threads raise on the same file at once', async () => {
    const file = await freshFile()
    open(file).close()
    const require = createRequire(import.meta.url)
    const tsxApi = pathToFileURL(join(dirname(require.resolve('tsx/package.json')), 'dist/esm/api/index.mjs')).href
    const store = pathToFileURL(fileURLToPath(new URL('../../storage/alert-store.ts', import.meta.url))).href
    const code = `
      const { workerData, parentPort } = require('node:worker_threads')
      ;(async () => {
        const { tsImport } = await import(workerData.tsxApi)
        const { openAlertStore } = await tsImport(workerData.store, workerData.store)
        const store = openAlertStore({ file: workerData.file })
        let raised = 0
        for (let i = 0; i < 250; i += 1) {
          const r = store.raiseOrUpdate({ rule: 'ponding-depth', subject: 'PD-' + (i % 10), district: 'xihu', segment: null,
            level: i % 3 === 0 ? 'red' : 'orange', value: workerData.n * 1000 + i, threshold: 27, message: 'm' })
          if (r.change === 'raised') raised += 1
        }
        store.close()
        parentPort.postMessage({ raised })
      })().catch((err) => parentPort.postMessage({ error: String(err && err.stack || err) }))
    `
    const workers = [0, 1, 2, 3].map((n) => new Worker(code, { eval: true, workerData: { tsxApi, store, file, n } }))
    cleanups.push(() => Promise.all(workers.map((w) => w.terminate())))
    const replies = (await Promise.all(workers.map((w) => once(w, 'message')))).map(([m]) => m as { raised?: number; error?: string })
    expect(replies.filter((r) => r.error !== undefined)).toEqual([])
    expect(replies.reduce((sum, r) => sum + (r.raised ?? 0), 0)).toBe(10)
    expect(open(file).active()).toHaveLength(10)
  })

  it('refuses a second active row for the same (rule, subject) in SQLite itself', async () => {
    const file = await freshFile()
    const store = open(file)
    store.raiseOrUpdate(condition(), T0)
    const raw = new Database(file)
    cleanups.push(() => raw.close())
    const insert = raw.prepare(
      `INSERT INTO alerts (id, rule, subject, district, level, state, value, threshold, message, raised_at, updated_at)
       VALUES (?, 'ponding-depth', 'PD-0031', 'xihu', 'red', ?, 1, 1, 'm', 0, 0)`,
    )
    expect(() => insert.run('a-dup', 'open')).toThrow(/UNIQUE/)
    expect(() => insert.run('a-dup2', 'acknowledged')).toThrow(/UNIQUE/)
    expect(() => insert.run('a-old', 'resolved')).not.toThrow()
  })
})

describe('raiseOrUpdate', () => {
  it('raises an alert in the alert JSON shape with a raised audit entry', async () => {
    const store = open(await freshFile(), { idFactory: () => 'a-7f3c' })
    const { alert, change } = store.raiseOrUpdate(condition(), T0)
    expect(change).toBe('raised')
    expect(alert).toEqual({
      id: 'a-7f3c',
      rule: 'ponding-depth',
      subject: 'PD-0031',
      district: 'xihu',
      segment: 'zone-4',
      level: 'orange',
      state: 'open',
      value: 31.5,
      threshold: 27,
      message: 'Ponding 31.5 cm at Wensan Rd (orange, >= 27 cm)',
      raisedAt: new Date(T0).toISOString(),
      updatedAt: new Date(T0).toISOString(),
      resolvedAt: null,
      ackedBy: null,
      etaMinutes: 12,
      flapping: false,
      tier: 0,
      notifiedLevel: null,
      notifiedAt: null,
    })
    expect(store.get('a-7f3c')?.audit).toEqual([
      { at: new Date(T0).toISOString(), who: 'engine', what: 'raised', note: null, to: 'open', details: { level: 'orange', value: 31.5, threshold: 27 } },
    ])
  })

  it('gives new alerts distinct a- ids by default', async () => {
    const store = open(await freshFile())
    const ids = Array.from({ length: 50 }, (_, i) => store.raiseOrUpdate(condition({ subject: `S-${i}` }), T0).alert.id)
    expect(new Set(ids).size).toBe(50)
    for (const id of ids) expect(id).toMatch(/^a-[0-9a-f]{8}$/)
  })

  it('records a level change as history and audit, and tells updated from unchanged', async () => {
    const store = open(await freshFile())
    const raised = store.raiseOrUpdate(condition({ level: 'yellow', value: 16, threshold: 15 }), T0).alert
    const same = store.raiseOrUpdate(condition({ level: 'yellow', value: 16, threshold: 15 }), T0 + MIN)
    expect(same.change).toBe('unchanged')
    expect(same.alert.updatedAt).toBe(new Date(T0).toISOString())
    const updated = store.raiseOrUpdate(condition({ level: 'yellow', value: 18, threshold: 15 }), T0 + 2 * MIN)
    expect(updated.change).toBe('updated')
    expect(updated.alert.value).toBe(18)
    const up = store.raiseOrUpdate(condition({ level: 'red', value: 41, threshold: 40 }), T0 + 3 * MIN)
    expect(up).toMatchObject({ change: 'level_changed', previousLevel: 'yellow', alert: { id: raised.id, level: 'red', value: 41, threshold: 40 } })
    const down = store.raiseOrUpdate(condition({ level: 'orange', value: 30, threshold: 27 }), T0 + 4 * MIN)
    expect(down.change).toBe('level_changed')

    const detail = store.get(raised.id)
    expect(detail?.raisedAt).toBe(new Date(T0).toISOString())
    expect(detail?.updatedAt).toBe(new Date(T0 + 4 * MIN).toISOString())
    expect(detail?.history).toEqual([
      { at: new Date(T0 + 3 * MIN).toISOString(), from: 'yellow', to: 'red', value: 41 },
      { at: new Date(T0 + 4 * MIN).toISOString(), from: 'red', to: 'orange', value: 30 },
    ])
    expect(detail?.audit.map((e) => [e.who, e.what, e.from, e.to])).toEqual([
      ['engine', 'raised', undefined, 'open'],
      ['engine', 'level', 'yellow', 'red'],
      ['engine', 'level', 'red', 'orange'],
    ])
    expect(detail?.audit[1]?.details).toEqual({ value: 41, threshold: 40 })
  })

  it('keeps an acknowledged alert acknowledged when its level rises', async () => {
    const store = open(await freshFile())
    const { alert } = store.raiseOrUpdate(condition({ level: 'yellow' }), T0)
    store.acknowledge(alert.id, 'li.wei', 'on it', T0 + MIN)
    const up = store.raiseOrUpdate(condition({ level: 'red' }), T0 + 2 * MIN)
    expect(up).toMatchObject({ change: 'level_changed', alert: { id: alert.id, state: 'acknowledged', ackedBy: 'li.wei', level: 'red' } })
  })

  it('takes the time from the clock when none is given', async () => {
    const clock = manualClock(T0 + 5 * MIN)
    const store = open(await freshFile(), { clock })
    expect(store.raiseOrUpdate(condition()).alert.raisedAt).toBe(new Date(T0 + 5 * MIN).toISOString())
  })
})

describe('lifecycle', () => {
  it('goes open, acknowledged, resolved with who, when and note in the audit', async () => {
    const store = open(await freshFile())
    const { alert } = store.raiseOrUpdate(condition(), T0)
    const acked = store.acknowledge(alert.id, 'li.wei', 'crew dispatched', T0 + MIN)
    expect(acked).toMatchObject({ state: 'acknowledged', ackedBy: 'li.wei', updatedAt: new Date(T0 + MIN).toISOString(), resolvedAt: null })
    const resolved = store.resolve(alert.id, 'zhang.min', 'drain cleared', T0 + 2 * MIN)
    expect(resolved).toMatchObject({ state: 'resolved', ackedBy: 'li.wei', resolvedAt: new Date(T0 + 2 * MIN).toISOString() })
    expect(store.get(alert.id)?.audit.slice(1)).toEqual([
      { at: new Date(T0 + MIN).toISOString(), who: 'li.wei', what: 'acknowledged', note: 'crew dispatched', from: 'open', to: 'acknowledged' },
      { at: new Date(T0 + 2 * MIN).toISOString(), who: 'zhang.min', what: 'resolved', note: 'drain cleared', from: 'acknowledged', to: 'resolved' },
    ])
  })

  it('resolves an open alert directly', async () => {
    const store = open(await freshFile())
    const { alert } = store.raiseOrUpdate(condition(), T0)
    expect(store.resolve(alert.id, 'li.wei', null, T0 + MIN)).toMatchObject({ state: 'resolved', ackedBy: null })
  })

  it.each([
    ['acknowledged', 'acknowledge', 'acknowledged'],
    ['resolved', 'acknowledge', 'acknowledged'],
    ['resolved', 'resolve', 'resolved'],
  ] as const)('refuses %s → %s with CW_ERR_ALERT_TRANSITION (409)', async (from, action, to) => {
    const store = open(await freshFile())
    const { alert } = store.raiseOrUpdate(condition(), T0)
    if (from === 'acknowledged') store.acknowledge(alert.id, 'li.wei', null, T0 + MIN)
    if (from === 'resolved') store.resolve(alert.id, 'li.wei', null, T0 + MIN)
    const err = expectAppError(() => store[action](alert.id, 'zhang.min', 'again', T0 + 2 * MIN))
    expect(err).toMatchObject({ code: 'CW_ERR_ALERT_TRANSITION', statusCode: 409, details: [{ id: alert.id, from, to }] })
    expect(err.message).toBe(`Alert '${alert.id}' cannot go from ${from} to ${to}`)
    expect(store.get(alert.id)?.audit).toHaveLength(2)
  })

  it('answers an unknown id with CW_ERR_ALERT_NOT_FOUND (404)', async () => {
    const store = open(await freshFile())
    for (const run of [() => store.acknowledge('a-nope', 'x'), () => store.resolve('a-nope', 'x'), () => store.markNotified('a-nope', 'red'), () => store.setTier('a-nope', 1)]) {
      expect(expectAppError(run)).toMatchObject({ code: 'CW_ERR_ALERT_NOT_FOUND', statusCode: 404 })
    }
    expect(store.get('a-nope')).toBeUndefined()
  })

  it('auto-resolves as the engine, and a new raise then creates a new alert', async () => {
    const store = open(await freshFile())
    const first = store.raiseOrUpdate(condition(), T0).alert
    const resolved = store.autoResolve('ponding-depth', 'PD-0031', T0 + MIN, 12.5)
    expect(resolved).toMatchObject({ id: first.id, state: 'resolved', value: 12.5, resolvedAt: new Date(T0 + MIN).toISOString() })
    expect(store.get(first.id)?.audit.at(-1)).toEqual({
      at: new Date(T0 + MIN).toISOString(),
      who: 'engine',
      what: 'resolved',
      note: 'condition cleared',
      from: 'open',
      to: 'resolved',
      details: { value: 12.5 },
    })
    expect(store.autoResolve('ponding-depth', 'PD-0031', T0 + 2 * MIN)).toBeNull()
    const second = store.raiseOrUpdate(condition(), T0 + 3 * MIN)
    expect(second.change).toBe('raised')
    expect(second.alert.id).not.toBe(first.id)
    expect(store.list({ rule: 'ponding-depth', subject: 'PD-0031' }).map((a) => [a.id, a.state])).toEqual([
      [second.alert.id, 'open'],
      [first.id, 'resolved'],
    ])
  })

  it('auto-resolves an acknowledged alert', async () => {
    const store = open(await freshFile())
    const { alert } = store.raiseOrUpdate(condition(), T0)
    store.acknowledge(alert.id, 'li.wei', null, T0 + MIN)
    expect(store.autoResolve('ponding-depth', 'PD-0031', T0 + 2 * MIN)).toMatchObject({ state: 'resolved', ackedBy: 'li.wei' })
    expect(store.active()).toEqual([])
  })
})

describe('list', () => {
  it('filters by state, district, level, rule and subject, newest first', async () => {
    const store = open(await freshFile())
    const a = store.raiseOrUpdate(condition({ subject: 'PD-1', district: 'xihu', level: 'red' }), T0).alert
    const b = store.raiseOrUpdate(condition({ subject: 'PD-2', district: 'gongshu', level: 'yellow' }), T0 + MIN).alert
    const c = store.raiseOrUpdate(condition({ rule: 'stale', subject: 'PD-3', district: 'xihu', level: 'blue' }), T0 + 2 * MIN).alert
    store.acknowledge(b.id, 'li.wei', null, T0 + 3 * MIN)
    store.resolve(c.id, 'li.wei', null, T0 + 4 * MIN)
    const ids = (filter: Parameters<AlertStore['list']>[0]): string[] => store.list(filter).map((x) => x.id)
    expect(ids({})).toEqual([c.id, b.id, a.id])
    expect(ids({ state: 'open' })).toEqual([a.id])
    expect(ids({ state: ['open', 'acknowledged'] })).toEqual([b.id, a.id])
    expect(ids({ district: 'xihu' })).toEqual([c.id, a.id])
    expect(ids({ district: ['gongshu', 'shangcheng'] })).toEqual([b.id])
    expect(ids({ district: [] })).toEqual([])
    expect(ids({ level: 'red' })).toEqual([a.id])
    expect(ids({ rule: 'stale' })).toEqual([c.id])
    expect(ids({ subject: 'PD-2' })).toEqual([b.id])
    expect(ids({ limit: 1 })).toEqual([c.id])
    expect(store.active().map((x) => x.id)).toEqual([b.id, a.id])
  })
})

describe('notification and flap bookkeeping', () => {
  it('marks notifications, escalation tiers and flapping, each audited', async () => {
    const store = open(await freshFile())
    const { alert } = store.raiseOrUpdate(condition(), T0)
    expect(store.markNotified(alert.id, 'orange', T0 + 1_000, 0)).toMatchObject({ notifiedLevel: 'orange', notifiedAt: new Date(T0 + 1_000).toISOString(), tier: 0 })
    expect(store.setTier(alert.id, 1, T0 + 15 * MIN)).toMatchObject({ tier: 1 })
    expect(store.setTier(alert.id, 1, T0 + 16 * MIN)).toMatchObject({ tier: 1 })
    expect(store.markNotified(alert.id, 'orange', T0 + 15 * MIN)).toMatchObject({ tier: 1 })
    expect(store.setFlapping(alert.id, true, T0 + 20 * MIN).flapping).toBe(true)
    expect(store.setFlapping(alert.id, true, T0 + 21 * MIN).flapping).toBe(true)
    const audit = store.get(alert.id)?.audit ?? []
    expect(audit.map((e) => [e.what, e.from, e.to, e.details])).toEqual([
      ['raised', undefined, 'open', { level: 'orange', value: 31.5, threshold: 27 }],
      ['notified', undefined, undefined, { level: 'orange', tier: 0 }],
      ['escalated', '0', '1', undefined],
      ['notified', undefined, undefined, { level: 'orange', tier: 1 }],
      ['flapping', 'false', 'true', undefined],
    ])
  })

  it('counts transitions of a (rule, subject) across its successive alerts', async () => {
    const store = open(await freshFile())
    let last = ''
    for (let i = 0; i < 4; i += 1) {
      const { alert } = store.raiseOrUpdate(condition(), T0 + i * 2 * MIN)
      store.recordTransition(alert.id, T0 + i * 2 * MIN)
      store.autoResolve('ponding-depth', 'PD-0031', T0 + (i * 2 + 1) * MIN)
      store.recordTransition(alert.id, T0 + (i * 2 + 1) * MIN)
      last = alert.id
    }
    const other = store.raiseOrUpdate(condition({ subject: 'PD-9' }), T0).alert
    store.recordTransition(other.id, T0)
    expect(store.transitionsSince(last, T0)).toBe(8)
    expect(store.transitionsSince(last, T0 + 4 * MIN)).toBe(4)
    expect(store.transitionsSince(other.id, T0)).toBe(1)
  })
})

describe('rule changes', () => {
  it('audits rule-set changes with their diff, newest first', async () => {
    const store = open(await freshFile())
    const diff = { changed: [{ id: 'ponding-depth', levels: { orange: { from: 25, to: 27 } } }], added: [], removed: ['old-rule'] }
    const first = store.recordRuleChange('admin.chen', diff, 2, T0)
    store.recordRuleChange('admin.chen', { added: ['stale-rain'] }, 3, T0 + MIN)
    expect(first).toEqual({ id: 1, at: new Date(T0).toISOString(), who: 'admin.chen', version: 2, diff })
    expect(store.ruleChanges().map((c) => c.version)).toEqual([3, 2])
    expect(store.ruleChanges(1)).toHaveLength(1)
  })
})

describe('silences', () => {
  it('matches by sensor, segment or rule while now < endsAt', async () => {
    const store = open(await freshFile())
    const ends = T0 + 60 * MIN
    store.addSilence({ matcher: { sensor: 'PD-0031' }, endsAt: ends, createdBy: 'li.wei', comment: 'pump swap' }, T0)
    store.addSilence({ matcher: { segment: 'zone-9' }, endsAt: new Date(ends).toISOString(), createdBy: 'li.wei', comment: 'dredging' }, T0)
    store.addSilence({ matcher: { rule: 'stale' }, endsAt: ends, createdBy: 'li.wei', comment: 'gateway upgrade' }, T0)
    const alert = (rule: string, subject: string, segment: string | null) => ({ rule, subject, segment })
    expect(store.isSilenced(alert('ponding-depth', 'PD-0031', 'zone-4'), T0 + MIN)).toBe(true)
    expect(store.isSilenced(alert('ponding-depth', 'PD-0032', 'zone-9'), T0 + MIN)).toBe(true)
    expect(store.isSilenced(alert('smooth-index', 'zone-9', null), T0 + MIN)).toBe(true)
    expect(store.isSilenced(alert('stale', 'WL-0001', 'xixi-river-2'), T0 + MIN)).toBe(true)
    expect(store.isSilenced(alert('ponding-depth', 'PD-0032', 'zone-4'), T0 + MIN)).toBe(false)
    expect(store.isSilenced(alert('ponding-depth', 'PD-0031', 'zone-4'), ends - 1)).toBe(true)
    expect(store.isSilenced(alert('ponding-depth', 'PD-0031', 'zone-4'), ends)).toBe(false)
    expect(store.listSilences({ activeAt: T0 + MIN })).toHaveLength(3)
    expect(store.listSilences({ activeAt: ends })).toHaveLength(0)
    expect(store.listSilences()).toHaveLength(3)
  })

  it('needs every given matcher field to match', async () => {
    const store = open(await freshFile())
    store.addSilence({ matcher: { sensor: 'PD-0031', rule: 'stale' }, endsAt: T0 + 60 * MIN, createdBy: 'li.wei', comment: '' }, T0)
    expect(store.isSilenced({ rule: 'stale', subject: 'PD-0031', segment: 'zone-4' }, T0)).toBe(true)
    expect(store.isSilenced({ rule: 'ponding-depth', subject: 'PD-0031', segment: 'zone-4' }, T0)).toBe(false)
    expect(store.isSilenced({ rule: 'stale', subject: 'PD-0032', segment: 'zone-4' }, T0)).toBe(false)
  })

  it('starts a scheduled silence at startsAt', async () => {
    const store = open(await freshFile())
    const silence = store.addSilence({ matcher: { rule: 'stale' }, startsAt: T0 + 10 * MIN, endsAt: T0 + 20 * MIN, createdBy: 'li.wei', comment: 'night works' }, T0)
    expect(silence).toMatchObject({ matcher: { rule: 'stale' }, startsAt: new Date(T0 + 10 * MIN).toISOString(), createdAt: new Date(T0).toISOString(), removedAt: null })
    expect(silence.id).toMatch(/^s-[0-9a-f]{8}$/)
    expect(store.isSilenced({ rule: 'stale', subject: 'X', segment: null }, T0 + 5 * MIN)).toBe(false)
    expect(store.isSilenced({ rule: 'stale', subject: 'X', segment: null }, T0 + 10 * MIN)).toBe(true)
  })

  it('removes a silence keeping who and when, and answers an unknown id with 404', async () => {
    const store = open(await freshFile())
    const { id } = store.addSilence({ matcher: { sensor: 'PD-0031' }, endsAt: T0 + 60 * MIN, createdBy: 'li.wei', comment: 'pump swap' }, T0)
    expect(store.removeSilence(id, 'zhang.min', T0 + 5 * MIN)).toMatchObject({ id, removedBy: 'zhang.min', removedAt: new Date(T0 + 5 * MIN).toISOString() })
    expect(store.isSilenced({ rule: 'r', subject: 'PD-0031', segment: null }, T0 + 6 * MIN)).toBe(false)
    expect(store.listSilences()).toEqual([])
    expect(store.listSilences({ includeRemoved: true })).toHaveLength(1)
    expect(expectAppError(() => store.removeSilence(id, 'zhang.min'))).toMatchObject({ code: 'CW_ERR_SILENCE_NOT_FOUND', statusCode: 404 })
    expect(expectAppError(() => store.removeSilence('s-nope', 'zhang.min'))).toMatchObject({ code: 'CW_ERR_SILENCE_NOT_FOUND', statusCode: 404 })
  })

  it.each([
    ['no matcher', { endsAt: T0 + MIN }],
    ['no matcher field', { matcher: {}, endsAt: T0 + MIN }],
    ['an unknown matcher field', { matcher: { district: 'xihu' }, endsAt: T0 + MIN }],
    ['an empty matcher value', { matcher: { sensor: '' }, endsAt: T0 + MIN }],
    ['an end in the past', { matcher: { sensor: 'PD-1' }, endsAt: T0 - MIN }],
    ['an end before the start', { matcher: { sensor: 'PD-1' }, startsAt: T0 + 10 * MIN, endsAt: T0 + 5 * MIN }],
    ['an unparsable end', { matcher: { sensor: 'PD-1' }, endsAt: 'tomorrow' }],
  ])('refuses a silence with %s as CW_ERR_SILENCE_INVALID (400)', async (_, input) => {
    const store = open(await freshFile())
    const err = expectAppError(() => store.addSilence({ createdBy: 'li.wei', comment: 'x', ...input } as Parameters<AlertStore['addSilence']>[0], T0))
    expect(err).toMatchObject({ code: 'CW_ERR_SILENCE_INVALID', statusCode: 400 })
    expect(store.listSilences({ includeRemoved: true })).toEqual([])
  })
})

describe('webhook outbox', () => {
  const message = (n: number) => ({ target: 'https://hooks.example/alerts', body: JSON.stringify({ n }), headers: { 'X-Citywater-Signature': `sha256=${n}` } })

  it('hands out due entries oldest first, reschedules failures and forgets deliveries', async () => {
    const store = open(await freshFile())
    const a = store.enqueueOutbox(message(1), T0)
    const b = store.enqueueOutbox(message(2), T0 + 1)
    const c = store.enqueueOutbox(message(3), T0 + 2)
    expect(store.dueOutbox(T0).map((i) => i.id)).toEqual([a])
    expect(store.dueOutbox(T0 + 2).map((i) => i.id)).toEqual([a, b, c])
    expect(store.dueOutbox(T0 + 2, 2).map((i) => i.id)).toEqual([a, b])
    expect(store.dueOutbox(T0 + 2)[0]).toEqual({ id: a, ...message(1), createdAt: T0, attempts: 0, nextAttemptAt: T0, lastError: null })

    expect(store.outboxFailed(a, T0 + 10, 'HTTP 503', T0 + 1_000)).toEqual({ attempts: 1, dead: false })
    expect(store.outboxDelivered(b, T0 + 10)).toBe(true)
    expect(store.outboxDelivered(b, T0 + 11)).toBe(false)
    expect(store.dueOutbox(T0 + 20).map((i) => i.id)).toEqual([c])
    expect(store.dueOutbox(T0 + 1_000).map((i) => [i.id, i.attempts, i.lastError])).toEqual([
      [c, 0, null],
      [a, 1, 'HTTP 503'],
    ])
    expect(store.outboxCounts()).toEqual({ pending: 2, dead: 0 })
  })

  it('gives up an entry after outboxMaxAttempts failures', async () => {
    const store = open(await freshFile(), { outboxMaxAttempts: 3 })
    const id = store.enqueueOutbox(message(1), T0)
    expect(store.outboxFailed(id, T0, 'timeout', T0 + 1)).toEqual({ attempts: 1, dead: false })
    expect(store.outboxFailed(id, T0 + 1, 'timeout', T0 + 2)).toEqual({ attempts: 2, dead: false })
    expect(store.outboxFailed(id, T0 + 2, 'timeout', T0 + 3)).toEqual({ attempts: 3, dead: true })
    expect(store.outboxFailed(id, T0 + 3, 'timeout', T0 + 4)).toBeUndefined()
    expect(store.dueOutbox(T0 + 10)).toEqual([])
    expect(store.outboxCounts()).toEqual({ pending: 0, dead: 1 })
  })
})

describe('websocket event log', () => {
  it('keeps the last eventLogSize events and returns those after a seq', async () => {
    const store = open(await freshFile(), { eventLogSize: 5 })
    expect(store.lastSeq()).toBe(0)
    for (let seq = 1; seq <= 8; seq += 1) store.appendEvent(seq * 10, `{"seq":${seq * 10}}`, { district: 'xihu', ...(seq % 2 === 0 ? { sensor: 'PD-0031' } : {}) })
    expect(store.eventsSince(0).map((e) => e.seq)).toEqual([40, 50, 60, 70, 80])
    expect(store.eventsSince(60)).toEqual([
      { seq: 70, frame: '{"seq":70}', district: 'xihu' },
      { seq: 80, frame: '{"seq":80}', district: 'xihu', sensor: 'PD-0031' },
    ])
    expect(store.lastSeq()).toBe(80)
    store.noteSeq(95)
    expect(store.lastSeq()).toBe(95)
    store.noteSeq(90)
    expect(store.lastSeq()).toBe(95)
  })
})

describe('restart', () => {
  it('keeps alerts, acks, audit, history, silences, rule changes, outbox, notification marks and events', async () => {
    const file = await freshFile()
    const before = openAlertStore({ file, clock: manualClock() })
    const a = before.raiseOrUpdate(condition({ level: 'yellow' }), T0).alert
    before.raiseOrUpdate(condition({ level: 'red' }), T0 + MIN)
    before.acknowledge(a.id, 'li.wei', 'crew dispatched', T0 + 2 * MIN)
    before.markNotified(a.id, 'red', T0 + MIN, 1)
    before.recordTransition(a.id, T0)
    const b = before.raiseOrUpdate(condition({ subject: 'PD-2' }), T0).alert
    before.resolve(b.id, 'zhang.min', 'false alarm', T0 + 3 * MIN)
    const silence = before.addSilence({ matcher: { segment: 'zone-4' }, endsAt: T0 + 60 * MIN, createdBy: 'li.wei', comment: 'works' }, T0)
    before.recordRuleChange('admin.chen', { added: ['x'] }, 2, T0)
    const pending = before.enqueueOutbox({ target: 'https://hooks.example', body: '{}', headers: { a: 'b' } }, T0)
    const delivered = before.enqueueOutbox({ target: 'https://hooks.example', body: '{}', headers: {} }, T0)
    before.outboxDelivered(delivered, T0 + 1)
    before.appendEvent(7, '{"type":"alert","seq":7}', { district: 'xihu' })
    before.noteSeq(12)
    const detailBefore = before.get(a.id)
    before.close()

    const after = open(file)
    expect(after.get(a.id)).toEqual(detailBefore)
    expect(after.get(a.id)).toMatchObject({ state: 'acknowledged', ackedBy: 'li.wei', level: 'red', notifiedLevel: 'red', tier: 1 })
    expect(after.get(b.id)?.state).toBe('resolved')
    expect(after.active().map((x) => x.id)).toEqual([a.id])
    expect(after.raiseOrUpdate(condition({ level: 'red' }), T0 + 10 * MIN)).toMatchObject({ change: 'unchanged', alert: { id: a.id } })
    expect(after.transitionsSince(a.id, T0)).toBe(1)
    expect(after.listSilences()).toEqual([silence])
    expect(after.isSilenced({ rule: 'r', subject: 'PD-9', segment: 'zone-4' }, T0 + MIN)).toBe(true)
    expect(after.ruleChanges()).toHaveLength(1)
    expect(after.dueOutbox(T0 + 10).map((i) => i.id)).toEqual([pending])
    expect(after.eventsSince(0)).toEqual([{ seq: 7, frame: '{"type":"alert","seq":7}', district: 'xihu' }])
    expect(after.lastSeq()).toBe(12)
  })
})

describe('retention', () => {
  it('prunes resolved alerts with their audit, ended silences and finished outbox entries past the retention', async () => {
    const file = await freshFile()
    const store = open(file, { retentionMs: 10 * MIN })
    const old = store.raiseOrUpdate(condition({ subject: 'PD-1' }), T0).alert
    store.autoResolve('ponding-depth', 'PD-1', T0 + MIN)
    const open_ = store.raiseOrUpdate(condition({ subject: 'PD-2' }), T0).alert
    store.addSilence({ matcher: { rule: 'stale' }, endsAt: T0 + 2 * MIN, createdBy: 'li.wei', comment: '' }, T0)
    const done = store.enqueueOutbox({ target: 't', body: '{}', headers: {} }, T0)
    store.outboxDelivered(done, T0 + MIN)
    store.prune(T0 + 20 * MIN)
    expect(store.get(old.id)).toBeUndefined()
    expect(store.get(open_.id)?.audit).toHaveLength(1)
    expect(store.listSilences({ includeRemoved: true })).toEqual([])
    const raw = new Database(file, { readonly: true })
    cleanups.push(() => raw.close())
    expect(raw.prepare('SELECT count(*) FROM alert_audit WHERE alert_id = ?').pluck().get(old.id)).toBe(0)
    expect(raw.prepare('SELECT count(*) FROM outbox').pluck().get()).toBe(0)
  })
})
