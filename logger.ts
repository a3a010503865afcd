import { pino, type Logger } from 'pino'

/** Options of the root logger. */
export interface LoggerOptions {
  level: string
  /** Pretty-print with pino-pretty; default: when stdout is a terminal. */
  pretty?: boolean
}

/** The root pino logger: JSON lines on stdout, pino-pretty on a terminal. */
export function createLogger(options: LoggerOptions): Logger {
  const pretty = options.pretty ?? process.stdout.isTTY === true
  if (pretty) {
    return pino({ level: options.level, transport: { target: 'pino-pretty', options: { translateTime: 'SYS:standard', ignore: 'pid,hostname' } } })
  }
  return pino({ level: options.level })
}
