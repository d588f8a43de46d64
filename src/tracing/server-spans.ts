/**
 * One SERVER span per sampled request (one not sampled gets only its trace id: create.ts), named
 * and attributed by OpenTelemetry's stable HTTP semantic conventions
 * (https://opentelemetry.io/docs/specs/semconv/http/http-spans/#http-server): name
 * `{method} {http.route}` — the configured route's prefix, or the gateway's own path — or only
 * `{method}` when no route matched. The gateway's own attributes are `bookme.*`: the route, the
 * decision, the refusal code and the bank, never a token or a user name. The span ends on the
 * response's 'close', which comes once per response, answered or abandoned.
 */
import fp from 'fastify-plugin'
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import type { RouteConfig } from '../config/schema.js'
import { isGatewayError } from '../errors.js'
import { pathOf } from '../http/index.js'
import { UnsampledTrace, type Tracing } from './create.js'
import { setMethodAttributes } from './http-method.js'
import { SampledSpan, type SpanAttributes } from './sampled-span.js'

declare module 'fastify' {
  interface FastifyRequest {
    /**
     * The request's SERVER span when it is sampled; when not, its trace alone (no span is made
     * for it). Only present when tracing is on.
     */
    traceSpan?: SampledSpan | UnsampledTrace
    /** Its trace id, for the request's log line; only present when tracing is on. */
    traceId?: string
  }
}

/** The problem code a request was answered with, by its span (rare: only problem answers). */
const codes = new WeakMap<SampledSpan, string>()

export interface ServerSpanOptions {
  tracing: Tracing
  routes: readonly Pick<RouteConfig, 'name' | 'prefix'>[]
}

async function serverSpans (app: FastifyInstance, { tracing, routes }: ServerSpanOptions): Promise<void> {
  const prefixes = new Map(routes.map((route) => [route.name, route.prefix]))
  // Declared up front, so every request has the same shape from its construction.
  app.decorateRequest('traceSpan', undefined)
  app.decorateRequest('traceId', undefined)

  app.addHook('onRequest', function startServerSpan (request, reply, done) {
    const trace = tracing.sample(request.headers)
    if (trace instanceof UnsampledTrace) {
      request.traceSpan = trace
      request.traceId = trace.traceId
      done()
      return
    }
    // routeOptions is built afresh on every read: once here, for the start and the end.
    const routeOptions = request.routeOptions
    const routeName = routeOptions.config.routeName
    const httpRoute = request.is404 ? undefined : (routeName === undefined ? routeOptions.url : prefixes.get(routeName))
    const bookmeRoute = routeName ?? (request.is404 ? '_unmatched' : '_gateway')
    const attributes: SpanAttributes = {
      'url.path': pathOf(request.url),
      'url.scheme': request.protocol,
      'server.address': request.hostname,
      'client.address': request.ip,
      'network.protocol.version': request.raw.httpVersion
    }
    const method = setMethodAttributes(attributes, request.method)
    if (request.port !== null) attributes['server.port'] = request.port
    if (httpRoute !== undefined) attributes['http.route'] = httpRoute
    const userAgent = request.headers['user-agent']
    if (userAgent !== undefined) attributes['user_agent.original'] = userAgent
    const span = tracing.startServerSpan(httpRoute === undefined ? method : `${method} ${httpRoute}`, trace, attributes)
    request.traceSpan = span
    request.traceId = span.traceId
    // Emitted once per response: `on` spares the once-wrapper and its removal.
    reply.raw.on('close', () => { endServerSpan(request, reply, span, bookmeRoute) })
    done()
  })

  app.addHook('onError', function recordCode (request, _reply, err, done) {
    if (isGatewayError(err) && request.traceSpan instanceof SampledSpan) codes.set(request.traceSpan, err.code)
    done()
  })
}

function endServerSpan (request: FastifyRequest, reply: FastifyReply, span: SampledSpan, route: string): void {
  const status = reply.raw.statusCode
  span.setAttribute('http.response.status_code', status)
  span.setAttribute('bookme.route', route)
  // The decision log's words (CONTRACT.md §14): deny is any problem answer.
  const code = codes.get(span)
  const decision = request.decision
  if (code !== undefined) {
    span.setAttribute('bookme.decision', 'deny')
    span.setAttribute('bookme.code', code)
  } else if (decision?.reported?.length) {
    span.setAttribute('bookme.decision', 'report')
    span.setAttribute('bookme.code', decision.reported[0]!.code)
  } else {
    span.setAttribute('bookme.decision', 'allow')
  }
  if (decision?.bank.activeBankId) span.setAttribute('bookme.bank_id', decision.bank.activeBankId)
  // Server spans: only a 5xx is an error (a 4xx is the client's).
  if (status >= 500) {
    span.setAttribute('error.type', String(status))
    span.fail()
  } else if (!reply.raw.writableFinished) {
    span.setAttribute('error.type', 'client_closed')
  }
  span.end()
}

export default fp(serverSpans, { name: 'tracing', fastify: '5.x' })
