/**
 * The route's roles (any of them, hierarchy applied) and the API profile's `requiredRoles`
 * (every one of them), CONTRACT.md §5: ROLE_REQUIRED otherwise. Without a route (`/_gateway/me`,
 * `explain` without a path) the profile's roles still apply.
 */
import { checkRoles } from '../roles.js'
import type { RouteCheck } from './list.js'

const NO_ROLES = [] as const

export function createRoleCheck (): RouteCheck {
  return function checkRouteRoles (request, grant, profile) {
    checkRoles(grant.mapped.effectiveRoles, request.route?.roles ?? NO_ROLES, profile.requiredRoles)
  }
}
