/**
 * Entra ID access-token verification for one API profile (CONTRACT.md §3), in the order of
 * ENTRA.md §0: everything the unverified token's own claims decide — algorithm, shape, issuer
 * form, audience, principal type — first, so a token for another API costs no JWKS fetch; then
 * signature and lifetime (fast-jwt) and the signing key's own scope (issuer, cloud). What the
 * gateway's own data says of a valid token — a block, whether its tenant is mapped — is the
 * access decision's (access/decision.ts), asked only once the signature holds.
 */
import { GatewayError, type ErrorCode } from '../errors.js'
import type { KeySource, SigningKey } from './jwks-store.js'
import { countTopLevelKey } from './json-keys.js'
import { VerifiedEntraToken, type PrincipalType, type VerifiedToken } from './verified-token.js'
import { GUID } from '../config/validation.js'

export type { PrincipalType, VerifiedToken } from './verified-token.js'

export const CONSUMER_TENANT = '9188040d-6c67-4c5b-b112-36a304b66dad'

export interface TokenProfile {
  name: string
  clientId: string
  /** Every App ID URI of the API (an Entra app may have several identifier URIs). */
  appIdUris: readonly string[]
  tenancy: 'multi' | 'single'
  tenantId: string | undefined
  principals: readonly PrincipalType[]
  /** Refuse a token without the `idtyp` optional claim; user vs app then rests on it alone. */
  requireIdtyp?: boolean | undefined
  /** `application`: the keys are the API app's own (a claims-mapping policy's signing key). */
  signingKeys?: 'tenant' | 'application' | undefined
}

export interface TokenVerifierOptions {
  profile: TokenProfile
  keys: KeySource
  /** `{authority}` already filled in; `{tenantid}` left for the token's tid. */
  v2IssuerTemplate: string
  v1IssuerTemplate: string
}

function fail (code: ErrorCode, detail: string): never {
  throw new GatewayError(code, detail)
}

