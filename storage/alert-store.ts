import { randomBytes } from 'node:crypto'
import { mkdirSync } from 'node:fs'
import { dirname } from 'node:path'
import Database from 'better-sqlite3'
import type { Level } from '../domain.js'
import { AppError } from '../errors.js'
import { systemClock, type Clock } from '../ports.js'
import { migrateAlertStore } from './alert-store-schema.js'

/** Where an alert is in its lifecycle (SPEC §8). */
export type AlertState = 'open' | 'acknowledged' | 'resolved'

/** The alert JSON of SPEC §8 plus the engine's bookkeeping; times are RFC 3339 strings. */
export interface Alert {
  /** `a-` and 8 hex digits, unless an idFactory says otherwise. */
  id: string
  rule: string
  /** Sensor id for reading rules, segment id for index rules. */
  subject: string
  district: string
  segment: string | null
  level: Level
  state: AlertState
  value: number
  threshold: number
  message: string
  raisedAt: string
  /** Last change of condition (value, level, message) or state; bookkeeping (notified, tier, flapping) does not move it. */
  updatedAt: string
  resolvedAt: string | null
  ackedBy: string | null
  etaMinutes: number | null
  /** Notifications are held while the alert flaps (more than N transitions in M minutes). */
  flapping: boolean
  /** Escalation tier reached, 0 = first on-call tier. */
  tier: number
  /** Level last notified, null before the first notification. */
  notifiedLevel: Level | null
  notifiedAt: string | null
}

/** What an audit entry records. */
export type AuditWhat = 'raised' | 'level' | 'acknowledged' | 'resolved' | 'notified' | 'escalated' | 'flapping'

/** One entry of an alert's audit trail; `from`/`to` are states, levels or tiers depending on `what`. */
export interface AuditEntry {
  at: string
  who: string
  what: AuditWhat
  note: string | null
  from?: string
  to?: string
  details?: Record<string, unknown>
}

/** One level change of an alert. */
export interface LevelChange {
  at: string
  from: Level
  to: Level
  value: number
}

/** One alert with its audit trail (oldest first) and level history, as `GET /api/alerts/:id` serves it. */
export interface AlertDetail extends Alert {
  audit: AuditEntry[]
  history: LevelChange[]
}

/** A rule's current finding about one subject, handed to `raiseOrUpdate`. */
export interface AlertCondition {
  rule: string
  subject: string
  district: string
  segment?: string | null
  level: Level
  value: number
  threshold: number
  message: string
  etaMinutes?: number | null
}

/** What `raiseOrUpdate` did: a new alert, a new level, new values at the same level, or nothing. */
export type RaiseChange = 'raised' | 'level_changed' | 'updated' | 'unchanged'

/** Result of `raiseOrUpdate`. */
export interface RaiseResult {
  alert: Alert
  change: RaiseChange
  /** The level before a `level_changed`. */
  previousLevel?: Level
}

/** Filters of `list`; an array matches any of its values. */
export interface AlertFilter {
  state?: AlertState | readonly AlertState[]
  district?: string | readonly string[]
  level?: Level | readonly Level[]
  rule?: string
  subject?: string
  /** Most alerts returned; default all. */
  limit?: number
}

/** One audited change of the rule set. */
export interface RuleChange {
  id: number
  at: string
  who: string
  /** Rule-set version after the change. */
  version: number
  diff: unknown
}

/** What a silence applies to; every field given must match (at least one is required). */
export interface SilenceMatcher {
  /** Alert subject (sensor id). */
  sensor?: string
  /** Alert segment, or subject of an index rule. */
  segment?: string
  rule?: string
}

/** A new silence; times are epoch milliseconds or RFC 3339. */
export interface SilenceInput {
  matcher: SilenceMatcher
  /** Default now. */
  startsAt?: number | string
  endsAt: number | string
  createdBy: string
  comment: string
}

/** A maintenance silence; removed ones keep who removed them and when. */
export interface Silence {
  id: string
  matcher: SilenceMatcher
  startsAt: string
  endsAt: string
  createdAt: string
  createdBy: string
  comment: string
  removedAt: string | null
  removedBy: string | null
}

/** A webhook request to deliver. */
export interface OutboxMessage {
  target: string
  body: string
  headers: Record<string, string>
}

/** A pending outbox entry; times are epoch milliseconds. */
export interface OutboxItem extends OutboxMessage {
  id: number
  createdAt: number
  attempts: number
  nextAttemptAt: number
  lastError: string | null
}

/** Outbox entries waiting for delivery and those given up after maxAttempts. */
export interface OutboxCounts {
  pending: number
  dead: number
}

/** Who may see a stored websocket event (the hub's replay filter). */
export interface EventMeta {
  district?: string
  sensor?: string
}

