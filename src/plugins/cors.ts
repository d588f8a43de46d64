import fp from 'fastify-plugin'
import type { FastifyInstance } from 'fastify'
import type { Config } from '../config/schema.js'

/**
 * CORS for the Management UI (CONTRACT.md §8): preflights are answered 204 at the edge, never
 * proxied; a listed origin gets the allow headers, credentials included, any other origin gets
 * no CORS header at all (so the browser refuses). Answers to listed origins carry
 * `Access-Control-Allow-Origin` for that exact origin and `Vary: Origin` for caches.
 */
const ALLOWED_METHODS = 'GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS'
const MAX_AGE_SEC = '600'

async function cors (app: FastifyInstance, { config }: { config: Readonly<Config> }): Promise<void> {
  const origins = new Set(config.cors.origins.map((o) => o.toLowerCase()))
  // No origin configured: no browser caller, so no hook on the request path at all.
  if (origins.size === 0) return
  const allowedHeaders = ['authorization', 'content-type', config.headers.bankSelection.toLowerCase(), 'x-request-id', 'traceparent'].join(', ')

  app.addHook('onRequest', function answerCors (request, reply, done) {
    const origin = request.headers.origin
    const listed = typeof origin === 'string' && origins.has(origin.toLowerCase())
    const preflight = request.method === 'OPTIONS' && origin !== undefined && request.headers['access-control-request-method'] !== undefined
    if (listed) {
      reply.header('access-control-allow-origin', origin)
      reply.header('access-control-allow-credentials', 'true')
      reply.header('access-control-expose-headers', 'x-request-id, www-authenticate')
      reply.header('vary', 'Origin')
    }
    if (!preflight) {
      done()
      return
    }
    if (listed) {
      reply.header('access-control-allow-methods', ALLOWED_METHODS)
      reply.header('access-control-allow-headers', allowedHeaders)
      reply.header('access-control-max-age', MAX_AGE_SEC)
    }
    reply.code(204).send()
  })
}

export default fp(cors, { name: 'cors', fastify: '5.x' })
