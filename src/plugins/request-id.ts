import { randomUUID } from 'node:crypto'
import fp from 'fastify-plugin'
import type { FastifyInstance } from 'fastify'
import type { IncomingMessage } from 'node:http'

/** CONTRACT.md §6: an inbound id is kept when it is 1–128 chars of [A-Za-z0-9._-]. */
const VALID_REQUEST_ID = /^[A-Za-z0-9._-]{1,128}$/

/** Fastify `genReqId`: the inbound `x-request-id` when valid, else a new UUID. */
export function requestIdFor (req: IncomingMessage): string {
  const inbound = req.headers['x-request-id']
  return typeof inbound === 'string' && VALID_REQUEST_ID.test(inbound) ? inbound : randomUUID()
}

/**
 * Every answer carries the id, proxied or not, so a caller can quote it. Set on arrival: the
 * proxy hop writes its answer past Fastify's onSend, and an error answer keeps the header.
 */
async function requestId (app: FastifyInstance): Promise<void> {
  app.addHook('onRequest', function echoRequestId (request, reply, done) {
    reply.header('x-request-id', request.id)
    done()
  })
}

export default fp(requestId, { name: 'request-id', fastify: '5.x' })
