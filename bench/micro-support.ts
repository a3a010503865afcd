// What the in-process micro-benchmarks share: a numeric `--name value` option, a full garbage collection, CPU time.
import { setFlagsFromString } from 'node:v8'
import { runInNewContext } from 'node:vm'

/** The number after `--name` on the command line, or `fallback`. */
export function arg(name: string, fallback: number): number {
  const i = process.argv.indexOf(`--${name}`)
  return i < 0 ? fallback : Number(process.argv[i + 1])
}

/** Two full garbage collections (exposing `gc` for this process first), so the heap holds only what is live. */
export function gc(): void {
  setFlagsFromString('--expose-gc')
  const collect = runInNewContext('gc') as () => void
  collect()
  collect()
}

/** This process's user + system CPU since `from`, in milliseconds (all its threads). */
export function cpuMs(from: NodeJS.CpuUsage): number {
  const d = process.cpuUsage(from)
  return (d.user + d.system) / 1000
}