export function createTokenVerifier ({ profile, keys, v2IssuerTemplate, v1IssuerTemplate }: TokenVerifierOptions): (token: string) => Promise<VerifiedToken> {
  const clientId = profile.clientId.toLowerCase()
  const v1Audiences = new Set(acceptedV1Audiences(profile))
  const pinnedTenant = profile.tenantId?.toLowerCase()

  return async function verifyEntraToken (token: string): Promise<VerifiedToken> {
    const { header, payload, payloadText } = decodeToken(token)

    if (header.alg !== 'RS256') fail('TOKEN_ALGORITHM_NOT_ALLOWED', 'Only RS256-signed tokens are accepted')
    // A header nonce marks a Microsoft Graph token, meant for another resource (ENTRA.md §4.5).
    if ('nonce' in header) fail('TOKEN_MALFORMED', 'The token is not an access token for this API')
    if ('crit' in header) fail('TOKEN_MALFORMED', 'The token names critical header extensions the gateway does not understand')
    if ('nonce' in payload || 'at_hash' in payload || 'c_hash' in payload) fail('TOKEN_MALFORMED', 'An ID token is not an access token')
    if (payload.scp === undefined && payload.roles === undefined) fail('TOKEN_MALFORMED', 'The token carries neither scp nor roles')
    if (typeof payload.exp !== 'number' || !Number.isFinite(payload.exp)) fail('TOKEN_MALFORMED', 'The token has no numeric exp')

    const tenantId = readTenant(payloadText, payload)
    if (tenantId === CONSUMER_TENANT) fail('TOKEN_ISSUER_INVALID', 'Consumer (personal) Microsoft accounts are not accepted')
    const version = issuerVersion(payload, tenantId, v2IssuerTemplate, v1IssuerTemplate)
    if (pinnedTenant !== undefined && tenantId !== pinnedTenant) fail('TOKEN_ISSUER_INVALID', 'The token was issued by another tenant')

    if (!audienceMatches(payload.aud, version === 2 ? (aud) => aud.toLowerCase() === clientId : (aud) => v1Audiences.has(aud.toLowerCase()))) {
      fail('TOKEN_AUDIENCE_INVALID', `The token is not for this API (expected a ${version === 2 ? 'v2 client id' : 'v1 App ID URI or client id'} audience)`)
    }

    // A service-principal-less token (no `oid`: an app without a service principal in the
    // tenant; Microsoft is retiring them) names no directory object to authorize, block or
    // rate-limit on (ENTRA.md §1.4; CV "Validate the tenant").
    if (typeof payload.oid !== 'string' || !GUID.test(payload.oid)) fail('PRINCIPAL_TYPE_NOT_ALLOWED', 'The token names no service principal or user object (no oid GUID)')
    const principalType = classifyPrincipal(payload, profile.requireIdtyp === true)
    if (!profile.principals.includes(principalType)) fail('PRINCIPAL_TYPE_NOT_ALLOWED', `${principalType === 'app' ? 'App-only' : 'User'} tokens are not accepted by this API`)
    const client = version === 2 ? payload.azp : payload.appid
    if (principalType === 'app') {
      const acr = version === 2 ? payload.azpacr : payload.appidacr
      if (acr !== '1' && acr !== '2') fail('PRINCIPAL_TYPE_NOT_ALLOWED', 'App-only tokens must come from a confidential client')
    }

    const keyId = typeof header.kid === 'string' && header.kid !== '' ? header.kid : typeof header.x5t === 'string' && header.x5t !== '' ? header.x5t : undefined
    if (keyId === undefined) fail('SIGNING_KEY_NOT_FOUND', 'The token names no signing key (kid or x5t)')
    const key = await keys.getKey(keyId)
    if (!key) fail('SIGNING_KEY_NOT_FOUND', 'The token\'s signing key is not published by the authority')

    const verified = verifySignature(key, token)
    // Authorize on the object whose bytes were verified (ENTRA.md §4.12): the claims read
    // before the signature came from the same text, decoded the same way; re-check the ones
    // every later step keys on.
    if (verified.tid !== payload.tid || verified.iss !== payload.iss) fail('TOKEN_MALFORMED', 'The token changed under verification')
    checkKeyScope(key, keys, tenantId, version, v2IssuerTemplate, payload.iss as string)

    return new VerifiedEntraToken(token, verified, { tenantId, version, principalType, clientId: typeof client === 'string' ? client.toLowerCase() : undefined, expiresAt: (verified.exp as number) * 1000 })
  }
}

/**
 * v1 tokens name the API by any of its App ID URIs, with or without a trailing slash, or by
 * client id (ENTRA.md §1.3), all lower case: audiences compare case-insensitively, GUIDs in
 * them included, exactly as v2's client-id audience does.
 */
export function acceptedV1Audiences (profile: Pick<TokenProfile, 'clientId' | 'appIdUris'>): string[] {
  const accepted = [profile.clientId.toLowerCase()]
  for (const appIdUri of profile.appIdUris) {
    const uri = appIdUri.replace(/\/$/, '').toLowerCase()
    accepted.push(uri, `${uri}/`)
  }
  return accepted
}

/**
 * The header and claims as fast-jwt's decoder reads them (the base64url alphabet only, then
 * base64 and JSON.parse: the same bytes, the same objects; test/token/decode-token.test.ts holds
 * the two to it), and the payload's text, which `readTenant` scans for a second `tid`: the
 * token's text is decoded once before the signature.
 */
