import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { classOfScore, clearUpperEdge, type ClearValues, type WaterBodyType } from '../../../stream/indices/clear-subscores.js'
import { clearWaterIndex, type ClearIndex } from '../../../stream/indices/clear-water-index.js'
import { NO_RAIN, type RainTotals } from '../../../stream/indices/rain-totals.js'
import { roundHalfEven } from '../../../stream/indices/round-half-even.js'
import { bandOfSmooth, SMOOTH_HAZARD, smoothUpperEdge, type SmoothComponent } from '../../../stream/indices/smooth-subscores.js'
import { smoothWaterIndex, type SensorSnapshot, type SmoothIndex } from '../../../stream/indices/smooth-water-index.js'
import { truncateIndex } from '../../../stream/indices/truncate-index.js'
import type { Sensor } from '../../../domain.js'
import { GAUGE_PARAMS, MANHOLE_PARAMS, MIN, PIPE_PARAMS, sensor, T0 } from './fixtures.js'

const RUNS = { numRuns: 3000 }
const NOW = T0
const d = (min: number, max: number) => fc.double({ min, max, noNaN: true, noDefaultInfinity: true })
const opt = <T>(arb: fc.Arbitrary<T>) => fc.option(arb, { nil: undefined, freq: 4 })

const clearValues: fc.Arbitrary<ClearValues> = fc.record({
  do_mgl: d(0, 15),
  nh3n_mgl: d(0, 5),
  tp_mgl: opt(d(0, 0.9)),
  codmn_mgl: opt(d(0, 35)),
  ph: opt(d(3.5, 11.5)),
})
const covered = clearValues.filter((v) => Object.values(v).filter((x) => x !== undefined).length >= 3)
const waterType = fc.constantFrom<WaterBodyType>('river', 'lake')

function clear(values: ClearValues, type: WaterBodyType): ClearIndex {
  const r = clearWaterIndex(values, { waterType: type, targetClass: 3 })
  if (r.value === null) throw new Error(r.reason)
  return r
}

describe('clear-water index properties', () => {
  it('the band of the index is the band of its worst factor: s_min ≤ index < U', () => {
    fc.assert(
      fc.property(covered, waterType, (values, type) => {
        const r = clear(values, type)
        const sMin = Math.min(...Object.values(r.subScores))
        const upper = clearUpperEdge(sMin)
        expect(r.class).toBe(classOfScore(sMin))
        expect(classOfScore(r.value)).toBe(r.class)
        expect(r.raw).toBeGreaterThanOrEqual(sMin)
        if (sMin < 100) {
          expect(r.raw).toBeLessThan(upper)
          expect(r.value).toBeLessThan(upper)
        } else expect(r.value).toBe(100)
        expect(r.value).toBeGreaterThanOrEqual(truncateIndex(sMin, upper))
      }),
      RUNS,
    )
  })

  it('raising a pollutant concentration or lowering DO never raises the index', () => {
    fc.assert(
      fc.property(covered, waterType, fc.constantFrom('do_mgl', 'nh3n_mgl', 'tp_mgl', 'codmn_mgl'), d(0, 5), (values, type, p, delta) => {
        const base = values[p as keyof ClearValues]
        fc.pre(base !== undefined)
        const worse = { ...values, [p]: p === 'do_mgl' ? Math.max(0, (base as number) - delta) : (base as number) + delta }
        expect(clear(worse, type).value).toBeLessThanOrEqual(clear(values, type).value)
      }),
      RUNS,
    )
  })
})

interface SensorSpec {
  sensor: Sensor
  values: number[]
  spacingMin: number
}

const specs = (make: (i: number) => Sensor, range: fc.Arbitrary<number>, max: number) =>
  fc.array(fc.record({ values: fc.array(range, { minLength: 1, maxLength: 3 }), spacingMin: fc.constantFrom(1, 5, 20) }), { maxLength: max }).map((xs) =>
    xs.map((x, i): SensorSpec => ({ sensor: make(i), ...x })),
  )

/** A random zone: ponding and tunnel depths, manholes, pipes, river gauges and sediment, 1–3 readings each. */
const zone: fc.Arbitrary<SensorSpec[]> = fc
  .tuple(
    specs((i) => sensor(`PD-${i}`, 'ponding_depth', {}), d(0, 70), 3),
    specs((i) => sensor(`TD-${i}`, 'tunnel_depth', { closureCm: 27 }), d(0, 70), 2),
    specs((i) => sensor(`MH-${i}`, 'manhole_level', MANHOLE_PARAMS, 300), d(0, 3.6), 2),
    specs((i) => sensor(`PL-${i}`, 'pipe_level', PIPE_PARAMS, 300), d(0, 3.4), 2),
    specs((i) => sensor(`WL-${i}`, 'water_level', GAUGE_PARAMS, 300), d(2, 5), 2),
    specs((i) => sensor(`SD-${i}`, 'sediment', { pipeDiameterM: 1.0 }, 3600), d(0, 0.7), 1),
  )
  .map((groups) => groups.flat())

const rain: fc.Arbitrary<RainTotals> = fc.constantFrom(0, 1, 2.5).map((mm60) => ({ ...NO_RAIN, mm30: mm60 / 2, mm60 }))

function snapshot(spec: SensorSpec): SensorSnapshot {
  const n = spec.values.length
  return { sensor: spec.sensor, recent: spec.values.map((value, i) => ({ ts: NOW - (n - 1 - i) * spec.spacingMin * MIN, value, quality: 'good' })), stale: false }
}

