import { pipeline, Readable } from 'node:stream'
import httpProxy, { type FastifyHttpProxyOptions } from '@fastify/http-proxy'
import { Pool } from 'undici'
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import type { Config, RouteConfig } from '../config/schema.js'
import type { Resources } from '../resources.js'
import { GatewayError } from '../errors.js'
import { buildUpstreamHeaders, type HeaderMap } from './upstream-headers.js'
import { classifyUpstreamFailure, createBodyLimiter, type UpstreamFailure } from './upstream-failure.js'
import { pathOf, rewriteLocationPrefix, upstreamPath } from '../http/paths.js'
import { forwardToUpstream } from './forward.js'
import { createUpstreamConnector } from './connector.js'
import { PROXIED_METHODS } from '../http/methods.js'
import { routePatterns } from '../http/route-match.js'
import { bearerTokenOf, type Decision } from '../access/decision.js'
import { principalOf, type RoutePolicies, type Verdict } from '../rate-limits/policies.js'
import type { MaybePromise } from '../maybe-promise.js'
import type { RateLimiter } from '../rate-limits/limiter.js'
import { createWebSocketRouteHooks, type WebSocketRouteHooks } from './websocket-hooks.js'
import { refuseUntilReady } from '../observability/health.js'

declare module 'fastify' {
  interface FastifyRequest {
    /** The access decision that let this request through; null on `auth: none` routes. */
    decision: Decision | null
    /** The signed assertion for this route's audience (CONTRACT.md §11), or null. */
    assertion: string | null
  }
}

export interface ProxyRoutesOptions {
  config: Readonly<Config>
  resources: Resources
}

/**
 * One encapsulated scope per configured route: its access decision (CONTRACT.md §3–§6, made
 * before the upstream is asked), then its routes (our own for plain HTTP, @fastify/http-proxy's
 * where WebSockets are proxied). Longest prefix wins through the router; matching is
 * case-insensitive (see app.ts).
 */
export default async function proxyRoutes (app: FastifyInstance, { config, resources }: ProxyRoutesOptions): Promise<void> {
  const { decider, assertion: signer, limiter, health } = resources
  const assertionHeader = `${config.headers.prefix.toLowerCase()}assertion`
  app.decorateRequest('decision', null)
  app.decorateRequest('assertion', null)
  const pools: Pool[] = []
  app.addHook('onClose', async () => { await Promise.all(pools.map((pool) => pool.close())) })

  for (const route of config.routes) {
    const pool = createUpstreamPool(route)
    pools.push(pool)
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
    const forward = createForwardHandler(route, config, resources, pool, (request) => upstreamHeaders(request, request.headers))
    const webSocket = route.websocket ? createWebSocketRouteHooks(route.name, resources) : undefined
    await app.register(async function routeScope (scope) {
      registerStreamingBodies(scope, config.server.bodyLimitBytes)
      if (route.auth !== 'none') {
        const { api, roles, authContext } = route
        const audience = route.assertion === false ? undefined : route.assertion?.audience ?? route.name
        const assert = signer !== undefined && audience !== undefined ? (decision: Decision) => signer.assertionFor(decision, audience) : undefined
        const limits = resources.rateLimits.forRoute(route.name)
        const admit = limits === undefined ? undefined : admitter(limits, limiter)
        scope.addHook('preHandler', async function decide (request) {
          refuseUntilReady(health)
          if (limits?.baseHeaders !== undefined) request.answerHeaders = limits.baseHeaders
          const decision = await decider.decide({ api, token: bearerTokenOf(request.headers.authorization), selection: request.bankSelection, routeRoles: roles, authContext, requireActiveBank: true })
          request.decision = decision
          // Counted last (CONTRACT.md §12): only a request every other check let through.
          if (admit !== undefined) {
            const admitted = admit(request, decision)
            if (admitted !== undefined) await admitted
          }
          if (assert !== undefined) request.assertion = assert(decision)
          webSocket?.admitted(request, decision)
        })
      }
      if (!route.websocket) {
        registerPrefixRoutes(scope, route, forward)
        return
      }
      // The published types split `websocket` into two unions; the runtime takes a boolean.
      await scope.register(httpProxy, proxyOptions(route, pool, forward, upstreamHeaders, webSocket!) as FastifyHttpProxyOptions & { websocket?: false })
    })
  }
}

