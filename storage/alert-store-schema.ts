import type Database from 'better-sqlite3'
import { AppError } from '../errors.js'

/**
 * Migrations of `alerts.sqlite`: entry i takes the file from `PRAGMA user_version` i to i + 1.
 * Append new steps; never edit a released one. Times are epoch milliseconds (INTEGER).
 */
export const ALERT_STORE_MIGRATIONS: readonly string[] = [
  `
  CREATE TABLE alerts (
    id TEXT PRIMARY KEY,
    rule TEXT NOT NULL,
    subject TEXT NOT NULL,
    district TEXT NOT NULL,
    segment TEXT,
    level TEXT NOT NULL CHECK (level IN ('blue', 'yellow', 'orange', 'red')),
    state TEXT NOT NULL CHECK (state IN ('open', 'acknowledged', 'resolved')),
    value REAL NOT NULL,
    threshold REAL NOT NULL,
    message TEXT NOT NULL,
    raised_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    resolved_at INTEGER,
    acked_by TEXT,
    eta_minutes REAL,
    flapping INTEGER NOT NULL DEFAULT 0,
    tier INTEGER NOT NULL DEFAULT 0,
    notified_level TEXT,
    notified_at INTEGER
  );
  -- One active alert per (rule, subject), whatever the callers do.
  CREATE UNIQUE INDEX alerts_active_rule_subject ON alerts (rule, subject) WHERE state != 'resolved';
  CREATE INDEX alerts_raised ON alerts (raised_at);
  CREATE INDEX alerts_resolved ON alerts (resolved_at) WHERE resolved_at IS NOT NULL;

  CREATE TABLE alert_audit (
    n INTEGER PRIMARY KEY AUTOINCREMENT,
    alert_id TEXT NOT NULL REFERENCES alerts (id) ON DELETE CASCADE,
    at INTEGER NOT NULL,
    who TEXT NOT NULL,
    what TEXT NOT NULL,
    note TEXT,
    from_value TEXT,
    to_value TEXT,
    details TEXT
  );
  CREATE INDEX alert_audit_alert ON alert_audit (alert_id, n);

  CREATE TABLE alert_history (
    n INTEGER PRIMARY KEY AUTOINCREMENT,
    alert_id TEXT NOT NULL REFERENCES alerts (id) ON DELETE CASCADE,
    at INTEGER NOT NULL,
    from_level TEXT NOT NULL,
    to_level TEXT NOT NULL,
    value REAL NOT NULL
  );
  CREATE INDEX alert_history_alert ON alert_history (alert_id, n);

  -- Keyed by (rule, subject), not alert id: a flap raises a new alert each time.
  CREATE TABLE alert_transitions (
    n INTEGER PRIMARY KEY AUTOINCREMENT,
    rule TEXT NOT NULL,
    subject TEXT NOT NULL,
    alert_id TEXT NOT NULL,
    at INTEGER NOT NULL
  );
  CREATE INDEX alert_transitions_key ON alert_transitions (rule, subject, at);
  CREATE INDEX alert_transitions_at ON alert_transitions (at);

  CREATE TABLE rule_changes (
    n INTEGER PRIMARY KEY AUTOINCREMENT,
    at INTEGER NOT NULL,
    who TEXT NOT NULL,
    version INTEGER NOT NULL,
    diff TEXT NOT NULL
  );

  CREATE TABLE silences (
    id TEXT PRIMARY KEY,
    sensor TEXT,
    segment TEXT,
    rule TEXT,
    starts_at INTEGER NOT NULL,
    ends_at INTEGER NOT NULL,
    created_at INTEGER NOT NULL,
    created_by TEXT NOT NULL,
    comment TEXT NOT NULL,
    removed_at INTEGER,
    removed_by TEXT,
    CHECK (sensor IS NOT NULL OR segment IS NOT NULL OR rule IS NOT NULL),
    CHECK (ends_at > starts_at)
  );
  CREATE INDEX silences_live ON silences (ends_at) WHERE removed_at IS NULL;

  CREATE TABLE outbox (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    target TEXT NOT NULL,
    body TEXT NOT NULL,
    headers TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('pending', 'delivered', 'dead')),
    attempts INTEGER NOT NULL DEFAULT 0,
    next_attempt_at INTEGER NOT NULL,
    last_error TEXT,
    finished_at INTEGER
  );
  CREATE INDEX outbox_due ON outbox (next_attempt_at, id) WHERE status = 'pending';
  CREATE INDEX outbox_finished ON outbox (finished_at) WHERE status != 'pending';

  CREATE TABLE ws_events (
    seq INTEGER PRIMARY KEY,
    frame TEXT NOT NULL,
    district TEXT,
    sensor TEXT
  );

  CREATE TABLE meta (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL
  );
  `,
]

/** Schema version this engine writes: the number of migrations. */
export const ALERT_STORE_SCHEMA_VERSION = ALERT_STORE_MIGRATIONS.length

/** Brings `db` up to ALERT_STORE_SCHEMA_VERSION, each step in its own transaction; refuses a newer file. */
export function migrateAlertStore(db: Database.Database, file: string): number {
  // Each step re-reads the version under the write lock, so engines opening the same new file at once migrate it once.
  const step = db.transaction((): boolean => {
    const current = db.pragma('user_version', { simple: true }) as number
    if (current > ALERT_STORE_SCHEMA_VERSION) throw new AppError('CW_ERR_ALERT_STORE_SCHEMA', [file, current, ALERT_STORE_SCHEMA_VERSION])
    const sql = ALERT_STORE_MIGRATIONS[current]
    if (sql === undefined) return false
    db.exec(sql)
    // user_version is transactional: a crash mid-step leaves the old version and none of the step.
    db.pragma(`user_version = ${current + 1}`)
    return true
  })
  let migrated = true
  while (migrated) migrated = step.immediate()
  return ALERT_STORE_SCHEMA_VERSION
}
