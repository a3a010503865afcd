// Bundles the engine (cli.ts and every module it imports; npm packages stay external) into one ES module,
// `dist/citywater.mjs`, with a manifest of its inputs. bin/citywater.js runs the bundle while every input is unchanged
// since the build and falls back to the TypeScript sources through tsx otherwise, so an edit never runs stale code.
// One bundle instead of ~150 modules transformed at start: about 30 MB less resident memory and a faster start.
//   npx tsx bin/build-engine.ts            (npm run build and npm install run it)
import { mkdir, readFile, stat, writeFile } from 'node:fs/promises'
import { dirname, join, relative, sep } from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'
import { build, type Plugin } from 'esbuild'

const ROOT = fileURLToPath(new URL('..', import.meta.url))

/** Where the bundle goes, relative to the project root. */
export const ENGINE_BUNDLE = 'dist/citywater.mjs'
/** Its manifest, relative to the project root. */
export const ENGINE_MANIFEST = 'dist/citywater.manifest.json'

/** What the manifest records of each input: the project-relative path (with `/`), its mtime in ms and its size. */
export type BundleInput = [path: string, mtimeMs: number, size: number]

/** The bundle's manifest. */
export interface EngineManifest {
  bundle: string
  inputs: BundleInput[]
}

const posix = (path: string): string => path.split(sep).join('/')

/**
 * Each module's own `import.meta.url`: the sources locate their files (the bundled registry, scenarios, the
 * dashboard's build) relative to themselves, and in one bundle every module would see the bundle's URL. The plugin
 * rewrites it to the source file's URL, relative to the bundle, so the bundle keeps working wherever the project lies.
 */
function ownImportMetaUrl(outDir: string): Plugin {
  return {
    name: 'own-import-meta-url',
    setup(b) {
      b.onLoad({ filter: /\.ts$/ }, async (args) => {
        const source = await readFile(args.path, 'utf8')
        if (args.path.includes(`${sep}node_modules${sep}`) || !source.includes('import.meta.url')) return { contents: source, loader: 'ts' }
        const own = `new URL(${JSON.stringify(posix(relative(outDir, args.path)))}, import.meta.url).href`
        return { contents: source.replaceAll('import.meta.url', own), loader: 'ts' }
      })
    },
  }
}

/** Builds the bundle and its manifest under `root` (default the project root). */
export async function buildEngine(root: string = ROOT): Promise<EngineManifest> {
  const outfile = join(root, ENGINE_BUNDLE)
  await mkdir(dirname(outfile), { recursive: true })
  const result = await build({
    entryPoints: [join(root, 'cli.ts')],
    outfile,
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node20',
    packages: 'external',
    metafile: true,
    logLevel: 'warning',
    absWorkingDir: root,
    plugins: [ownImportMetaUrl(dirname(outfile))],
  })
  const inputs: BundleInput[] = []
  for (const path of Object.keys(result.metafile.inputs).sort()) {
    const s = await stat(join(root, path))
    inputs.push([posix(path), s.mtimeMs, s.size])
  }
  const manifest: EngineManifest = { bundle: ENGINE_BUNDLE, inputs }
  await writeFile(join(root, ENGINE_MANIFEST), `${JSON.stringify(manifest)}\n`)
  return manifest
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  buildEngine()
    .then((m) => process.stdout.write(`engine built: ${m.bundle} from ${m.inputs.length} modules\n`))
    .catch((err: unknown) => {
      process.stderr.write(`engine build failed: ${err instanceof Error ? err.message : String(err)}\n`)
      process.exit(1)
    })
}
