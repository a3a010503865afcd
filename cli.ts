import { readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { parseArgs } from 'node:util'
import { buildApp, type App } from './app.js'
import { buildConfig, envName, type Config } from './config.js'
import { AppError } from './errors.js'
import { demoScenario } from './simulators/demo-scenario.js'

const USAGE = `citywater: real-time monitoring of a city water network

Usage: citywater <command> [options]

Commands:
  start      start the engine (embedded MQTT broker unless CITYWATER_MQTT_URL is set)
  demo       start the engine and the simulator fleet together
  simulate   publish simulated sensor readings to a broker (citywater simulate --help)
  bench      the benchmark: throughput, latency and memory against InfluxDB alone and a naive baseline
  dlq        list dead letters and replay them after a fix (citywater dlq --help)
  auth       create API tokens and device credentials (arrives with auth; see README)

Configuration comes from CITYWATER_* environment variables (README, "Configuration"),
or --config FILE.json with the same settings in camelCase; the environment wins.
Run 'citywater <command> --help' for a command's options.
`

const START_USAGE = `Usage: citywater start [--config FILE.json]

Starts the engine: MQTT ingest, InfluxDB writer, HTTP API and websocket on
CITYWATER_HTTP_HOST:CITYWATER_HTTP_PORT (default 127.0.0.1:8080).

Options:
  --config FILE   JSON settings in camelCase (mqttUrl, httpPort, ...); environment wins
  --help          this text

Signals: SIGHUP reloads the registry; SIGTERM/SIGINT stop; a second signal exits at once.
`

const DEMO_USAGE = `Usage: citywater demo [--config FILE.json] [--seed N]

Starts the engine and runs the simulator against its embedded broker: first the last
12 hours compressed into 20 seconds, with the storm scenario's rainstorm in them (so
every index has a value and alerts fire and resolve within a minute), then scenario
normal in real time with a six-minute storm of 140 mm/h every half hour, from the
first minute on (its scenario file is written to the data dir).

Options:
  --config FILE   JSON settings in camelCase; environment wins
  --seed N        simulator seed (default 1)
  --help          this text
`

/** Prints a one-line error and returns exit status 2 for configuration and registry problems. */
function configFailure(err: unknown): number {
  if (err instanceof AppError && (err.code === 'CW_ERR_CONFIG_INVALID' || err.code === 'CW_ERR_REGISTRY_INVALID' || err.code === 'CW_ERR_RULES_INVALID')) {
    const variable = err.code === 'CW_ERR_RULES_INVALID' ? 'CITYWATER_RULES: ' : err.code === 'CW_ERR_REGISTRY_INVALID' ? 'CITYWATER_REGISTRY: ' : ''
    process.stderr.write(`citywater: ${variable}${err.message}\n`)
    return 2
  }
  throw err
}

/** Checks that the files later parts read exist and parse, naming the variable when not. */
function checkFiles(config: Config): void {
  const files: [keyof Config, string | undefined][] = [['rules', config.rules], ['authFile', config.authFile]]
  for (const [key, path] of files) {
    if (path === undefined) continue
    try {
      JSON.parse(readFileSync(path, 'utf8'))
    } catch (err) {
      throw new AppError('CW_ERR_CONFIG_INVALID', [`${envName(key)} '${path}' cannot be read as JSON (${(err as Error).message})`])
    }
  }
}

function parse(argv: string[], options: Record<string, { type: 'string' | 'boolean' }>): { values: Record<string, string | boolean | undefined> } | number {
  try {
    const { values } = parseArgs({ args: argv, options: { ...options, help: { type: 'boolean' } }, strict: true, allowPositionals: false })
    return { values }
  } catch (err) {
    process.stderr.write(`citywater: ${(err as Error).message}\n`)
    return 2
  }
}

/** Parses options; prints `usage` for --help. Returns an exit status when the command is done. */
function parseOrHelp(argv: string[], options: Record<string, { type: 'string' | 'boolean' }>, usage: string): { values: Record<string, string | boolean | undefined> } | number {
  const args = parse(argv, options)
  if (typeof args === 'number') return args
  if (args.values.help) {
    process.stdout.write(usage)
    return 0
  }
  return args
}

/** Builds config and app; returns an exit status on configuration errors. */
async function boot(configFile: string | undefined): Promise<App | number> {
  let config: Config
  try {
    config = buildConfig(process.env, configFile)
    checkFiles(config)
    return await buildApp(config)
  } catch (err) {
    return configFailure(err)
  }
}

/** Runs until a signal: SIGHUP reloads the registry, the first SIGTERM/SIGINT closes, the second exits. */
function runUntilSignal(app: App, extraClose: () => Promise<void> = async () => {}): Promise<number> {
  const log = app.logger.child({ module: 'cli' })
  return new Promise((resolve) => {
    let stopping = false
    const stop = (signal: string) => {
      if (stopping) {
        log.warn({ signal }, 'second signal, exiting at once')
        process.exit(130)
      }
      stopping = true
      log.info({ signal }, 'shutting down')
      extraClose()
        .then(() => app.close())
        .then(() => resolve(0), (err: unknown) => {
          log.error({ err }, 'shutdown failed')
          resolve(1)
        })
    }
    process.on('SIGTERM', () => stop('SIGTERM'))
    process.on('SIGINT', () => stop('SIGINT'))
    process.on('SIGHUP', () => {
      try {
        app.reloadRegistry()
      } catch (err) {
        log.error({ err: err instanceof AppError ? err.message : err }, 'registry reload failed; keeping the current registry')
      }
    })
  })
}

async function start(argv: string[]): Promise<number> {
  const args = parseOrHelp(argv, { config: { type: 'string' } }, START_USAGE)
  if (typeof args === 'number') return args
  const app = await boot(args.values.config as string | undefined)
  if (typeof app === 'number') return app
  await app.start()
  return runUntilSignal(app)
}

async function demo(argv: string[]): Promise<number> {
  const args = parseOrHelp(argv, { config: { type: 'string' }, seed: { type: 'string' } }, DEMO_USAGE)
  if (typeof args === 'number') return args
  const app = await boot(args.values.config as string | undefined)
  if (typeof app === 'number') return app
  if (app.config.mqttUrl !== undefined) {
    process.stderr.write('citywater: demo runs with the embedded broker; unset CITYWATER_MQTT_URL\n')
    return 2
  }
  await app.start()
  const { runSimulator } = await import('./simulators/run-simulator.js')
  const abort = new AbortController()
  const common = {
    broker: `mqtt://127.0.0.1:${app.mqttPort}`,
    scenario: 'normal',
    seed: Number(args.values.seed ?? 1),
    qos: 1 as const,
    registry: app.registry().registry,
    topicPrefix: app.config.topicPrefix,
    signal: abort.signal,
    logger: app.logger,
  }
  const now = Date.now()
  const sim = (async () => {
    // The last 12 hours first, compressed into DEMO_BACKFILL_S, so every index has a value within a minute; they
    // hold the `storm` scenario's rainstorm (hours 1 to 8), so alerts fire and resolve while the newcomer watches.
    const backfill = await runSimulator({ ...common, scenario: 'storm', start: now - DEMO_BACKFILL_MS, speed: DEMO_BACKFILL_MS / 1000 / DEMO_BACKFILL_S, durationS: DEMO_BACKFILL_S })
    app.logger.info({ published: backfill.published, failed: backfill.failed }, 'demo backfill done, going live')
    // Then real time from where the backfill ended (faster event time would run ahead of the clock: ts_future),
    // with a short storm every half hour; the generated scenario file sits in the data dir for a look.
    const live = join(app.config.dataDir, 'demo-scenario.json')
    writeFileSync(live, `${JSON.stringify(demoScenario(DEMO_LIVE_HOURS), null, 2)}\n`)
    if (!abort.signal.aborted) await runSimulator({ ...common, scenario: live, start: now, speed: 1 })
  })().catch((err: unknown) => app.logger.error({ err }, 'simulator failed'))
  return runUntilSignal(app, async () => {
    abort.abort()
    await sim
  })
}

/** Event time the demo backfills at start, in milliseconds. */
const DEMO_BACKFILL_MS = 12 * 3_600_000
/** Wall-clock seconds the backfill takes. */
const DEMO_BACKFILL_S = 20
/** Hours of live storms the demo plans (it goes on with normal weather after them). */
const DEMO_LIVE_HOURS = 7 * 24

const SUBCOMMANDS: Record<string, (argv: string[]) => Promise<number>> = {
  start,
  demo,
  simulate: async (argv) => (await import('./simulators/simulate-cli.js')).simulateCli(argv),
  dlq: async (argv) => (await import('./ingest/dlq-cli.js')).dlqCli(argv),
  bench: async (argv) => (await import('./bench/bench-cli.js')).benchCli(argv),
}

/** The `citywater` bin. */
export async function main(argv: string[]): Promise<void> {
  const [command, ...rest] = argv
  if (command === undefined || command === '--help' || command === '-h' || command === 'help') {
    process.stdout.write(USAGE)
    process.exitCode = command === undefined ? 1 : 0
    return
  }
  const run = SUBCOMMANDS[command]
  if (run === undefined) {
    const later = ['auth'].includes(command)
    process.stderr.write(later ? `citywater: '${command}' is not available in this version yet (see README, "Status")\n` : `citywater: unknown command '${command}'\n\n${USAGE}`)
    process.exitCode = 2
    return
  }
  const code = await run(rest)
  // Open handles (sockets) must not keep a finished command alive.
  process.exit(code)
}
