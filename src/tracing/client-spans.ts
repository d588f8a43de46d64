/**
 * One CLIENT span per upstream call, child of the request's SERVER span, by OpenTelemetry's
 * stable HTTP client conventions (https://opentelemetry.io/docs/specs/semconv/http/http-spans/#http-client):
 * name `{method}`, the upstream's address and port, `url.full` with every query value replaced
 * by `REDACTED` (a query may carry a token: its names stay, its values never leave), the status,
 * and `error.type` on failure. The `traceparent` the upstream receives is this span's context.
 * The span ends when the answer has been passed on whole or has failed (the hop's events), or
 * when the client leaves: a span ends once, so the first of them decides.
 */
import type { ServerResponse } from 'node:http'
import { UnsampledTrace, type Tracing } from './create.js'
import { setMethodAttributes } from './http-method.js'
import type { SampledSpan, SpanAttributes } from './sampled-span.js'

/** The hop's events the span follows (proxy/forward.ts `HopEvents`). */
export interface FollowedEvents {
  responseStarted (): void
  failedBeforeResponse (error: Error): void
  failedDuringResponse (error: Error): void
  completed?: () => void
}

export interface UpstreamCall {
  method: string
  /** Path and raw query sent upstream. */
  path: string
  headers: Record<string, string | string[] | undefined>
}

export interface UpstreamTarget {
  origin: string
  address: string
  port: number
}

/** The upstream's origin, address and port, once per route. */
export function upstreamTarget (upstream: string): UpstreamTarget {
  const url = new URL(upstream)
  const port = url.port !== '' ? Number(url.port) : url.protocol === 'https:' ? 443 : 80
  return { origin: url.origin, address: url.hostname.replace(/^\[|\]$/g, ''), port }
}

/**
 * Starts the call's span under `parent`, writes its `traceparent` into `call.headers` and returns
 * `events` wrapped to end it. For a request not sampled only the `traceparent` is written.
 */
export function traceUpstreamCall<E extends FollowedEvents> (tracing: Tracing, parent: SampledSpan | UnsampledTrace | undefined, target: UpstreamTarget,
  call: UpstreamCall, res: ServerResponse, events: E): E {
  // No parent, or no call: the client already left, so forward.ts sends nothing upstream.
  if (parent === undefined || res.destroyed) return events
  if (parent instanceof UnsampledTrace) {
    tracing.propagateUnsampled(parent, call.headers)
    return events
  }
  const attributes: SpanAttributes = {
    'server.address': target.address,
    'server.port': target.port,
    'url.full': target.origin + redactQuery(call.path)
  }
  const span = tracing.startClientSpan(parent, setMethodAttributes(attributes, call.method), attributes)
  tracing.propagate(span, call.headers)
  const end = (errorType?: string): void => {
    if (span.ended) return
    if (errorType !== undefined) {
      span.setAttribute('error.type', errorType)
      span.fail()
    }
    span.end()
  }
  // The client leaving is seen on the response's 'close' itself, ahead of every other listener:
  // the server span ends on that event, and the hop's own report of it comes from a listener
  // added after the server span's, so a child span ended there would outlast its parent.
  res.prependListener('close', () => { end('client_closed') })
  // Every other end is the hop's to report (forward.ts): each comes before the 'close'.
  return {
    ...events,
    responseStarted () {
      const status = res.statusCode
      span.setAttribute('http.response.status_code', status)
      // Client spans: a 4xx or 5xx answer is an error (semantic conventions, status).
      if (status >= 400) {
        span.setAttribute('error.type', String(status))
        span.fail()
      }
      events.responseStarted()
    },
    failedBeforeResponse (error) {
      end(errorType(error))
      events.failedBeforeResponse(error)
    },
    failedDuringResponse (error) {
      end(errorType(error))
      events.failedDuringResponse(error)
    },
    completed () {
      end()
      events.completed?.()
    }
  }
}

/** A low-cardinality name for a failure: undici's error code, else the error's class. */
function errorType (error: Error): string {
  const code = (error as { code?: unknown }).code
  return typeof code === 'string' ? code : error.name
}

function redactQuery (path: string): string {
  const start = path.indexOf('?')
  if (start === -1) return path
  const query = path.slice(start + 1).split('&').map((pair) => {
    const equals = pair.indexOf('=')
    return equals === -1 ? pair : `${pair.slice(0, equals)}=REDACTED`
  })
  return `${path.slice(0, start)}?${query.join('&')}`
}