export function decodeToken (token: string): { header: Record<string, unknown>, payload: Record<string, unknown>, payloadText: string } {
  const first = token.indexOf('.')
  const last = token.lastIndexOf('.')
  if (first <= 0 || last <= first + 1 || token.indexOf('.', first + 1) !== last) fail('TOKEN_MALFORMED', 'The token is not a compact JWS')
  const headerSegment = token.slice(0, first)
  const payloadSegment = token.slice(first + 1, last)
  const signatureSegment = token.slice(last + 1)
  if (!BASE64URL.test(headerSegment) || !BASE64URL.test(payloadSegment) || !BASE64URL.test(signatureSegment)) fail('TOKEN_MALFORMED', 'The token cannot be decoded')
  if (!endsCanonically(signatureSegment)) fail('TOKEN_MALFORMED', 'The token signature is not canonical base64url')
  const payloadText = Buffer.from(payloadSegment, 'base64').toString('utf8')
  let header: unknown
  let payload: unknown
  try {
    header = JSON.parse(Buffer.from(headerSegment, 'base64').toString('utf8'))
    payload = JSON.parse(payloadText)
  } catch {
    fail('TOKEN_MALFORMED', 'The token cannot be decoded')
  }
  if (!isPlainObject(header)) fail('TOKEN_MALFORMED', 'The token header is not a JSON object')
  // fast-jwt CVE-2026-107723: an array payload skipped every claim check.
  if (!isPlainObject(payload)) fail('TOKEN_MALFORMED', 'The token payload is not a JSON object')
  return { header, payload, payloadText }
}

// RFC 7515 allows no padding, whitespace or other characters, which Buffer.from would skip.
const BASE64URL = /^[A-Za-z0-9_-]*$/
const ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_'

/**
 * The bits a segment's last character holds past its last byte are zero (RFC 4648 §3.5).
 * Buffer.from ignores them, so without this one signature had 16 spellings (4 spare bits of an
 * RSA-2048 signature) that all verify, each its own verified-token cache entry.
 */
function endsCanonically (segment: string): boolean {
  const spare = segment.length % 4
  if (spare === 0) return true
  if (spare === 1) return false
  return (ALPHABET.indexOf(segment[segment.length - 1]!) & (spare === 2 ? 0x0f : 0x03)) === 0
}

function isPlainObject (value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === 'object' && !Array.isArray(value)
}

/** Exactly one `tid`, a GUID (IdentityModel IDX40009/IDX40011). */
function readTenant (payloadText: string, payload: Record<string, unknown>): string {
  const tid = payload.tid
  if (typeof tid !== 'string' || !GUID.test(tid)) fail('TOKEN_MALFORMED', 'The token has no tid GUID')
  for (const name of Object.keys(payload)) {
    if (name !== 'tid' && name.toLowerCase() === 'tid') fail('TOKEN_MALFORMED', 'The token carries more than one tid')
  }
  // JSON.parse keeps the last of two equal keys silently, escaped spellings (`t\u0069d`)
  // included: count the top-level keys of the payload text once unescaped.
  if (countTopLevelKey(payloadText, 'tid') !== 1) fail('TOKEN_MALFORMED', 'The token carries more than one tid')
  return tid.toLowerCase()
}

/** `iss` must be the v2 or v1 form with the token's own `tid`, and `ver` must agree with it. */
function issuerVersion (payload: Record<string, unknown>, tenantId: string, v2Template: string, v1Template: string): 1 | 2 {
  const iss = payload.iss
  if (typeof iss !== 'string') fail('TOKEN_ISSUER_INVALID', 'The token issuer is not a single string')
  const tid = payload.tid as string
  let version: 1 | 2
  if (iss === v2Template.replace('{tenantid}', tid) || iss === v2Template.replace('{tenantid}', tenantId)) version = 2
  else if (iss === v1Template.replace('{tenantid}', tid) || iss === v1Template.replace('{tenantid}', tenantId)) version = 1
  else fail('TOKEN_ISSUER_INVALID', 'The token issuer does not match its tenant')
  if (payload.ver !== (version === 2 ? '2.0' : '1.0')) fail('TOKEN_ISSUER_INVALID', 'The token version does not agree with its issuer')
  return version
}

