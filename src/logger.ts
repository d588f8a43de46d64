import { pino, type Logger, type DestinationStream } from 'pino'
import { LogController, type FastifyBaseLogger } from 'fastify'

/**
 * Anything that could hold a credential is censored wherever it appears in a log object,
 * as a second line of defence: the request log itself never includes headers or query strings.
 */
export const REDACT_PATHS = [
  'authorization', '*.authorization', '*.*.authorization',
  'cookie', '*.cookie', '*.*.cookie',
  'token', '*.token', 'password', '*.password', '*.*.password',
  'headers', '*.headers'
]

export function createLogger ({ level = 'info', destination }: { level?: string, destination?: DestinationStream } = {}): Logger {
  const options = { level, redact: { paths: REDACT_PATHS, censor: '[redacted]' }, base: { service: 'bookme-gateway' } }
  return destination ? pino(options, destination) : pino(options)
}

/** Fastify's own per-request lines off: observability.ts writes the one line per request. */
export function fastifyLogOptions (logger: Logger): { loggerInstance: FastifyBaseLogger, logController: LogController } {
  return { loggerInstance: logger as FastifyBaseLogger, logController: new LogController({ disableRequestLogging: true }) }
}
