import { GatewayError } from '../errors.js'
import { authorize, isMapped } from './authorization.js'
import { resolveBankOf, type BankContext, type BankLookups } from './bank-resolution.js'
import { peekAudience, type VerifiedToken } from '../token/entra-token.js'
import type { MaybePromise } from '../maybe-promise.js'
import type { PlatformRole } from './platform-roles.js'
import type { MappedIdentity } from './roles.js'

/**
 * The gateway's one access decision (CONTRACT.md §3–§6): token → bank → roles → identity
 * headers. The proxy policy, `/_gateway/me` and `explain` all ask it; what differs between them
 * is only the request they describe (a route's roles, or none; whether a user of several banks
 * must have chosen one). The token and bank lookups below answer from memory without a promise
 * when they can (MaybePromise); the decision itself is plain async: measured alone, keeping it
 * promise-free too bought nothing beyond the noise (bench/README.md).
 */
export interface Decision {
  readonly api: string
  readonly token: VerifiedToken
  readonly bank: BankContext
  readonly mapped: MappedIdentity
  /** The identity headers to inject upstream (§6). */
  readonly headers: Readonly<Record<string, string>>
}

export interface DecisionRequest {
  /** The API profile the token must be valid for. */
  api: string
  /** The bearer token's text. */
  token: string
  /** The bank-selection header as received. */
  selection: string | undefined
  /** The route's roles (any of); none for `/_gateway/me` and `explain` without a path. */
  routeRoles: readonly PlatformRole[]
  /** The route's authentication context (§13), checked after its roles. */
  authContext?: string | undefined
  /** A user of several banks without a default must have chosen one (not for `/_gateway/me`). */
  requireActiveBank: boolean
}

export interface DeciderOptions {
  verify: (api: string, token: string) => MaybePromise<VerifiedToken>
  /** The profile an unverified token's audience names. */
  profileForAudience: (aud: unknown) => string | undefined
  lookups: BankLookups
  profiles: Readonly<Record<string, { bankResolution: 'tenant' | 'client', requiredRoles: readonly PlatformRole[] }>>
  mapClaims: (payload: Readonly<Record<string, unknown>>) => MappedIdentity
  headerPrefix: string
  /** `entra.authority`, named in the claims challenge of AUTH_CONTEXT_REQUIRED (§13). */
  authority?: string | undefined
  /**
   * Only when a rule reads `groups`: what the mapping reads as a token's groups (§13) —
   * undefined for a token that carries its own, GROUPS_OVERAGE or Graph's answer otherwise.
   */
  overageGroups?: ((token: VerifiedToken) => MaybePromise<readonly string[]> | undefined) | undefined
}

export interface Decider {
  decide (request: DecisionRequest): Promise<Decision>
  /** The profile whose audience the token names, or TOKEN_AUDIENCE_INVALID. */
  profileFor (token: string): string
}

export function createDecider (options: DeciderOptions): Decider {
  const { verify, lookups, profiles, mapClaims, headerPrefix, overageGroups, authority } = options
  return {
    async decide ({ api, token, selection, routeRoles, authContext, requireActiveBank }) {
      const profile = profiles[api]
      if (profile === undefined) throw new Error(`no API profile "${api}"`)
      const verified = await verify(api, token)
      const bank = await resolveBankOf(lookups, profile.bankResolution, verified, selection, requireActiveBank)
      // Asked once per token: its mapping is kept with it, like its claims.
      const pending = overageGroups === undefined || isMapped(verified) ? undefined : overageGroups(verified)
      const groups = pending instanceof Promise ? await pending : pending
      const { mapped, headers } = authorize({ api, token: verified, bank, routeRoles, authContext, authority, requiredRoles: profile.requiredRoles, mapClaims, headerPrefix, groups })
      return { api, token: verified, bank, mapped, headers }
    },
    profileFor (token) {
      const api = options.profileForAudience(peekAudience(token))
      if (api === undefined) throw new GatewayError('TOKEN_AUDIENCE_INVALID', 'The token\'s audience names none of the API profiles of this gateway')
      return api
    }
  }
}

/**
 * `Authorization: Bearer <jwt>` (scheme case-insensitive, RFC 7235 §2.1) → the raw token;
 * no header, another scheme or an empty value → TOKEN_MISSING.
 */
export function bearerTokenOf (header: string | string[] | undefined): string {
  if (typeof header !== 'string') throw new GatewayError('TOKEN_MISSING', 'A bearer token is required')
  const space = header.indexOf(' ')
  const scheme = space === -1 ? header : header.slice(0, space)
  const token = space === -1 ? '' : header.slice(space + 1).trim()
  if (scheme.toLowerCase() !== 'bearer' || token === '') throw new GatewayError('TOKEN_MISSING', 'A bearer token is required')
  return token
}