/**
 * The route's rate limits: the answer's fields set, and RATE_LIMITED thrown when a policy
 * refuses. Not an async function: the memory store answers at once, and Redis's answer is
 * awaited once, by the hook.
 */
function admitter (limits: RoutePolicies, limiter: RateLimiter) {
  const apply = (request: FastifyRequest, verdict: Verdict): void => {
    request.answerHeaders = verdict.headers
    if (!verdict.admitted) {
      throw new GatewayError('RATE_LIMITED', `Over the rate limit of ${verdict.refusedBy.map((name) => `"${name}"`).join(', ')}; retry after ${verdict.headers['retry-after'] ?? '1'} s`)
    }
  }
  return function admit (request: FastifyRequest, decision: Decision): MaybePromise<void> {
    // A proxied route always has an active bank (requireActiveBank).
    const verdict = limiter.admit(limits, principalOf(decision.bank.activeBankId ?? '', decision.token))
    return verdict instanceof Promise ? verdict.then((answer) => { apply(request, answer) }) : apply(request, verdict)
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
    if (dest === null) reply.send(new GatewayError('ROUTE_NOT_FOUND', 'No route matches this path'))
    else forward(request, reply, dest)
  }
  for (const url of routePatterns(route.prefix)) scope.route({ url, method: [...PROXIED_METHODS], config: { routeName: route.name }, handler })
}

/**
 * Our own undici pool per upstream, used by the hop and handed to http-proxy so its reply-from
 * builds no transport of its own (those default to `rejectUnauthorized: false`, CVE-2026-107318):
 * TLS verification explicitly on, keep-alive reuse.
 */
function createUpstreamPool (route: RouteConfig): Pool {
  return new Pool(new URL(route.upstream).origin, {
    connections: 128,
    pipelining: 1,
    keepAliveTimeout: 30_000,
    headersTimeout: route.timeoutMs,
    bodyTimeout: route.timeoutMs,
    // A socket's read buffer is 64 KiB: with undici's 64 KiB high-water mark every full read
    // stopped and restarted reading (two epoll_ctl calls per large answer). At 128 KiB one full
    // read never reaches it; a slow client still stops the socket, one read later.
    // (Not in undici's published types: its connector passes the options on to net.connect.)
    connect: createUpstreamConnector({ rejectUnauthorized: true, timeout: Math.min(route.timeoutMs, 10_000), ...{ highWaterMark: 128 * 1024 } })
  })
}

/** Bodies are never parsed: the raw stream goes upstream, counted against the body limit. */
function registerStreamingBodies (scope: FastifyInstance, limit: number): void {
  scope.removeAllContentTypeParsers()
  scope.addContentTypeParser('*', function passThrough (request, payload, done) {
    if (request.headers['content-length'] !== undefined) {
      // Node's parser holds the body to its declared length, checked against the limit on arrival.
      done(null, payload)
      return
    }
    const limited = createBodyLimiter(limit)
    pipeline(payload, limited, () => {})
    done(null, limited)
  })
  scope.addHook('onRequest', function rejectDeclaredOversize (request, _reply, done) {
    const declared = request.headers['content-length']
    if (declared !== undefined && Number(declared) > limit) {
      done(failureAnswer('PAYLOAD_TOO_LARGE', limit))
      return
    }
    done()
  })
}

/**
 * WebSocket routes keep @fastify/http-proxy, for its upgrade handling; their plain HTTP requests
 * still go through the gateway's hop (`handler`), like every other route's.
 */
