import { readFileSync } from 'node:fs'
import { Ajv } from 'ajv'
import { describe, expect, it } from 'vitest'
import { RULE_TYPES, RULES_SCHEMA } from '../../rules/rule-schema.js'
import { RULES_SCHEMA_PATH, rulesSchemaJson } from '../../rules/write-rules-schema.js'

describe('RULES_SCHEMA', () => {
  it('equals the shipped rules/rules.schema.json', () => {
    expect(JSON.parse(readFileSync(RULES_SCHEMA_PATH, 'utf8'))).toEqual(RULES_SCHEMA)
    expect(readFileSync(RULES_SCHEMA_PATH, 'utf8')).toBe(rulesSchemaJson())
  })

  it('compiles in ajv strict mode', () => {
    const ajv = new Ajv({ strict: true, strictRequired: false, allowUnionTypes: true })
    expect(() => ajv.compile(RULES_SCHEMA)).not.toThrow()
  })

  it('has a definition for every rule type', () => {
    for (const type of RULE_TYPES) expect(RULES_SCHEMA.definitions).toHaveProperty(`${type}Rule`)
  })
})
