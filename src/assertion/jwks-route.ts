/**
 * The assertion's public keys (CONTRACT.md §11), on the proxy port at `/_gateway/jwks.json`
 * (no token: a backend fetches it) and on the admin port at `/jwks.json`. Cached by backends
 * for five minutes, which is why a rotation waits 300 s before a new key signs.
 */
import type { FastifyInstance } from 'fastify'
import type { AssertionSigner } from './signer.js'
import { routeNotFound } from '../errors.js'

export const JWKS_PATH = '/_gateway/jwks.json'
const JWKS_CACHE_CONTROL = 'public, max-age=300'

/**
 * `signer` as a function: the keys of whichever config is active when asked (the admin port,
 * which outlives reloads); 404 while none is configured.
 */
export default async function assertionJwks (app: FastifyInstance, { signer, path }: { signer: AssertionSigner | undefined | (() => AssertionSigner | undefined), path: string }): Promise<void> {
  if (signer === undefined) return
  const signerNow = typeof signer === 'function' ? signer : () => signer
  const bodies = new WeakMap<AssertionSigner, string>()
  app.get(path, { config: { routeName: '_gateway_jwks' } }, async function jwks (_request, reply) {
    const active = signerNow()
    if (active === undefined) throw routeNotFound()
    let body = bodies.get(active)
    if (body === undefined) bodies.set(active, body = JSON.stringify(active.jwks))
    reply.header('cache-control', JWKS_CACHE_CONTROL).type('application/json')
    return body
  })
}