/** A stored websocket alert event. */
export interface StoredEvent extends EventMeta {
  seq: number
  frame: string
}

/** Options of `openAlertStore`; every default is in ALERT_STORE_DEFAULTS. */
export interface AlertStoreOptions {
  /** The SQLite file, `{dataDir}/alerts.sqlite`; its folder is created if missing. */
  file: string
  /** Default time of every call that takes an optional `at`. */
  clock?: Clock
  /** Id of a new alert; default `a-` and 8 random hex digits. */
  idFactory?: () => string
  /** `normal` (default) fsyncs only operator actions (ack, resolve, silences, rule changes); `full` fsyncs every commit. */
  synchronous?: 'normal' | 'full'
  /** Failed deliveries after which an outbox entry is dead; default 20. */
  outboxMaxAttempts?: number
  /** Websocket events kept for `since`; default 10,000. */
  eventLogSize?: number
  /** How long resolved alerts, ended silences and finished outbox entries are kept, in ms; default 365 days. */
  retentionMs?: number
  /** How long flap transitions are kept, in ms; default 1 day (longer than any flap window). */
  transitionRetentionMs?: number
  /** Least time between two automatic prunes, in ms; default 1 hour. */
  pruneEveryMs?: number
}

/** Every default of AlertStoreOptions in one place. */
export const ALERT_STORE_DEFAULTS = {
  synchronous: 'normal',
  outboxMaxAttempts: 20,
  eventLogSize: 10_000,
  retentionMs: 365 * 86_400_000,
  transitionRetentionMs: 86_400_000,
  pruneEveryMs: 3_600_000,
} as const

/** Alert state, audit, silences, notification bookkeeping, webhook outbox and websocket event log in one SQLite file. */
export interface AlertStore {
  /** Updates the active alert of (rule, subject) or raises a new one, atomically. */
  raiseOrUpdate(condition: AlertCondition, at?: number): RaiseResult
  /** Resolves the active alert of (rule, subject) as the engine; null when none is active. */
  autoResolve(rule: string, subject: string, at?: number, value?: number): Alert | null
  /** open → acknowledged; throws CW_ERR_ALERT_NOT_FOUND or CW_ERR_ALERT_TRANSITION. */
  acknowledge(id: string, who: string, note?: string | null, at?: number): Alert
  /** open or acknowledged → resolved; throws CW_ERR_ALERT_NOT_FOUND or CW_ERR_ALERT_TRANSITION. */
  resolve(id: string, who: string, note?: string | null, at?: number): Alert
  /** One alert with audit and history; undefined when unknown. */
  get(id: string): AlertDetail | undefined
  /** Alerts matching the filter, newest raised first. */
  list(filter?: AlertFilter): Alert[]
  /** Alerts not resolved, newest raised first. */
  active(): Alert[]
  /** Records a notification of `level` at escalation `tier`, so a restart does not notify again. */
  markNotified(id: string, level: Level, at?: number, tier?: number): Alert
  /** Records one flap transition of the alert's (rule, subject). */
  recordTransition(id: string, at?: number): void
  /** Transitions of the alert's (rule, subject), across its successive alerts, at or after `since` (epoch ms). */
  transitionsSince(id: string, since: number): number
  /** Sets the flapping flag; audited when it changes. */
  setFlapping(id: string, flapping: boolean, at?: number): Alert
  /** Sets the escalation tier; audited when it changes. */
  setTier(id: string, tier: number, at?: number): Alert
  /** Audits a change of the rule set. */
  recordRuleChange(who: string, diff: unknown, version: number, at?: number): RuleChange
  /** Rule-set changes, newest first. */
  ruleChanges(limit?: number): RuleChange[]
  /** Adds a silence; throws CW_ERR_SILENCE_INVALID (400). */
  addSilence(input: SilenceInput, at?: number): Silence
  /** Silences not removed (active, pending and expired), newest first; only those active at `activeAt` when given. */
  listSilences(filter?: { activeAt?: number; includeRemoved?: boolean }): Silence[]
  /** Removes a silence, keeping who and when; throws CW_ERR_SILENCE_NOT_FOUND. */
  removeSilence(id: string, who: string, at?: number): Silence
  /** Whether a silence active at `at` matches the alert. */
  isSilenced(alert: Pick<Alert, 'rule' | 'subject' | 'segment'>, at?: number): boolean
  /** Queues a webhook request, due at once; returns its id. */
  enqueueOutbox(message: OutboxMessage, at?: number): number
  /** Pending entries due at `at`, oldest due first. */
  dueOutbox(at?: number, limit?: number): OutboxItem[]
  /** Marks an entry delivered; false when it is not pending. */
  outboxDelivered(id: number, at?: number): boolean
  /** Counts a failed delivery and schedules the next; the entry is dead after outboxMaxAttempts. Undefined when not pending. */
  outboxFailed(id: number, at: number, error: string, nextAttemptAt: number): { attempts: number; dead: boolean } | undefined
  /** Entries pending and dead. */
  outboxCounts(): OutboxCounts
  /** Stores a websocket alert event, keeping the last eventLogSize. */
  appendEvent(seq: number, frame: string, meta?: EventMeta): void
  /** Stored events after `seq`, in order. */
  eventsSince(seq: number): StoredEvent[]
  /** Records the hub's current seq (on close), so seq keeps rising across a restart even past the last alert event. */
  noteSeq(seq: number): void
  /** Highest seq stored or noted; 0 for a new file. */
  lastSeq(): number
  /** Deletes what is older than the retentions; runs at open and at most every pruneEveryMs on writes. */
  prune(at?: number): void
  /** Closes the file; later calls throw, a second close does nothing. */
  close(): void
}

