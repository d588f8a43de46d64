/**
 * Requests Node's HTTP parser refuses before Fastify sees them, answered like every other
 * refusal of the gateway (CONTRACT.md §7), straight on the socket.
 */
import { randomUUID } from 'node:crypto'
import { STATUS_CODES } from 'node:http'
import type { Socket } from 'node:net'
import type { AccessLog } from '../observability/logger.js'
import type { RequestRecorder } from '../observability/metrics.js'
import { GatewayError } from '../errors.js'
import { PROBLEM_CONTENT_TYPE, toProblem } from './problem-errors.js'

/** What Node's HTTP parser refused, in words that never quote the request. */
function refusalFor (code: string | undefined): GatewayError {
  // Node's maxHeaderSize, from server.maxHeaderBytes (CONTRACT.md §7; RFC 6585 §5).
  if (code === 'HPE_HEADER_OVERFLOW') return new GatewayError('REQUEST_HEADERS_TOO_LARGE', 'The request head is larger than the gateway accepts')
  if (code === 'ERR_HTTP_REQUEST_TIMEOUT') return new GatewayError('REQUEST_INVALID', 'The request was not received in time')
  return new GatewayError('REQUEST_INVALID', 'The request is not valid HTTP/1.1')
}

export interface ClientErrorHandlerOptions {
  record: RequestRecorder
  accessLog: AccessLog
  /** Whether every answer carries `Vary: Origin` (cors.origins set; see response-headers.ts). */
  varyOnOrigin?: boolean
}

/**
 * Fastify `clientErrorHandler`: a request Node's parser refuses (a bad header name, a broken
 * chunk, an oversized head) is answered like every other refusal — problem+json
 * `REQUEST_INVALID` (`REQUEST_HEADERS_TOO_LARGE` for an oversized head) with an `x-request-id`,
 * one log line and the request metrics — instead of Fastify's plain JSON. Nothing of the
 * request is echoed: its target or a header may carry a token.
 */
export function createClientErrorHandler ({ record, accessLog, varyOnOrigin = false }: ClientErrorHandlerOptions): (error: Error & { code?: string }, socket: Socket) => void {
  const vary = varyOnOrigin ? 'vary: Origin\r\n' : ''
  return function answerClientError (error, socket) {
    // A reset connection has nothing left to answer (Node's own rule, http `clientError`).
    if (error.code === 'ECONNRESET' || socket.destroyed) return
    const requestId = randomUUID()
    const refusal = refusalFor(error.code)
    const status = refusal.statusCode
    const body = JSON.stringify(toProblem(refusal, requestId))
    if (socket.writable) {
      socket.write(`HTTP/1.1 ${status} ${STATUS_CODES[status]}\r\ncontent-type: ${PROBLEM_CONTENT_TYPE}\r\ncontent-length: ${Buffer.byteLength(body)}\r\nx-request-id: ${requestId}\r\n${vary}connection: close\r\n\r\n${body}`)
    }
    socket.destroy()
    record(CLIENT_ERROR_ROUTE, status, 0)
    accessLog({ requestId, method: '-', path: '-', route: CLIENT_ERROR_ROUTE, decision: 'deny', code: refusal.code, status, durationMs: 0 })
  }
}

/** The `route` label of requests refused before they could be parsed. */
const CLIENT_ERROR_ROUTE = '_invalid'
