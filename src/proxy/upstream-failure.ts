/**
 * Failure mapping of the proxy hop: what an upstream request failed with, as a contract code
 * (CONTRACT.md §7: 502 UPSTREAM_UNAVAILABLE, 504 UPSTREAM_TIMEOUT, 413 PAYLOAD_TOO_LARGE) and a
 * metric kind, and the client's answer for it.
 */
import { Transform, type TransformCallback } from 'node:stream'
import { GatewayError, type ErrorCode } from '../errors.js'
import type { UpstreamErrorKind } from '../observability/metrics.js'
import { causeCodes } from '../backends/failure-reason.js'

/** Set on the error a request body stream fails with when it grows past `bodyLimitBytes`. */
const BODY_LIMIT_EXCEEDED = 'BOOKME_BODY_LIMIT_EXCEEDED'

const TIMEOUT_CODES = new Set(['UND_ERR_HEADERS_TIMEOUT', 'UND_ERR_BODY_TIMEOUT', 'UND_ERR_CONNECT_TIMEOUT', 'ETIMEDOUT'])
const REFUSED_CODES = new Set(['ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN', 'EHOSTUNREACH', 'ENETUNREACH'])
const RESET_CODES = new Set(['ECONNRESET', 'UND_ERR_SOCKET', 'EPIPE', 'UND_ERR_CLOSED'])
const TLS_CODE = /^(CERT_|DEPTH_ZERO_SELF_SIGNED_CERT|SELF_SIGNED_CERT_IN_CHAIN|UNABLE_TO_|ERR_TLS_|ERR_SSL_|HOSTNAME_MISMATCH)/

export interface UpstreamFailure {
  code: ErrorCode
  /** For the upstream-errors metric; undefined when the client, not the upstream, was at fault. */
  kind: UpstreamErrorKind | undefined
}

/** Maps what the hop's undici request failed with (an error and its causes) to a contract code. */
export function classifyUpstreamFailure (error: unknown): UpstreamFailure {
  const codes = causeCodes(error)
  if (codes.includes(BODY_LIMIT_EXCEEDED)) return { code: 'PAYLOAD_TOO_LARGE', kind: undefined }
  if (codes.some((c) => TIMEOUT_CODES.has(c))) return { code: 'UPSTREAM_TIMEOUT', kind: 'timeout' }
  if (codes.some((c) => TLS_CODE.test(c))) return { code: 'UPSTREAM_UNAVAILABLE', kind: 'tls' }
  if (codes.some((c) => REFUSED_CODES.has(c))) return { code: 'UPSTREAM_UNAVAILABLE', kind: 'refused' }
  if (codes.some((c) => RESET_CODES.has(c))) return { code: 'UPSTREAM_UNAVAILABLE', kind: 'reset' }
  return { code: 'UPSTREAM_UNAVAILABLE', kind: 'other' }
}

/** The client's answer when the request could not be forwarded (or its body was too large). */
export function failureAnswer (code: UpstreamFailure['code'], bodyLimitBytes: number): GatewayError {
  return new GatewayError(code, code === 'PAYLOAD_TOO_LARGE'
    ? `The request body is larger than ${bodyLimitBytes} bytes`
    : code === 'UPSTREAM_TIMEOUT' ? 'The upstream did not answer in time' : 'The upstream could not be reached')
}

/**
 * Counts a streamed request body and fails it past `limit` bytes. A declared Content-Length is
 * checked before any upstream connection; this catches chunked bodies, which declare nothing.
 */
export function createBodyLimiter (limit: number): Transform {
  let seen = 0
  return new Transform({
    transform (chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback) {
      seen += chunk.length
      if (seen > limit) {
        callback(Object.assign(new Error(`request body exceeds ${limit} bytes`), { code: BODY_LIMIT_EXCEEDED }))
        return
      }
      callback(null, chunk)
    }
  })
}