/** A row of the alerts table: the alert's own columns as in Alert, times as epoch ms, snake_case names. */
interface AlertRow extends Pick<Alert, 'id' | 'rule' | 'subject' | 'district' | 'segment' | 'level' | 'state' | 'value' | 'threshold' | 'message' | 'tier'> {
  raised_at: number
  updated_at: number
  resolved_at: number | null
  acked_by: string | null
  eta_minutes: number | null
  flapping: number
  notified_level: Level | null
  notified_at: number | null
}

interface AuditRow {
  at: number
  who: string
  what: AuditWhat
  note: string | null
  from_value: string | null
  to_value: string | null
  details: string | null
}

interface HistoryRow {
  at: number
  from_level: Level
  to_level: Level
  value: number
}

interface RuleChangeRow {
  n: number
  at: number
  who: string
  version: number
  diff: string
}

interface SilenceRow {
  id: string
  sensor: string | null
  segment: string | null
  rule: string | null
  starts_at: number
  ends_at: number
  created_at: number
  created_by: string
  comment: string
  removed_at: number | null
  removed_by: string | null
}

interface OutboxRow {
  id: number
  target: string
  body: string
  headers: string
  created_at: number
  attempts: number
  next_attempt_at: number
  last_error: string | null
}

interface EventRow {
  seq: number
  frame: string
  district: string | null
  sensor: string | null
}

const TRANSITIONS: Record<AlertState, readonly AlertState[]> = {
  open: ['acknowledged', 'resolved'],
  acknowledged: ['resolved'],
  resolved: [],
}

const iso = (ms: number): string => new Date(ms).toISOString()
const isoOrNull = (ms: number | null): string | null => (ms === null ? null : iso(ms))
const randomId = (prefix: string): string => `${prefix}-${randomBytes(4).toString('hex')}`
/** Filter values as a JSON array for `IN (SELECT value FROM json_each(?))`, or null for no filter. */
const anyOf = (value: string | readonly string[] | undefined): string | null =>
  value === undefined ? null : JSON.stringify(typeof value === 'string' ? [value] : value)

function toAlert(row: AlertRow): Alert {
  return {
    id: row.id,
    rule: row.rule,
    subject: row.subject,
    district: row.district,
    segment: row.segment,
    level: row.level,
    state: row.state,
    value: row.value,
    threshold: row.threshold,
    message: row.message,
    raisedAt: iso(row.raised_at),
    updatedAt: iso(row.updated_at),
    resolvedAt: isoOrNull(row.resolved_at),
    ackedBy: row.acked_by,
    etaMinutes: row.eta_minutes,
    flapping: row.flapping !== 0,
    tier: row.tier,
    notifiedLevel: row.notified_level,
    notifiedAt: isoOrNull(row.notified_at),
  }
}

function toAudit(row: AuditRow): AuditEntry {
  const entry: AuditEntry = { at: iso(row.at), who: row.who, what: row.what, note: row.note }
  if (row.from_value !== null) entry.from = row.from_value
  if (row.to_value !== null) entry.to = row.to_value
  if (row.details !== null) entry.details = JSON.parse(row.details) as Record<string, unknown>
  return entry
}

function toSilence(row: SilenceRow): Silence {
  const matcher: SilenceMatcher = {}
  if (row.sensor !== null) matcher.sensor = row.sensor
  if (row.segment !== null) matcher.segment = row.segment
  if (row.rule !== null) matcher.rule = row.rule
  return {
    id: row.id,
    matcher,
    startsAt: iso(row.starts_at),
    endsAt: iso(row.ends_at),
    createdAt: iso(row.created_at),
    createdBy: row.created_by,
    comment: row.comment,
    removedAt: isoOrNull(row.removed_at),
    removedBy: row.removed_by,
  }
}

