import { createHash } from 'node:crypto'
import { readdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { DEAD_LETTER_REASONS, type DeadLetterReason } from '../domain.js'
import type { DeadLetterRecord } from './dead-letters.js'
import { ledgerKey, readLedger } from './dead-letter-ledger.js'

/** Which dead letters to read; every field is optional and narrows the selection. */
export interface DeadLetterFilter {
  /** Only these reasons; default all. */
  reasons?: readonly DeadLetterReason[]
  /** Only letters received at or after this time, epoch milliseconds. */
  since?: number
  /** Only letters received before this time, epoch milliseconds. */
  until?: number
  /** Only letters whose topic starts with this string, e.g. `city/xihu/`. */
  topicPrefix?: string
  /** Also letters already replayed (they carry `replayedAt`); default false. */
  includeReplayed?: boolean
}

/** One dead letter as found in a file, with where it is. */
export interface StoredDeadLetter {
  /** File name inside the dead-letter folder, `dl-YYYYMMDDTHH.jsonl`. */
  file: string
  /** Line number in the file, from 1. */
  line: number
  /** Byte offset of the line in the file: with `file`, the letter's identity (the engine only appends). */
  offset: number
  /** Hash of the line, so a ledger entry never matches a different letter at the same place. */
  hash: string
  record: DeadLetterRecord
  /** When it was replayed, for letters the ledger records (only with `includeReplayed`). */
  replayedAt?: string
}

/** A line that is not a dead letter; reported and skipped. */
export interface DeadLetterLineProblem {
  file: string
  line: number
  why: string
}

/** What `readDeadLetters` found. */
export interface DeadLetterScan {
  /** Matching letters, oldest file first, in file order. */
  letters: StoredDeadLetter[]
  /** Malformed lines, skipped. */
  problems: DeadLetterLineProblem[]
  /** Matching letters left out because they were replayed already. */
  replayedHidden: number
}

/** The engine's hourly dead-letter files. */
export const DEAD_LETTER_FILE = /^dl-[0-9]{8}T[0-9]{2}\.jsonl$/

const REASONS = new Set<string>(DEAD_LETTER_REASONS)

/** Short content hash of a line (16 hex digits of SHA-256). */
export function lineHash(line: Buffer | string): string {
  return createHash('sha256').update(line).digest('hex').slice(0, 16)
}

/** Checks one parsed line; returns the record or why it is not one. */
export function toDeadLetterRecord(value: unknown): DeadLetterRecord | string {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return 'not a JSON object'
  const v = value as Record<string, unknown>
  for (const key of ['receivedAt', 'topic', 'reason', 'detail', 'payload'] as const) {
    if (typeof v[key] !== 'string') return `${key} is missing or not a string`
  }
  if (!Number.isFinite(Date.parse(v.receivedAt as string))) return `receivedAt '${String(v.receivedAt)}' is not a time`
  if (!REASONS.has(v.reason as string)) return `reason '${String(v.reason)}' is unknown`
  const encoding = v.encoding ?? 'utf8'
  if (encoding !== 'utf8' && encoding !== 'base64') return `encoding '${String(encoding)}' is neither utf8 nor base64`
  return {
    receivedAt: v.receivedAt as string,
    topic: v.topic as string,
    reason: v.reason as DeadLetterReason,
    detail: v.detail as string,
    payload: v.payload as string,
    encoding,
  }
}

/** The original payload bytes of a stored letter. */
export function letterPayload(record: DeadLetterRecord): Buffer {
  return Buffer.from(record.payload, record.encoding === 'base64' ? 'base64' : 'utf8')
}

function matches(record: DeadLetterRecord, filter: DeadLetterFilter): boolean {
  if (filter.reasons !== undefined && filter.reasons.length > 0 && !filter.reasons.includes(record.reason)) return false
  if (filter.topicPrefix !== undefined && !record.topic.startsWith(filter.topicPrefix)) return false
  if (filter.since === undefined && filter.until === undefined) return true
  const at = Date.parse(record.receivedAt)
  if (filter.since !== undefined && at < filter.since) return false
  if (filter.until !== undefined && at >= filter.until) return false
  return true
}

/** Names of the dead-letter files in `dir`, oldest first; empty when the folder does not exist. */
export function deadLetterFiles(dir: string): string[] {
  try {
    return readdirSync(dir).filter((name) => DEAD_LETTER_FILE.test(name)).sort()
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return []
    throw err
  }
}

/**
 * Reads the dead letters of `dir` (`{dataDir}/deadletter`) that match `filter`. Malformed lines are
 * reported in `problems` and skipped; letters the replay ledger records are left out unless
 * `includeReplayed`.
 */
export function readDeadLetters(dir: string, filter: DeadLetterFilter = {}): DeadLetterScan {
  const ledger = readLedger(dir)
  const scan: DeadLetterScan = { letters: [], problems: [], replayedHidden: 0 }
  for (const file of deadLetterFiles(dir)) {
    let content: Buffer
    try {
      content = readFileSync(join(dir, file))
    } catch (err) {
      // The engine deletes the oldest files to keep its bound; one may go between listing and reading.
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') continue
      throw err
    }
    let offset = 0
    let line = 0
    while (offset < content.length) {
      line += 1
      const end = content.indexOf(0x0a, offset)
      const raw = content.subarray(offset, end === -1 ? content.length : end)
      const start = offset
      offset = end === -1 ? content.length : end + 1
      if (end === -1) {
        // The engine writes whole lines; a line without its newline is being written or was cut by a crash.
        scan.problems.push({ file, line, why: 'incomplete last line (still being written, or cut off by a crash)' })
        break
      }
      if (raw.length === 0) continue
      let parsed: unknown
      try {
        parsed = JSON.parse(raw.toString('utf8'))
      } catch (err) {
        scan.problems.push({ file, line, why: `not JSON (${(err as Error).message})` })
        continue
      }
      const record = toDeadLetterRecord(parsed)
      if (typeof record === 'string') {
        scan.problems.push({ file, line, why: record })
        continue
      }
      if (!matches(record, filter)) continue
      const hash = lineHash(raw)
      const replayed = ledger.get(ledgerKey(file, start))
      const letter: StoredDeadLetter = { file, line, offset: start, hash, record }
      if (replayed !== undefined && replayed.hash === hash) {
        if (filter.includeReplayed !== true) {
          scan.replayedHidden += 1
          continue
        }
        letter.replayedAt = replayed.replayedAt
      }
      scan.letters.push(letter)
    }
  }
  return scan
}
