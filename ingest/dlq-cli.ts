import { join } from 'node:path'
import { parseArgs } from 'node:util'
import { buildConfig, retentionMs, type Config } from '../config.js'
import { DEAD_LETTER_REASONS, type DeadLetterReason } from '../domain.js'
import { AppError } from '../errors.js'
import { loadRegistry } from '../registry/load-registry.js'
import { indexRegistry, type RegistryIndex } from '../registry/registry-index.js'
import { readDeadLetters, type DeadLetterFilter, type DeadLetterLineProblem, type StoredDeadLetter } from './dead-letter-files.js'
import { replayDeadLetters, type LetterReport, type ReplayReport } from './dead-letter-replay.js'

const FILTER_OPTIONS = `  --reason R         only letters of reason R; repeat for several. One of:
                     ${DEAD_LETTER_REASONS.slice(0, 4).join(', ')},
                     ${DEAD_LETTER_REASONS.slice(4).join(', ')}
  --since TIME       only letters received at or after TIME (RFC 3339 or epoch ms)
  --until TIME       only letters received before TIME (RFC 3339 or epoch ms)
  --topic-prefix P   only letters whose topic starts with P, e.g. city/xihu/ or
                     city/xihu/water_level/`

const COMMON_OPTIONS = `  --json             one JSON object per line: one per letter, then {"summary": {...}}
  --config FILE      JSON settings in camelCase (dataDir, registry, ...); environment wins
  --help             this text`

const LIST_OPTIONS = `${FILTER_OPTIONS}
  --all              also letters already replayed, marked 'replayed'
${COMMON_OPTIONS}`

const REPLAY_OPTIONS = `${FILTER_OPTIONS}
  --dry-run          only the offline check: publish nothing, record nothing
  --broker URL       the engine's broker (default CITYWATER_MQTT_URL when set, else
                     mqtt://CITYWATER_MQTT_HOST:CITYWATER_MQTT_PORT)
  --username U       MQTT username (default none)
  --password P       MQTT password (default none)
  --timeout S        deadline in seconds of the connection and of each PUBACK (default 10)
${COMMON_OPTIONS}`

const LEDGER_NOTE = `Each letter the broker acknowledges (PUBACK) is recorded in
{dataDir}/deadletter/replayed.jsonl and never re-submitted; 'dlq list --all' shows it.`

const REPLAY_EXIT = `Exit status: 0 every letter accepted or reported still rejected; 1 a publish failed
(broker unreachable, no PUBACK in time) or another replay is running; 2 invalid
options, configuration or registry.`

const USAGE = `Usage: citywater dlq list|replay [options]

The dead letters are the messages and readings the engine rejected, with their
reason, in {dataDir}/deadletter/dl-YYYYMMDDTHH.jsonl (CITYWATER_DATA_DIR).

Commands:
  list     print the dead letters, oldest first, and the count per reason
  replay   re-submit them to the running engine, for example after a registry fix,
           and report what happened to each

Options of list:
${LIST_OPTIONS}

Options of replay:
${REPLAY_OPTIONS}

${LEDGER_NOTE}
list exits 0, or 2 on invalid options or configuration.
replay: ${REPLAY_EXIT.replace(/^Exit status: /, '')}
`

const LIST_USAGE = `Usage: citywater dlq list [options]

Prints the dead letters of {dataDir}/deadletter (CITYWATER_DATA_DIR), oldest first:
received time, reason, topic and detail (truncated; --json has everything), then the
count per reason. Malformed lines are reported on stderr and skipped.

Options:
${LIST_OPTIONS}

Exit status: 0; 2 invalid options or configuration.
`

const REPLAY_USAGE = `Usage: citywater dlq replay [options]

Re-submits dead letters to the running engine, for example after a registry fix.
Each matching letter is first checked offline with the engine's ingest pipeline,
against the current registry file (CITYWATER_REGISTRY), prefix and retention:
  accepted   every reading passes: published on its original topic with QoS 1
  partial    some pass: the whole payload is published and the engine dead-letters
             the others again
  rejected   none passes (still an unknown sensor, ts_expired, ...): not published
Reload the engine's registry (SIGHUP) before replaying letters a registry fix cures.
${LEDGER_NOTE}

Options:
${REPLAY_OPTIONS}

${REPLAY_EXIT}
`

