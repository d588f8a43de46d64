/**
 * OTLP/HTTP export in protobuf (https://opentelemetry.io/docs/specs/otlp/#otlphttp): ended spans
 * are encoded straight into the pending batch; the batch is POSTed to `${endpoint}/v1/traces`
 * once it holds BATCH_BYTES, or DELAY_MS after its first span. One export is in flight at a
 * time; while it is, spans keep collecting, up to MAX_PENDING_BYTES, past which they are dropped
 * (and that is logged): a slow collector costs traces, never memory or latency. A failure the
 * OTLP spec calls retryable (429, 502, 503, 504, or the connection lost) is retried once.
 *
 * Why not the SDK's TracerProvider, BatchSpanProcessor and OTLP exporter: each sampled request
 * cost ~230,000 instructions through them (span objects kept until the batch is sent, then an
 * object tree per attribute), enough to take ~10 % off the gateway's throughput at
 * `sampleRatio: 0.1` (bench/README.md, "Tracing cost").
 */
import http from 'node:http'
import https from 'node:https'
import { createLogThrottle } from '../observability/log-throttle.js'
import { ProtobufWriter, Wire, varintSize } from './protobuf-writer.js'
import { writeAttributes, writeSpan, type SampledSpan, type SpanSink } from './sampled-span.js'

const BATCH_BYTES = 256 * 1024
const MAX_PENDING_BYTES = 4 * 1024 * 1024
const LAST_SPAN_ROOM = 64 * 1024
const DELAY_MS = 2000
/** The whole export, connection to the answer's last byte. */
const TIMEOUT_MS = 10_000
/** One retry of a failure the spec calls retryable, after Retry-After (capped) or this. */
const RETRY_DELAY_MS = 1000
const MAX_RETRY_DELAY_MS = 5000
const RETRYABLE_STATUS = new Set([429, 502, 503, 504])

export interface OtlpHttpExporterOptions {
  /** `${endpoint}/v1/traces`. */
  url: string
  serviceName: string
  logger: { warn (fields: object, message: string): void }
  /** The deadline of one export (default TIMEOUT_MS). */
  timeoutMs?: number
}

export class OtlpHttpExporter implements SpanSink {
  // Spans stop being added at MAX_PENDING_BYTES: the buffer need not double past it for the last one.
  private batch = new ProtobufWriter(BATCH_BYTES, MAX_PENDING_BYTES + LAST_SPAN_ROOM)
  private spans = 0
  private dropped = 0
  private timer: NodeJS.Timeout | undefined
  private inFlight: Promise<void> | undefined
  private closed = false
  private readonly url: URL
  private readonly transport: typeof http | typeof https
  private readonly agent: http.Agent
  /** ExportTraceServiceRequest's fields up to its spans: the resource, then the scope. */
  private readonly resource: Buffer
  private readonly scope: Buffer
  private readonly shouldLog = createLogThrottle(30_000)

  constructor (private readonly options: OtlpHttpExporterOptions) {
    this.url = new URL(options.url)
    this.transport = this.url.protocol === 'https:' ? https : http
    this.agent = new this.transport.Agent({ keepAlive: true, maxSockets: 1 })
    const resource = new ProtobufWriter(256)
    writeAttributes(resource, 1, { 'service.name': options.serviceName })
    this.resource = resource.take(0)
    const scope = new ProtobufWriter(64)
    scope.string(1, 'bookme-gateway')
    this.scope = scope.take(0)
  }

  record (span: SampledSpan, endMs: number): void {
    if (this.closed) return
    if (this.batch.position >= MAX_PENDING_BYTES) {
      this.dropped++
      return
    }
    // ScopeSpans.spans is field 2.
    writeSpan(this.batch, 2, span, endMs)
    this.spans++
    if (this.batch.position >= BATCH_BYTES) this.send()
    else this.schedule()
  }

  /** Sends what is pending now; resolves once that (and any export before it) has succeeded or failed. */
  async flush (): Promise<void> {
    while (this.inFlight !== undefined) await this.inFlight
    if (this.spans > 0) this.send()
    while (this.inFlight !== undefined) await this.inFlight
  }

  async close (): Promise<void> {
    // Closed first: a span that ends while the last export is in flight is not left behind.
    this.closed = true
    await this.flush()
    clearTimeout(this.timer)
    this.agent.destroy()
  }

