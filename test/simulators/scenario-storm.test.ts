import { beforeAll, describe, expect, it } from 'vitest'
import { BUNDLED_REGISTRY } from '../../config.js'
import type { Registry, Sensor } from '../../domain.js'
import { loadRegistry } from '../../registry/load-registry.js'
import { generateMessages } from '../../simulators/generate-messages.js'

const START = Date.parse('2026-11-27T00:00:00+08:00')
const H = 3_600_000

interface Row {
  ts: number
  fields: Record<string, number>
}

function run(registry: Registry, scenario: string, hours: number, seed = 1): Map<string, Row[]> {
  const out = new Map<string, Row[]>()
  for (const m of generateMessages({ registry, scenario, seed, start: START, durationS: hours * 3600 })) {
    const { ts, seq: _seq, ...fields } = JSON.parse(m.payload) as Record<string, number>
    const list = out.get(m.sensor) ?? []
    list.push({ ts: ts as number, fields })
    out.set(m.sensor, list)
  }
  return out
}

/** QARTOD spike statistic of every middle reading (INDICES.md §3). */
function maxSpike(values: number[]): number {
  let max = 0
  for (let i = 1; i + 1 < values.length; i++) max = Math.max(max, Math.abs((values[i] as number) - ((values[i - 1] as number) + (values[i + 1] as number)) / 2))
  return max
}

describe('scenario storm over the bundled Xihu sample', () => {
  let registry: Registry
  let rows: Map<string, Row[]>
  let kind: (k: Sensor['kind']) => Sensor[]
  beforeAll(() => {
    registry = loadRegistry(BUNDLED_REGISTRY)
    rows = run(registry, 'storm', 12)
    kind = (k) => registry.sensors.filter((s) => s.kind === k)
  })
  const series = (id: string, field: string): number[] => (rows.get(id) ?? []).map((r) => r.fields[field] as number)
  const closure = (s: Sensor): number => (typeof s.params.closureCm === 'number' ? s.params.closureCm : 27)

  it('floods at least one tunnel above its closure depth on two consecutive readings', () => {
    const flooded = kind('tunnel_depth').filter((s) => {
      const d = series(s.id, 'depth_cm')
      return d.some((v, i) => v > closure(s) && (d[i + 1] ?? 0) > closure(s))
    })
    expect(flooded.length).toBeGreaterThanOrEqual(1)
  })

  it('sends several ponding points past 15 and 27 cm, then everything recedes below 10 cm', () => {
    const ponding = kind('ponding_depth')
    const over = (cm: number): number => ponding.filter((s) => Math.max(...series(s.id, 'depth_cm')) > cm).length
    expect(over(15)).toBeGreaterThanOrEqual(10)
    expect(over(27)).toBeGreaterThanOrEqual(3)
    for (const s of [...ponding, ...kind('tunnel_depth')]) {
      const late = (rows.get(s.id) ?? []).filter((r) => r.ts >= START + 8 * H).map((r) => r.fields.depth_cm as number)
      expect(late.length).toBeGreaterThan(0)
      expect(Math.max(...late)).toBeLessThan(10)
    }
  })

  it('reports the rain at the gauges: orange (R3h ≥ 50 mm) in the worst zone but below red', () => {
    let worst = 0
    for (const g of kind('rainfall')) {
      const list = rows.get(g.id) ?? []
      for (const r of list) {
        const r3h = list.filter((x) => x.ts > r.ts - 3 * H && x.ts <= r.ts).reduce((a, x) => a + (x.fields.rain_mm as number), 0)
        worst = Math.max(worst, r3h)
      }
      expect(series(g.id, 'rain_mm').every((mm) => mm >= 0 && mm / 5 <= 5)).toBe(true)
    }
    expect(worst).toBeGreaterThanOrEqual(50)
    expect(worst).toBeLessThan(100)
  })

  it('pushes manholes into surcharge without overflowing any rim', () => {
    let surcharged = 0
    for (const s of kind('manhole_level')) {
      const crown = ((s.params.invertM as number | undefined) ?? 0) + (s.params.pipeDiameterM as number)
      const max = Math.max(...series(s.id, 'level_m'))
      if (max > crown) surcharged++
      expect(max).toBeLessThan(s.params.depthM as number)
    }
    expect(surcharged).toBeGreaterThan(kind('manhole_level').length / 2)
  })

  it('raises rivers toward their warning level, downstream gauges later', () => {
    const peakTs = (id: string): number => {
      const list = rows.get(id) ?? []
      return list.reduce((best, r) => ((r.fields.level_m as number) > (best.fields.level_m as number) ? r : best)).ts
    }
    const near = kind('water_level').filter((s) => Math.max(...series(s.id, 'level_m')) + ((s.params.offsetM as number | undefined) ?? 0) >= (s.params.warningLevelM as number) - 0.2)
    expect(near.length).toBeGreaterThanOrEqual(3)
    // Xixi west reach: WL-0001 upstream, WL-0005 2.8 km downstream.
    expect(peakTs('WL-0005') - peakTs('WL-0001')).toBeGreaterThan(0.5 * H)
  })

  it('stays within range and smooth enough for the QARTOD spike and flat-line tests', () => {
    for (const s of [...kind('ponding_depth'), ...kind('tunnel_depth')]) {
      const d = series(s.id, 'depth_cm')
      expect(Math.min(...d)).toBeGreaterThanOrEqual(0)
      expect(Math.max(...d)).toBeLessThanOrEqual(100)
      expect(maxSpike(d)).toBeLessThan(5)
    }
    for (const s of [...kind('manhole_level'), ...kind('pipe_level')]) expect(maxSpike(series(s.id, 'level_m'))).toBeLessThan(0.1)
    for (const s of kind('water_level')) expect(maxSpike(series(s.id, 'level_m'))).toBeLessThan(0.05)
    // While it rains (hours 1-5), no 30-minute run of depths or levels stays within the flat-line band.
    const flat = (values: number[], band: number): boolean => {
      for (let i = 0; i + 6 < values.length; i++) {
        const w = values.slice(i, i + 7)
        if (Math.max(...w) - Math.min(...w) <= 2 * band) return true
      }
      return false
    }
    const raining = (id: string, field: string): number[] => (rows.get(id) ?? []).filter((r) => r.ts >= START + 1.2 * H && r.ts < START + 5 * H).map((r) => r.fields[field] as number)
    for (const s of kind('ponding_depth')) expect(flat(raining(s.id, 'depth_cm'), 0.5)).toBe(false)
    for (const s of kind('manhole_level')) expect(flat(raining(s.id, 'level_m'), 0.005)).toBe(false)
    for (const s of kind('water_level')) expect(flat(raining(s.id, 'level_m'), 0.005)).toBe(false)
  })

  it('is deterministic for a seed and a start, and differs for another seed', () => {
    const payloads = (seed: number): string[] => [...generateMessages({ registry, scenario: 'storm', seed, start: START + 2 * H, durationS: 1800 })].map((m) => `${m.topic} ${m.payload}`)
    expect(payloads(7)).toEqual(payloads(7))
    expect(payloads(8)).not.toEqual(payloads(7))
  })
})