function toOutboxItem(row: OutboxRow): OutboxItem {
  return {
    id: row.id,
    target: row.target,
    body: row.body,
    headers: JSON.parse(row.headers) as Record<string, string>,
    createdAt: row.created_at,
    attempts: row.attempts,
    nextAttemptAt: row.next_attempt_at,
    lastError: row.last_error,
  }
}

function silenceTime(value: number | string | undefined, field: string): number {
  const ms = typeof value === 'number' ? value : typeof value === 'string' ? Date.parse(value) : Number.NaN
  if (!Number.isFinite(ms)) throw new AppError('CW_ERR_SILENCE_INVALID', [`${field} must be epoch milliseconds or RFC 3339`], [{ path: field }])
  return ms
}

function checkNumber(value: number, field: string): void {
  // SQLite stores NaN as NULL, which would fail NOT NULL with a less useful message.
  if (Number.isNaN(value)) throw new AppError('CW_ERR_INTERNAL', [`alert ${field} is NaN`])
}

/**
 * Opens (creating and migrating as needed) the alert store. WAL journal; synchronous NORMAL by default, with
 * operator actions committed under FULL: an engine crash loses nothing, a power loss can only drop a suffix of
 * engine writes, which re-evaluation re-derives, never an acknowledgement, resolution, silence or rule change.
 */
