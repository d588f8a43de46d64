/**
 * In-flight count, request metrics and the one log line per request. The line holds the path
 * without its query string (a query may carry a token) and never a header.
 */
import fp from 'fastify-plugin'
import type { FastifyInstance, FastifyRequest } from 'fastify'
import type { GatewayMetrics, RequestRecorder } from './metrics.js'
import type { InFlight } from './in-flight.js'
import type { AccessLog } from './logger.js'
import { isAccessRefusal, isGatewayError } from '../errors.js'
import { pathOf } from '../http/index.js'

declare module 'fastify' {
  interface FastifyContextConfig {
    /** The configured route's name, the `route` label of metrics and logs. */
    routeName?: string
  }
}

function routeLabel (request: FastifyRequest): string {
  return request.routeOptions.config.routeName ?? (request.is404 ? '_unmatched' : '_gateway')
}

export interface ObservabilityOptions {
  /** `auth_failures_total`. */
  metrics: Pick<GatewayMetrics, 'authFailures'>
  inFlight: InFlight
  record: RequestRecorder
  accessLog: AccessLog
}

async function observability (app: FastifyInstance, { metrics, inFlight, record, accessLog }: ObservabilityOptions): Promise<void> {
  app.addHook('onRequest', function trackInFlight (request, reply, done) {
    inFlight.enter()
    // Counted out on the response's 'close', which comes once per response whatever happened:
    // answered, aborted, answered before its body arrived and then abandoned, or upgraded (a
    // WebSocket's response is tied to its own socket). Nothing is added to the socket, which a
    // keep-alive connection shares with every request it carries.
    reply.raw.on('close', inFlight.leave)
    done()
  })

  // Every refusal by code, wherever in the pipeline it was raised (token, bank, roles, /me).
  app.addHook('onError', function countRefusal (_request, _reply, err, done) {
    if (isGatewayError(err) && isAccessRefusal(err)) metrics.authFailures.inc({ code: err.code })
    done()
  })

  app.addHook('onResponse', function recordRequest (request, reply, done) {
    const route = routeLabel(request)
    const status = reply.statusCode
    record(route, status, reply.elapsedTime / 1000)
    accessLog({
      requestId: request.id,
      method: request.method,
      path: pathOf(request.url),
      route,
      status,
      durationMs: Math.round(reply.elapsedTime * 100) / 100
    })
    done()
  })
}

export default fp(observability, { name: 'observability', fastify: '5.x' })
