import type { FastifyInstance, preHandlerHookHandler } from 'fastify'
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

/**
 * A route's policy (CONTRACT.md §3–§6) as one callback-style preHandler: every Fastify hook
 * costs a round of its own, and a decision answered from memory (a cached token, a cached
 * bank) completes without a promise.
 */
export function policyFor (route: RouteConfig, decider: Decider): preHandlerHookHandler[] {
  if (route.auth === 'none' || route.api === undefined) return []
  const { api, roles } = route
  return [function policy (request, _reply, done) {
    let decided: Decision | Promise<Decision>
    try {
      decided = decider.decide({ api, token: bearerTokenOf(request.headers.authorization), selection: request.bankSelection, routeRoles: roles, requireActiveBank: true })
    } catch (error) {
      done(error as Error)
      return
    }
    if (decided instanceof Promise) {
      decided.then((decision) => { request.decision = decision; done() }, done)
      return
    }
    request.decision = decided
    done()
  }]
}
