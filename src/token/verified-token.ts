/**
 * What entra-token.ts's verifier returns: the facts later steps read, the claims, and the
 * typed memos later steps keep with the token (its mapped identity, its `acrs`, …).
 */
import { createDecoder } from 'fast-jwt'

export type PrincipalType = 'user' | 'app'

export type Claims = Readonly<Record<string, unknown>>

/**
 * One typed slot for a fact later steps derive from a verified token. A token never changes,
 * so what is derived once is kept with it and a token-cache hit reuses it. Each slot is its own
 * key (a symbol), so two steps can never share or mistype one by its name.
 */
export interface TokenMemo<T> {
  readonly key: symbol
  /** Never set: it ties the slot to the type of its value. */
  readonly valueType?: T
}

export function tokenMemo<T> (name: string): TokenMemo<T> {
  return { key: Symbol(name) }
}

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
  /** `iat`, ms since epoch; undefined when the token has none (a revocation, §15, then refuses it). */
  readonly issuedAt: number | undefined
  /** The verified claims. */
  readonly claims: Claims
  /** The memo's value: what `compute` makes of the claims, computed the first time only. */
  memo: <T>(memo: TokenMemo<T>, compute: (claims: Claims) => T) => T
  /** The memo's value if it was computed or remembered already. */
  recall: <T>(memo: TokenMemo<T>) => T | undefined
  /** Keeps a fact learnt elsewhere (a lookup), not from the claims: they are kept too. */
  remember: <T>(memo: TokenMemo<T>, value: T) => void
}

export interface VerifiedFacts {
  tenantId: string
  version: 1 | 2
  principalType: PrincipalType
  clientId: string | undefined
  expiresAt: number
}

/**
 * A verified token that keeps its own text, so its claims can always be decoded again. Once a
 * memo is computed from them, the decoded claims are let go: later steps read the memos, and a
 * cached token then costs its text and its memos, not a second, parsed copy of its claims
 * (about 1 KB each).
 */
export class VerifiedEntraToken implements VerifiedToken {
  #claims: Claims | undefined
  // A plain object, not a Map: the smaller of the two, on every cached token.
  readonly #memos: Record<symbol, unknown> = {}
  readonly tenantId: string
  readonly version: 1 | 2
  readonly principalType: PrincipalType
  readonly clientId: string | undefined
  readonly expiresAt: number
  readonly issuedAt: number | undefined
  readonly objectId: string | undefined
  readonly userName: string | undefined
  readonly scopes: string | undefined

  constructor (private readonly text: string, claims: Claims, facts: VerifiedFacts) {
    this.#claims = claims
    this.tenantId = facts.tenantId
    this.version = facts.version
    this.principalType = facts.principalType
    this.clientId = facts.clientId
    this.expiresAt = facts.expiresAt
    this.objectId = claimString(claims, 'oid')
    this.issuedAt = typeof claims.iat === 'number' && Number.isFinite(claims.iat) ? claims.iat * 1000 : undefined
    this.scopes = claimString(claims, 'scp')
    this.userName = facts.principalType === 'user' ? claimString(claims, 'preferred_username', 'upn', 'unique_name') : undefined
  }

  get claims (): Claims {
    // The same decoder the verifier used, on the same (verified) text: the same claims.
    this.#claims ??= (decode(this.text) as { payload: Record<string, unknown> }).payload
    return this.#claims
  }

  memo<T> (memo: TokenMemo<T>, compute: (claims: Claims) => T): T {
    if (memo.key in this.#memos) return this.#memos[memo.key] as T
    const value = compute(this.claims)
    this.#memos[memo.key] = value
    this.#claims = undefined
    return value
  }

  recall<T> (memo: TokenMemo<T>): T | undefined {
    return this.#memos[memo.key] as T | undefined
  }

  remember<T> (memo: TokenMemo<T>, value: T): void {
    this.#memos[memo.key] = value
  }
}

function claimString (claims: Claims, ...names: string[]): string | undefined {
  for (const name of names) {
    const value = claims[name]
    if (typeof value === 'string' && value !== '') return value
  }
  return undefined
}

// fast-jwt's decoder, the one its verifier uses: the same bytes decode to the same claims.
export const decode = createDecoder({ complete: true })
