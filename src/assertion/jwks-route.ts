/**
 * The assertion's public keys (CONTRACT.md §11), on the proxy port at `/_gateway/jwks.json`
 * (no token: a backend fetches it) and on the admin port at `/jwks.json`. Cached by backends
 * for five minutes, which is why a rotation waits 300 s before a new key signs.
 */
import type { FastifyInstance } from 'fastify'
import type { AssertionSigner } from './signer.js'

export const JWKS_PATH = '/_gateway/jwks.json'
const JWKS_CACHE_CONTROL = 'public, max-age=300'

export default async function assertionJwks (app: FastifyInstance, { signer, path }: { signer: AssertionSigner | undefined, path: string }): Promise<void> {
  if (signer === undefined) return
  const body = JSON.stringify(signer.jwks)
  app.get(path, { config: { routeName: '_gateway_jwks' } }, async function jwks (_request, reply) {
    reply.header('cache-control', JWKS_CACHE_CONTROL).type('application/json')
    return body
  })
}
