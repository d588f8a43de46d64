import type { preHandlerAsyncHookHandler } from 'fastify'
import type { ApiProfileConfig, RouteConfig } from '../config/schema.js'
import { buildIdentityHeaders } from '../domain/identity-headers.js'
import { checkRoles, type MappedIdentity } from '../domain/roles.js'
import type { Resources } from '../resources.js'
import { countFailure } from './authenticate.js'

declare module 'fastify' {
  interface FastifyRequest {
    /** Roles, teams and business units mapped from the verified token; null on `auth: none`. */
    mapped: MappedIdentity | null
  }
}

/**
 * Last policy step: map claims (§5), enforce the route's roles and the profile's
 * `requiredRoles`, then build the identity headers the proxy injects (§6).
 */
export function authorizeHook (route: RouteConfig, profile: ApiProfileConfig, resources: Resources, prefix: string): preHandlerAsyncHookHandler {
  return async function authorize (request) {
    try {
      const principal = request.principal!
      const mapped = resources.mapClaims(principal.token.payload)
      checkRoles(mapped.effectiveRoles, route.roles, profile.requiredRoles)
      request.mapped = mapped
      request.identityHeaders = buildIdentityHeaders(prefix, { api: principal.api, token: principal.token, bank: request.bank!, mapped })
    } catch (err) {
      countFailure(resources, err)
      throw err
    }
  }
}
