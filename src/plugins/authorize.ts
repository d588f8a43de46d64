import type { PolicyStep } from './authenticate.js'
import type { ApiProfileConfig, RouteConfig } from '../config/schema.js'
import { authorize } from '../domain/authorization.js'
import type { MappedIdentity } from '../domain/roles.js'
import type { Resources } from '../resources.js'

declare module 'fastify' {
  interface FastifyRequest {
    /** Roles, teams and business units mapped from the verified token; null on `auth: none`. */
    mapped: MappedIdentity | null
  }
}

/** Last policy hook: roles enforced, identity headers ready for the proxy to inject. */
export function authorizeHook (route: RouteConfig, profile: ApiProfileConfig, resources: Resources, headerPrefix: string): PolicyStep {
  return function authorizeRequest (request) {
    const { api, token } = request.principal!
    const { mapped, headers } = authorize({ api, token, bank: request.bank!, routeRoles: route.roles, requiredRoles: profile.requiredRoles, mapClaims: resources.mapClaims, headerPrefix })
    request.mapped = mapped
    request.identityHeaders = headers
  }
}