  /** Sends the pending batch DELAY_MS after its first span, unless something sends it sooner. */
  private schedule (): void {
    this.timer ??= setTimeout(() => { this.send() }, DELAY_MS).unref()
  }

  /** Starts the export of the pending batch, unless one is in flight (which sends the rest when done). */
  private send (): void {
    clearTimeout(this.timer)
    this.timer = undefined
    if (this.inFlight !== undefined || this.spans === 0) return
    const spans = this.spans
    const body = this.request(this.batch.take(BATCH_BYTES))
    this.spans = 0
    // Counted until a line says how many: a throttled line does not lose the count.
    if (this.dropped > 0 && this.shouldLog('dropped')) {
      this.options.logger.warn({ url: this.options.url, dropped: this.dropped }, 'traces dropped: the collector is not keeping up')
      this.dropped = 0
    }
    this.inFlight = this.postWithRetry(body).then((failure) => {
      if (failure !== undefined && this.shouldLog('failed')) {
        this.options.logger.warn({ url: this.options.url, spans, status: failure.status, err: failure.err }, 'traces could not be exported')
      }
    }).catch(() => {
      // post() resolves every outcome; nothing to report here.
    }).finally(() => {
      this.inFlight = undefined
      if (this.batch.position >= BATCH_BYTES) this.send()
      else if (this.spans > 0) this.schedule()
    })
  }

  /** ExportTraceServiceRequest { resource_spans: [{ resource, scope_spans: [{ scope, spans }] }] } around the encoded spans. */
  private request (spans: Buffer): Buffer[] {
    const scopeSpansLength = 1 + varintSize(this.scope.length) + this.scope.length + spans.length
    const resourceSpansLength = 1 + varintSize(this.resource.length) + this.resource.length + 1 + varintSize(scopeSpansLength) + scopeSpansLength
    const head = new ProtobufWriter(64)
    head.tag(1, Wire.LEN)
    head.varint(resourceSpansLength)
    head.bytes(1, this.resource)
    head.tag(2, Wire.LEN)
    head.varint(scopeSpansLength)
    head.bytes(1, this.scope)
    return [head.take(0), spans]
  }

  private async postWithRetry (body: Buffer[]): Promise<ExportFailure | undefined> {
    const failure = await this.post(body)
    if (failure === undefined || this.closed || !failure.retryable) return failure
    await new Promise((resolve) => setTimeout(resolve, failure.retryAfterMs ?? RETRY_DELAY_MS).unref())
    return await this.post(body)
  }

  private async post (body: Buffer[]): Promise<ExportFailure | undefined> {
    const length = body[0]!.length + body[1]!.length
    return await new Promise((resolve) => {
      const request = this.transport.request(this.url, {
        method: 'POST',
        agent: this.agent,
        headers: { 'content-type': 'application/x-protobuf', 'content-length': length }
      }, (response) => {
        response.resume()
        response.on('end', () => {
          const status = response.statusCode ?? 0
          if (status >= 200 && status < 300) resolve(undefined)
          else resolve({ status, retryable: RETRYABLE_STATUS.has(status), retryAfterMs: retryAfterMs(response.headers['retry-after']) })
        })
        response.on('error', (err) => { resolve({ err, retryable: true }) })
      })
      // A deadline for the whole export: a collector that trickles its answer holds no batch for long.
      const timeoutMs = this.options.timeoutMs ?? TIMEOUT_MS
      const deadline = setTimeout(() => { request.destroy(new Error(`no answer within ${timeoutMs} ms`)) }, timeoutMs).unref()
      request.on('close', () => { clearTimeout(deadline) })
      request.on('error', (err) => { resolve({ err, retryable: true }) })
      request.write(body[0])
      request.end(body[1])
    })
  }
}

interface ExportFailure {
  status?: number
  err?: Error
  retryable: boolean
  retryAfterMs?: number | undefined
}

/** `Retry-After` in seconds (the HTTP-date form is not used by collectors), capped. */
function retryAfterMs (header: string | undefined): number | undefined {
  const seconds = Number(header)
  return header === undefined || !Number.isFinite(seconds) || seconds < 0 ? undefined : Math.min(seconds * 1000, MAX_RETRY_DELAY_MS)
}
