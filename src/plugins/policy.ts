import type { FastifyInstance, preHandlerAsyncHookHandler } from 'fastify'
import type { RouteConfig } from '../config/schema.js'
import { bearerTokenOf, type Decider, type Decision } from '../domain/decision.js'

declare module 'fastify' {
  interface FastifyRequest {
    /** The access decision that let this request through; null on `auth: none` routes. */
    decision: Decision | null
  }
}

export function decorateDecision (app: FastifyInstance): void {
  app.decorateRequest('decision', null)
}

/** A route's policy (CONTRACT.md §3–§6): the one access decision, before the upstream is asked. */
export function policyFor (route: RouteConfig, decider: Decider): preHandlerAsyncHookHandler[] {
  if (route.auth === 'none') return []
  const { api, roles } = route
  return [async function policy (request) {
    request.decision = await decider.decide({ api, token: bearerTokenOf(request.headers.authorization), selection: request.bankSelection, routeRoles: roles, requireActiveBank: true })
  }]
}
