/** Writes registry/registry.schema.json from REGISTRY_SCHEMA: `node --import tsx registry/write-schema.ts`. */
import { writeFileSync } from 'node:fs'
import { fileURLToPath, pathToFileURL } from 'node:url'
import { REGISTRY_SCHEMA } from './registry-schema.js'

/** Where the JSON copy of REGISTRY_SCHEMA lives, for external tools. */
export const SCHEMA_PATH = fileURLToPath(new URL('./registry.schema.json', import.meta.url))

/** REGISTRY_SCHEMA as written to registry/registry.schema.json: 2-space JSON and a final newline. */
export function schemaJson(): string {
  return `${JSON.stringify(REGISTRY_SCHEMA, null, 2)}\n`
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  writeFileSync(SCHEMA_PATH, schemaJson())
  console.log(`wrote ${SCHEMA_PATH}`)
}
