/** The request id of CONTRACT.md §6: the inbound one when it is well-formed, else a new one. */
import { randomUUID } from 'node:crypto'
import type { IncomingMessage } from 'node:http'

/** CONTRACT.md §6: an inbound id is kept when it is 1–128 chars of [A-Za-z0-9._-]. */
const VALID_REQUEST_ID = /^[A-Za-z0-9._-]{1,128}$/

/** Fastify `genReqId`: the inbound `x-request-id` when valid, else a new UUID. */
export function requestIdFor (req: IncomingMessage): string {
  const inbound = req.headers['x-request-id']
  return typeof inbound === 'string' && VALID_REQUEST_ID.test(inbound) ? inbound : randomUUID()
}
