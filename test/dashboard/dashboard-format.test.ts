import { describe, expect, it } from 'vitest'
import { classLabel, DASH, formatConfidence, formatIndexValue, formatNumber, formatTime, indexLevel, lotText, readingSummary, sortAlerts } from '../../dashboards/web/src/format.js'
import { isLang, kindLabel, label, t } from '../../dashboards/web/src/i18n.js'
import type { Alert } from '../../dashboards/web/src/types.js'

describe('formatIndexValue', () => {
  it.each([
    [{ value: 76.6, class: 3 }, '76.6'],
    [{ value: 55, band: 'yellow' as const }, '55.0'],
    [{ value: 100, class: 1 }, '100.0'],
    [{ value: 0, band: 'red' as const }, '0.0'],
    [{ value: null, reason: 'no_inputs' }, DASH],
    [null, DASH],
  ])('shows %j as %s, exactly as value.toFixed(1)', (index, text) => {
    expect(formatIndexValue(index)).toBe(text)
  })
})

describe('indexLevel', () => {
  it.each([
    ['clear', { value: 76.6, class: 3 }, '3'],
    ['clear', { value: 10, class: 6 }, '6'],
    ['smooth', { value: 55.7, band: 'yellow' as const }, 'yellow'],
    ['smooth', { value: null, reason: 'stale' }, ''],
    ['clear', null, ''],
  ] as const)('is the class of a clear index and the band of a smooth one: %s %j -> %j', (name, index, level) => {
    expect(indexLevel(name, index)).toBe(level)
  })
})

describe('formatConfidence', () => {
  it.each([
    [1, '100%'],
    [0.92, '92%'],
    [0.005, '1%'],
    [0, '0%'],
    [undefined, DASH],
    [null, DASH],
  ])('shows %j as %s', (c, text) => {
    expect(formatConfidence(c)).toBe(text)
  })
})

describe('classLabel', () => {
  it.each([
    ['zh-CN', 3, 'Ⅲ类'],
    ['zh-CN', 6, '劣Ⅴ类'],
    ['en', 1, 'Class Ⅰ'],
    ['en', 6, 'Worse than V'],
  ] as const)('names water class %s %i as %s', (lang, n, text) => {
    expect(classLabel(lang, n)).toBe(text)
  })
})

describe('formatTime', () => {
  const now = Date.parse('2026-11-27T10:00:00Z')
  it('shows a time of the same Shanghai day as hours, minutes and seconds in Asia/Shanghai', () => {
    expect(formatTime('en', '2026-11-27T09:05:07Z', now)).toBe('17:05:07')
    expect(formatTime('zh-CN', '2026-11-27T09:05:07Z', now)).toBe('17:05:07')
  })

  it('adds the month and day for another Shanghai day', () => {
    // 17:00 UTC on the 26th is 01:00 on the 27th in Shanghai: same day as now.
    expect(formatTime('en', '2026-11-26T17:00:00Z', now)).toBe('01:00:00')
    expect(formatTime('en', '2026-11-26T15:59:00Z', now)).toMatch(/^11\/26,? 23:59:00$/)
    expect(formatTime('zh-CN', '2026-11-26T15:59:00Z', now)).toMatch(/11.26.*23:59:00/)
  })

  it('shows a dash for a missing or unreadable time', () => {
    expect(formatTime('en', null, now)).toBe(DASH)
    expect(formatTime('en', 'yesterday', now)).toBe(DASH)
  })
})

describe('values, readings and board lines', () => {
  it.each([
    [3.217, '3.217'],
    [31.5, '31.5'],
    [27, '27'],
    [0.123456, '0.123'],
    [null, DASH],
  ])('formats the measured value %j as %s', (v, text) => {
    expect(formatNumber(v)).toBe(text)
  })

  it('summarises a reading by field', () => {
    expect(readingSummary({ sensor: 'WL-1', kind: 'water_level', district: 'x', segment: 's', ts: '2026-11-27T10:00:00Z', values: { level_m: 3.91, flow_m3s: 12 }, quality: 'good' })).toBe('level_m 3.91, flow_m3s 12')
    expect(readingSummary(null)).toBe(DASH)
  })

  it.each([
    [{ status: 'available' as const, free: 454 }, '454'],
    [{ status: 'busy' as const, free: 12 }, '12'],
    [{ status: 'full' as const, free: 0 }, 'FULL'],
    [{ status: 'closed' as const, free: 120 }, 'CLOSED'],
    [undefined, '--'],
  ])('shows lot %j on a board as %s', (lot, text) => {
    expect(lotText(lot)).toBe(text)
  })
})

describe('sortAlerts', () => {
  const alert = (id: string, level: Alert['level'], raisedAt: string): Alert => ({
    id, rule: 'r', subject: 's', district: 'xihu', segment: null, level, state: 'open', value: 1, threshold: 1, message: '', raisedAt, updatedAt: raisedAt, ackedBy: null, etaMinutes: null,
  })

  it('puts the highest level first, then the newest raised', () => {
    const sorted = sortAlerts([alert('a', 'blue', '2026-11-27T10:00:00Z'), alert('b', 'red', '2026-11-27T09:00:00Z'), alert('c', 'red', '2026-11-27T09:30:00Z'), alert('d', 'orange', '2026-11-27T11:00:00Z')])
    expect(sorted.map((a) => a.id)).toEqual(['c', 'b', 'd', 'a'])
  })
})

describe('labels', () => {
  it('has every label in both languages and fills placeholders', () => {
    expect(t('zh-CN', 'eta', { n: 12 })).toBe('预计 12 分钟')
    expect(t('en', 'eta', { n: 12 })).toBe('ETA 12 min')
    expect(t('en', 'attempt', { n: 3 })).toBe('attempt 3')
  })

  it('translates API words it knows and keeps the others', () => {
    expect(label('zh-CN', 'orange')).toBe('橙色')
    expect(label('en', 'slightly_polluted')).toBe('Slightly polluted')
    expect(label('en', 'toString')).toBe('toString')
    expect(label('en', 'no_such_word')).toBe('no_such_word')
    expect(kindLabel('zh-CN', 'ponding_depth')).toBe('积水深度')
    expect(kindLabel('en', 'new_kind')).toBe('new_kind')
  })

  it('knows its two languages', () => {
    expect(isLang('zh-CN')).toBe(true)
    expect(isLang('en')).toBe(true)
    expect(isLang('fr')).toBe(false)
    expect(isLang(null)).toBe(false)
  })
})
