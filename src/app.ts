import type { IncomingMessage } from 'node:http'
import Fastify, { type FastifyInstance, type FastifyRequest, type preHandlerHookHandler } from 'fastify'
import type { Config, RouteConfig } from './config/schema.js'
import type { Resources } from './resources.js'
import { createAccessLog, fastifyLogOptions } from './logger.js'
import { createRequestRecorder } from './metrics.js'
import { createClientErrorHandler } from './client-errors.js'
import { authenticateHook, type PolicyStep } from './plugins/authenticate.js'
import { bankContextHook } from './plugins/bank-context.js'
import { authorizeHook } from './plugins/authorize.js'
import problemErrors from './plugins/problem-errors.js'
import requestId, { requestIdFor } from './plugins/request-id.js'
import observability from './plugins/observability.js'
import requestGuard, { normalizeUrl } from './plugins/request-guard.js'
import proxyRoutes from './plugins/proxy-routes.js'
import cors from './plugins/cors.js'
import me from './plugins/me.js'

/**
 * The proxy-port instance, not listening. The order of registration below is the request
 * pipeline: errors → request id → metrics/log → guard (path, drain, header strip) → CORS →
 * /_gateway/me → proxied routes (each: token → bank → roles → identity headers → upstream).
 */
export async function buildApp (config: Readonly<Config>, resources: Resources): Promise<FastifyInstance> {
  const record = createRequestRecorder(resources.metrics)
  const accessLog = createAccessLog(resources.logger)
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
    clientErrorHandler: createClientErrorHandler({ record, accessLog }),
    http: { shouldUpgradeCallback: (request) => isWebSocketUpgrade(request) && app.server.listenerCount('upgrade') > 0 },
    // Case-insensitive prefixes: `/API/Admin` must meet `/api/admin`'s policy, not a looser
    // route's, because many upstreams (ASP.NET among them) route case-insensitively.
    routerOptions: { caseSensitive: false, ignoreTrailingSlash: false, ignoreDuplicateSlashes: false }
  })

  await app.register(problemErrors)
  await app.register(requestId)
  await app.register(observability, { resources, record, accessLog })
  await app.register(requestGuard, { config, health: resources.health })
  await app.register(cors, { config })
  app.decorateRequest('principal', null)
  app.decorateRequest('bank', null)
  app.decorateRequest('mapped', null)
  await app.register(me, { config, resources })
  await app.register(proxyRoutes, { config, resources, policyFor: (route) => policyFor(route, config, resources) })
  return app
}

/**
 * The per-route policy, in order: token (§3) → bank (§4) → roles and identity headers (§5, §6).
 * One callback-style hook running the three steps: each Fastify hook costs its own round trip,
 * and steps answered from memory (a cached token, a cached bank) run without any promise.
 */
function policyFor (route: RouteConfig, config: Readonly<Config>, resources: Resources): preHandlerHookHandler[] {
  if (route.auth === 'none') return []
  const api = route.api!
  const profile = config.apis[api]!
  const steps = [
    authenticateHook(api, resources),
    bankContextHook(profile, resources),
    authorizeHook(route, profile, resources, config.headers.prefix)
  ]
  return [function policy (request, _reply, done) {
    runPolicySteps(steps, 0, request, done)
  }]
}

/** Runs `steps` from `from` on, synchronously until one returns a promise; any failure ends it. */
function runPolicySteps (steps: PolicyStep[], from: number, request: FastifyRequest, done: (error?: Error) => void): void {
  for (let i = from; i < steps.length; i++) {
    let pending: void | Promise<void>
    try {
      pending = steps[i]!(request)
    } catch (error) {
      done(error as Error)
      return
    }
    if (pending instanceof Promise) {
      pending.then(() => { runPolicySteps(steps, i + 1, request, done) }, done)
      return
    }
  }
  done()
}

/**
 * Only a WebSocket handshake is taken over as an upgrade (Node ≥ 22.21 `shouldUpgradeCallback`).
 * Any other request naming `Upgrade` — a POST with `Connection: upgrade, Upgrade: h2c` — stays a
 * plain HTTP request with its body; taken as an upgrade, its body would be left on the socket
 * and the upstream would receive none.
 */
function isWebSocketUpgrade (request: IncomingMessage): boolean {
  const upgrade = request.headers.upgrade
  return typeof upgrade === 'string' && upgrade.toLowerCase() === 'websocket'
}

/** A hop count becomes proxy-addr's own hop rule; Fastify's types only take the other forms. */
function trustProxyOption (value: boolean | number | string[]): boolean | string[] | ((address: string, hop: number) => boolean) {
  if (typeof value !== 'number') return value
  return function trustHops (_address: string, hop: number) { return hop < value }
}