function proxyOptions (route: RouteConfig, pool: Pool, forward: ForwardHandler,
  upstreamHeaders: (request: FastifyRequest, headers: HeaderMap, upgrade?: boolean) => HeaderMap,
  webSocket: WebSocketRouteHooks): FastifyHttpProxyOptions & { websocket: boolean } {
  return {
    prefix: route.prefix,
    upstream: route.upstream,
    rewritePrefix: route.rewritePrefix ?? route.prefix,
    websocket: route.websocket,
    proxyPayloads: false,
    // http-proxy keeps the routing, prefix rewriting, traversal checks and WebSockets; the HTTP
    // hop itself is ours (upstream/forward.ts), in place of @fastify/reply-from.
    handler: forward,
    undici: pool,
    disableRequestLogging: true,
    config: { routeName: route.name },
    // Not in the websocket-less half of the published types (see above).
    ...{ wsHooks: webSocket.wsHooks },
    // One message at most this large, from the client (server side) and from the upstream (client side).
    wsServerOptions: { maxPayload: route.websocketMaxMessageBytes },
    wsClientOptions: {
      maxPayload: route.websocketMaxMessageBytes,
      queryString: (_search: string | undefined, url: string) => rawQuery(url),
      // Not in the published types, read by http-proxy's WebSocketProxy.
      ...{ rewriteRequestHeaders: (_headers: HeaderMap, request: FastifyRequest) => upstreamHeaders(request, pickWebSocketHeaders(request.headers), true) }
    }
  }
}

type ForwardHandler = (request: FastifyRequest, reply: FastifyReply, dest: string) => void

function createForwardHandler (route: RouteConfig, config: Readonly<Config>, resources: Resources, pool: Pool,
  headersFor: (request: FastifyRequest) => HeaderMap): ForwardHandler {
  const { metrics } = resources
  const rewritePrefix = route.rewritePrefix
  const rewriteLocation = rewritePrefix === undefined ? undefined : (location: string) => rewriteLocationPrefix(location, rewritePrefix, route.prefix)

  const recordFailure = (request: FastifyRequest, error: Error): UpstreamFailure => {
    const failure = classifyUpstreamFailure(error)
    if (failure.kind) metrics.upstreamErrors.inc({ route: route.name, kind: failure.kind })
    request.log.warn({ requestId: request.id, route: route.name, kind: failure.kind, code: failure.code }, 'upstream request failed')
    return failure
  }

  return function forward (request, reply, dest) {
    forwardToUpstream(pool, request.raw, reply.raw, {
      method: request.raw.method!,
      path: dest + querySuffix(request.raw.url!),
      headers: headersFor(request),
      body: request.body instanceof Readable ? request.body : null,
      timeoutMs: route.timeoutMs
    }, {
      rewriteLocation,
      ownHeaders () { return request.server.gatewayHeaders(request) },
      // Only now: if writing the head failed, Fastify must still be able to send the 502.
      responseStarted () { reply.hijack() },
      failedBeforeResponse (error) {
        reply.send(failureAnswer(recordFailure(request, error).code, config.server.bodyLimitBytes))
      },
      failedDuringResponse (error) { recordFailure(request, error) }
    })
  }
}

/** The client's answer when the request could not be forwarded (or its body was too large). */
function failureAnswer (code: UpstreamFailure['code'], bodyLimitBytes: number): GatewayError {
  return new GatewayError(code, code === 'PAYLOAD_TOO_LARGE'
    ? `The request body is larger than ${bodyLimitBytes} bytes`
    : code === 'UPSTREAM_TIMEOUT' ? 'The upstream did not answer in time' : 'The upstream could not be reached')
}

/** `?` and the query exactly as received (http-proxy would re-encode it through a parser), or ''. */
function querySuffix (url: string): string {
  const q = url.indexOf('?')
  return q === -1 ? '' : url.slice(q)
}

function rawQuery (url: string): string {
  return querySuffix(url).slice(1)
}

/** The ws client builds its own handshake; carry over what an upstream needs from the client's. */
function pickWebSocketHeaders (inbound: HeaderMap): HeaderMap {
  const picked: HeaderMap = {}
  for (const name of ['authorization', 'cookie', 'traceparent', 'tracestate', 'user-agent', 'origin']) {
    if (inbound[name] !== undefined) picked[name] = inbound[name]
  }
  return picked
}
