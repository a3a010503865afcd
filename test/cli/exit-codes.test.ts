import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { describe, expect, it } from 'vitest'
import { BUNDLED_REGISTRY } from '../../config.js'
import { runNode, type Finished } from '../helpers/run-node.js'

const BIN = fileURLToPath(new URL('../../bin/citywater.js', import.meta.url))

/** Runs the bin to completion and returns its status and output. */
function run(args: string[], env: Record<string, string>): Promise<Finished> {
  return runNode(BIN, args, { ...env, CITYWATER_LOG_LEVEL: 'silent' })
}

describe('citywater start exits 2 on bad configuration', () => {
  it.each([
    [{ CITYWATER_HTTP_PORT: 'abc' }, 'CITYWATER_HTTP_PORT'],
    [{ CITYWATER_INFLUX_RETENTION: 'forever' }, 'CITYWATER_INFLUX_RETENTION'],
    [{ CITYWATER_HTTP_HOST: '0.0.0.0' }, 'CITYWATER_AUTH_FILE'],
    [{ CITYWATER_RULES: '/nonexistent/rules.json' }, 'CITYWATER_RULES'],
  ])('with %j, naming %s', async (env, name) => {
    const result = await run(['start'], env)
    expect(result.code).toBe(2)
    expect(result.stderr).toContain(name)
    expect(result.stderr.trim().split('\n')).toHaveLength(1)
  })

  it('on a bad registry entry, naming the entry', async () => {
    const registry = JSON.parse(readFileSync(BUNDLED_REGISTRY, 'utf8'))
    const gauge = registry.sensors.find((s: { kind: string }) => s.kind === 'water_level')
    gauge.params.warningLevelM = gauge.params.normalLevelM - 1
    const dir = mkdtempSync(join(tmpdir(), 'cw-registry-'))
    const file = join(dir, 'registry.json')
    writeFileSync(file, JSON.stringify(registry))
    const result = await run(['start'], { CITYWATER_REGISTRY: file })
    expect(result.code).toBe(2)
    expect(result.stderr).toContain(gauge.id)
    expect(result.stderr).toContain('warningLevelM')
  })

  it('on an unknown command', async () => {
    const result = await run(['explode'], {})
    expect(result.code).toBe(2)
    expect(result.stderr).toContain("unknown command 'explode'")
  })
})
