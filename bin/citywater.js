#!/usr/bin/env node
// Runs the TypeScript sources directly through tsx, so the bin works right after `npm ci`.
import { register } from 'tsx/esm/api'

register()
const { main } = await import('../cli.ts')
await main(process.argv.slice(2))
