import { spawn } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { describe, expect, it } from 'vitest'
import { cpuCeiling, registryReadingsPerS, rssTrend, type PhaseResult } from '../../bench/run-bench.js'

const ROOT = fileURLToPath(new URL('../..', import.meta.url))

/** Runs `citywater bench` with `args`; resolves with its exit code and output once it exits. */
function bench(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ['bin/citywater.js', 'bench', ...args], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] })
    let stdout = ''
    let stderr = ''
    child.stdout.on('data', (c: Buffer) => (stdout += c.toString()))
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()))
    child.on('exit', (code) => resolve({ code, stdout, stderr }))
  })
}

const positive = expect.any(Number)

describe('rssTrend', () => {
  it('calls a steady RSS flat and a leak growing, ignoring the warm-up fifth', () => {
    const steady = Array.from({ length: 60 }, (_, i) => [i * 10, i < 12 ? 200 + i * 10 : 330 + (i % 3)] as const)
    expect(rssTrend(steady).flat).toBe(true)
    const leak = Array.from({ length: 60 }, (_, i) => [i * 10, 300 + i * 2] as const)
    expect(rssTrend(leak)).toEqual({ slopeMbPerMin: 12, flat: false })
  })
})

describe('registryReadingsPerS', () => {
  it('sums each sensor\'s readings per second at its registry interval', () => {
    expect(registryReadingsPerS([{ intervalS: 60 }, { intervalS: 300 }, { intervalS: 300 }])).toBeCloseTo(1 / 60 + 2 / 300, 12)
    expect(registryReadingsPerS([])).toBe(0)
  })
})

describe('cpuCeiling', () => {
  const phase = (cpuMsPer1k: number, load: Partial<PhaseResult> = {}): PhaseResult => ({ rate: 1, readings: 1, messages: 1, seconds: 1, stored: null, zeroLoss: null, cpuMsPer1k, influxCpuMsPer1k: null, continuousQueries: null, publishersCpuMsPer1k: null, clientsCpuMsPer1k: null, logCommits: null, fsyncMeanMs: null, ...load })
  it('divides the cores by the ingest-only engine\'s, InfluxDB alone\'s and the end-to-end load\'s CPU per reading', () => {
    // 20 + 12 + 5 + 3 = 40 ms per 1,000 readings: two cores give 2,000 ms a second, so 50,000 readings a second.
    const phases = { 'ingest-only qos1': phase(20), 'end-to-end qos1': phase(31, { publishersCpuMsPer1k: 5, clientsCpuMsPer1k: 3 }) }
    expect(cpuCeiling(2, phases, 'qos1', 12)).toBe(50_000)
    expect(cpuCeiling(1, phases, 'qos1', 12)).toBe(25_000)
    // The end-to-end engine's own CPU (31) is what is held against the ceiling, never part of it.
    expect(cpuCeiling(2, { ...phases, 'end-to-end qos1': phase(99, { publishersCpuMsPer1k: 5, clientsCpuMsPer1k: 3 }) }, 'qos1', 12)).toBe(50_000)
    expect(cpuCeiling(2, phases, 'qos0', 12)).toBeNaN()
  })
})

describe('citywater bench', () => {
  it('prints its options on --help', async () => {
    const { code, stdout } = await bench(['--help'])
    expect(code).toBe(0)
    for (const option of ['--quick', '--phases', '--soak', '--cpu-prof']) expect(stdout).toContain(option)
  })

  it('runs every phase and prints a table, then the JSON summary of the issue as its last line', async () => {
    const { code, stdout, stderr } = await bench(['--smoke'])
    expect(code, stderr).toBe(0)
    const lines = stdout.trim().split('\n')
    expect(lines.some((l) => l.startsWith('| end to end, zero loss'))).toBe(true)
    const summary = JSON.parse(lines[lines.length - 1] ?? '') as Record<string, unknown>
    expect(summary).toMatchObject({
      machine: { cpu: expect.any(String), cores: positive, node: process.version, calibrationMs: { start: positive, end: positive } },
      influxAlone: { pointsPerS: positive },
      engine: {
        qos0: positive,
        qos1: positive,
        batched: positive,
        ingestOnly: { qos0: positive, qos1: positive, batched: positive },
        latencyMs: { p50: positive, p99: positive },
        soak: { seconds: positive, ratePerS: positive, readings: positive, rssFirstMb: positive, rssLastMb: positive, slopeMbPerMin: expect.any(Number), flat: expect.any(Boolean), heapUsedFirstMb: positive, heapUsedLastMb: positive, eventSpeed: positive, achievedPerS: positive, stored: positive, zeroLoss: true },
        rssMb: positive,
        rssMb100kSensors: positive,
      },
      baseline: { qos1: positive },
    })
    const engine = summary.engine as Record<string, number>
    // The figures are not held to targets here, only to sense: every phase moved readings and lost none.
    for (const key of ['qos0', 'qos1', 'batched', 'rssMb', 'rssMb100kSensors']) expect(engine[key]).toBeGreaterThan(0)
    expect(engine.zeroLoss).toBe(true)
    // InfluxDB's own CPU is read from /proc for InfluxDB alone and each end-to-end phase (where it shares the cores).
    const influxCpu = [...stderr.matchAll(/(influxdb alone|end-to-end \w+|baseline qos1)\b.*InfluxDB ([\d.]+) ms CPU per 1,000/g)].map((m) => [m[1], Number(m[2])])
    expect(influxCpu.map(([phase]) => phase)).toEqual(['influxdb alone', 'end-to-end qos0', 'end-to-end qos1', 'end-to-end batched', 'baseline qos1'])
    expect(influxCpu.find(([phase]) => phase === 'influxdb alone')?.[1]).toBeGreaterThan(0)
    // And how many continuous-query runs InfluxDB completed during each end-to-end phase (the rollups' cost shows there).
    expect(stderr.match(/end-to-end \w+: .*, \d+ continuous queries ran; /g)).toHaveLength(3)
    // The load's own CPU: the publishers' in every throughput phase, the websocket clients' end to end.
    // And the engine's log over each phase: its group commits and their mean fdatasync (the disk's share of a QoS 1 wait).
    const load = [...stderr.matchAll(/((?:ingest-only|end-to-end) \w+): .*; publishers ([\d.]+)(?:, websocket clients ([\d.]+))? ms CPU per 1,000; log ([\d,]+) commits, fdatasync ([\d.]+) ms mean\)/g)]
    expect(load.map((m) => m[1])).toEqual(['ingest-only qos0', 'ingest-only qos1', 'ingest-only batched', 'end-to-end qos0', 'end-to-end qos1', 'end-to-end batched'])
    for (const m of load) expect(Number(m[2])).toBeGreaterThan(0)
    expect(load.map((m) => m[3] !== undefined)).toEqual([false, false, false, true, true, true])
    for (const m of load) {
      expect(Number((m[4] as string).replaceAll(',', ''))).toBeGreaterThan(0)
      expect(Number(m[5])).toBeGreaterThan(0)
    }
    // The baseline keeps no log.
    expect(stderr).toMatch(/baseline qos1: [^\n]*ms CPU per 1,000\)\n/)
    expect(stderr).not.toMatch(/baseline qos1: [^\n]*; log /)
    // From them, what the cores allow end to end, in the JSON and the table.
    expect(summary.engine).toMatchObject({ machineCeiling: { qos0: positive, qos1: positive, batched: positive } })
    expect(lines.filter((l) => l.startsWith('| end to end against what'))).toHaveLength(3)
    // About a minute and a half on a quiet 2-core machine (a dozen process start-ups), longer beside the other tests.
  }, 420_000)
})
