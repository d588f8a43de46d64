/**
 * The signed identity assertion (CONTRACT.md §11): the facts of the `x-bookme-*` headers as an
 * ES256 JWT for one route's audience, so a backend can verify who called instead of trusting
 * the network path. The first key signs; every key is published (rotation). An assertion is
 * signed once per (token, bank context, audience) and reused until a margin before its `exp`:
 * a warm request signs nothing.
 */
import { createPublicKey, type JsonWebKey, type KeyObject } from 'node:crypto'
import { createSigner } from 'fast-jwt'
import type { Grant } from '../access/index.js'
import type { RouteConfig } from '../config/schema.js'
import { tokenMemo } from '../token/index.js'

export interface AssertionKey {
  kid: string
  /** An EC P-256 private key (checked when loaded: keys.ts). */
  privateKey: KeyObject
}

export interface AssertionSignerOptions {
  issuer: string
  ttlSec: number
  /** `entra.clockToleranceSec`: how long past its `exp` the gateway still admits a token. */
  clockToleranceSec: number
  keys: readonly AssertionKey[]
  now?: () => number
}

export interface PublishedKey extends JsonWebKey { kid: string, use: 'sig', alg: 'ES256' }

export interface AssertionSigner {
  /** The compact JWS for this decision and audience. */
  assertionFor (decision: Grant, audience: string): string
  /** Every key's public JWK. */
  readonly jwks: { keys: PublishedKey[] }
}

/** Per token, at most this many (bank context, audience) assertions are kept. */
const PER_TOKEN = 16

/** `mapped`: the roles, teams and business units it states; a reload's new rules make a new one. */
interface Signed { jws: string, reuseUntil: number, api: string, bankIds: readonly string[], mapped: unknown }

/** The audience a route's assertion is signed for (§11): `assertion.audience`, else the route's name; none with `assertion: false`. */
export function assertionAudience (route: Pick<RouteConfig, 'name' | 'assertion'>): string | undefined {
  return route.assertion === false ? undefined : route.assertion?.audience ?? route.name
}

/** The request header that carries the assertion: the identity prefix's `assertion`. */
export function assertionHeaderName (headerPrefix: string): string {
  return `${headerPrefix.toLowerCase()}assertion`
}

export function createAssertionSigner ({ issuer, ttlSec, clockToleranceSec, keys, now = Date.now }: AssertionSignerOptions): AssertionSigner {
  const [signing] = keys
  if (signing === undefined) throw new Error('the assertion needs at least one key')
  const sign = createSigner({
    algorithm: 'ES256',
    key: signing.privateKey.export({ format: 'pem', type: 'pkcs8' }).toString(),
    kid: signing.kid
  })
  // Reissued when less than a quarter of the lifetime (at most 15 s) is left: a backend then never
  // receives an assertion about to expire in transit.
  const marginMs = Math.min(15_000, ttlSec * 250)
  const jwks = { keys: keys.map(publicJwk) }
  // One slot per signer: after a reload that changes the keys, nothing signed with the old ones is reused.
  const ASSERTIONS = tokenMemo<Map<string, Signed>>('assertions')

  return {
    jwks,
    assertionFor (decision, audience) {
      const { token, bank, api, mapped } = decision
      const kept = token.memo(ASSERTIONS, () => new Map<string, Signed>())
      // Keyed by what varies per request; the rest of the context is compared on a hit.
      const key = bank.activeBankId === null ? audience : `${audience}\n${bank.activeBankId}`
      const at = now()
      const known = kept.get(key)
      if (known !== undefined && at < known.reuseUntil && known.api === api && known.mapped === mapped && sameList(known.bankIds, bank.bankIds)) return known.jws
      // §11: never past the instant the token stops being admitted (its exp + the tolerance: a
      // token inside the tolerance is already past its own exp, and capping at that exp made the
      // assertion born expired), and always after iat. fast-jwt admits that instant itself (ms,
      // inclusive), so iat steps a second back there. A kept assertion's exp obeys the same limit.
      const admittedUntil = Math.floor(token.expiresAt / 1000) + clockToleranceSec
      const iat = Math.min(Math.floor(at / 1000), admittedUntil - 1)
      const exp = Math.min(iat + ttlSec, admittedUntil)
      const jws = sign({ ...claimsOf(decision, issuer, audience), iat, exp })
      if (kept.size >= PER_TOKEN) kept.clear()
      kept.set(key, { jws, reuseUntil: exp * 1000 - marginMs, api, bankIds: bank.bankIds, mapped })
      return jws
    }
  }
}

/** The §11 claims: the facts of the identity headers, lists as JSON arrays, `name` for users only. */
export function claimsOf (decision: Grant, issuer: string, audience: string): Record<string, unknown> {
  const { token, bank, mapped, api } = decision
  const claims: Record<string, unknown> = {
    iss: issuer,
    aud: audience,
    sub: token.principalType === 'user' ? token.objectId : token.clientId,
    oid: token.objectId,
    tid: token.tenantId,
    bank_id: bank.activeBankId,
    bank_ids: bank.bankIds,
    principal_type: token.principalType,
    client_id: token.clientId,
    roles: mapped.effectiveRoles,
    scopes: token.scopes === undefined ? [] : token.scopes.split(' ').filter(Boolean),
    teams: mapped.teams,
    business_units: mapped.businessUnits,
    api
  }
  if (token.principalType === 'user' && token.userName !== undefined) claims.name = token.userName
  return claims
}

function sameList (a: readonly string[], b: readonly string[]): boolean {
  if (a === b) return true
  if (a.length !== b.length) return false
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false
  return true
}

function publicJwk ({ kid, privateKey }: AssertionKey): PublishedKey {
  const { kty, crv, x, y } = createPublicKey(privateKey).export({ format: 'jwk' })
  return { kty, crv, x, y, kid, use: 'sig', alg: 'ES256' }
}
