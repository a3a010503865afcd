import { describe, expect, it } from 'vitest'
import { FaultTable, RateTable } from '../../rules/subject-table.js'

describe('SubjectTable', () => {
  it('iterates its subjects in insertion order as a Map would, reusing the rows of deleted ones', () => {
    const t = new FaultTable()
    const ref = new Map<string, string>()
    for (let i = 0; i < 40; i++) {
      t.add(`s${i}`, 'd', `seg${i}`)
      ref.set(`s${i}`, `seg${i}`)
    }
    for (let i = 0; i < 40; i += 3) {
      t.delete(`s${i}`)
      ref.delete(`s${i}`)
    }
    const reused = t.add('late', 'd', null)
    ref.set('late', 'null')
    expect(reused).toBeLessThan(40)
    expect([...t.keys()]).toEqual([...ref.keys()])
    // The entries are one view moved between rows: read each as it comes.
    expect(Array.from(t, ([id, e]) => [id, String(e.segment)])).toEqual([...ref])
    expect(t.size).toBe(ref.size)
    expect(t.delete('s0')).toBe(false)
  })

  it('starts a row as a new subject, whatever the row held before', () => {
    const t = new RateTable()
    const row = t.add('a', 'd1', 'x')
    const e = t.entry(row)
    e.level = 3
    e.dataGap = true
    e.at = 5
    e.emitted = { rule: 'r', type: 'rate_of_rise', subject: 'a', district: 'd1', segment: 'x', at: 5, level: 3, value: 1, threshold: 1, message: 'm' }
    t.points.push(row, 1, 1, 10)
    t.points.push(row, 2, 1, 10)
    t.storeHysteresis(row, { level: 3, since: [1, null, null, null] })
    t.lastTs[row] = 2
    t.delete('a')
    const again = t.add('b', 'd2', null)
    expect(again).toBe(row)
    const f = t.get('b')
    expect(f && [f.district, f.segment, f.at, f.level, f.dataGap, f.emitted]).toEqual(['d2', null, -Infinity, 0, false, undefined])
    const h = { level: 1 as const, since: [7, 7, 7, 7] as (number | null)[] }
    t.loadHysteresis(again, h)
    expect(h).toEqual({ level: 0, since: [null, null, null, null] })
    expect([t.points.len[again], t.points.pairs[again], t.since[again], t.lastTs[again]]).toEqual([0, undefined, undefined, -Infinity])
  })

  it('keeps hysteresis timers only while one runs', () => {
    const t = new RateTable()
    const row = t.add('a', 'd', null)
    t.storeHysteresis(row, { level: 0, since: [null, null, null, null] })
    expect(t.since[row]).toBeUndefined()
    t.storeHysteresis(row, { level: 0, since: [null, 12, null, null] })
    expect(t.since[row]).toEqual([null, 12, null, null])
    t.storeHysteresis(row, { level: 2, since: [null, null, null, null] })
    expect(t.since[row]).toBeUndefined()
    expect(t.hLevel[row]).toBe(2)
  })
})
