/**
 * The proxied routes: one encapsulated scope per configured route, with its streaming body
 * (streaming-body.ts), its access (route-access.ts: decided before the upstream is asked), then
 * its routes — our own for plain HTTP, @fastify/http-proxy's where WebSockets are proxied — whose
 * handler is the gateway's hop (forward.ts) over the route's pool (upstream-pool.ts). Longest
 * prefix wins through the router; matching is case-insensitive (see app.ts).
 */
import { Readable } from 'node:stream'
import fp from 'fastify-plugin'
import httpProxy, { type FastifyHttpProxyOptions } from '@fastify/http-proxy'
import type { Pool } from 'undici'
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import type { Config, RouteConfig } from '../config/schema.js'
import { routeNotFound } from '../errors.js'
import { buildUpstreamHeaders, type HeaderMap } from './upstream-headers.js'
import { classifyUpstreamFailure, failureAnswer, type UpstreamFailure } from './upstream-failure.js'
import { pathOf, querySuffix, rewriteLocationPrefix, upstreamPath } from '../http/index.js'
import { forwardToUpstream, type HopEvents, type UpstreamRequest } from './forward.js'
import { createUpstreamPools } from './upstream-pool.js'
import { registerStreamingBodies } from './streaming-body.js'
import { PROXIED_METHODS } from '../http/index.js'
import { routePatterns } from '../http/index.js'
import type { GatewayHeaders } from '../http/index.js'
import type { GatewayMetrics } from '../observability/metrics.js'
import { addRouteAccess, answerHeadersOf, decorateRouteAccess, type RouteAccessOptions } from './route-access.js'
import { createWebSocketRouteHooks, webSocketProxyOptions } from './websocket-hooks.js'
import type { WebSocketSessions } from './websocket-sessions.js'
import { assertionHeaderName } from '../assertion/index.js'
import { traceUpstreamCall, upstreamTarget, type Tracing } from '../tracing/index.js'

export interface ProxyRoutesOptions extends RouteAccessOptions {
  config: Readonly<Config>
  metrics: GatewayMetrics
  sessions: WebSocketSessions
  /** The gateway's own answer headers (http/response-headers.ts), which the hop writes too. */
  gatewayHeaders: GatewayHeaders
  /** Client spans per upstream call when tracing is on (CONTRACT.md §14). */
  tracing?: Tracing | undefined
}

type ForwardHandler = (request: FastifyRequest, reply: FastifyReply, dest: string) => void

async function proxyRoutes (app: FastifyInstance, options: ProxyRoutesOptions): Promise<void> {
  const { config } = options
  const assertionHeader = assertionHeaderName(config.headers.prefix)
  const pools = createUpstreamPools()
  decorateRouteAccess(app)
  app.addHook('onClose', pools.close)

  for (const route of config.routes) {
    const pool = pools.poolFor(route)
    const forwardAuthorization = route.forwardAuthorization ?? config.headers.forwardAuthorization
    const upstreamHeaders = (request: FastifyRequest, headers: HeaderMap, upgrade = false): HeaderMap =>
      buildUpstreamHeaders(headers, {
        requestId: request.id,
        forwarded: request.forwarded ?? { for: request.ip, proto: request.protocol, host: request.host },
        forwardAuthorization,
        identity: request.decision?.headers,
        assertion: request.assertion,
        assertionHeader,
        upgrade
      })
    const forward = createForwardHandler(route, options, pool, (request) => upstreamHeaders(request, request.headers))
    const webSocket = route.websocket ? createWebSocketRouteHooks(route.name, options) : undefined
    await app.register(async function routeScope (scope) {
      registerStreamingBodies(scope, config.server.bodyLimitBytes)
      if (route.auth !== 'none') addRouteAccess(scope, route, options, webSocket)
      if (webSocket === undefined) {
        registerPrefixRoutes(scope, route, forward)
        return
      }
      // The published types split `websocket` into two unions; the runtime takes a boolean.
      await scope.register(httpProxy, webSocketProxyOptions(route, pool, forward, upstreamHeaders, webSocket) as FastifyHttpProxyOptions & { websocket?: false })
    })
  }
}

/**
 * A plain HTTP route routed by us: the path is already normalized (request-guard.ts), so the
 * upstream path is the rewrite prefix and the rest, with none of http-proxy's per-request
 * re-parsing (three URL objects, a decode and a query re-encoding: 4–5 % of the gateway's CPU).
 */
function registerPrefixRoutes (scope: FastifyInstance, route: RouteConfig, forward: ForwardHandler): void {
  const rewritePrefix = route.rewritePrefix ?? route.prefix
  const handler = function proxyHandler (request: FastifyRequest, reply: FastifyReply): void {
    const dest = upstreamPath(pathOf(request.url), route.prefix, rewritePrefix)
    // The router matched this prefix, so only a path it matched differently could land here.
    if (dest === null) reply.send(routeNotFound())
    else forward(request, reply, dest)
  }
  for (const url of routePatterns(route.prefix)) scope.route({ url, method: [...PROXIED_METHODS], config: { routeName: route.name }, handler })
}

/** The route's handler: the hop (forward.ts) with the route's pool, headers and failure answers. */
function createForwardHandler (route: RouteConfig, { config, metrics, gatewayHeaders, tracing }: ProxyRoutesOptions, pool: Pool,
  headersFor: (request: FastifyRequest) => HeaderMap): ForwardHandler {
  const rewritePrefix = route.rewritePrefix
  const rewriteLocation = rewritePrefix === undefined ? undefined : (location: string) => rewriteLocationPrefix(location, rewritePrefix, route.prefix)

  const recordFailure = (request: FastifyRequest, error: Error): UpstreamFailure => {
    const failure = classifyUpstreamFailure(error)
    if (failure.kind) metrics.upstreamErrors.inc({ route: route.name, kind: failure.kind })
    request.log.warn({ requestId: request.id, route: route.name, kind: failure.kind, code: failure.code }, 'upstream request failed')
    return failure
  }

  const upstreamRequest = (request: FastifyRequest, dest: string): UpstreamRequest => ({
    method: request.raw.method!,
    path: dest + querySuffix(request.raw.url!),
    headers: headersFor(request),
    body: request.body instanceof Readable ? request.body : null,
    timeoutMs: route.timeoutMs
  })
  const hopEvents = (request: FastifyRequest, reply: FastifyReply): HopEvents => ({
    rewriteLocation,
    ownHeaders () { return answerHeadersOf(request, gatewayHeaders) },
    // Only now: if writing the head failed, Fastify must still be able to send the 502.
    responseStarted () { reply.hijack() },
    failedBeforeResponse (error) {
      reply.send(failureAnswer(recordFailure(request, error).code, config.server.bodyLimitBytes))
    },
    failedDuringResponse (error) { recordFailure(request, error) }
  })

  if (tracing === undefined) {
    return function forward (request, reply, dest) {
      forwardToUpstream(pool, request.raw, reply.raw, upstreamRequest(request, dest), hopEvents(request, reply))
    }
  }
  const target = upstreamTarget(route.upstream)
  return function tracedForward (request, reply, dest) {
    const upstream = upstreamRequest(request, dest)
    const events = traceUpstreamCall(tracing, request.traceSpan, target, upstream, reply.raw, hopEvents(request, reply))
    forwardToUpstream(pool, request.raw, reply.raw, upstream, events)
  }
}

export default fp(proxyRoutes, { name: 'proxy-routes', fastify: '5.x', dependencies: ['request-guard'], encapsulate: true })
