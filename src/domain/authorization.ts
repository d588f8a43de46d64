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

export function authorize (input: AuthorizationInput): { mapped: MappedIdentity, headers: Record<string, string> } {
  const mapped = input.mapClaims(input.token.payload)
  checkRoles(mapped.effectiveRoles, input.routeRoles, input.requiredRoles)
  return { mapped, headers: buildIdentityHeaders(input.headerPrefix, { api: input.api, token: input.token, bank: input.bank, mapped }) }
}
