import Fastify, { type FastifyInstance, type preHandlerAsyncHookHandler } from 'fastify'
import type { Config, RouteConfig } from './config/schema.js'
import type { Resources } from './resources.js'
import { fastifyLogOptions } from './logger.js'
import { GatewayError } from './errors.js'
import problemErrors from './plugins/problem-errors.js'
import requestId, { requestIdFor } from './plugins/request-id.js'
import observability from './plugins/observability.js'
import requestGuard, { normalizeUrl } from './plugins/request-guard.js'
import proxyRoutes from './plugins/proxy-routes.js'

/**
 * The proxy-port instance, not listening. The order of registration below is the request
 * pipeline: errors → request id → metrics/log → guard (path, drain, header strip) → routes.
 */
export async function buildApp (config: Readonly<Config>, resources: Resources): Promise<FastifyInstance> {
  const app = Fastify({
    ...fastifyLogOptions(resources.logger),
    genReqId: requestIdFor,
    requestIdHeader: false,
    trustProxy: trustProxyOption(config.server.trustProxy),
    requestTimeout: config.server.requestTimeoutMs,
    bodyLimit: config.server.bodyLimitBytes,
    return503OnClosing: false,
    forceCloseConnections: true,
    rewriteUrl: normalizeUrl,
    // Case-insensitive prefixes: `/API/Admin` must meet `/api/admin`'s policy, not a looser
    // route's, because many upstreams (ASP.NET among them) route case-insensitively.
    routerOptions: { caseSensitive: false, ignoreTrailingSlash: false, ignoreDuplicateSlashes: false }
  })

  await app.register(problemErrors)
  await app.register(requestId)
  await app.register(observability, { resources })
  await app.register(requestGuard, { config, health: resources.health })
  await app.register(proxyRoutes, { config, resources, policyFor })
  return app
}

/** Policy hooks per route; token verification arrives with the authentication plugin. */
function policyFor (route: RouteConfig): preHandlerAsyncHookHandler[] {
  if (route.auth === 'none') return []
  return [async function denyUnauthenticated () {
    throw new GatewayError('TOKEN_MISSING', 'A bearer token is required')
  }]
}

/** A hop count becomes proxy-addr's own hop rule; Fastify's types only take the other forms. */
function trustProxyOption (value: boolean | number | string[]): boolean | string[] | ((address: string, hop: number) => boolean) {
  if (typeof value !== 'number') return value
  return function trustHops (_address: string, hop: number) { return hop < value }
}
