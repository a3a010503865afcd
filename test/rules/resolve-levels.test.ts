import { describe, expect, it } from 'vitest'
import type { CompiledLevel } from '../../rules/compile-rules.js'
import { resolveLevels, resolveLevelsInto, type ResolvedLevel } from '../../rules/evaluate-hysteresis.js'
import { overflowLimit, type OverflowLimit } from '../../rules/evaluate-rate.js'
import type { Sensor } from '../../domain.js'

const sensor = (kind: Sensor['kind'], params: Record<string, number>): Sensor =>
  ({ id: 'S-1', kind, district: 'xihu', segment: 'seg-1', intervalS: 60, params }) as unknown as Sensor

describe('levels resolved into a reused list', () => {
  it('gives what resolveLevels gives, reusing its level objects and shrinking to the levels that resolve', () => {
    const onParams = [
      { level: 1, raise: { param: 'depthM', factor: 0.5 }, reset: { param: 'depthM', factor: 0.4 } },
      { level: 2, raise: { param: 'depthM', factor: 0.8 }, reset: { param: 'depthM', factor: 0.7 } },
      { level: 3, raise: { param: 'closureCm', factor: 1 }, reset: { param: 'closureCm', factor: 0.9 } },
    ] as unknown as CompiledLevel[]
    const out: ResolvedLevel[] = []
    const full = sensor('manhole_level', { depthM: 4, closureCm: 20 })
    const first = resolveLevelsInto(out, onParams, full, 'above')
    expect(first).toBe(out)
    expect(first).toHaveLength(3)
    expect(first).toEqual(resolveLevels(onParams, full, 'above'))
    const objects = [...out]
    // A sensor without closureCm resolves two levels: the same objects, new values, the third gone.
    const partial = sensor('manhole_level', { depthM: 2 })
    const second = resolveLevelsInto(out, onParams, partial, 'above')
    expect(second).toEqual(resolveLevels(onParams, partial, 'above'))
    expect(second).toHaveLength(2)
    second.forEach((l, i) => expect(l).toBe(objects[i]))
    // Reset on the wrong side of raise is made safe as resolveLevels makes it, for 'below' too.
    const below = resolveLevelsInto(out, onParams, full, 'below')
    expect(below.map((l) => l.reset)).toEqual([2, 3.2, 20])
    expect(below).toEqual(resolveLevels(onParams, full, 'below'))
  })

  it('writes the overflow limit into the object given, as overflowLimit makes it', () => {
    const into: OverflowLimit = { field: '', limit: 0, offset: 0, what: '', noun: '' }
    for (const s of [sensor('manhole_level', { depthM: 3.5 }), sensor('pipe_level', { depthM: 1.2 }), sensor('tunnel_depth', { closureCm: 25 }), sensor('ponding_depth', {})]) {
      const expected = overflowLimit(s)
      const got = overflowLimit(s, into)
      expect(got === undefined ? undefined : { ...got }).toEqual(expected)
      if (got !== undefined) expect(got).toBe(into)
    }
    expect(overflowLimit(sensor('flow', {}), into)).toBeUndefined()
  })
})
