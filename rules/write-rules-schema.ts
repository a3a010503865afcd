/** Writes rules/rules.schema.json from RULES_SCHEMA: `node --import tsx rules/write-rules-schema.ts`. */
import { writeFileSync } from 'node:fs'
import { fileURLToPath, pathToFileURL } from 'node:url'
import { RULES_SCHEMA } from './rule-schema.js'

/** Where the JSON copy of RULES_SCHEMA lives, for editors and external tools. */
export const RULES_SCHEMA_PATH = fileURLToPath(new URL('./rules.schema.json', import.meta.url))

/** RULES_SCHEMA as written to rules/rules.schema.json: 2-space JSON and a final newline. */
export function rulesSchemaJson(): string {
  return `${JSON.stringify(RULES_SCHEMA, null, 2)}\n`
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  writeFileSync(RULES_SCHEMA_PATH, rulesSchemaJson())
  console.log(`wrote ${RULES_SCHEMA_PATH}`)
}