function audienceMatches (aud: unknown, accepts: (aud: string) => boolean): boolean {
  if (typeof aud === 'string') return accepts(aud)
  return Array.isArray(aud) && aud.some((item) => typeof item === 'string' && accepts(item))
}

const SIGNATURE_ERRORS: Record<string, ErrorCode> = {
  FAST_JWT_EXPIRED: 'TOKEN_EXPIRED',
  FAST_JWT_INACTIVE: 'TOKEN_NOT_YET_VALID',
  FAST_JWT_INVALID_ALGORITHM: 'TOKEN_ALGORITHM_NOT_ALLOWED',
  FAST_JWT_INVALID_SIGNATURE: 'TOKEN_SIGNATURE_INVALID',
  FAST_JWT_MISSING_SIGNATURE: 'TOKEN_SIGNATURE_INVALID'
}

function verifySignature (key: SigningKey, token: string): Record<string, unknown> {
  let verified: unknown
  try {
    verified = key.verify(token)
  } catch (err) {
    const code = SIGNATURE_ERRORS[(err as { code?: string }).code ?? ''] ?? 'TOKEN_MALFORMED'
    fail(code, code === 'TOKEN_EXPIRED' ? 'The token has expired' : code === 'TOKEN_NOT_YET_VALID' ? 'The token is not valid yet' : code === 'TOKEN_SIGNATURE_INVALID' ? 'The token signature does not verify' : 'The token cannot be verified')
  }
  if (!isPlainObject(verified)) fail('TOKEN_MALFORMED', 'The token payload is not a JSON object')
  return verified
}

/**
 * The key that verified the signature must be meant for this tenant and cloud (ENTRA.md §2.3,
 * the Storm-0558 class): its `issuer` with `{tenantid}` = tid is the token's v2 issuer (v1
 * tokens are checked against the v2 form, since v1 keys carry no issuer).
 */
function checkKeyScope (key: SigningKey, keys: KeySource, tenantId: string, version: 1 | 2, v2Template: string, iss: string): void {
  if (key.issuer !== undefined) {
    const expected = version === 2 ? iss : v2Template.replace('{tenantid}', tenantId)
    if (key.issuer.replace('{tenantid}', tenantId).toLowerCase() !== expected.toLowerCase()) {
      fail('TOKEN_SIGNATURE_INVALID', 'The signing key is not meant for this tenant')
    }
  }
  if (key.cloudInstanceName !== undefined && key.cloudInstanceName !== keys.cloudInstanceName) {
    fail('TOKEN_SIGNATURE_INVALID', 'The signing key belongs to another cloud')
  }
}

const IDTYP_MISSING = 'The token carries no idtyp claim: add the optional claim idtyp to the access token in the API\'s app registration (Token configuration), with its additional property include_user_token for user tokens'

/**
 * App-only when `idtyp` = app, or without `idtyp` when there is no `scp` and `oid` = `sub`
 * (ENTRA.md §1.4). With `requireIdtyp` the claim alone decides ("the most accurate way", OCR):
 * a token without it, or with another value, is refused rather than inferred.
 */
function classifyPrincipal (payload: Record<string, unknown>, requireIdtyp: boolean): PrincipalType {
  if (requireIdtyp) {
    if (payload.idtyp === 'app' || payload.idtyp === 'user') return payload.idtyp
    fail('PRINCIPAL_TYPE_NOT_ALLOWED', payload.idtyp === undefined ? IDTYP_MISSING : 'The token\'s idtyp claim is neither app nor user')
  }
  if (payload.idtyp === 'app') return 'app'
  if (payload.idtyp === undefined && payload.scp === undefined && payload.oid === payload.sub) return 'app'
  return 'user'
}

/** The unverified `aud` of a token, only to pick the profile that then verifies it. */
export function peekAudience (token: string): unknown {
  return decodeToken(token).payload.aud
}
