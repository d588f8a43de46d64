/**
 * What a verified token's claims make of it, kept with the token in one typed memo: its roles,
 * teams and business units (CONTRACT.md §5) and the identity headers (§6) built for the last
 * bank context it was used in. A token never changes, so a token-cache hit skips both while the
 * rules are the same (a reload's new rules map it again); they go when the token leaves the cache. One bank context is kept, the last one: a user works in one
 * bank at a time, and a switch costs one rebuild.
 */
import type { BankContext } from './bank-resolution.js'
import { tokenMemo, type Claims, type VerifiedToken } from '../token/index.js'
import { buildIdentityHeaders } from './identity-headers.js'
import type { MappedIdentity } from './roles.js'

export interface TokenIdentity {
  /** The mapper that made `mapped`: the rules of the config active then. */
  readonly mapper: ClaimMapper
  readonly mapped: MappedIdentity
  /** What `headers` were built for. */
  api: string
  headerPrefix: string
  bank: BankContext | undefined
  headers: Record<string, string> | undefined
}

const IDENTITY = tokenMemo<TokenIdentity>('identity')

type ClaimMapper = (claims: Claims) => MappedIdentity

/** Whether this token's claims were mapped already by `mapClaims` (what `groups` would feed is then known). */
export function isMapped (token: VerifiedToken, mapClaims: ClaimMapper): boolean {
  return token.recall(IDENTITY)?.mapper === mapClaims
}

/**
 * The roles step: the token's claims mapped once (ROLE_CLAIM_MISSING, NO_ROLE); `groups`, when
 * given, is read instead of the token's own (a groups-overage token's, from Graph, §13).
 */
export function tokenIdentityOf (token: VerifiedToken, mapClaims: ClaimMapper, groups?: readonly string[]): TokenIdentity {
  const kept = token.recall(IDENTITY)
  if (kept === undefined) return token.memo(IDENTITY, (claims) => identityOf(mapClaims, claims, groups))
  if (kept.mapper === mapClaims) return kept
  // A reload replaced the rules since this token was mapped.
  const identity = identityOf(mapClaims, token.claims, groups)
  token.remember(IDENTITY, identity)
  return identity
}

function identityOf (mapClaims: ClaimMapper, claims: Claims, groups: readonly string[] | undefined): TokenIdentity {
  return { mapper: mapClaims, mapped: mapClaims(groups === undefined ? claims : { ...claims, groups }), api: '', headerPrefix: '', bank: undefined, headers: undefined }
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
