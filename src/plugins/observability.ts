import fp from 'fastify-plugin'
import type { FastifyInstance, FastifyRequest } from 'fastify'
import type { Resources } from '../resources.js'
import { createRequestRecorder } from '../metrics.js'
import { createAccessLog } from '../logger.js'
import { isAccessRefusal, isGatewayError } from '../errors.js'
import { pathOf } from '../domain/paths.js'

declare module 'fastify' {
  interface FastifyContextConfig {
    /** The configured route's name, the `route` label of metrics and logs. */
    routeName?: string
  }
}

export function routeLabel (request: FastifyRequest): string {
  return request.routeOptions.config.routeName ?? (request.is404 ? '_unmatched' : '_gateway')
}

/**
 * In-flight count, request metrics and the one log line per request. The line holds the path
 * without its query string (a query may carry a token) and never a header.
 */
async function observability (app: FastifyInstance, { resources }: { resources: Resources }): Promise<void> {
  const { metrics, inFlight } = resources
  const accessLog = createAccessLog(resources.logger)
  const record = createRequestRecorder(metrics)

  app.addHook('onRequest', function trackInFlight (request, _reply, done) {
    inFlight.enter()
    if (request.raw.headers.upgrade === undefined) {
      // 'close' comes once per message: `on` spares the once-wrapper's removal on every request.
      request.raw.on('close', inFlight.leave)
    } else {
      // An upgraded request never emits 'close' on the message itself, only its socket does;
      // one refused or served as plain HTTP does. Whichever comes first counts, once.
      let left = false
      const leaveOnce = (): void => { if (!left) { left = true; inFlight.leave() } }
      request.raw.once('close', leaveOnce)
      request.raw.socket.once('close', leaveOnce)
    }
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
