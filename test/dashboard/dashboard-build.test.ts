import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { buildDashboard, type DashboardManifest } from '../../dashboards/web/build.js'

describe('buildDashboard', () => {
  let dir: string
  let manifest: DashboardManifest

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'cw-dash-'))
    manifest = await buildDashboard({ outDir: dir })
  })
  afterAll(() => rmSync(dir, { recursive: true, force: true }))

  it('writes hashed, minified assets, the page, the favicon and a manifest of them', () => {
    expect(manifest.js).toMatch(/^assets\/main-[A-Z0-9]+\.js$/)
    expect(manifest.css).toMatch(/^assets\/style-[A-Z0-9]+\.css$/)
    expect(JSON.parse(readFileSync(join(dir, 'manifest.json'), 'utf8'))).toEqual(manifest)
    expect(readFileSync(join(dir, 'favicon.svg'), 'utf8')).toMatch(/^<svg/)
    // Small: uPlot is most of it.
    expect(manifest.bytes.js).toBeLessThan(120 * 1024)
    expect(manifest.bytes.css).toBeLessThan(20 * 1024)
  })

  it('bundles uPlot and its stylesheet', () => {
    expect(readFileSync(join(dir, manifest.css), 'utf8')).toContain('.uplot')
    expect(readFileSync(join(dir, manifest.js), 'utf8')).toContain('u-legend')
  })

  it('gives a page that the CSP allows: no inline script, style element or style attribute, nothing from elsewhere', () => {
    const html = readFileSync(join(dir, 'index.html'), 'utf8')
    expect(html).toContain(`<script src="/${manifest.js}" defer></script>`)
    expect(html).toContain(`<link rel="stylesheet" href="/${manifest.css}">`)
    expect(html).not.toMatch(/<script(?![^>]*\bsrc=)[^>]*>/)
    expect(html).not.toMatch(/<style|\sstyle=|\son[a-z]+=/i)
    expect(html).not.toMatch(/https?:\/\//)
    expect(html).not.toContain('{{')
    for (const id of ['overview', 'trends', 'map', 'alerts', 'parking']) expect(html).toContain(`id="${id}"`)
  })
})
