/**
 * Step-up authentication (CONTRACT.md §13): a route's Conditional Access authentication
 * context (`c1` … `c99`) must be among the token's `acrs`. A token without it gets the claims
 * challenge MSAL answers by signing the user in again with that context.
 */
import { GatewayError } from '../../errors.js'
import { asciiLower } from '../roles.js'
import { tokenMemo, type VerifiedToken } from '../../token/index.js'
import type { RouteCheck } from './list.js'
import type { DeciderOptions } from '../decision.js'

const ACRS = tokenMemo<readonly string[]>('acrs')

/** The authentication contexts a token satisfies: `acrs` as a list (a string is one value). */
export function authContextsOf (token: VerifiedToken): readonly string[] {
  return token.memo(ACRS, (claims) => {
    const acrs = claims.acrs
    const values = typeof acrs === 'string' ? [acrs] : Array.isArray(acrs) ? acrs.filter((v): v is string => typeof v === 'string') : []
    return Object.freeze([...new Set(values)])
  })
}

/**
 * The `claims` parameter of the challenge: the claims request of OpenID Connect Core §5.5 that
 * asks for the context as essential, base64 (standard alphabet, padded), as Entra's own
 * challenges and MSAL's `WithClaims`/`claims` expect it.
 */
function claimsChallengeFor (authContext: string): string {
  return Buffer.from(JSON.stringify({ access_token: { acrs: { essential: true, value: authContext } } })).toString('base64')
}

/** `entra.authority`'s default (config/schema.ts), for a caller that names none. */
const DEFAULT_AUTHORITY = 'https://login.microsoftonline.com'

/**
 * `WWW-Authenticate` of AUTH_CONTEXT_REQUIRED, byte for byte as §13 writes it: the parameters
 * Microsoft's claims-challenge format requires ("Claims challenges, claims requests and client
 * capabilities", learn.microsoft.com) — `realm` the token's tenant and `authorization_uri`
 * that tenant's authorize endpoint at the configured authority, so the client signs the user in
 * again at the right tenant, then `error` and `claims`.
 */
function authContextChallenge (authContext: string, tenantId: string, authority: string): string {
  const authorizationUri = `${authority.replace(/\/+$/, '')}/${tenantId}/oauth2/v2.0/authorize`
  return `Bearer realm="${tenantId}", authorization_uri="${authorizationUri}", error="insufficient_claims", claims="${claimsChallengeFor(authContext)}"`
}

function requireAuthContext (token: VerifiedToken, authContext: string, authority = DEFAULT_AUTHORITY): void {
  const wanted = asciiLower(authContext)
  for (const value of authContextsOf(token)) if (value === wanted || asciiLower(value) === wanted) return
  throw new GatewayError('AUTH_CONTEXT_REQUIRED', `This route needs the authentication context ${authContext}; sign in again with the claims challenge`, {
    challenge: authContextChallenge(authContext, token.tenantId, authority)
  })
}

export function createAuthContextCheck ({ authority }: DeciderOptions): RouteCheck {
  return function checkAuthContext (request, grant) {
    const wanted = request.route?.authContext
    if (wanted !== undefined) requireAuthContext(grant.token, wanted, authority)
  }
}
