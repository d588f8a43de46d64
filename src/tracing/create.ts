/**
 * Traces (CONTRACT.md §14): a tracer provider exporting over OTLP/HTTP (JSON) to
 * `${endpoint}/v1/traces` through a batch processor. Each request is sampled once, up front: by
 * its parent's flag when an inbound `traceparent` is trusted (`trustInboundTraceparent`), else by
 * `sampleRatio`. A request not sampled gets no span at all, only a trace id (the trusted parent's,
 * or a new one) and, upstream, a `traceparent` with flags 00, so the services behind keep the
 * decision; the SDK sees sampled requests alone. A sampled server span continues a trusted
 * inbound trace; otherwise it opens a new trace and links the inbound one, so a client can neither
 * choose our trace ids nor force sampling.
 * Nothing is registered globally: the provider, its context and its propagator stay in here.
 */
import { ROOT_CONTEXT, SpanKind, TraceFlags, defaultTextMapGetter, defaultTextMapSetter, trace, type Attributes, type Link, type Span, type SpanContext } from '@opentelemetry/api'
import { ExportResultCode, TraceState, W3CTraceContextPropagator, parseTraceParent } from '@opentelemetry/core'
import { resourceFromAttributes } from '@opentelemetry/resources'
import { AlwaysOnSampler, BatchSpanProcessor, TracerProvider, type SpanExporter } from '@opentelemetry/sdk-trace'
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-http'
import type { Config } from '../config/schema.js'
import type { CapabilityDeps } from '../observability/capability-deps.js'
import { createLogThrottle } from '../observability/log-throttle.js'
import { randomSpanId, randomTraceId, traceIds } from './trace-ids.js'

type Headers = Record<string, string | string[] | undefined>

export interface Tracing {
  /** The request's trace id when it is not sampled (then it gets no span), else undefined. */
  unsampledTraceId (inbound: Readonly<Headers>): string | undefined
  /** A sampled request's SERVER span, continuing or linking the inbound `traceparent` as configured. */
  startServerSpan (name: string, inbound: Readonly<Headers>, attributes: Attributes): Span
  /** A CLIENT span, child of `parent`. */
  startClientSpan (parent: Span, name: string, attributes: Attributes): Span
  /** Replaces `traceparent` (and drops `tracestate` unless the span carries one) with `span`'s context. */
  propagate (span: Span, headers: Headers): void
  /** For a request not sampled: `traceparent` in `traceId` with a new span id and flags 00. */
  propagateUnsampled (traceId: string, headers: Headers): void
  /** Exports what is queued now; resolves once the export has succeeded or failed. */
  flush (): Promise<void>
  /** Flushes, then stops exporting. */
  close (): Promise<void>
}

export interface TracingOptions {
  /** Replaces the OTLP/HTTP exporter (tests of the sampling without a receiver). */
  exporter?: SpanExporter
}

export function createTracing (config: Readonly<Config>, { logger }: Pick<CapabilityDeps, 'logger'>, options: TracingOptions = {}): Tracing | undefined {
  const settings = config.tracing
  if (settings === undefined) return undefined
  const ratio = settings.sampleRatio
  const url = `${settings.endpoint.replace(/\/+$/, '')}/v1/traces`
  const exporter = loggingFailures(options.exporter ?? new OTLPTraceExporter({ url }), url, logger)
  const provider = new TracerProvider({
    resource: resourceFromAttributes({ 'service.name': settings.serviceName }),
    // The decision is taken before any span (unsampledTraceId): the SDK records what it is given.
    sampler: new AlwaysOnSampler(),
    idGenerator: traceIds,
    spanProcessors: [new BatchSpanProcessor({ exporter })]
  })
  const tracer = provider.getTracer('bookme-gateway')
  const propagator = new W3CTraceContextPropagator()
  const trusted = settings.trustInboundTraceparent

  /** The inbound parent when it is trusted and valid. */
  const trustedParent = (inbound: Readonly<Headers>): SpanContext | null => {
    if (!trusted) return null
    const header = inbound.traceparent
    return parseTraceParent(Array.isArray(header) ? header[0] ?? '' : header ?? '')
  }

  return {
    unsampledTraceId (inbound) {
      const parent = trustedParent(inbound)
      if (parent !== null) return (parent.traceFlags & TraceFlags.SAMPLED) === 0 ? parent.traceId : undefined
      // A draw of its own, not the trace id's bits (TraceIdRatioBasedSampler): a sampled span's ids are the SDK's to draw.
      return Math.random() < ratio ? undefined : randomTraceId()
    },
    startServerSpan (name, inbound, attributes) {
      if (inbound.traceparent === undefined) return tracer.startSpan(name, { kind: SpanKind.SERVER, attributes }, ROOT_CONTEXT)
      const extracted = propagator.extract(ROOT_CONTEXT, inbound, defaultTextMapGetter)
      if (trusted) return tracer.startSpan(name, { kind: SpanKind.SERVER, attributes }, extracted)
      const remote = trace.getSpanContext(extracted)
      const links: Link[] = remote === undefined ? [] : [{ context: remote }]
      return tracer.startSpan(name, { kind: SpanKind.SERVER, attributes, links, root: true }, ROOT_CONTEXT)
    },
    startClientSpan (parent, name, attributes) {
      return tracer.startSpan(name, { kind: SpanKind.CLIENT, attributes }, trace.setSpan(ROOT_CONTEXT, parent))
    },
    propagate (span, headers) {
      delete headers.traceparent
      delete headers.tracestate
      propagator.inject(trace.setSpan(ROOT_CONTEXT, span), headers, defaultTextMapSetter)
    },
    propagateUnsampled (traceId, headers) {
      // The inbound `tracestate` belongs to the inbound trace: it goes on only with that trace.
      const continued = trustedParent(headers)?.traceId === traceId
      const state = headers.tracestate
      headers.traceparent = `00-${traceId}-${randomSpanId()}-00`
      if (continued && state !== undefined && state !== '') headers.tracestate = new TraceState(Array.isArray(state) ? state.join(',') : state).serialize()
      else delete headers.tracestate
    },
    async flush () {
      // A failed export is already logged (loggingFailures): flushing only waits for it.
      await provider.forceFlush().catch(() => {})
    },
    async close () {
      try {
        await provider.shutdown()
      } catch (error) {
        logger.warn({ err: error }, 'the last traces could not be exported')
      }
    }
  }
}

/**
 * The SDK reports a failed export only to OpenTelemetry's global diagnostic logger, off unless
 * registered: without this, a wrong endpoint would lose every trace silently. One line per 30 s.
 */
function loggingFailures (exporter: SpanExporter, url: string, logger: CapabilityDeps['logger']): SpanExporter {
  const shouldLog = createLogThrottle(30_000)
  return {
    export (spans, done) {
      exporter.export(spans, (result) => {
        if (result.code !== ExportResultCode.SUCCESS && shouldLog()) {
          logger.warn({ url, spans: spans.length, err: result.error }, 'traces could not be exported')
        }
        done(result)
      })
    },
    shutdown: () => exporter.shutdown(),
    forceFlush: () => exporter.forceFlush?.() ?? Promise.resolve()
  }
}
