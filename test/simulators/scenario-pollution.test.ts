import { beforeAll, describe, expect, it } from 'vitest'
import { BUNDLED_REGISTRY } from '../../config.js'
import type { Registry } from '../../domain.js'
import { loadRegistry } from '../../registry/load-registry.js'
import { generateMessages } from '../../simulators/generate-messages.js'

const START = Date.parse('2026-11-27T00:00:00+08:00')
const H = 3_600_000
const SPILL = 'xixi-river-1'

describe('scenario pollution: an ammonia spill on the Xixi River west reach', () => {
  let registry: Registry
  let rows: Map<string, { ts: number; fields: Record<string, number> }[]>
  beforeAll(() => {
    registry = loadRegistry(BUNDLED_REGISTRY)
    rows = new Map()
    for (const m of generateMessages({ registry, scenario: 'pollution', seed: 1, start: START, durationS: 18 * 3600 })) {
      if (!m.topic.includes('/water_quality/')) continue
      const { ts, seq: _seq, ...fields } = JSON.parse(m.payload) as Record<string, number>
      rows.set(m.sensor, [...(rows.get(m.sensor) ?? []), { ts: ts as number, fields }])
    }
  })
  const stations = (segment: string): string[] => registry.sensors.filter((s) => s.kind === 'water_quality' && s.segment === segment).map((s) => s.id)
  const nh3n = (id: string, from: number, to: number): number[] =>
    (rows.get(id) ?? []).filter((r) => r.ts >= START + from * H && r.ts < START + to * H).map((r) => r.fields.nh3n_mgl as number)

  it('sends every station of the segment above 2 mg/L NH3-N (class 6), the downstream ones later and diluted', () => {
    const peaks = stations(SPILL).map((id) => {
      const list = rows.get(id) ?? []
      const peak = list.reduce((best, r) => ((r.fields.nh3n_mgl as number) > (best.fields.nh3n_mgl as number) ? r : best))
      return { id, ts: peak.ts, value: peak.fields.nh3n_mgl as number }
    })
    expect(peaks).toHaveLength(4)
    for (const p of peaks) expect(p.value).toBeGreaterThan(2)
    expect(peaks[0]?.value).toBeGreaterThan(3)
    expect(peaks[0]?.value).toBeLessThan(5.5)
    for (let i = 1; i < peaks.length; i++) expect(peaks[i]?.ts).toBeGreaterThanOrEqual(peaks[i - 1]?.ts as number)
    expect(peaks.at(-1)?.ts).toBeGreaterThanOrEqual((peaks[0]?.ts as number) + 3 * H)
    expect(peaks.at(-1)?.value).toBeLessThan(peaks[0]?.value as number)
  })

  it('holds the segment median above 2 mg/L for a 3-hour window (the clear-water index goes to class 6)', () => {
    // Median of four stations = mean of the middle two; look for 3 consecutive hourly readings all above 2.
    let run = 0
    let best = 0
    for (let h = 0; h < 18; h++) {
      const values = stations(SPILL).map((id) => nh3n(id, h, h + 1)[0] ?? 0).sort((a, b) => a - b)
      const median = ((values[1] ?? 0) + (values[2] ?? 0)) / 2
      run = median > 2 ? run + 1 : 0
      best = Math.max(best, run)
    }
    expect(best).toBeGreaterThanOrEqual(3)
  })

  it('drops dissolved oxygen under the plume and recovers', () => {
    const dos = (rows.get('WQ-0001') ?? []).map((r) => r.fields.do_mgl as number)
    expect(Math.min(...dos)).toBeLessThan(4.5)
    expect(Math.min(...dos)).toBeGreaterThan(2)
    expect(dos.at(-1)).toBeGreaterThan(6)
  })

  it('is back below 1 mg/L everywhere after the spill, and never touches other segments', () => {
    for (const id of stations(SPILL)) expect(Math.max(...nh3n(id, 13, 18))).toBeLessThan(1)
    for (const [id, list] of rows) {
      if (stations(SPILL).includes(id)) continue
      expect(Math.max(...list.map((r) => r.fields.nh3n_mgl as number))).toBeLessThan(1)
    }
  })

  it('changes smoothly enough not to be flagged as a spike (NH3-N 1.0, DO 1.0 mg/L)', () => {
    for (const id of stations(SPILL)) {
      for (const field of ['nh3n_mgl', 'do_mgl']) {
        const v = (rows.get(id) ?? []).map((r) => r.fields[field] as number)
        for (let i = 1; i + 1 < v.length; i++) expect(Math.abs((v[i] as number) - ((v[i - 1] as number) + (v[i + 1] as number)) / 2)).toBeLessThan(1)
      }
    }
  })
})
