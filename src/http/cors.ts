/**
 * CORS preflights for the Management UI (CONTRACT.md §8): answered 204 at the edge, never
 * proxied; a listed origin gets the methods and headers it may use, any other origin no CORS
 * header at all (so the browser refuses).
 */
import fp from 'fastify-plugin'
import type { FastifyInstance } from 'fastify'
import type { Config } from '../config/schema.js'
import { PROXIED_METHODS } from './methods.js'

const ALLOWED_METHODS = PROXIED_METHODS.join(', ')
const MAX_AGE_SEC = '600'

/** Whether an `Origin` is one of the configured ones (compared case-insensitively). */
export function createOriginCheck (configured: readonly string[]): (origin: string | string[] | undefined) => origin is string {
  const origins = new Set(configured.map((o) => o.toLowerCase()))
  return function isListedOrigin (origin): origin is string {
    return origins.size > 0 && typeof origin === 'string' && origins.has(origin.toLowerCase())
  }
}

async function cors (app: FastifyInstance, { config }: { config: Readonly<Config> }): Promise<void> {
  // No origin configured: no browser caller, so no hook on the request path at all.
  if (config.cors.origins.length === 0) return
  const isListedOrigin = createOriginCheck(config.cors.origins)
  const allowedHeaders = ['authorization', 'content-type', config.headers.bankSelection.toLowerCase(), 'x-request-id', 'traceparent'].join(', ')

  // The answer headers for a listed origin come with every answer (response-headers.ts); a
  // preflight also gets what it asks about, and is answered here, never proxied.
  app.addHook('onRequest', function answerPreflight (request, reply, done) {
    const origin = request.headers.origin
    if (request.method !== 'OPTIONS' || origin === undefined || request.headers['access-control-request-method'] === undefined) {
      done()
      return
    }
    if (isListedOrigin(origin)) {
      reply.header('access-control-allow-methods', ALLOWED_METHODS)
      reply.header('access-control-allow-headers', allowedHeaders)
      reply.header('access-control-max-age', MAX_AGE_SEC)
    }
    reply.code(204).send()
  })
}

export default fp(cors, { name: 'cors', fastify: '5.x' })
