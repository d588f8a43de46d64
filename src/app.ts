/**
 * The proxy-port instance, not listening. The order of registration below is the request
 * pipeline: errors → response headers → metrics/log → guard (path, drain, header strip) → CORS →
 * /_gateway/me → proxied routes (each: readiness → the access decision — token, blocks, tenant,
 * bank, roles, route checks, rate limit — → identity headers → upstream). Each plugin is given
 * only the resources it uses.
 */
import type { IncomingMessage } from 'node:http'
import Fastify, { type FastifyInstance } from 'fastify'
import type { Config, RouteConfig } from './config/schema.js'
import type { Resources } from './resources.js'
import { createAccessLog, fastifyLogOptions } from './observability/logger.js'
import { createRequestRecorder } from './observability/metrics.js'
import { createClientErrorHandler } from './http/client-errors.js'
import problemErrors from './http/problem-errors.js'
import { requestIdFor } from './http/request-id.js'
import { createRouteMatcher, ROUTER_OPTIONS } from './http/route-match.js'
import { normalizeRequestTarget } from './http/paths.js'
import responseHeaders, { createGatewayHeaders } from './http/response-headers.js'
import observability from './observability/request-log.js'
import requestGuard, { normalizeUrl } from './http/request-guard.js'
import proxyRoutes from './proxy/proxy-routes.js'
import cors from './http/cors.js'
import me from './access/me.js'
import assertionJwks, { JWKS_PATH } from './assertion/jwks-route.js'
import { serverSpans } from './tracing/index.js'

export async function buildApp (config: Readonly<Config>, resources: Resources): Promise<FastifyInstance> {
  const record = createRequestRecorder(resources.metrics)
  const accessLog = createAccessLog(resources.logger, config.log)
  const isWebSocketUpgrade = webSocketHandshakeFilter(config.routes)
  const app: FastifyInstance = Fastify({
    ...fastifyLogOptions(resources.logger),
    genReqId: requestIdFor,
    requestIdHeader: false,
    trustProxy: trustProxyOption(config.server.trustProxy),
    requestTimeout: config.server.requestTimeoutMs,
    bodyLimit: config.server.bodyLimitBytes,
    return503OnClosing: false,
    forceCloseConnections: true,
    rewriteUrl: normalizeUrl,
    clientErrorHandler: createClientErrorHandler({ record, accessLog, varyOnOrigin: config.cors.origins.length > 0 }),
    // A head over it is refused by Node's parser (HPE_HEADER_OVERFLOW): 431, client-errors.ts.
    http: { maxHeaderSize: config.server.maxHeaderBytes, shouldUpgradeCallback: (request) => isWebSocketUpgrade(request) && app.server.listenerCount('upgrade') > 0 },
    routerOptions: ROUTER_OPTIONS
  })

  // Bodies are only streamed upstream (proxy/streaming-body.ts): nothing at the root reads one, so a 404
  // never waits for a body held back behind Expect: 100-continue.
  app.removeAllContentTypeParsers()
  app.addContentTypeParser('*', function leaveBodyUnread (_request, _payload, done) { done(null) })
  const { decider, health, metrics, inFlight, assertion: signer, rateLimits, sessions, tracing } = resources
  const gatewayHeaders = createGatewayHeaders({ corsOrigins: config.cors.origins, health })
  await app.register(problemErrors)
  await app.register(responseHeaders, { gatewayHeaders })
  await app.register(observability, { metrics, inFlight, record, accessLog })
  // Off: no hook at all (CONTRACT.md §14).
  if (tracing !== undefined) await app.register(serverSpans, { tracing, routes: config.routes })
  await app.register(requestGuard, { config, health })
  await app.register(cors, { config })
  await app.register(me, { decider, health })
  await app.register(assertionJwks, { signer, path: JWKS_PATH })
  await app.register(proxyRoutes, { config, decider, health, signer, rateLimits, metrics, sessions, gatewayHeaders, tracing })
  return app
}

/**
 * Only a WebSocket handshake to a WebSocket route is taken over as an upgrade (CONTRACT.md §15,
 * Node ≥ 22.21 `shouldUpgradeCallback`): a `GET` naming `Upgrade: websocket` whose path the
 * router gives to a `websocket: true` route. Any other request naming `Upgrade` — a POST with
 * `Connection: upgrade, Upgrade: websocket` and a body, or one to a plain route — stays a plain
 * HTTP request with its body; taken as an upgrade, its body would be left on the socket and the
 * upstream would receive none.
 */
function webSocketHandshakeFilter (routes: readonly RouteConfig[]): (request: IncomingMessage) => boolean {
  if (!routes.some((route) => route.websocket)) return () => false
  const matchRoute = createRouteMatcher(routes)
  return function isWebSocketHandshake (request) {
    const upgrade = request.headers.upgrade
    if (request.method !== 'GET' || typeof upgrade !== 'string' || upgrade.toLowerCase() !== 'websocket') return false
    const target = normalizeRequestTarget(request.url ?? '')
    return target !== null && matchRoute('GET', target.path)?.websocket === true
  }
}

/** A hop count becomes proxy-addr's own hop rule; Fastify's types only take the other forms. */
function trustProxyOption (value: boolean | number | string[]): boolean | string[] | ((address: string, hop: number) => boolean) {
  if (typeof value !== 'number') return value
  return function trustHops (_address: string, hop: number) { return hop < value }
}
