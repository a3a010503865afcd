#!/usr/bin/env node
// Runs the engine's bundle (dist/citywater.mjs, built by `npm run build`, which `npm install` runs) while every
// source it was built from is unchanged, and the TypeScript sources through tsx otherwise (no build yet, or a source
// edited since): the bin works right after `npm ci` and never runs stale code. CITYWATER_BUNDLE=0 forces the sources.
import { readFileSync, statSync } from 'node:fs'

const root = new URL('..', import.meta.url)

/** True when the bundle's manifest exists and each of its inputs has the recorded mtime and size. */
function bundleIsFresh() {
  try {
    const manifest = JSON.parse(readFileSync(new URL('dist/citywater.manifest.json', root), 'utf8'))
    for (const [path, mtimeMs, size] of manifest.inputs) {
      const s = statSync(new URL(path, root))
      if (s.mtimeMs !== mtimeMs || s.size !== size) return false
    }
    return manifest.inputs.length > 0
  } catch {
    return false
  }
}

let main
if (process.env.CITYWATER_BUNDLE !== '0' && bundleIsFresh()) {
  globalThis[Symbol.for('citywater.code')] = 'bundle'
  ;({ main } = await import('../dist/citywater.mjs'))
} else {
  const { register } = await import('tsx/esm/api')
  register()
  ;({ main } = await import('../cli.ts'))
}
await main(process.argv.slice(2))
