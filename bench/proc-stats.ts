import { readFileSync } from 'node:fs'
import os from 'node:os'

/** Clock ticks per second of /proc/<pid>/stat times (USER_HZ, 100 on every Linux the project runs on). */
const USER_HZ = 100

/** Memory and CPU of one process, read from /proc. */
export interface ProcStats {
  /** Resident set size now, MB (2^20 bytes). */
  rssMb: number
  /** Peak resident set size since the process started (VmHWM), MB. */
  peakRssMb: number
  /** User plus system CPU time since the process started, ms. */
  cpuMs: number
}

/** Reads /proc/<pid>/status and /proc/<pid>/stat; null once the process is gone. */
export function procStats(pid: number): ProcStats | null {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8')
    const kb = (key: string): number => Number(new RegExp(`^${key}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? 0)
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
    // Fields after the command name (which may hold spaces) start at the last ')'; utime and stime are fields 14 and 15.
    const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
    const ticks = Number(rest[11]) + Number(rest[12])
    return { rssMb: kb('VmRSS') / 1024, peakRssMb: kb('VmHWM') / 1024, cpuMs: (ticks * 1000) / USER_HZ }
  } catch {
    return null
  }
}

/** What the machine is: for the benchmark's JSON and docs/performance.md. */
export function machineInfo(): { cpu: string; cores: number; memoryGb: number; node: string; os: string } {
  let cpu = 'unknown'
  try {
    cpu = /^model name\s*:\s*(.+)$/m.exec(readFileSync('/proc/cpuinfo', 'utf8'))?.[1]?.trim() ?? cpu
  } catch {
    // not Linux: keep 'unknown'
  }
  return { cpu, cores: os.availableParallelism(), memoryGb: Math.round(os.totalmem() / 2 ** 30), node: process.version, os: `${os.type()} ${os.release()}` }
}