/** Where the CLI writes, and the environment it reads; defaults to the process's own. */
export interface DlqCliIo {
  stdout: { write(chunk: string): unknown }
  stderr: { write(chunk: string): unknown }
  env?: NodeJS.ProcessEnv
}

class UsageError extends Error {}

type Values = Record<string, string | boolean | string[] | undefined>

const FILTER_ARGS = {
  reason: { type: 'string', multiple: true },
  since: { type: 'string' },
  until: { type: 'string' },
  'topic-prefix': { type: 'string' },
  json: { type: 'boolean' },
  config: { type: 'string' },
  help: { type: 'boolean', short: 'h' },
} as const

const LIST_ARGS = { ...FILTER_ARGS, all: { type: 'boolean' } } as const

const REPLAY_ARGS = {
  ...FILTER_ARGS,
  'dry-run': { type: 'boolean' },
  broker: { type: 'string' },
  username: { type: 'string' },
  password: { type: 'string' },
  timeout: { type: 'string' },
} as const

function parse(argv: string[], options: typeof LIST_ARGS | typeof REPLAY_ARGS): Values {
  try {
    return parseArgs({ args: argv, options, strict: true, allowPositionals: false }).values as Values
  } catch (err) {
    // parseArgs names the option in its message; keep only its first line.
    throw new UsageError((err as Error).message.split('\n')[0] ?? 'invalid options')
  }
}

