import { readFileSync } from 'node:fs'
import { Ajv } from 'ajv'
import { describe, expect, it } from 'vitest'
import { SENSOR_KINDS } from '../../domain.js'
import { orderingKeyword, riverLevelProblem, wellGeometryProblem } from '../../registry/ordering-keyword.js'
import { PARAMS_OF_KIND, REGISTRY_SCHEMA } from '../../registry/registry-schema.js'
import { SCHEMA_PATH, schemaJson } from '../../registry/write-schema.js'

describe('REGISTRY_SCHEMA', () => {
  it('equals the shipped registry/registry.schema.json', () => {
    expect(JSON.parse(readFileSync(SCHEMA_PATH, 'utf8'))).toEqual(REGISTRY_SCHEMA)
    expect(readFileSync(SCHEMA_PATH, 'utf8')).toBe(schemaJson())
  })

  it('compiles in ajv strict mode once cwOrdering is registered, and not without it', () => {
    const strict = { strict: true, strictTypes: true, strictRequired: false } as const
    const ajv = new Ajv(strict)
    ajv.addKeyword(orderingKeyword)
    expect(() => ajv.compile(REGISTRY_SCHEMA)).not.toThrow()
    expect(() => new Ajv(strict).compile(REGISTRY_SCHEMA)).toThrow(/cwOrdering/)
  })

  it('has a params definition for every sensor kind', () => {
    expect(Object.keys(PARAMS_OF_KIND).sort()).toEqual([...SENSOR_KINDS].sort())
    for (const definition of Object.values(PARAMS_OF_KIND)) expect(REGISTRY_SCHEMA.definitions).toHaveProperty(definition)
  })
})

describe('cwOrdering', () => {
  const gauge = { normalLevelM: 2.9, warningLevelM: 3.5, guaranteedLevelM: 3.9, historicMaxLevelM: 4.2 }

  it.each<[string, Record<string, unknown>, string | undefined]>([
    ['the INDICES.md worked-example gauge', {}, undefined],
    ['Hw − Δ exactly Hn (decimal rounding tolerated)', { warningLevelM: 3.1 }, undefined],
    ['Hw − Δ below Hn', { warningLevelM: 3.09 }, 'warningLevelM'],
    ['a larger margin', { nearMarginM: 0.7 }, 'warningLevelM'],
    ['Hg equal to Hw', { guaranteedLevelM: 3.5 }, 'guaranteedLevelM'],
    ['Hx at or below Hg (allowed: Hx′ = max(Hx, Hg + 0.3))', { historicMaxLevelM: 3.0 }, undefined],
    ['Hx equal to Hn', { historicMaxLevelM: 2.9 }, 'historicMaxLevelM'],
  ])('riverLevels: %s', (_name, change, field) => {
    expect(riverLevelProblem({ ...gauge, ...change })?.field).toBe(field)
  })

  it.each<[string, Record<string, unknown>, string | undefined]>([
    ['a deep manhole', { invertM: 0.2, pipeDiameterM: 0.8, depthM: 3 }, undefined],
    ['depth exactly invert + diameter', { invertM: 0.1, pipeDiameterM: 0.2, depthM: 0.3 }, 'depthM'],
    ['depth below invert + diameter', { invertM: 0.3, pipeDiameterM: 1.2, depthM: 1.4 }, 'depthM'],
    ['invert defaulting to 0', { pipeDiameterM: 1.2, depthM: 1.25 }, undefined],
    ['a pipe as deep as its diameter', { pipeDiameterM: 1.2, depthM: 1.2 }, 'depthM'],
  ])('wellGeometry: %s', (_name, params, field) => {
    expect(wellGeometryProblem(params)?.field).toBe(field)
  })
})
