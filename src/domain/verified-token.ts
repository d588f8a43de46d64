import { createDecoder } from 'fast-jwt'

// What entra-token.ts's verifier returns: the facts later steps read, and the claims.

export type PrincipalType = 'user' | 'app'

export interface VerifiedToken {
  /** The verified claims (see `releasePayload`). */
  readonly payload: Readonly<Record<string, unknown>>
  /** `tid`, lower case. */
  tenantId: string
  version: 1 | 2
  principalType: PrincipalType
  /** `azp` (v2) or `appid` (v1), lower case. */
  clientId: string | undefined
  /** ms since epoch. */
  expiresAt: number
  /**
   * What later steps derive from this (immutable) token, kept with it so a token-cache hit
   * skips the work: see authorization.ts. A plain slot, not a WeakMap, to keep GC cheap.
   */
  memo: Record<string, unknown>
  /**
   * Lets the decoded claims go once what later steps need of them is memoized; the next read
   * of `payload` decodes them again from the verified text. A cached token then costs its text
   * and its memo, not a second, parsed copy of its claims (about 1 KB each: issue 7's memory).
   */
  releasePayload?: () => void
}

/** A verified token that keeps its own text, so its claims can always be decoded again. */
export class VerifiedEntraToken implements VerifiedToken {
  #payload: Readonly<Record<string, unknown>> | undefined
  readonly memo: Record<string, unknown> = {}

  constructor (
    private readonly text: string,
    payload: Readonly<Record<string, unknown>>,
    readonly tenantId: string,
    readonly version: 1 | 2,
    readonly principalType: PrincipalType,
    readonly clientId: string | undefined,
    readonly expiresAt: number
  ) {
    this.#payload = payload
  }

  get payload (): Readonly<Record<string, unknown>> {
    // The same decoder the verifier used, on the same (verified) text: the same claims.
    this.#payload ??= (decode(this.text) as { payload: Record<string, unknown> }).payload
    return this.#payload
  }

  releasePayload (): void { this.#payload = undefined }
}

// The decoder the verifier uses too: the same bytes decode to the same claims.
export const decode = createDecoder({ complete: true })