function smooth(snapshots: SensorSnapshot[], r: RainTotals) {
  return smoothWaterIndex({ sensors: snapshots, rain: r, now: NOW })
}

const isHazard = (s: Sensor) => ['ponding_depth', 'tunnel_depth', 'manhole_level', 'pipe_level', 'water_level'].includes(s.kind)

describe('smooth-water index properties', () => {
  it('the band of the index is the band of its worst hazard component: s_min ≤ index < U', () => {
    fc.assert(
      fc.property(zone, rain, (specs, r) => {
        const res = smooth(specs.map(snapshot), r)
        if (!specs.some((s) => isHazard(s.sensor))) {
          expect(res.value).toBeNull()
          return
        }
        const idx = res as SmoothIndex
        const hazardScores = Object.entries(idx.components)
          .filter(([c]) => SMOOTH_HAZARD[c as SmoothComponent])
          .map(([, s]) => s as number)
        const sMin = Math.min(...hazardScores)
        expect(idx.band).toBe(bandOfSmooth(sMin))
        expect(bandOfSmooth(idx.value)).toBe(idx.band)
        expect(idx.raw).toBeGreaterThanOrEqual(sMin)
        if (sMin < 100) expect(idx.value).toBeLessThan(smoothUpperEdge(sMin))
        expect(idx.value).toBeGreaterThanOrEqual(truncateIndex(sMin, smoothUpperEdge(sMin)))
      }),
      RUNS,
    )
  })

  it('raising a depth, a level or a sediment never raises the index', () => {
    fc.assert(
      fc.property(zone, rain, fc.nat(), d(0, 3), (specs, r, pick, delta) => {
        fc.pre(specs.some((s) => isHazard(s.sensor)))
        const k = pick % specs.length
        const scale = specs[k]?.sensor.kind === 'ponding_depth' || specs[k]?.sensor.kind === 'tunnel_depth' ? 10 : 1
        const raised = specs.map((s, i) => (i === k ? { ...s, values: s.values.map((v) => v + delta * scale) } : s))
        const before = smooth(specs.map(snapshot), r) as SmoothIndex
        const after = smooth(raised.map(snapshot), r) as SmoothIndex
        expect(after.value).toBeLessThanOrEqual(before.value)
      }),
      RUNS,
    )
  })

  it('a sensor never scored changes nothing when it goes missing', () => {
    fc.assert(
      fc.property(zone, rain, fc.boolean(), (specs, r, stale) => {
        const base = specs.map(snapshot)
        const unknown: SensorSnapshot = { sensor: sensor('PD-X', 'ponding_depth', {}), recent: [], stale }
        const a = smooth(base, r)
        const b = smooth([...base, unknown], r)
        expect(b.value).toBe(a.value)
      }),
      RUNS,
    )
  })

  it('a sensor whose last score was 80 or more that goes silent drops out without changing the band', () => {
    fc.assert(
      fc.property(zone, rain, fc.nat(), (specs, r, pick) => {
        fc.pre(specs.length > 0)
        const snaps = specs.map(snapshot)
        const before = smooth(snaps, r)
        fc.pre(before.value !== null)
        const k = pick % snaps.length
        const target = snaps[k] as SensorSnapshot
        const score = before.sensors.find((s) => s.sensor === target.sensor.id)?.score
        fc.pre(score !== undefined && score >= 80)
        const after = smooth(
          snaps.map((s, i) => (i === k ? { ...s, stale: true, lastScore: score } : s)),
          r,
        )
        if (after.value === null) return
        expect(after.sensors.map((s) => s.sensor)).not.toContain(target.sensor.id)
        expect(after.band).toBe(before.band)
      }),
      RUNS,
    )
  })

  it('a silent hazard sensor whose last score was below 80 is held, not dropped: the index stays', () => {
    fc.assert(
      fc.property(zone, rain, fc.nat(), (specs, r, pick) => {
        const snaps = specs.map(snapshot)
        const before = smooth(snaps, r)
        fc.pre(before.value !== null)
        const low = before.sensors.filter((s) => s.score < 80 && SMOOTH_HAZARD[s.component])
        fc.pre(low.length > 0)
        const target = low[pick % low.length] as { sensor: string; score: number }
        const after = smooth(
          snaps.map((s) => (s.sensor.id === target.sensor ? { ...s, stale: true, recent: [], lastScore: target.score } : s)),
          r,
        ) as SmoothIndex
        expect(after.sensors.find((s) => s.sensor === target.sensor)).toMatchObject({ score: target.score, held: true, fresh: false })
        expect(after.value).toBe(before.value)
        expect(after.flags).toContain('held')
      }),
      RUNS,
    )
  })
})

describe('rounding properties', () => {
  it('roundHalfEven moves a value by at most half a unit', () => {
    fc.assert(
      fc.property(d(-1000, 1000), fc.integer({ min: 0, max: 4 }), (x, decimals) => {
        expect(Math.abs(roundHalfEven(x, decimals) - x)).toBeLessThanOrEqual(0.5 * 10 ** -decimals + 1e-9)
      }),
      RUNS,
    )
  })

  it('truncateIndex never exceeds its input (beyond the 1e-6 guard) nor U − 0.1', () => {
    fc.assert(
      fc.property(d(0, 99.999), fc.constantFrom(20, 40, 60, 80, 90, 100), (x, upper) => {
        const v = truncateIndex(x, upper)
        expect(v).toBeLessThanOrEqual(x + 1e-6)
        expect(v).toBeLessThanOrEqual(upper - 0.1 + 1e-9)
      }),
      RUNS,
    )
  })
})
