/**
 * Traces (CONTRACT.md §14): spans exported over OTLP/HTTP (protobuf) to `${endpoint}/v1/traces`.
 * Each request is sampled once, up front: by its parent's flag when an inbound `traceparent` is
 * trusted (`trustInboundTraceparent`), else by `sampleRatio`. A request not sampled gets no span
 * at all, only a trace id (the trusted parent's, or a new one) and, upstream, a `traceparent`
 * with flags 00, so the services behind keep the decision. A sampled server span continues a
 * trusted inbound trace; otherwise it opens a new trace and links the inbound one, so a client
 * can neither choose our trace ids nor force sampling. Nothing is registered globally.
 */
import type { SpanContext } from '@opentelemetry/api'
import { TraceState, parseTraceParent } from '@opentelemetry/core'
import type { Config } from '../config/schema.js'
import type { CapabilityDeps } from '../observability/capability-deps.js'
import { OtlpHttpExporter } from './otlp-http-exporter.js'
import { SAMPLED, SampledSpan, SpanKind, type SpanAttributes, type SpanStart } from './sampled-span.js'
import { randomSpanId, randomTraceId } from './trace-ids.js'

type Headers = Record<string, string | string[] | undefined>

/** Unix time in ms minus `performance.now()`: a trace's anchor to the wall clock (SpanStart.clockOffsetMs). */
const wallClockOffset = (): number => Date.now() - performance.now()

/** A request not sampled: it gets no span, only a trace id. */
export class UnsampledTrace {
  constructor (
    readonly traceId: string,
    /** The trusted inbound trace goes on (and its `tracestate` with it); else the id is the gateway's own. */
    readonly continued: boolean
  ) {}
}

export interface Tracing {
  /**
   * Samples the request, reading its inbound `traceparent` at most once: a request not sampled
   * gets an UnsampledTrace; a sampled one, its SERVER span's start, continuing or linking the
   * inbound trace as configured.
   */
  sample (inbound: Readonly<Headers>): UnsampledTrace | SpanStart
  /** A sampled request's SERVER span, from the start `sample` decided. */
  startServerSpan (name: string, start: SpanStart, attributes: SpanAttributes): SampledSpan
  /** A CLIENT span, child of `parent`. */
  startClientSpan (parent: SampledSpan, name: string, attributes: SpanAttributes): SampledSpan
  /** Replaces `traceparent` (and drops `tracestate` unless the trace carries one) with `span`'s context. */
  propagate (span: SampledSpan, headers: Headers): void
  /** For a request not sampled: `traceparent` in its trace with a new span id and flags 00. */
  propagateUnsampled (trace: UnsampledTrace, headers: Headers): void
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
  const inboundParent = (inbound: Readonly<Headers>): SpanContext | null => {
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

  /** The trusted inbound trace, going on sampled or not as its parent decided. */
  const continuedTrace = (parent: SpanContext, inbound: Readonly<Headers>): UnsampledTrace | SpanStart => {
    if ((parent.traceFlags & SAMPLED) === 0) return new UnsampledTrace(parent.traceId, true)
    return { traceId: parent.traceId, parentSpanId: parent.spanId, remoteParent: true, traceState: inboundState(inbound), clockOffsetMs: wallClockOffset() }
  }
  /** A sampled request's own new trace, linking the inbound one it does not continue. */
  const newTrace = (linked: SpanContext | null): SpanStart => {
    if (linked === null) return { traceId: randomTraceId(), parentSpanId: '', remoteParent: false, clockOffsetMs: wallClockOffset() }
    const link = { traceId: linked.traceId, spanId: linked.spanId, sampled: (linked.traceFlags & SAMPLED) !== 0 }
    return { traceId: randomTraceId(), parentSpanId: '', remoteParent: false, clockOffsetMs: wallClockOffset(), link }
  }

  return {
    sample (inbound) {
      // Read once, and only where it decides something: a trusted parent decides sampling, an
      // untrusted one is only linked, by a sampled request.
      const parent = trusted ? inboundParent(inbound) : null
      if (parent !== null) return continuedTrace(parent, inbound)
      if (Math.random() >= ratio) return new UnsampledTrace(randomTraceId(), false)
      return newTrace(trusted ? null : inboundParent(inbound))
    },
    startServerSpan (name, start, attributes) {
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
    propagateUnsampled (trace, headers) {
      // The inbound `tracestate` belongs to the inbound trace: it goes on only with that trace.
      const state = trace.continued ? inboundState(headers) : undefined
      headers.traceparent = `00-${trace.traceId}-${randomSpanId()}-00`
      if (state !== undefined) headers.tracestate = state
      // Only when there is one: `delete` turns the object into a slow dictionary.
      else if (headers.tracestate !== undefined) delete headers.tracestate
    },
    flush: async () => { await exporter.flush() },
    close: async () => { await exporter.close() }
  }
}
