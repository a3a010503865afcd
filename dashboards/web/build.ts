import { copyFile, mkdir, readFile, rm, writeFile } from 'node:fs/promises'
import { basename, dirname, join } from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'
import { build } from 'esbuild'

const HERE = dirname(fileURLToPath(import.meta.url))

/** Options of buildDashboard. */
export interface BuildDashboardOptions {
  /** Where the bundle goes; default `dist/` beside this file. Emptied first. */
  outDir?: string
  /** Minify the bundle; default true. */
  minify?: boolean
  /** Source maps beside the bundle; default false (the engine does not serve them). */
  sourcemap?: boolean
}

/** What buildDashboard wrote: file names relative to `outDir`, sizes in bytes. */
export interface DashboardManifest {
  /** The page, always `index.html`. */
  html: string
  /** The hashed script and stylesheet, e.g. `assets/main-7XK2.js`. */
  js: string
  css: string
  favicon: string
  bytes: { js: number; css: number; html: number }
}

/** Name of the manifest file the engine's dashboard routes read. */
export const MANIFEST_FILE = 'manifest.json'

/** Default output directory: `dashboards/web/dist`. */
export const DEFAULT_DIST_DIR = join(HERE, 'dist')

/**
 * Bundles the live dashboard with esbuild: `src/main.ts` and `style.css` (with uPlot's stylesheet) into hashed,
 * minified files under `assets/`, `index.html` pointing at them, the favicon and `manifest.json`.
 */
export async function buildDashboard(options: BuildDashboardOptions = {}): Promise<DashboardManifest> {
  const outDir = options.outDir ?? DEFAULT_DIST_DIR
  await rm(outDir, { recursive: true, force: true })
  await mkdir(join(outDir, 'assets'), { recursive: true })
  const result = await build({
    entryPoints: { main: join(HERE, 'src', 'main.ts'), style: join(HERE, 'style.css') },
    bundle: true,
    minify: options.minify ?? true,
    sourcemap: options.sourcemap ?? false,
    format: 'iife',
    target: ['es2020', 'chrome100', 'firefox100', 'safari15'],
    entryNames: '[name]-[hash]',
    outdir: join(outDir, 'assets'),
    metafile: true,
    legalComments: 'none',
    logLevel: 'silent',
    absWorkingDir: HERE,
  })
  const outputs = Object.keys(result.metafile.outputs).map((p) => basename(p))
  const js = outputs.find((f) => f.startsWith('main-') && f.endsWith('.js'))
  const css = outputs.find((f) => f.startsWith('style-') && f.endsWith('.css'))
  if (js === undefined || css === undefined) throw new Error(`dashboard build produced no script or stylesheet: ${outputs.join(', ')}`)
  const template = await readFile(join(HERE, 'index.html'), 'utf8')
  const html = template.replaceAll('{{js}}', `/assets/${js}`).replaceAll('{{css}}', `/assets/${css}`)
  await writeFile(join(outDir, 'index.html'), html)
  await copyFile(join(HERE, 'favicon.svg'), join(outDir, 'favicon.svg'))
  const size = async (file: string): Promise<number> => (await readFile(join(outDir, file))).length
  const manifest: DashboardManifest = {
    html: 'index.html',
    js: `assets/${js}`,
    css: `assets/${css}`,
    favicon: 'favicon.svg',
    bytes: { js: await size(`assets/${js}`), css: await size(`assets/${css}`), html: Buffer.byteLength(html) },
  }
  await writeFile(join(outDir, MANIFEST_FILE), `${JSON.stringify(manifest, null, 2)}\n`)
  return manifest
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  buildDashboard()
    .then((m) => {
      const kib = (n: number) => `${(n / 1024).toFixed(1)} KiB`
      process.stdout.write(`dashboard built: ${m.js} ${kib(m.bytes.js)}, ${m.css} ${kib(m.bytes.css)}\n`)
    })
    .catch((err: unknown) => {
      process.stderr.write(`dashboard build failed: ${err instanceof Error ? err.message : String(err)}\n`)
      process.exit(1)
    })
}
