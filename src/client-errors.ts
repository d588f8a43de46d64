import { randomUUID } from 'node:crypto'
import type { Socket } from 'node:net'
import type { AccessLog } from './logger.js'
import type { RequestRecorder } from './metrics.js'
import { GatewayError } from './errors.js'
import { PROBLEM_CONTENT_TYPE, toProblem } from './plugins/problem-errors.js'

/** What Node's HTTP parser refused, in words that never quote the request. */
function detailFor (code: string | undefined): string {
  if (code === 'HPE_HEADER_OVERFLOW') return 'The request head is larger than the gateway accepts'
  if (code === 'ERR_HTTP_REQUEST_TIMEOUT') return 'The request was not received in time'
  return 'The request is not valid HTTP/1.1'
}

/**
 * Fastify `clientErrorHandler`: a request Node's parser refuses (a bad header name, a broken
 * chunk, an oversized head) is answered like every other refusal — problem+json
 * `REQUEST_INVALID` with an `x-request-id`, one log line and the request metrics — instead of
 * Fastify's plain JSON. Nothing of the request is echoed: its target may carry a token.
 */
export function createClientErrorHandler ({ record, accessLog }: { record: RequestRecorder, accessLog: AccessLog }): (error: Error & { code?: string }, socket: Socket) => void {
  return function answerClientError (error, socket) {
    // A reset connection has nothing left to answer (Node's own rule, http `clientError`).
    if (error.code === 'ECONNRESET' || socket.destroyed) return
    const requestId = randomUUID()
    const body = JSON.stringify(toProblem(new GatewayError('REQUEST_INVALID', detailFor(error.code)), requestId))
    if (socket.writable) {
      socket.write(`HTTP/1.1 400 Bad Request\r\ncontent-type: ${PROBLEM_CONTENT_TYPE}\r\ncontent-length: ${Buffer.byteLength(body)}\r\nx-request-id: ${requestId}\r\nconnection: close\r\n\r\n${body}`)
    }
    socket.destroy()
    record(CLIENT_ERROR_ROUTE, 400, 0)
    accessLog({ requestId, method: '-', path: '-', route: CLIENT_ERROR_ROUTE, status: 400, durationMs: 0 })
  }
}

/** The `route` label of requests refused before they could be parsed. */
export const CLIENT_ERROR_ROUTE = '_invalid'
