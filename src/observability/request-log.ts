/**
 * In-flight count, request metrics and the one log line per request. The line holds the path
 * without its query string (a query may carry a token) and never a header. It is also the
 * decision log (CONTRACT.md §14): the decision, its code and the facts the access decision
 * verified (access/decision-facts.ts), counted per bank in `decisions_total`.
 */
import fp from 'fastify-plugin'
import type { FastifyInstance, FastifyRequest } from 'fastify'
import type { GatewayMetrics, RequestRecorder } from './metrics.js'
import type { DecisionFacts } from '../access/index.js'
import type { InFlight } from './in-flight.js'
import type { AccessLog } from './logger.js'
import { isAccessRefusal, isGatewayError } from '../errors.js'
import { pathOf } from '../http/index.js'
import { UNRESOLVED } from './bank-decisions.js'

declare module 'fastify' {
  interface FastifyContextConfig {
    /** The configured route's name, the `route` label of metrics and logs. */
    routeName?: string
  }
  interface FastifyRequest {
    /** What the access decision verified or resolved, for the decision log; null where none was asked. */
    accessFacts: DecisionFacts | null
    /** The problem code of the answer (http/problem-errors.ts); null for any other answer. */
    refusal: string | null
  }
}

function routeLabel (request: FastifyRequest): string {
  return request.routeOptions.config.routeName ?? (request.is404 ? '_unmatched' : '_gateway')
}

export interface ObservabilityOptions {
  /** `auth_failures_total`, `decisions_total`, `report_only_total`. */
  metrics: Pick<GatewayMetrics, 'authFailures' | 'decisions' | 'reportOnly'>
  inFlight: InFlight
  record: RequestRecorder
  accessLog: AccessLog
}

async function observability (app: FastifyInstance, { metrics, inFlight, record, accessLog }: ObservabilityOptions): Promise<void> {
  app.decorateRequest('accessFacts', null)
  app.decorateRequest('refusal', null)
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
    const facts = request.accessFacts
    const reported = request.decision?.reported
    let code = request.refusal ?? undefined
    let decision: 'allow' | 'deny' | 'report' = 'deny'
    if (code === undefined && reported === undefined) decision = 'allow'
    else if (code === undefined && reported !== undefined) {
      decision = 'report'
      code = reported[0]!.code
      for (const refusal of reported) metrics.reportOnly.inc({ route, code: refusal.code })
    }
    metrics.decisions.count(facts?.bankId ?? UNRESOLVED, decision, code ?? '')
    accessLog({
      requestId: request.id,
      method: request.method,
      path: pathOf(request.url),
      route,
      decision,
      code,
      facts,
      status,
      durationMs: Math.round(reply.elapsedTime * 100) / 100,
      traceId: request.traceId
    })
    done()
  })
}

export default fp(observability, { name: 'observability', fastify: '5.x' })
