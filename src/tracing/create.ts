/**
 * Traces (CONTRACT.md §14): spans exported over OTLP/HTTP (protobuf) to `${endpoint}/v1/traces`.
 * Each request is sampled once, up front: by its parent's flag when an inbound `traceparent` is
 * trusted (`trustInboundTraceparent`), else by `sampleRatio`. A request not sampled gets no span
 * at all, only a trace id (the trusted parent's, or a new one) and, upstream, a `traceparent`
 * with flags 00, so the services behind keep the decision. A sampled server span continues a
 * trusted inbound trace; otherwise it opens a new trace and links the inbound one, so a client
 * can neither choose our trace ids nor force sampling. Nothing is registered globally.
 */
import { TraceState, parseTraceParent } from '@opentelemetry/core'
import type { Config } from '../config/schema.js'
import type { CapabilityDeps } from '../observability/capability-deps.js'
import { OtlpHttpExporter } from './otlp-http-exporter.js'
import { SAMPLED, SampledSpan, SpanKind, type SpanAttributes, type SpanStart } from './sampled-span.js'
import { randomSpanId, randomTraceId } from './trace-ids.js'

type Headers = Record<string, string | string[] | undefined>

export interface Tracing {
  /** The request's trace id when it is not sampled (then it gets no span), else undefined. */
  unsampledTraceId (inbound: Readonly<Headers>): string | undefined
  /** A sampled request's SERVER span, continuing or linking the inbound `traceparent` as configured. */
  startServerSpan (name: string, inbound: Readonly<Headers>, attributes: SpanAttributes): SampledSpan
  /** A CLIENT span, child of `parent`. */
  startClientSpan (parent: SampledSpan, name: string, attributes: SpanAttributes): SampledSpan
  /** Replaces `traceparent` (and drops `tracestate` unless the trace carries one) with `span`'s context. */
  propagate (span: SampledSpan, headers: Headers): void
  /** For a request not sampled: `traceparent` in `traceId` with a new span id and flags 00. */
  propagateUnsampled (traceId: string, headers: Headers): void
  /** Exports what is queued now; resolves once the export has succeeded or failed. */
  flush (): Promise<void>
  /** Flushes, then stops exporting. */
  close (): Promise<void>
}

export function createTracing (config: Readonly<Config>, { logger }: Pick<CapabilityDeps, 'logger'>): Tracing | undefined {
  const settings = config.tracing
  if (settings === undefined) return undefined
  const ratio = settings.sampleRatio
  const exporter = new OtlpHttpExporter({ url: `${settings.endpoint.replace(/\/+$/, '')}/v1/traces`, serviceName: settings.serviceName, logger })
  const trusted = settings.trustInboundTraceparent

  /** The inbound `traceparent`, when valid. */
  const inboundParent = (inbound: Readonly<Headers>): ReturnType<typeof parseTraceParent> => {
    const header = inbound.traceparent
    if (header === undefined) return null
    return parseTraceParent(Array.isArray(header) ? header[0] ?? '' : header)
  }
  /** The inbound `tracestate`, parsed and re-serialised (invalid members dropped). */
  const inboundState = (inbound: Readonly<Headers>): string | undefined => {
    const state = inbound.tracestate
    if (state === undefined || state === '') return undefined
    return new TraceState(Array.isArray(state) ? state.join(',') : state).serialize() || undefined
  }

  return {
    unsampledTraceId (inbound) {
      const parent = trusted ? inboundParent(inbound) : null
      if (parent !== null) return (parent.traceFlags & SAMPLED) === 0 ? parent.traceId : undefined
      return Math.random() < ratio ? undefined : randomTraceId()
    },
    startServerSpan (name, inbound, attributes) {
      const parent = inboundParent(inbound)
      const clockOffsetMs = Date.now() - performance.now()
      let start: SpanStart
      if (parent === null) start = { traceId: randomTraceId(), parentSpanId: '', remoteParent: false, clockOffsetMs }
      else if (trusted) start = { traceId: parent.traceId, parentSpanId: parent.spanId, remoteParent: true, traceState: inboundState(inbound), clockOffsetMs }
      else start = { traceId: randomTraceId(), parentSpanId: '', remoteParent: false, clockOffsetMs, link: { traceId: parent.traceId, spanId: parent.spanId, sampled: (parent.traceFlags & SAMPLED) !== 0 } }
      return new SampledSpan(name, SpanKind.SERVER, start, attributes, exporter)
    },
    startClientSpan (parent, name, attributes) {
      const start = { traceId: parent.traceId, parentSpanId: parent.spanId, remoteParent: false, traceState: parent.start.traceState, clockOffsetMs: parent.start.clockOffsetMs }
      return new SampledSpan(name, SpanKind.CLIENT, start, attributes, exporter)
    },
    propagate (span, headers) {
      headers.traceparent = `00-${span.traceId}-${span.spanId}-01`
      const state = span.start.traceState
      if (state !== undefined) headers.tracestate = state
      else if (headers.tracestate !== undefined) delete headers.tracestate
    },
    propagateUnsampled (traceId, headers) {
      // The inbound `tracestate` belongs to the inbound trace: it goes on only with that trace.
      const continued = trusted && inboundParent(headers)?.traceId === traceId
      const state = continued ? inboundState(headers) : undefined
      headers.traceparent = `00-${traceId}-${randomSpanId()}-00`
      if (state !== undefined) headers.tracestate = state
      // Only when there is one: `delete` turns the object into a slow dictionary.
      else if (headers.tracestate !== undefined) delete headers.tracestate
    },
    flush: async () => { await exporter.flush() },
    close: async () => { await exporter.close() }
  }
}
