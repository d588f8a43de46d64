import type { PlatformRole } from './platform-roles.js'
import type { BankContext } from './bank-resolution.js'
import type { VerifiedToken } from '../token/entra-token.js'
import { buildIdentityHeaders } from './identity-headers.js'
import { checkRoles, type MappedIdentity } from './roles.js'
import { requireAuthContext } from './route-checks/auth-context.js'

/**
 * The last policy step for a verified principal with its bank: claims → roles, teams and
 * business units (§5), route roles and profile `requiredRoles` enforced, then the route's
 * authentication context (§13), identity headers built (§6). Shared by the proxy pipeline,
 * `/_gateway/me` and `explain`.
 */
export interface AuthorizationInput {
  api: string
  token: VerifiedToken
  bank: BankContext
  routeRoles: readonly PlatformRole[]
  /** The route's Conditional Access authentication context, if it asks for one. */
  authContext?: string | undefined
  /** `entra.authority`, where the claims challenge sends the user to sign in again (§13). */
  authority?: string | undefined
  requiredRoles: readonly PlatformRole[]
  mapClaims: (payload: Readonly<Record<string, unknown>>) => MappedIdentity
  headerPrefix: string
  /** The groups to map instead of the token's (a groups-overage token's, from Graph, §13). */
  groups?: readonly string[] | undefined
}

/**
 * A verified token never changes, so its mapped identity and the headers built for its bank
 * context are derived once and kept with it (a token-cache hit then skips both); they go when
 * the token leaves the cache. One bank context is kept, the last one: a user works in one bank
 * at a time, and a switch costs one rebuild.
 */
interface Derived {
  mapped: MappedIdentity
  /** What `headers` were built for. */
  api: string
  headerPrefix: string
  bank: BankContext | undefined
  headers: Record<string, string> | undefined
}

const DERIVED = 'authorization'

/** Whether this token's claims were mapped already (what `groups` would feed is then known). */
export function isMapped (token: VerifiedToken): boolean {
  return token.hasDerived(DERIVED)
}

export function authorize (input: AuthorizationInput): { mapped: MappedIdentity, headers: Record<string, string> } {
  const { token, groups } = input
  const known = token.derive<Derived>(DERIVED, (claims) => ({
    mapped: input.mapClaims(groups === undefined ? claims : { ...claims, groups }),
    api: '',
    headerPrefix: '',
    bank: undefined,
    headers: undefined
  }))
  const { mapped } = known
  checkRoles(mapped.effectiveRoles, input.routeRoles, input.requiredRoles)
  if (input.authContext !== undefined) requireAuthContext(token, input.authContext, input.authority)
  let headers = known.headers
  if (headers === undefined || known.api !== input.api || known.headerPrefix !== input.headerPrefix || !sameBankContext(known.bank, input.bank)) {
    headers = buildIdentityHeaders(input.headerPrefix, { api: input.api, token, bank: input.bank, mapped })
    known.headers = headers
    known.api = input.api
    known.headerPrefix = input.headerPrefix
    known.bank = input.bank
  }
  return { mapped, headers }
}

function sameBankContext (a: BankContext | undefined, b: BankContext): boolean {
  if (a === undefined || a.activeBankId !== b.activeBankId || a.bankIds.length !== b.bankIds.length) return false
  return a.bankIds.every((id, i) => id === b.bankIds[i])
}
