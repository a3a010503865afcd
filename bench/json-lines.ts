import type { Readable } from 'node:stream'

/** Calls `onLine` with each newline-terminated line of `stream` parsed as JSON, or `{ msg: line }` when it is not JSON. */
export function readJsonLines(stream: Readable | null, onLine: (line: Record<string, unknown>) => void): void {
  let buffer = ''
  stream?.on('data', (chunk: Buffer) => {
    buffer += chunk.toString()
    let nl: number
    while ((nl = buffer.indexOf('\n')) >= 0) {
      const text = buffer.slice(0, nl)
      buffer = buffer.slice(nl + 1)
      try {
        onLine(JSON.parse(text) as Record<string, unknown>)
      } catch {
        onLine({ msg: text })
      }
    }
  })
}
