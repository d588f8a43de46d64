/**
 * The gateway's own response headers, built by one function for every answer of the proxy port:
 * the answers Fastify sends (problem+json refusals, `/_gateway/me`, CORS preflights, WebSocket
 * refusals) through the hook below, and the proxied ones, which the hop writes past Fastify's
 * onSend, by calling the same function (handed to proxy-routes.ts by app.ts).
 */
import fp from 'fastify-plugin'
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import type { Health } from '../observability/health.js'
import { createOriginCheck } from './cors.js'
import { varyWith } from './vary.js'

export type GatewayHeaders = (request: FastifyRequest) => Record<string, string>

/**
 * A header added here reaches every answer:
 * - `x-request-id` (CONTRACT.md §6), so a caller can quote it;
 * - for a listed Management UI origin, the CORS answer headers (§8), credentials included; any
 *   other origin gets none, so the browser refuses;
 * - with CORS configured, `Vary: Origin` on every answer, with an Origin or without, listed or
 *   not: the answer depends on it, so a shared cache must not serve one origin's answer to
 *   another (Fetch standard, "CORS protocol and HTTP caches"). It is added to an answer's own
 *   `Vary` (§1), never put in its place: `vary` is the one header merged rather than set;
 * - `connection: close` once draining, so the client takes its next request elsewhere (§9).
 */
export function createGatewayHeaders ({ corsOrigins, health }: { corsOrigins: readonly string[], health: Health }): GatewayHeaders {
  const isListedOrigin = createOriginCheck(corsOrigins)
  const varyOnOrigin = corsOrigins.length > 0
  return function gatewayHeaders (request) {
    const headers: Record<string, string> = { 'x-request-id': request.id }
    const origin = request.headers.origin
    if (isListedOrigin(origin)) {
      headers['access-control-allow-origin'] = origin
      headers['access-control-allow-credentials'] = 'true'
      headers['access-control-expose-headers'] = 'x-request-id, www-authenticate'
    }
    if (varyOnOrigin) headers.vary = 'Origin'
    if (health.draining) headers.connection = 'close'
    return headers
  }
}

/** Applies the gateway's headers to an answer Fastify sends (every answer but a proxied one). */
function applyOnSend (gatewayHeaders: GatewayHeaders) {
  return function addGatewayHeaders (request: FastifyRequest, reply: FastifyReply, payload: unknown, done: (err: null, payload: unknown) => void): void {
    const headers = gatewayHeaders(request)
    if (headers.vary !== undefined) headers.vary = varyWith(reply.getHeader('vary'), headers.vary)
    reply.headers(headers)
    done(null, payload)
  }
}

async function responseHeaders (app: FastifyInstance, { gatewayHeaders }: { gatewayHeaders: GatewayHeaders }): Promise<void> {
  app.addHook('onSend', applyOnSend(gatewayHeaders))
}

export default fp(responseHeaders, { name: 'response-headers', fastify: '5.x' })
