/**
 * An authenticated route's access, a preHandler of its scope: nothing is decided before the
 * gateway was first ready (CONTRACT.md §8); then the one access decision (access/decision.ts),
 * whose last step counts the request against the route's rate limits (§12); then, for a request
 * it admitted, the signed assertion for the route's audience (§11) and its WebSocket session.
 *
 * The rate-limit fields of the route's answers are kept here, on the request: the route's
 * policy before counting, the verdict's once counted. The route's answers write them: proxied
 * ones through the hop (`answerHeadersOf`), the gateway's own through the hook below.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import type { RouteConfig } from '../config/schema.js'
import { bearerTokenOf, type Decider, type Decision } from '../access/index.js'
import { assertionAudience, type AssertionSigner } from '../assertion/index.js'
import type { RateLimitPlan } from '../rate-limits/index.js'
import { refuseUntilReady, type Health } from '../observability/health.js'
import type { GatewayHeaders } from '../http/index.js'
import { pathOf } from '../http/index.js'
import type { WebSocketRouteHooks } from './websocket-hooks.js'

declare module 'fastify' {
  interface FastifyRequest {
    /** The access decision that let this request through; null on `auth: none` routes. */
    decision: Decision | null
    /** The signed assertion for this route's audience (CONTRACT.md §11), or null. */
    assertion: string | null
    /** The rate-limit fields of this request's answer (§12); null where no policy covers the route. */
    rateLimitFields: Readonly<Record<string, string>> | null
  }
}

export interface RouteAccessOptions {
  decider: Decider
  health: Health
  signer: AssertionSigner | undefined
  rateLimits: RateLimitPlan
}

export function decorateRouteAccess (app: FastifyInstance): void {
  app.decorateRequest('decision', null)
  app.decorateRequest('assertion', null)
  app.decorateRequest('rateLimitFields', null)
}

export function addRouteAccess (scope: FastifyInstance, route: RouteConfig & { auth: 'required' }, { decider, health, signer, rateLimits }: RouteAccessOptions, webSocket: WebSocketRouteHooks | undefined): void {
  const audience = assertionAudience(route)
  const assert = signer === undefined || audience === undefined ? undefined : (decision: Decision) => signer.assertionFor(decision, audience)
  const policies = rateLimits.forRoute(route.name)
  const policyFields = policies?.baseHeaders ?? null
  if (policies !== undefined) scope.addHook('onSend', addRateLimitFields)

  scope.addHook('preHandler', async function checkAccess (request) {
    refuseUntilReady(health)
    // Every answer of a limited route states its policy, a refusal for any reason too (§12).
    if (policyFields !== null) request.rateLimitFields = policyFields
    // The decision log's facts (§14), filled in by the steps that learn them, refused or not.
    const facts = { api: route.api }
    request.accessFacts = facts
    const decision = await decider.decide({
      api: route.api,
      token: bearerTokenOf(request.headers.authorization),
      selection: request.bankSelection,
      method: request.method,
      path: pathOf(request.url),
      route,
      requireActiveBank: true,
      rateLimit: 'count',
      clientCertificate: request.clientCertificate ?? undefined,
      facts
    })
    request.decision = decision
    if (decision.rateLimitFields !== undefined) request.rateLimitFields = decision.rateLimitFields
    if (assert !== undefined) request.assertion = assert(decision)
    webSocket?.admitted(request, decision)
  })
}

/** A proxied answer's own headers: the gateway's (http/response-headers.ts), then the rate-limit fields. */
export function answerHeadersOf (request: FastifyRequest, gatewayHeaders: GatewayHeaders): Record<string, string> {
  const headers = gatewayHeaders(request)
  if (request.rateLimitFields !== null) Object.assign(headers, request.rateLimitFields)
  return headers
}

/** An answer the gateway sends itself on a limited route (a refusal, a 502): the same fields. */
function addRateLimitFields (request: FastifyRequest, reply: FastifyReply, payload: unknown, done: (err: null, payload: unknown) => void): void {
  const fields = request.rateLimitFields
  // A refusal that states its own (a 429 its verdict: problem-errors.ts writes them) keeps them.
  if (fields !== null) for (const name in fields) if (!reply.hasHeader(name)) reply.header(name, fields[name])
  done(null, payload)
}
