/**
 * The HTTP side of the JWKS store (jwks-store.ts): fetching the discovery and keys documents,
 * and parsing each key once into what verification needs.
 */
import { createPublicKey, type KeyObject } from 'node:crypto'
import { createVerifier } from 'fast-jwt'
import { failureReason } from '../backends/failure-reason.js'
import type { SigningKey } from './jwks-store.js'

/** Every failure names the URL and its cause (`GET https://…: connect ECONNREFUSED …`). */
export async function fetchJson (url: string, timeoutMs: number): Promise<unknown> {
  const signal = AbortSignal.timeout(timeoutMs)
  let response: Response
  try {
    response = await fetch(url, { signal, redirect: 'error', headers: { accept: 'application/json' } })
  } catch (err) {
    throw new Error(`GET ${url}: ${failureReason(err, timeoutMs)}`, { cause: err })
  }
  if (!response.ok) throw new Error(`GET ${url}: HTTP ${response.status}`)
  try {
    return await response.json()
  } catch (err) {
    throw new Error(`GET ${url}: ${signal.aborted ? `timeout after ${timeoutMs} ms` : 'the answer is not JSON'}`, { cause: err })
  }
}

/** The JWKS must come from the authority that published the discovery document. */
export function assertSameOrigin (discoveryUrl: string, jwksUri: string): void {
  if (new URL(jwksUri).origin !== new URL(discoveryUrl).origin) throw new Error(`jwks_uri ${jwksUri} is not on the discovery origin`)
}

/** RSA signing keys only; anything else in the set is ignored. */
export function parseJwk (jwk: unknown, seenAt: number, clockToleranceSec: number, verifyAt: number | undefined): SigningKey | undefined {
  if (jwk === null || typeof jwk !== 'object') return undefined
  const { kty, kid, x5t, use, n, e, issuer, cloud_instance_name: cloud } = jwk as Record<string, unknown>
  if (kty !== 'RSA' || (use !== undefined && use !== 'sig') || typeof n !== 'string' || typeof e !== 'string') return undefined
  const id = typeof kid === 'string' && kid !== '' ? kid : typeof x5t === 'string' && x5t !== '' ? x5t : undefined
  if (!id) return undefined
  let key: KeyObject
  try {
    key = createPublicKey({ key: { kty: 'RSA', n, e }, format: 'jwk' })
  } catch {
    return undefined
  }
  // fast-jwt takes PEM only; converted here, once per key, never per request.
  const pem = key.export({ type: 'spki', format: 'pem' }) as string
  const verify = createVerifier({
    key: pem,
    algorithms: ['RS256'],
    requiredClaims: ['exp'],
    clockTolerance: clockToleranceSec * 1000,
    ...(verifyAt !== undefined ? { clockTimestamp: verifyAt } : {}),
    cache: false
  })
  return {
    id,
    x5t: typeof x5t === 'string' ? x5t : undefined,
    key,
    issuer: typeof issuer === 'string' ? issuer : undefined,
    cloudInstanceName: typeof cloud === 'string' ? cloud : undefined,
    verify,
    lastSeen: seenAt
  }
}
