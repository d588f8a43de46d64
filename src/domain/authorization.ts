import type { PlatformRole } from './platform-roles.js'
import type { BankContext } from './bank-resolution.js'
import type { VerifiedToken } from './entra-token.js'
import { buildIdentityHeaders } from './identity-headers.js'
import { checkRoles, type MappedIdentity } from './roles.js'

/**
 * The last policy step for a verified principal with its bank: claims → roles, teams and
 * business units (§5), route roles and profile `requiredRoles` enforced, identity headers
 * built (§6). Shared by the proxy pipeline, `/_gateway/me` and `explain`.
 */
export interface AuthorizationInput {
  api: string
  token: VerifiedToken
  bank: BankContext
  routeRoles: readonly PlatformRole[]
  requiredRoles: readonly PlatformRole[]
  mapClaims: (payload: Readonly<Record<string, unknown>>) => MappedIdentity
  headerPrefix: string
}

/**
 * A verified token's payload never changes, so its mapped identity and the headers built for a
 * given bank context are kept in its memo (a token-cache hit then skips both); they go when
 * the token leaves the cache.
 */
interface Derived { mapped: MappedIdentity, headers: Map<string, Record<string, string>> }

export function authorize (input: AuthorizationInput): { mapped: MappedIdentity, headers: Record<string, string> } {
  let known = input.token.memo.authorization as Derived | undefined
  if (known === undefined) {
    known = { mapped: input.mapClaims(input.token.payload), headers: new Map() }
    input.token.memo.authorization = known
  }
  const { mapped } = known
  checkRoles(mapped.effectiveRoles, input.routeRoles, input.requiredRoles)
  const key = `${input.api}\u0000${input.headerPrefix}\u0000${input.bank.activeBankId ?? ''}\u0000${input.bank.bankIds.join(',')}`
  let headers = known.headers.get(key)
  if (headers === undefined) {
    headers = buildIdentityHeaders(input.headerPrefix, { api: input.api, token: input.token, bank: input.bank, mapped })
    known.headers.set(key, headers)
  }
  return { mapped, headers }
}
