/**
 * One verifier per API profile, behind the verified-token cache. A cache hit needs the same
 * whole token and the same profile, so a token verified for one profile is never taken from
 * cache for another, and a verified token's signature never vouches for other bytes. It only
 * verifies: what the gateway's own data says of a valid token (blocks, mapped tenants) is asked
 * by the access decision, on every request, cache hit or not (access/decision.ts).
 */
import { acceptedV1Audiences, createTokenVerifier, type TokenProfile, type VerifiedToken } from './entra-token.js'
import { createTokenCache } from './token-cache.js'
import type { MaybePromise } from '../maybe-promise.js'
import type { JwksStore } from './jwks-store.js'

export interface AuthenticatorOptions {
  profiles: Readonly<Record<string, Omit<TokenProfile, 'name'>>>
  authority: string
  v2IssuerTemplate: string
  v1IssuerTemplate: string
  store: JwksStore
  tokenCache: { maxEntries: number, ttlSec: number }
  onCacheLookup?: (result: 'hit' | 'miss') => void
}

export interface Authenticator {
  /** The verified token: from the cache synchronously, else a promise of the verification. */
  verify (profileName: string, token: string): MaybePromise<VerifiedToken>
  /** The profile whose audience an (unverified) token names, for `/_gateway/me`. */
  profileForAudience (aud: unknown): string | undefined
  /** The discovery URL each profile's keys come from. */
  discoveryUrlOf (profileName: string): string
}

/**
 * The profile's discovery document. `signingKeys: application` asks for the API app's own keys:
 * an app whose claims-mapping policy signs its tokens with its own key has them published at
 * the `jwks_uri` of the discovery document with `?appid={clientId}` (ENTRA.md §2.1; AT
 * "Validate the signature").
 */
export function discoveryUrl (authority: string, profile: Pick<TokenProfile, 'tenancy' | 'tenantId' | 'clientId' | 'signingKeys'>): string {
  const tenant = profile.tenancy === 'single' ? profile.tenantId : 'common'
  const appKeys = profile.signingKeys === 'application' ? `?appid=${encodeURIComponent(profile.clientId)}` : ''
  return `${authority}/${tenant}/v2.0/.well-known/openid-configuration${appKeys}`
}

/**
 * The last 43 characters, the last ~254 bits of an RS256 signature (its spelling is canonical:
 * entra-token.ts): no two tokens share them unless one copied the other's signature, which then
 * does not verify. Hashing the whole ~1 KB token, or finding and hashing the whole signature,
 * was the costliest lookup on the request path.
 */
const CACHE_KEY_LENGTH = 43

function cacheKeyOf (token: string): string {
  return token.length <= CACHE_KEY_LENGTH ? token : token.slice(-CACHE_KEY_LENGTH)
}

export function createAuthenticator (options: AuthenticatorOptions): Authenticator {
  const authority = options.authority.replace(/\/+$/, '')
  const v2IssuerTemplate = options.v2IssuerTemplate.replace('{authority}', authority)
  const v1IssuerTemplate = options.v1IssuerTemplate.replace('{authority}', authority)
  // Keyed by the token's last characters (cacheKeyOf); a hit still needs the whole token and the
  // profile to match, so it means exactly what a whole-token key would.
  const cache = createTokenCache<{ token: string, profileName: string, verified: VerifiedToken }>(options.tokenCache)
  const verifiers = new Map<string, (token: string) => Promise<VerifiedToken>>()
  const urls = new Map<string, string>()
  const audiences = new Map<string, string>()
  // A client often fires several requests with a fresh token at once (an SPA loading a page):
  // they share one verification instead of each paying for the signature.
  const verifying = new Map<string, Promise<VerifiedToken>>()

  for (const [name, profile] of Object.entries(options.profiles)) {
    const url = discoveryUrl(authority, profile)
    urls.set(name, url)
    verifiers.set(name, createTokenVerifier({
      profile: { ...profile, name },
      keys: options.store.source(url),
      v2IssuerTemplate,
      v1IssuerTemplate
    }))
    for (const aud of acceptedV1Audiences(profile)) {
      if (!audiences.has(aud.toLowerCase())) audiences.set(aud.toLowerCase(), name)
    }
  }

  return {
    verify (profileName, token) {
      const key = cacheKeyOf(token)
      const entry = cache.get(key)
      const cached = entry !== undefined && entry.token === token && entry.profileName === profileName ? entry.verified : undefined
      options.onCacheLookup?.(cached ? 'hit' : 'miss')
      if (cached) return cached
      const verifyingKey = `${profileName}\u0000${token}`
      const pending = verifying.get(verifyingKey)
      if (pending) return pending
      const verify = verifiers.get(profileName)
      if (!verify) return Promise.reject(new Error(`no API profile "${profileName}"`))
      const verification = verify(token).then((verified) => {
        cache.set(key, { token, profileName, verified }, verified.expiresAt)
        return verified
      }).finally(() => verifying.delete(verifyingKey))
      verifying.set(verifyingKey, verification)
      return verification
    },
    profileForAudience (aud) {
      const candidates = Array.isArray(aud) ? aud : [aud]
      for (const candidate of candidates) {
        if (typeof candidate !== 'string') continue
        const name = audiences.get(candidate.toLowerCase())
        if (name) return name
      }
      return undefined
    },
    discoveryUrlOf (profileName) { return urls.get(profileName) ?? '' }
  }
}
