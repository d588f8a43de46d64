/**
 * What a verified token's claims make of it, kept with the token in one typed memo: its roles,
 * teams and business units (CONTRACT.md §5) and the identity headers (§6) built for the last
 * bank context it was used in. A token never changes, so a token-cache hit skips both; they go
 * when the token leaves the cache. One bank context is kept, the last one: a user works in one
 * bank at a time, and a switch costs one rebuild.
 */
import type { BankContext } from './bank-resolution.js'
import { tokenMemo, type Claims, type VerifiedToken } from '../token/index.js'
import { buildIdentityHeaders } from './identity-headers.js'
import type { MappedIdentity } from './roles.js'

export interface TokenIdentity {
  readonly mapped: MappedIdentity
  /** What `headers` were built for. */
  api: string
  headerPrefix: string
  bank: BankContext | undefined
  headers: Record<string, string> | undefined
}

const IDENTITY = tokenMemo<TokenIdentity>('identity')

/** Whether this token's claims were mapped already (what `groups` would feed is then known). */
export function isMapped (token: VerifiedToken): boolean {
  return token.recall(IDENTITY) !== undefined
}

/**
 * The roles step: the token's claims mapped once (ROLE_CLAIM_MISSING, NO_ROLE); `groups`, when
 * given, is read instead of the token's own (a groups-overage token's, from Graph, §13).
 */
export function tokenIdentityOf (token: VerifiedToken, mapClaims: (claims: Claims) => MappedIdentity, groups?: readonly string[]): TokenIdentity {
  return token.memo(IDENTITY, (claims) => ({
    mapped: mapClaims(groups === undefined ? claims : { ...claims, groups }),
    api: '',
    headerPrefix: '',
    bank: undefined,
    headers: undefined
  }))
}

/** The identity headers for this bank context: the kept ones while the context is the same. */
export function identityHeadersOf (identity: TokenIdentity, token: VerifiedToken, api: string, headerPrefix: string, bank: BankContext): Record<string, string> {
  if (identity.headers !== undefined && identity.api === api && identity.headerPrefix === headerPrefix && sameBankContext(identity.bank, bank)) return identity.headers
  const headers = buildIdentityHeaders(headerPrefix, { api, token, bank, mapped: identity.mapped })
  identity.headers = headers
  identity.api = api
  identity.headerPrefix = headerPrefix
  identity.bank = bank
  return headers
}

function sameBankContext (a: BankContext | undefined, b: BankContext): boolean {
  if (a === undefined || a.activeBankId !== b.activeBankId || a.bankIds.length !== b.bankIds.length) return false
  return a.bankIds.every((id, i) => id === b.bankIds[i])
}
