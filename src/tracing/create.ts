/**
 * Traces (CONTRACT.md §14): a tracer provider exporting over OTLP/HTTP (JSON) to
 * `${endpoint}/v1/traces` through a batch processor, sampled by trace id ratio. An inbound
 * `traceparent` is the server span's parent only when `trustInboundTraceparent` is set (and the
 * sampler then follows the parent's decision); otherwise the server span opens a new trace and
 * links the inbound one, so a client can neither choose our trace ids nor force sampling.
 * Nothing is registered globally: the provider, its context and its propagator stay in here.
 */
import { ROOT_CONTEXT, SpanKind, defaultTextMapGetter, defaultTextMapSetter, trace, type Attributes, type Link, type Span } from '@opentelemetry/api'
import { ExportResultCode, W3CTraceContextPropagator } from '@opentelemetry/core'
import { resourceFromAttributes } from '@opentelemetry/resources'
import { BatchSpanProcessor, ParentBasedSampler, TraceIdRatioBasedSampler, TracerProvider, type SpanExporter } from '@opentelemetry/sdk-trace'
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-http'
import type { Config } from '../config/schema.js'
import type { CapabilityDeps } from '../observability/capability-deps.js'
import { createLogThrottle } from '../observability/log-throttle.js'

type Headers = Record<string, string | string[] | undefined>

export interface Tracing {
  /** A SERVER span, continuing or linking the inbound `traceparent` as configured. */
  startServerSpan (name: string, inbound: Readonly<Headers>, attributes: Attributes): Span
  /** A CLIENT span, child of `parent`. */
  startClientSpan (parent: Span, name: string, attributes: Attributes): Span
  /** Replaces `traceparent` (and drops `tracestate` unless the span carries one) with `span`'s context. */
  propagate (span: Span, headers: Headers): void
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
  const ratio = new TraceIdRatioBasedSampler(settings.sampleRatio)
  const url = `${settings.endpoint.replace(/\/+$/, '')}/v1/traces`
  const exporter = loggingFailures(options.exporter ?? new OTLPTraceExporter({ url }), url, logger)
  const provider = new TracerProvider({
    resource: resourceFromAttributes({ 'service.name': settings.serviceName }),
    sampler: settings.trustInboundTraceparent ? new ParentBasedSampler({ root: ratio }) : ratio,
    spanProcessors: [new BatchSpanProcessor({ exporter })]
  })
  const tracer = provider.getTracer('bookme-gateway')
  const propagator = new W3CTraceContextPropagator()
  const trusted = settings.trustInboundTraceparent

  return {
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
