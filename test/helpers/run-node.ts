import { spawn } from 'node:child_process'

/** What a finished process said: its exit code (null when killed by a signal) and its whole output. */
export interface Finished {
  code: number | null
  stdout: string
  stderr: string
}

/** Runs `node file ...args` to completion with `env` added to this process's environment. */
export function runNode(file: string, args: readonly string[], env: NodeJS.ProcessEnv = {}): Promise<Finished> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [file, ...args], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] })
    let stdout = ''
    let stderr = ''
    child.stdout.on('data', (d) => (stdout += d))
    child.stderr.on('data', (d) => (stderr += d))
    child.on('error', reject)
    child.on('close', (code) => resolve({ code, stdout, stderr }))
  })
}
