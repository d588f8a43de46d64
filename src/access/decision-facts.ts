/**
 * What the decision log (CONTRACT.md §14) may say of a request: only what the gateway verified
 * or resolved itself, filled in step by step as the decision learns it, so a refusal carries
 * whatever was known when it was refused. Nothing is taken from a token whose signature did not
 * hold: its `tid`, `oid` or `kid` would be whatever a forger wrote, so a TOKEN_SIGNATURE_INVALID
 * line has the route and API but no tenant, principal or key. Never a user name or token text.
 */
import { tokenMemo, type VerifiedToken } from '../token/index.js'

export interface DecisionFacts {
  api?: string | undefined
  tenantId?: string | undefined
  bankId?: string | undefined
  principalType?: 'user' | 'app' | undefined
  /** `oid`. */
  principalId?: string | undefined
  clientId?: string | undefined
  /** The id of the key that verified the signature. */
  kid?: string | undefined
  tokenCache?: 'hit' | 'miss' | undefined
}

const KID = tokenMemo<string | undefined>('kid')

/** The verified token's `kid`, read once from its header (the same text its signature covers) and kept with it. */
export function kidOf (token: VerifiedToken, text: string): string | undefined {
  const known = token.recall(KID)
  if (known !== undefined) return known
  let kid: string | undefined
  try {
    const header = JSON.parse(Buffer.from(text.slice(0, text.indexOf('.')), 'base64url').toString('utf8')) as { kid?: unknown }
    kid = typeof header.kid === 'string' ? header.kid : undefined
  } catch { /* verified, so its header parsed once already */ }
  token.remember(KID, kid)
  return kid
}

/** The verified principal's facts, the token step's part of the log line. */
export function recordToken (facts: DecisionFacts, token: VerifiedToken, text: string, cache: 'hit' | 'miss'): void {
  facts.tenantId = token.tenantId
  facts.principalType = token.principalType
  facts.principalId = token.objectId
  facts.clientId = token.clientId
  facts.kid = kidOf(token, text)
  facts.tokenCache = cache
}
