// Verifying the BookMe gateway's identity assertion in a Node service (README, "Verifying the
// assertion in your service"). Needs `jose` (npm install jose); the gateway's test suite runs
// this very file against a live gateway.
import { createRemoteJWKSet, jwtVerify, type JWTPayload } from 'jose'

export interface BookMeIdentity extends JWTPayload {
  tid: string
  bank_id: string | null
  bank_ids: string[]
  principal_type: 'user' | 'app'
  oid?: string
  client_id?: string
  roles: string[]
  scopes: string[]
  teams: string[]
  business_units: string[]
  api: string
  name?: string
}

/**
 * `audience` is this service's own: the gateway route's `assertion.audience`, by default the
 * route's name. The key set is fetched once and cached (refetched for a new `kid`).
 */
export function createAssertionVerifier ({ jwksUrl, issuer = 'https://bookme-gateway', audience }: { jwksUrl: string, issuer?: string, audience: string }) {
  const keys = createRemoteJWKSet(new URL(jwksUrl))
  const verify = async (headers: Record<string, string | string[] | undefined>, options: { currentDate?: Date } = {}): Promise<BookMeIdentity> => {
    const assertion = headers['x-bookme-assertion']
    if (typeof assertion !== 'string') throw new Error('no x-bookme-assertion: not called through the gateway')
    const { payload } = await jwtVerify<BookMeIdentity>(assertion, keys, { issuer, audience, algorithms: ['ES256'], ...options })
    return payload // read the caller's identity from here, not from the x-bookme-* headers
  }
  return Object.assign(verify, { keys })
}
