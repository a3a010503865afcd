import { appendFileSync, existsSync, readFileSync, renameSync, unlinkSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'

/** One replayed dead letter as the ledger records it. */
export interface LedgerEntry {
  /** Dead-letter file name, `dl-YYYYMMDDTHH.jsonl`. */
  file: string
  /** Byte offset of the letter's line in that file. */
  offset: number
  /** Hash of the line (see `lineHash`), so the entry never matches another letter. */
  hash: string
  /** When the broker acknowledged the re-submission, RFC 3339 UTC. */
  replayedAt: string
  /** What the offline check predicted: all readings accepted, or some. */
  outcome: 'accepted' | 'partial'
  /** Readings the offline check accepted. */
  readings: number
}

/** The ledger of replayed letters, beside the dead-letter files; the engine ignores it. */
export const LEDGER_FILE = 'replayed.jsonl'
/** Held by a running replay, holding its process id. */
export const LOCK_FILE = 'replay.lock'

/** The ledger key of the letter at `offset` of `file`. */
export function ledgerKey(file: string, offset: number): string {
  return `${file}:${offset}`
}

function parseEntry(line: string): LedgerEntry | undefined {
  try {
    const e = JSON.parse(line) as Partial<LedgerEntry>
    if (typeof e.file !== 'string' || typeof e.offset !== 'number' || typeof e.hash !== 'string' || typeof e.replayedAt !== 'string') return undefined
    return e as LedgerEntry
  } catch {
    return undefined
  }
}

function ledgerLines(dir: string): string[] {
  try {
    return readFileSync(join(dir, LEDGER_FILE), 'utf8').split('\n')
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return []
    throw err
  }
}

/** Reads the ledger of `dir` keyed by `ledgerKey`; unreadable lines (a write cut by a crash) are ignored. */
export function readLedger(dir: string): Map<string, LedgerEntry> {
  const entries = new Map<string, LedgerEntry>()
  for (const line of ledgerLines(dir)) {
    const entry = line === '' ? undefined : parseEntry(line)
    if (entry !== undefined) entries.set(ledgerKey(entry.file, entry.offset), entry)
  }
  return entries
}

/** Appends one entry to the ledger; called right after the broker's PUBACK. */
export function appendLedger(dir: string, entry: LedgerEntry): void {
  appendFileSync(join(dir, LEDGER_FILE), `${JSON.stringify(entry)}\n`)
}

/** Drops entries whose dead-letter file the engine has deleted; rewrites atomically. Returns how many went. */
export function compactLedger(dir: string): number {
  const lines = ledgerLines(dir).filter((l) => l !== '')
  const kept = lines.filter((line) => {
    const entry = parseEntry(line)
    return entry !== undefined && existsSync(join(dir, entry.file))
  })
  if (kept.length === lines.length) return 0
  const path = join(dir, LEDGER_FILE)
  writeFileSync(`${path}.tmp`, kept.map((l) => `${l}\n`).join(''))
  renameSync(`${path}.tmp`, path)
  return lines.length - kept.length
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM'
  }
}

/**
 * Takes the replay lock of `dir` so two replays never publish the same letters; a lock left by a
 * process that no longer runs is taken over. Returns the release function; throws when held.
 */
export function acquireReplayLock(dir: string): () => void {
  const path = join(dir, LOCK_FILE)
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      writeFileSync(path, `${process.pid}\n`, { flag: 'wx' })
      return () => {
        try {
          unlinkSync(path)
        } catch {
          // Already gone: nothing to release.
        }
      }
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err
    }
    let text: string
    try {
      text = readFileSync(path, 'utf8')
    } catch (err) {
      // Released between our attempt and this read: try again.
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') continue
      throw err
    }
    const holder = Number.parseInt(text.trim(), 10)
    if (Number.isSafeInteger(holder) && holder > 0 && alive(holder)) {
      throw new Error(`another dlq replay (pid ${holder}) is running; lock file ${path}`)
    }
    // Left by a process that no longer runs.
    try {
      unlinkSync(path)
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err
    }
  }
  throw new Error(`cannot take the replay lock ${path}`)
}