export function openAlertStore(options: AlertStoreOptions): AlertStore {
  const clock = options.clock ?? systemClock
  const newAlertId = options.idFactory ?? (() => randomId('a'))
  const synchronous = options.synchronous ?? ALERT_STORE_DEFAULTS.synchronous
  const maxAttempts = options.outboxMaxAttempts ?? ALERT_STORE_DEFAULTS.outboxMaxAttempts
  const eventLogSize = options.eventLogSize ?? ALERT_STORE_DEFAULTS.eventLogSize
  const retentionMs = options.retentionMs ?? ALERT_STORE_DEFAULTS.retentionMs
  const transitionRetentionMs = options.transitionRetentionMs ?? ALERT_STORE_DEFAULTS.transitionRetentionMs
  const pruneEveryMs = options.pruneEveryMs ?? ALERT_STORE_DEFAULTS.pruneEveryMs

  mkdirSync(dirname(options.file), { recursive: true })
  const db = new Database(options.file, { timeout: 5_000 })
  try {
    db.pragma('journal_mode = WAL')
    db.pragma(`synchronous = ${synchronous === 'full' ? 'FULL' : 'NORMAL'}`)
    db.pragma('foreign_keys = ON')
    migrateAlertStore(db, options.file)
  } catch (err) {
    db.close()
    throw err
  }

  const s = {
    alertById: db.prepare<[string], AlertRow>('SELECT * FROM alerts WHERE id = ?'),
    activeAlert: db.prepare<[string, string], AlertRow>("SELECT * FROM alerts WHERE rule = ? AND subject = ? AND state != 'resolved'"),
    allActive: db.prepare<[], AlertRow>("SELECT * FROM alerts WHERE state != 'resolved' ORDER BY raised_at DESC, rowid DESC"),
    list: db.prepare<Record<string, string | number | null>, AlertRow>(
      `SELECT * FROM alerts
       WHERE (@state IS NULL OR state IN (SELECT value FROM json_each(@state)))
         AND (@district IS NULL OR district IN (SELECT value FROM json_each(@district)))
         AND (@level IS NULL OR level IN (SELECT value FROM json_each(@level)))
         AND (@rule IS NULL OR rule = @rule)
         AND (@subject IS NULL OR subject = @subject)
       ORDER BY raised_at DESC, rowid DESC LIMIT @limit`,
    ),
    insertAlert: db.prepare<Record<string, string | number | null>>(
      `INSERT INTO alerts (id, rule, subject, district, segment, level, state, value, threshold, message, raised_at, updated_at, eta_minutes)
       VALUES (@id, @rule, @subject, @district, @segment, @level, 'open', @value, @threshold, @message, @at, @at, @eta)`,
    ),
    updateCondition: db.prepare<Record<string, string | number | null>>(
      `UPDATE alerts SET district = @district, segment = @segment, level = @level, value = @value, threshold = @threshold,
         message = @message, eta_minutes = @eta, updated_at = @at WHERE id = @id`,
    ),
    setState: db.prepare<Record<string, string | number | null>>(
      `UPDATE alerts SET state = @state, updated_at = @at, acked_by = coalesce(@ackedBy, acked_by),
         resolved_at = @resolvedAt, value = coalesce(@value, value) WHERE id = @id`,
    ),
    markNotified: db.prepare<Record<string, string | number>>('UPDATE alerts SET notified_level = @level, notified_at = @at, tier = @tier WHERE id = @id'),
    setFlapping: db.prepare<[number, string]>('UPDATE alerts SET flapping = ? WHERE id = ?'),
    setTier: db.prepare<[number, string]>('UPDATE alerts SET tier = ? WHERE id = ?'),
    insertAudit: db.prepare<Record<string, string | number | null>>(
      `INSERT INTO alert_audit (alert_id, at, who, what, note, from_value, to_value, details)
       VALUES (@id, @at, @who, @what, @note, @from, @to, @details)`,
    ),
    auditOf: db.prepare<[string], AuditRow>('SELECT at, who, what, note, from_value, to_value, details FROM alert_audit WHERE alert_id = ? ORDER BY n'),
    insertHistory: db.prepare<[string, number, string, string, number]>('INSERT INTO alert_history (alert_id, at, from_level, to_level, value) VALUES (?, ?, ?, ?, ?)'),
    historyOf: db.prepare<[string], HistoryRow>('SELECT at, from_level, to_level, value FROM alert_history WHERE alert_id = ? ORDER BY n'),
    insertTransition: db.prepare<[string, string, string, number]>('INSERT INTO alert_transitions (rule, subject, alert_id, at) VALUES (?, ?, ?, ?)'),
    countTransitions: db.prepare<[string, string, number], number>('SELECT count(*) FROM alert_transitions WHERE rule = ? AND subject = ? AND at >= ?').pluck(),
    insertRuleChange: db.prepare<[number, string, number, string]>('INSERT INTO rule_changes (at, who, version, diff) VALUES (?, ?, ?, ?)'),
    ruleChanges: db.prepare<[number], RuleChangeRow>('SELECT n, at, who, version, diff FROM rule_changes ORDER BY n DESC LIMIT ?'),
    ruleChangeByN: db.prepare<[number | bigint], RuleChangeRow>('SELECT n, at, who, version, diff FROM rule_changes WHERE n = ?'),
    insertSilence: db.prepare<Record<string, string | number | null>>(
      `INSERT INTO silences (id, sensor, segment, rule, starts_at, ends_at, created_at, created_by, comment)
       VALUES (@id, @sensor, @segment, @rule, @startsAt, @endsAt, @at, @createdBy, @comment)`,
    ),
    silenceById: db.prepare<[string], SilenceRow>('SELECT * FROM silences WHERE id = ?'),
    listSilences: db.prepare<Record<string, number | null>, SilenceRow>(
      `SELECT * FROM silences
       WHERE (@includeRemoved = 1 OR removed_at IS NULL) AND (@activeAt IS NULL OR (starts_at <= @activeAt AND ends_at > @activeAt))
       ORDER BY created_at DESC, rowid DESC`,
    ),
    removeSilence: db.prepare<[number, string, string]>('UPDATE silences SET removed_at = ?, removed_by = ? WHERE id = ? AND removed_at IS NULL'),
    matchSilence: db.prepare<Record<string, string | number | null>, number>(
      `SELECT 1 FROM silences
       WHERE removed_at IS NULL AND ends_at > @at AND starts_at <= @at
         AND (sensor IS NULL OR sensor = @subject)
         AND (segment IS NULL OR segment = @segment OR segment = @subject)
         AND (rule IS NULL OR rule = @rule)
       LIMIT 1`,
    ).pluck(),
    insertOutbox: db.prepare<[string, string, string, number, number]>(
      "INSERT INTO outbox (target, body, headers, created_at, status, next_attempt_at) VALUES (?, ?, ?, ?, 'pending', ?)",
    ),
    dueOutbox: db.prepare<[number, number], OutboxRow>(
      "SELECT * FROM outbox WHERE status = 'pending' AND next_attempt_at <= ? ORDER BY next_attempt_at, id LIMIT ?",
    ),
    outboxDelivered: db.prepare<[number, number]>("UPDATE outbox SET status = 'delivered', finished_at = ? WHERE id = ? AND status = 'pending'"),
    outboxFailed: db.prepare<Record<string, string | number>, { attempts: number; status: string }>(
      `UPDATE outbox SET attempts = attempts + 1, last_error = @error, next_attempt_at = @next,
         status = CASE WHEN attempts + 1 >= @max THEN 'dead' ELSE 'pending' END,
         finished_at = CASE WHEN attempts + 1 >= @max THEN @at ELSE NULL END
       WHERE id = @id AND status = 'pending' RETURNING attempts, status`,
    ),
    outboxCounts: db.prepare<[], { pending: number; dead: number }>(
      "SELECT coalesce(sum(status = 'pending'), 0) AS pending, coalesce(sum(status = 'dead'), 0) AS dead FROM outbox",
    ),
    upsertEvent: db.prepare<[number, string, string | null, string | null]>('INSERT OR REPLACE INTO ws_events (seq, frame, district, sensor) VALUES (?, ?, ?, ?)'),
    trimEvents: db.prepare<[number]>('DELETE FROM ws_events WHERE seq < (SELECT seq FROM ws_events ORDER BY seq DESC LIMIT 1 OFFSET ?)'),
    eventsSince: db.prepare<[number], EventRow>('SELECT seq, frame, district, sensor FROM ws_events WHERE seq > ? ORDER BY seq'),
    maxEventSeq: db.prepare<[], number | null>('SELECT max(seq) FROM ws_events').pluck(),
    getMeta: db.prepare<[string], string>('SELECT value FROM meta WHERE key = ?').pluck(),
    setMeta: db.prepare<[string, string]>('INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value'),
    pruneAlerts: db.prepare<[number]>("DELETE FROM alerts WHERE state = 'resolved' AND resolved_at < ?"),
    pruneTransitions: db.prepare<[number]>('DELETE FROM alert_transitions WHERE at < ?'),
    pruneSilences: db.prepare<[number, number]>('DELETE FROM silences WHERE ends_at < ? OR removed_at < ?'),
    pruneOutbox: db.prepare<[number]>("DELETE FROM outbox WHERE status != 'pending' AND finished_at < ?"),
  }

  let lastPrune = Number.NEGATIVE_INFINITY
  let closed = false

  /** Runs `fn` as one IMMEDIATE transaction committed with an fsync, whatever `synchronous` says. */
  function durably<T>(fn: () => T): T {
    if (synchronous === 'full') return db.transaction(fn).immediate()
    db.pragma('synchronous = FULL')
    try {
      return db.transaction(fn).immediate()
    } finally {
      db.pragma('synchronous = NORMAL')
    }
  }

  function rowOrThrow(id: string): AlertRow {
    const row = s.alertById.get(id)
    if (row === undefined) throw new AppError('CW_ERR_ALERT_NOT_FOUND', [id], [{ id }])
    return row
  }

  function reread(id: string): Alert {
    return toAlert(s.alertById.get(id) as AlertRow)
  }

  function audit(id: string, at: number, who: string, what: AuditWhat, entry: { note?: string | null; from?: string; to?: string; details?: Record<string, unknown> } = {}): void {
    s.insertAudit.run({
      id,
      at,
      who,
      what,
      note: entry.note ?? null,
      from: entry.from ?? null,
      to: entry.to ?? null,
      details: entry.details === undefined ? null : JSON.stringify(entry.details),
    })
  }

  function unusedAlertId(): string {
    for (let attempt = 0; attempt < 8; attempt += 1) {
      const id = newAlertId()
      if (s.alertById.get(id) === undefined) return id
    }
    throw new AppError('CW_ERR_INTERNAL', ['no unused alert id after 8 attempts'])
  }

  function maybePrune(at: number): void {
    if (at - lastPrune >= pruneEveryMs) prune(at)
  }

  function prune(at: number): void {
    lastPrune = at
    db.transaction(() => {
      s.pruneAlerts.run(at - retentionMs)
      s.pruneTransitions.run(at - transitionRetentionMs)
      s.pruneSilences.run(at - retentionMs, at - retentionMs)
      s.pruneOutbox.run(at - retentionMs)
    }).immediate()
  }

  const raiseTx = db.transaction((c: AlertCondition, at: number): RaiseResult => {
    const eta = c.etaMinutes ?? null
    const segment = c.segment ?? null
    const row = s.activeAlert.get(c.rule, c.subject)
    if (row === undefined) {
      const id = unusedAlertId()
      s.insertAlert.run({ id, rule: c.rule, subject: c.subject, district: c.district, segment, level: c.level, value: c.value, threshold: c.threshold, message: c.message, at, eta })
      audit(id, at, 'engine', 'raised', { to: 'open', details: { level: c.level, value: c.value, threshold: c.threshold } })
      return { alert: reread(id), change: 'raised' }
    }
    const levelChanged = row.level !== c.level
    const same =
      !levelChanged &&
      row.value === c.value &&
      row.threshold === c.threshold &&
      row.message === c.message &&
      row.eta_minutes === eta &&
      row.district === c.district &&
      row.segment === segment
    if (same) return { alert: toAlert(row), change: 'unchanged' }
    s.updateCondition.run({ id: row.id, district: c.district, segment, level: c.level, value: c.value, threshold: c.threshold, message: c.message, eta, at })
    if (!levelChanged) return { alert: reread(row.id), change: 'updated' }
    s.insertHistory.run(row.id, at, row.level, c.level, c.value)
    audit(row.id, at, 'engine', 'level', { from: row.level, to: c.level, details: { value: c.value, threshold: c.threshold } })
    return { alert: reread(row.id), change: 'level_changed', previousLevel: row.level }
  })

  function transition(id: string, to: AlertState, who: string, note: string | null, at: number, value?: number): Alert {
    const row = rowOrThrow(id)
    if (!TRANSITIONS[row.state].includes(to)) {
      throw new AppError('CW_ERR_ALERT_TRANSITION', [id, row.state, to], [{ id, from: row.state, to }])
    }
    s.setState.run({
      id,
      state: to,
      at,
      ackedBy: to === 'acknowledged' ? who : null,
      resolvedAt: to === 'resolved' ? at : null,
      value: value ?? null,
    })
    audit(id, at, who, to === 'acknowledged' ? 'acknowledged' : 'resolved', { note, from: row.state, to, ...(value === undefined ? {} : { details: { value } }) })
    return reread(id)
  }

  const store: AlertStore = {
    raiseOrUpdate(condition, at = clock.now()) {
      checkNumber(condition.value, 'value')
      checkNumber(condition.threshold, 'threshold')
      const result = raiseTx.immediate(condition, at)
      maybePrune(at)
      return result
    },

    autoResolve(rule, subject, at = clock.now(), value) {
      const alert = db.transaction(() => {
        const row = s.activeAlert.get(rule, subject)
        if (row === undefined) return null
        return transition(row.id, 'resolved', 'engine', 'condition cleared', at, value)
      }).immediate()
      maybePrune(at)
      return alert
    },

    acknowledge(id, who, note = null, at = clock.now()) {
      return durably(() => transition(id, 'acknowledged', who, note, at))
    },

    resolve(id, who, note = null, at = clock.now()) {
      return durably(() => transition(id, 'resolved', who, note, at))
    },

    get(id) {
      return db.transaction((): AlertDetail | undefined => {
        const row = s.alertById.get(id)
        if (row === undefined) return undefined
        return {
          ...toAlert(row),
          audit: s.auditOf.all(id).map(toAudit),
          history: s.historyOf.all(id).map((h) => ({ at: iso(h.at), from: h.from_level, to: h.to_level, value: h.value })),
        }
      })()
    },

    list(filter = {}) {
      return s.list
        .all({
          state: anyOf(filter.state),
          district: anyOf(filter.district),
          level: anyOf(filter.level),
          rule: filter.rule ?? null,
          subject: filter.subject ?? null,
          limit: filter.limit ?? -1,
        })
        .map(toAlert)
    },

    active() {
      return s.allActive.all().map(toAlert)
    },

    markNotified(id, level, at = clock.now(), tier) {
      return db.transaction(() => {
        const row = rowOrThrow(id)
        const reached = tier ?? row.tier
        s.markNotified.run({ id, level, at, tier: reached })
        audit(id, at, 'engine', 'notified', { details: { level, tier: reached } })
        return reread(id)
      }).immediate()
    },

    recordTransition(id, at = clock.now()) {
      const row = rowOrThrow(id)
      s.insertTransition.run(row.rule, row.subject, id, at)
    },

    transitionsSince(id, since) {
      const row = rowOrThrow(id)
      return s.countTransitions.get(row.rule, row.subject, since) ?? 0
    },

    setFlapping(id, flapping, at = clock.now()) {
      return db.transaction(() => {
        const row = rowOrThrow(id)
        if ((row.flapping !== 0) === flapping) return toAlert(row)
        s.setFlapping.run(flapping ? 1 : 0, id)
        audit(id, at, 'engine', 'flapping', { from: String(row.flapping !== 0), to: String(flapping) })
        return reread(id)
      }).immediate()
    },

    setTier(id, tier, at = clock.now()) {
      return db.transaction(() => {
        const row = rowOrThrow(id)
        if (row.tier === tier) return toAlert(row)
        s.setTier.run(tier, id)
        audit(id, at, 'engine', 'escalated', { from: String(row.tier), to: String(tier) })
        return reread(id)
      }).immediate()
    },

    recordRuleChange(who, diff, version, at = clock.now()) {
      return durably(() => {
        const { lastInsertRowid } = s.insertRuleChange.run(at, who, version, JSON.stringify(diff ?? null))
        const row = s.ruleChangeByN.get(lastInsertRowid) as RuleChangeRow
        return { id: row.n, at: iso(row.at), who: row.who, version: row.version, diff: JSON.parse(row.diff) as unknown }
      })
    },

    ruleChanges(limit = -1) {
      return s.ruleChanges.all(limit).map((row) => ({ id: row.n, at: iso(row.at), who: row.who, version: row.version, diff: JSON.parse(row.diff) as unknown }))
    },

    addSilence(input, at = clock.now()) {
      const matcher = (input.matcher ?? {}) as Record<string, unknown>
      const unknown = Object.keys(matcher).filter((k) => k !== 'sensor' && k !== 'segment' && k !== 'rule')
      if (unknown.length > 0) throw new AppError('CW_ERR_SILENCE_INVALID', [`unknown matcher field ${unknown.join(', ')}`], [{ path: 'matcher' }])
      for (const [key, value] of Object.entries(matcher)) {
        if (value !== undefined && (typeof value !== 'string' || value === '')) {
          throw new AppError('CW_ERR_SILENCE_INVALID', [`matcher.${key} must be a non-empty string`], [{ path: `matcher.${key}` }])
        }
      }
      const { sensor, segment, rule } = matcher as SilenceMatcher
      if (sensor === undefined && segment === undefined && rule === undefined) {
        throw new AppError('CW_ERR_SILENCE_INVALID', ['matcher needs sensor, segment or rule'], [{ path: 'matcher' }])
      }
      const startsAt = input.startsAt === undefined ? at : silenceTime(input.startsAt, 'startsAt')
      const endsAt = silenceTime(input.endsAt, 'endsAt')
      if (endsAt <= Math.max(startsAt, at)) throw new AppError('CW_ERR_SILENCE_INVALID', ['endsAt must be after startsAt and in the future'], [{ path: 'endsAt' }])
      if (typeof input.createdBy !== 'string' || input.createdBy === '') throw new AppError('CW_ERR_SILENCE_INVALID', ['createdBy must be a non-empty string'], [{ path: 'createdBy' }])
      if (typeof input.comment !== 'string') throw new AppError('CW_ERR_SILENCE_INVALID', ['comment must be a string'], [{ path: 'comment' }])
      return durably(() => {
        let id = randomId('s')
        while (s.silenceById.get(id) !== undefined) id = randomId('s')
        s.insertSilence.run({ id, sensor: sensor ?? null, segment: segment ?? null, rule: rule ?? null, startsAt, endsAt, at, createdBy: input.createdBy, comment: input.comment })
        return toSilence(s.silenceById.get(id) as SilenceRow)
      })
    },

    listSilences(filter = {}) {
      return s.listSilences.all({ activeAt: filter.activeAt ?? null, includeRemoved: filter.includeRemoved === true ? 1 : 0 }).map(toSilence)
    },

    removeSilence(id, who, at = clock.now()) {
      return durably(() => {
        if (s.removeSilence.run(at, who, id).changes === 0) throw new AppError('CW_ERR_SILENCE_NOT_FOUND', [id], [{ id }])
        return toSilence(s.silenceById.get(id) as SilenceRow)
      })
    },

    isSilenced(alert, at = clock.now()) {
      return s.matchSilence.get({ at, subject: alert.subject, segment: alert.segment, rule: alert.rule }) !== undefined
    },

    enqueueOutbox(message, at = clock.now()) {
      return Number(s.insertOutbox.run(message.target, message.body, JSON.stringify(message.headers), at, at).lastInsertRowid)
    },

    dueOutbox(at = clock.now(), limit = 100) {
      return s.dueOutbox.all(at, limit).map(toOutboxItem)
    },

    outboxDelivered(id, at = clock.now()) {
      return s.outboxDelivered.run(at, id).changes > 0
    },

    outboxFailed(id, at, error, nextAttemptAt) {
      const row = s.outboxFailed.get({ id, at, error, next: nextAttemptAt, max: maxAttempts })
      return row === undefined ? undefined : { attempts: row.attempts, dead: row.status === 'dead' }
    },

    outboxCounts() {
      return s.outboxCounts.get() ?? { pending: 0, dead: 0 }
    },

    appendEvent(seq, frame, meta = {}) {
      db.transaction(() => {
        s.upsertEvent.run(seq, frame, meta.district ?? null, meta.sensor ?? null)
        s.trimEvents.run(eventLogSize - 1)
      })()
    },

    eventsSince(seq) {
      return s.eventsSince.all(seq).map((row) => {
        const event: StoredEvent = { seq: row.seq, frame: row.frame }
        if (row.district !== null) event.district = row.district
        if (row.sensor !== null) event.sensor = row.sensor
        return event
      })
    },

    noteSeq(seq) {
      s.setMeta.run('seq', String(Math.max(seq, store.lastSeq())))
    },

    lastSeq() {
      const noted = Number(s.getMeta.get('seq') ?? 0)
      return Math.max(s.maxEventSeq.get() ?? 0, noted)
    },

    prune(at = clock.now()) {
      prune(at)
    },

    close() {
      if (closed) return
      closed = true
      db.close()
    },
  }

  prune(clock.now())
  return store
}