const ISO_TIME = /^\d{4}-\d{2}-\d{2}([T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?([Zz]|[+-]\d{2}:?\d{2})?)?$/

function parseTime(option: string, raw: string): number {
  const s = raw.trim()
  const ms = /^\d+$/.test(s) ? Number(s) : ISO_TIME.test(s) ? Date.parse(s) : Number.NaN
  if (!Number.isSafeInteger(ms)) throw new UsageError(`--${option} must be an RFC 3339 time such as 2026-11-27T00:00:00+08:00 or epoch milliseconds, got '${raw}'`)
  return ms
}

function parseFilter(values: Values): DeadLetterFilter {
  const filter: DeadLetterFilter = {}
  const reasons = (values.reason as string[] | undefined) ?? []
  for (const r of reasons) {
    if (!(DEAD_LETTER_REASONS as readonly string[]).includes(r)) throw new UsageError(`--reason must be one of ${DEAD_LETTER_REASONS.join(', ')}, got '${r}'`)
  }
  if (reasons.length > 0) filter.reasons = reasons as DeadLetterReason[]
  if (typeof values.since === 'string') filter.since = parseTime('since', values.since)
  if (typeof values.until === 'string') filter.until = parseTime('until', values.until)
  if (filter.since !== undefined && filter.until !== undefined && filter.since >= filter.until) throw new UsageError('--since must be before --until')
  if (typeof values['topic-prefix'] === 'string') filter.topicPrefix = values['topic-prefix']
  return filter
}

/** The URL of the engine's broker from its configuration: the external one, or the embedded one's address. */
export function engineBrokerUrl(config: Config): string {
  if (config.mqttUrl !== undefined) return config.mqttUrl
  if (config.mqttPort === 0) throw new UsageError('CITYWATER_MQTT_PORT is 0 (any free port): pass --broker mqtt://HOST:PORT with the port the engine logged')
  // A wildcard listen address is reached on loopback.
  const host = config.mqttHost === '0.0.0.0' ? '127.0.0.1' : config.mqttHost === '::' ? '::1' : config.mqttHost
  return `mqtt://${host.includes(':') ? `[${host}]` : host}:${config.mqttPort}`
}

function parseBroker(raw: string): string {
  let url: URL
  try {
    url = new URL(raw)
  } catch {
    throw new UsageError(`--broker must be a URL such as mqtt://127.0.0.1:1883, got '${raw}'`)
  }
  if (!['mqtt:', 'mqtts:', 'ws:', 'wss:'].includes(url.protocol)) throw new UsageError(`--broker must use mqtt://, mqtts://, ws:// or wss://, got '${raw}'`)
  return raw
}

function parseTimeout(raw: string): number {
  const s = Number(raw)
  if (!/^\d+(\.\d+)?$/.test(raw.trim()) || !(s > 0)) throw new UsageError(`--timeout must be a number of seconds > 0, got '${raw}'`)
  return Math.round(s * 1000)
}

const clip = (text: string, width: number): string => (text.length <= width ? text : `${text.slice(0, width - 1)}…`)
/** Collapses white space and escapes control characters, so a detail quoting a binary payload stays one readable line. */
const oneLine = (text: string): string =>
  text.replace(/\s+/g, ' ').replace(/[\u0000-\u001f\u007f]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`)

function reportProblems(io: DlqCliIo, problems: readonly DeadLetterLineProblem[]): void {
  for (const p of problems) io.stderr.write(`citywater dlq: skipped ${p.file} line ${p.line}: ${p.why}\n`)
}

function countByReason(reasons: readonly DeadLetterReason[]): Record<string, number> {
  const counts: Record<string, number> = {}
  for (const r of reasons) counts[r] = (counts[r] ?? 0) + 1
  return counts
}

function list(values: Values, config: Config, io: DlqCliIo): number {
  const filter = parseFilter(values)
  const all = values.all === true
  const scan = readDeadLetters(join(config.dataDir, 'deadletter'), { ...filter, includeReplayed: all })
  reportProblems(io, scan.problems)
  const byReason = countByReason(scan.letters.map((l) => l.record.reason))
  const replayed = scan.letters.filter((l) => l.replayedAt !== undefined).length
  if (values.json === true) {
    for (const l of scan.letters) io.stdout.write(`${JSON.stringify({ file: l.file, line: l.line, ...l.record, ...(l.replayedAt !== undefined ? { replayedAt: l.replayedAt } : {}) })}\n`)
    const summary = { total: scan.letters.length, byReason, ...(all ? { replayed } : { alreadyReplayed: scan.replayedHidden }), malformed: scan.problems.length }
    io.stdout.write(`${JSON.stringify({ summary })}\n`)
    return 0
  }
  if (scan.letters.length > 0) io.stdout.write(table(scan.letters, all))
  const counts = Object.entries(byReason).map(([r, n]) => `${r} ${n}`).join(', ')
  io.stdout.write(`${scan.letters.length} dead letter${scan.letters.length === 1 ? '' : 's'}${counts === '' ? '' : `: ${counts}`}${all && replayed > 0 ? ` (${replayed} replayed)` : ''}\n`)
  if (scan.replayedHidden > 0) io.stdout.write(`${scan.replayedHidden} already replayed, not shown (--all shows them)\n`)
  if (scan.problems.length > 0) io.stdout.write(`${scan.problems.length} malformed line${scan.problems.length === 1 ? '' : 's'} skipped\n`)
  return 0
}

function table(letters: readonly StoredDeadLetter[], all: boolean): string {
  const topicWidth = Math.min(56, Math.max(5, ...letters.map((l) => l.record.topic.length)))
  const reasonWidth = Math.max(6, ...letters.map((l) => l.record.reason.length))
  const row = (cells: string[]): string => `${cells.join('  ').trimEnd()}\n`
  const head = [...(all ? ['STATE   '] : []), 'RECEIVED AT'.padEnd(24), 'REASON'.padEnd(reasonWidth), 'TOPIC'.padEnd(topicWidth), 'DETAIL']
  let out = row(head)
  for (const l of letters) {
    const state = l.replayedAt !== undefined ? 'replayed' : 'pending '
    out += row([...(all ? [state] : []), l.record.receivedAt.padEnd(24), l.record.reason.padEnd(reasonWidth), clip(l.record.topic, topicWidth).padEnd(topicWidth), clip(oneLine(l.record.detail), 72)])
  }
  return out
}

function describeOutcome(l: LetterReport, dryRun: boolean): string {
  const reasons = (rs: LetterReport['rejections']): string => {
    const shown = rs.slice(0, 3).map((r) => `${r.reason} ${oneLine(r.detail)}`).join('; ')
    return rs.length > 3 ? `${shown}; and ${rs.length - 3} more` : shown
  }
  switch (l.outcome) {
    case 'accepted':
      return `accepted (${l.accepted} reading${l.accepted === 1 ? '' : 's'}${dryRun ? ', dry run' : ''})`
    case 'partial':
      return `partial: ${l.accepted} of ${l.total} accepted, others: ${reasons(l.rejections)}${dryRun ? ' (dry run)' : ''}`
    case 'rejected':
      return `rejected: ${l.rejections.length === 0 ? 'no reading to accept' : reasons(l.rejections)}`
    case 'failed':
      return `failed: ${l.error ?? 'not acknowledged'}`
  }
}

function printReplay(report: ReplayReport, json: boolean, io: DlqCliIo): void {
  reportProblems(io, report.problems)
  const s = report.summary
  if (json) {
    for (const l of report.letters) io.stdout.write(`${JSON.stringify(l)}\n`)
    io.stdout.write(`${JSON.stringify({ summary: { dryRun: report.dryRun, ...(report.broker !== undefined ? { broker: report.broker } : {}), ...s } })}\n`)
    return
  }
  for (const l of report.letters) io.stdout.write(`${l.receivedAt} ${l.topic} ${l.reason} -> ${describeOutcome(l, report.dryRun)}\n`)
  if (report.letters.length === 0) io.stdout.write('nothing to replay\n')
  const counts = `accepted ${s.accepted}, partial ${s.partial}, still rejected ${s.rejected}`
  io.stdout.write(report.dryRun ? `dry run of ${s.replayed}: ${counts} (nothing published)\n` : `replayed ${s.replayed}: ${counts}, failed ${s.failed} (publish errors)\n`)
  if (s.alreadyReplayed > 0) io.stdout.write(`${s.alreadyReplayed} already replayed, left out\n`)
  if (s.malformed > 0) io.stdout.write(`${s.malformed} malformed line${s.malformed === 1 ? '' : 's'} skipped\n`)
}

async function replay(values: Values, config: Config, io: DlqCliIo): Promise<number> {
  const filter = parseFilter(values)
  const dryRun = values['dry-run'] === true
  const broker = typeof values.broker === 'string' ? parseBroker(values.broker) : dryRun ? undefined : engineBrokerUrl(config)
  const ackTimeoutMs = typeof values.timeout === 'string' ? parseTimeout(values.timeout) : undefined
  const registry: RegistryIndex = indexRegistry(loadRegistry(config.registry))
  let report: ReplayReport
  try {
    report = await replayDeadLetters({
      dataDir: config.dataDir,
      registry,
      topicPrefix: config.topicPrefix,
      retentionMs: retentionMs(config.influxRetention),
      filter,
      dryRun,
      ...(broker !== undefined ? { broker } : {}),
      ...(typeof values.username === 'string' ? { username: values.username } : {}),
      ...(typeof values.password === 'string' ? { password: values.password } : {}),
      ...(ackTimeoutMs !== undefined ? { ackTimeoutMs } : {}),
    })
  } catch (err) {
    io.stderr.write(`citywater dlq: ${(err as Error).message}\n`)
    return 1
  }
  printReplay(report, values.json === true, io)
  return report.summary.failed > 0 ? 1 : 0
}

/** `citywater dlq list|replay`: parses `argv`, runs the command, prints its report; resolves with the exit status. */
export async function dlqCli(argv: string[], io: DlqCliIo = { stdout: process.stdout, stderr: process.stderr }): Promise<number> {
  const [command, ...rest] = argv
  if (command === '--help' || command === '-h' || command === 'help') {
    io.stdout.write(USAGE)
    return 0
  }
  if (command !== 'list' && command !== 'replay') {
    io.stderr.write(`citywater dlq: ${command === undefined ? 'a command is required' : `unknown command '${command}'`}: list or replay\n\n${USAGE}`)
    return 2
  }
  try {
    const values = parse(rest, command === 'list' ? LIST_ARGS : REPLAY_ARGS)
    if (values.help === true) {
      io.stdout.write(command === 'list' ? LIST_USAGE : REPLAY_USAGE)
      return 0
    }
    const config = buildConfig(io.env ?? process.env, typeof values.config === 'string' ? values.config : undefined)
    return command === 'list' ? list(values, config, io) : await replay(values, config, io)
  } catch (err) {
    if (err instanceof UsageError || (err instanceof AppError && (err.code === 'CW_ERR_CONFIG_INVALID' || err.code === 'CW_ERR_REGISTRY_INVALID'))) {
      io.stderr.write(`citywater dlq: ${err.message}\n`)
      return 2
    }
    // An unreadable dead-letter folder or ledger: say so in one line rather than with a stack.
    io.stderr.write(`citywater dlq: ${(err as Error).message}\n`)
    return 1
  }
}
