import fp from 'fastify-plugin'
import type { FastifyInstance } from 'fastify'
import type { Config } from '../config/schema.js'

/**
 * CORS preflights for the Management UI (CONTRACT.md §8): answered 204 at the edge, never
 * proxied; a listed origin gets the methods and headers it may use, any other origin no CORS
 * header at all (so the browser refuses).
 */
const ALLOWED_METHODS = 'GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS'
const MAX_AGE_SEC = '600'

async function cors (app: FastifyInstance, { config }: { config: Readonly<Config> }): Promise<void> {
  const origins = new Set(config.cors.origins.map((o) => o.toLowerCase()))
  // No origin configured: no browser caller, so no hook on the request path at all.
  if (origins.size === 0) return
  const allowedHeaders = ['authorization', 'content-type', config.headers.bankSelection.toLowerCase(), 'x-request-id', 'traceparent'].join(', ')

  // The answer headers for a listed origin come with every answer (response-headers.ts); a
  // preflight also gets what it asks about, and is answered here, never proxied.
  app.addHook('onRequest', function answerPreflight (request, reply, done) {
    const origin = request.headers.origin
    if (request.method !== 'OPTIONS' || origin === undefined || request.headers['access-control-request-method'] === undefined) {
      done()
      return
    }
    if (origins.has(origin.toLowerCase())) {
      reply.header('access-control-allow-methods', ALLOWED_METHODS)
      reply.header('access-control-allow-headers', allowedHeaders)
      reply.header('access-control-max-age', MAX_AGE_SEC)
    }
    reply.code(204).send()
  })
}

export default fp(cors, { name: 'cors', fastify: '5.x' })
