import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { Condition } from '../../rules/condition.js'
import { openAlertStore, type AlertStore } from '../../storage/alert-store.js'

/** The start time of the alert tests: 2026-07-14 08:00 UTC. */
export const T0 = Date.UTC(2026, 6, 14, 8)

/** A test file's cleanups, run in reverse order after each test. */
export type Cleanups = Array<() => Promise<unknown> | unknown>

/** A clock the test moves by hand. */
export interface ManualClock {
  now: () => number
  advance: (ms: number) => void
  set: (ms: number) => void
}

/** A clock the test moves by hand, starting at `start` (T0 by default). */
export function manualClock(start = T0): ManualClock {
  let t = start
  return { now: () => t, advance: (ms) => void (t += ms), set: (ms) => void (t = ms) }
}

/** An orange ponding condition on PD-0031 in xihu at T0, without an ETA. */
export function pondingCondition(overrides: Partial<Condition> = {}): Condition {
  return {
    rule: 'ponding-depth',
    type: 'threshold',
    subject: 'PD-0031',
    district: 'xihu',
    segment: 'zone-4',
    level: 3,
    value: 31.5,
    threshold: 27,
    message: 'Ponding 31.5 cm at Wensan Rd (orange, >= 27 cm)',
    at: T0,
    dataGap: false,
    ...overrides,
  }
}

/** A fresh temp folder (removed at cleanup) with `name` as the alert store's file path inside it. */
export function tempAlertFile(cleanups: Cleanups, prefix: string, name = 'alerts.sqlite'): string {
  const dir = mkdtempSync(join(tmpdir(), prefix))
  cleanups.push(() => rmSync(dir, { recursive: true, force: true }))
  return join(dir, name)
}

/** An alert store on a fresh temp file, closed (then its folder removed) at cleanup. */
export function tempAlertStore(cleanups: Cleanups, prefix: string, clock: { now: () => number }): { store: AlertStore; file: string } {
  const file = tempAlertFile(cleanups, prefix)
  const store = openAlertStore({ file, clock })
  cleanups.push(() => store.close())
  return { store, file }
}
