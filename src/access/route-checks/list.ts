/**
 * The route checks, in the order the decision runs them (access/decision.ts): each judges a
 * principal already verified, unblocked, given its bank and mapped, against what the route (or
 * the API profile) asks, and throws to refuse. A new check is one file here and one line below.
 */
import type { AccessProfile, DeciderOptions, DecisionRequest, Grant } from '../decision.js'
import { createRoleCheck } from './roles.js'
import { createAuthContextCheck } from './auth-context.js'

export type RouteCheck = (request: DecisionRequest, grant: Grant, profile: AccessProfile) => void

/** Built once per decider, from its options. */
export type RouteCheckFactory = (options: DeciderOptions) => RouteCheck

export const ROUTE_CHECKS: readonly RouteCheckFactory[] = [
  createRoleCheck,
  // Step-up after the roles (§13): a user without the role is not sent to sign in again for nothing.
  createAuthContextCheck
]
