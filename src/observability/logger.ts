/**
 * Anything that could hold a credential is censored wherever it appears in a log object,
 * as a second line of defence: the request log itself never includes headers or query strings.
 */
import { pino, type Logger, type DestinationStream } from 'pino'
import { LogController, type FastifyBaseLogger } from 'fastify'
import type { DecisionFacts } from '../access/index.js'

const REDACT_PATHS = [
  'authorization', '*.authorization', '*.*.authorization',
  'cookie', '*.cookie', '*.*.cookie',
  'token', '*.token', 'password', '*.password', '*.*.password',
  'headers', '*.headers'
]

/** Logs are flushed at least this often when the destination buffers. */
const FLUSH_INTERVAL_MS = 1000
/**
 * Lines are handed to stdout in batches of about this many characters. 32 KiB rather than 8:
 * a quarter of the writes (each a hand-over to libuv's pool and a callback back) took a request
 * line from 3.7 to 2.6 µs of CPU, of which system time 1.2 to 0.6 (bench/README.md, "Everything
 * on: where the cost is"); 64 KiB saved little more. Half a default pipe buffer, so a batch
 * still fits in one when stdout is a pipe.
 */
const BATCH_CHARS = 32_768

/**
 * The process logger. Without a destination it writes to stdout in batches of ~32 KiB through an
 * asynchronous sonic-boom, flushed every second and on shutdown: one synchronous write per
 * request line was a tenth of the gateway's CPU under load.
 */
export function createLogger ({ level = 'info', destination }: { level?: string, destination?: DestinationStream } = {}): Logger {
  const options = { level, redact: { paths: REDACT_PATHS, censor: '[redacted]' }, base: { service: 'bookme-gateway' } }
  if (destination) return pino(options, destination)
  const stdout = batchedLines(pino.destination({ dest: 1, sync: false }))
  setInterval(() => { stdout.flush() }, FLUSH_INTERVAL_MS).unref()
  process.once('exit', () => {
    try { stdout.flushSync() } catch { /* stdout already closed: nothing can be written */ }
  })
  return pino(options, stdout)
}

interface LineSink { write (text: string): unknown, flushSync (): void }

/**
 * Lines gathered in an array and joined once per batch. sonic-boom's own buffering measures the
 * UTF-8 length of everything it holds on every write: ~3 µs a line, against ~0.6 µs this way
 * (bench: 300,000 request lines to /dev/null). Every line goes through the same batch, so their
 * order is kept.
 */
function batchedLines (sink: LineSink): DestinationStream & { flush: (callback?: (error?: Error) => void) => void, flushSync: () => void } {
  let pending: string[] = []
  let chars = 0
  const handOver = (): void => {
    if (pending.length === 0) return
    const text = pending.join('')
    pending = []
    chars = 0
    sink.write(text)
  }
  return {
    write (line: string) {
      pending.push(line)
      chars += line.length
      if (chars >= BATCH_CHARS) handOver()
    },
    flush (callback) { handOver(); callback?.() },
    flushSync () { handOver(); sink.flushSync() }
  }
}

/** Writes what is buffered before the process exits (a no-op for synchronous destinations). */
export function flushLogger (logger: Logger): void {
  const stream = (logger as unknown as Record<symbol, unknown>)[pino.symbols.streamSym] as { flushSync?: () => void } | undefined
  try { stream?.flushSync?.() } catch { /* nothing buffered, or the stream is already closed */ }
}

export interface AccessLogLine {
  requestId: string
  method: string
  path: string
  route: string
  status: number
  durationMs: number
  /** The request's trace (CONTRACT.md §14); absent when tracing is off. 32 hex digits, no escaping. */
  traceId?: string | undefined
  /** The decision log (CONTRACT.md §14): allow, deny (any problem answer) or report. */
  decision: 'allow' | 'deny' | 'report'
  /** The problem code; absent when allowed. */
  code?: string | undefined
  /** What the access decision verified or resolved before it ended; null where none was asked. */
  facts?: DecisionFacts | null | undefined
}

/** The facts in a fixed order; their values come from verified tokens and mappings, so they are escaped. */
const FACT_NAMES = ['api', 'tenantId', 'bankId', 'principalType', 'principalId', 'clientId', 'kid', 'tokenCache'] as const

/** Printable ASCII but `"` and `\`: a string JSON writes as it is, between quotes (RFC 8259 §7). */
const PLAIN_JSON_STRING = /^[\x20\x21\x23-\x5b\x5d-\x7e]*$/

function factsJson (facts: DecisionFacts): string {
  let json = ''
  for (const name of FACT_NAMES) {
    const value = facts[name]
    if (value === undefined) continue
    // GUIDs, bank ids and kids are plain: quoted without JSON.stringify, the line's dearest call.
    json += typeof value === 'string' && PLAIN_JSON_STRING.test(value) ? `,"${name}":"${value}"` : `,"${name}":${JSON.stringify(value)}`
  }
  return json
}

/**
 * The one line per request, written straight to the logger's destination in pino's shape.
 * Its fields are a fixed set that never holds a header or a query string, so it skips the
 * redaction pass (a tenth of the request-line cost) without weakening it.
 */
export type AccessLog = (line: AccessLogLine) => void

export function createAccessLog (logger: Logger, { allowedSampleRatio = 1 }: { allowedSampleRatio?: number } = {}): AccessLog {
  const stream = (logger as unknown as Record<symbol, unknown>)[pino.symbols.streamSym] as { write: (text: string) => void }
  return function writeAccessLog (line) {
    if (!logger.isLevelEnabled('info')) return
    // `log.allowedSampleRatio` (§14): allowed lines sampled, refusals and reports always written.
    if (line.decision === 'allow' && allowedSampleRatio < 1 && !(Math.random() < allowedSampleRatio)) return
    const facts = line.facts == null ? '' : factsJson(line.facts)
    // requestId ([A-Za-z0-9._-] or a UUID), method (an HTTP token) and route (a config name or
    // a fixed label) need no JSON escaping; the path does.
    stream.write(`{"level":30,"time":${Date.now()},"service":"bookme-gateway","requestId":"${line.requestId}","method":"${line.method}","path":${JSON.stringify(line.path)},"route":"${line.route}","decision":"${line.decision}"${line.code === undefined ? '' : `,"code":"${line.code}"`}${facts},"status":${line.status},"durationMs":${line.durationMs}${line.traceId === undefined ? '' : `,"traceId":"${line.traceId}"`},"msg":"request"}\n`)
  }
}

/**
 * Fastify's own per-request lines off (observability.ts writes the one line per request), and
 * no child logger per request: request-scoped lines carry `requestId` themselves.
 */
export function fastifyLogOptions (logger: Logger): { loggerInstance: FastifyBaseLogger, logController: LogController, childLoggerFactory: (parent: FastifyBaseLogger) => FastifyBaseLogger } {
  return {
    loggerInstance: logger as FastifyBaseLogger,
    logController: new LogController({ disableRequestLogging: true }),
    childLoggerFactory: function sameLogger (parent) { return parent }
  }
}
