import { createDecoder } from 'fast-jwt'

// What entra-token.ts's verifier returns: the facts later steps read, and the claims.

export type PrincipalType = 'user' | 'app'

export interface VerifiedToken {
  /** `tid`, lower case. */
  readonly tenantId: string
  readonly version: 1 | 2
  readonly principalType: PrincipalType
  /** `azp` (v2) or `appid` (v1), lower case. */
  readonly clientId: string | undefined
  /** `oid`, as the token gives it. */
  readonly objectId: string | undefined
  /** A user principal's display name (`preferred_username`, `upn`, `unique_name`); never an app's. For display only. */
  readonly userName: string | undefined
  /** `scp`, as the token gives it (space-separated). */
  readonly scopes: string | undefined
  /** ms since epoch. */
  readonly expiresAt: number
  /** The verified claims. */
  readonly claims: Readonly<Record<string, unknown>>
  /**
   * What `compute` makes of the claims, computed once per token and kept with it, so a
   * token-cache hit skips the work (the token never changes).
   */
  derive: <T>(key: string, compute: (claims: Readonly<Record<string, unknown>>) => T) => T
  /** Whether `key` was derived already. */
  hasDerived: (key: string) => boolean
}

export interface VerifiedFacts {
  tenantId: string
  version: 1 | 2
  principalType: PrincipalType
  clientId: string | undefined
  expiresAt: number
}

/**
 * A verified token that keeps its own text, so its claims can always be decoded again. Once
 * something is derived from them, the decoded claims are let go: later steps read the derived
 * facts, and a cached token then costs its text and what was derived, not a second, parsed
 * copy of its claims (about 1 KB each).
 */
export class VerifiedEntraToken implements VerifiedToken {
  #claims: Readonly<Record<string, unknown>> | undefined
  // A plain object, not a Map: the smaller of the two, on every cached token.
  readonly #derived: Record<string, unknown> = {}
  readonly tenantId: string
  readonly version: 1 | 2
  readonly principalType: PrincipalType
  readonly clientId: string | undefined
  readonly expiresAt: number
  readonly objectId: string | undefined
  readonly userName: string | undefined
  readonly scopes: string | undefined

  constructor (private readonly text: string, claims: Readonly<Record<string, unknown>>, facts: VerifiedFacts) {
    this.#claims = claims
    this.tenantId = facts.tenantId
    this.version = facts.version
    this.principalType = facts.principalType
    this.clientId = facts.clientId
    this.expiresAt = facts.expiresAt
    this.objectId = claimString(claims, 'oid')
    this.scopes = claimString(claims, 'scp')
    this.userName = facts.principalType === 'user' ? claimString(claims, 'preferred_username', 'upn', 'unique_name') : undefined
  }

  get claims (): Readonly<Record<string, unknown>> {
    // The same decoder the verifier used, on the same (verified) text: the same claims.
    this.#claims ??= (decode(this.text) as { payload: Record<string, unknown> }).payload
    return this.#claims
  }

  hasDerived (key: string): boolean {
    return key in this.#derived
  }

  derive<T> (key: string, compute: (claims: Readonly<Record<string, unknown>>) => T): T {
    if (key in this.#derived) return this.#derived[key] as T
    const value = compute(this.claims)
    this.#derived[key] = value
    this.#claims = undefined
    return value
  }
}

function claimString (claims: Readonly<Record<string, unknown>>, ...names: string[]): string | undefined {
  for (const name of names) {
    const value = claims[name]
    if (typeof value === 'string' && value !== '') return value
  }
  return undefined
}

// The decoder the verifier uses too: the same bytes decode to the same claims.
export const decode = createDecoder({ complete: true })
