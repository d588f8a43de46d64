/**
 * Request bodies are never parsed: the raw stream goes upstream, counted against
 * `server.bodyLimitBytes` (CONTRACT.md §7 PAYLOAD_TOO_LARGE). A declared Content-Length over it
 * is refused before anything else is done for the request; a chunked body is counted as it
 * streams (upstream-failure.ts's body limiter).
 */
import { pipeline } from 'node:stream'
import type { FastifyInstance } from 'fastify'
import { createBodyLimiter, failureAnswer } from './upstream-failure.js'

export function registerStreamingBodies (scope: FastifyInstance, limit: number): void {
  scope.removeAllContentTypeParsers()
  scope.addContentTypeParser('*', function passThrough (request, payload, done) {
    if (request.headers['content-length'] !== undefined) {
      // Node's parser holds the body to its declared length, checked against the limit on arrival.
      done(null, payload)
      return
    }
    const limited = createBodyLimiter(limit)
    pipeline(payload, limited, () => {})
    done(null, limited)
  })
  scope.addHook('onRequest', function rejectDeclaredOversize (request, _reply, done) {
    const declared = request.headers['content-length']
    if (declared !== undefined && Number(declared) > limit) {
      done(failureAnswer('PAYLOAD_TOO_LARGE', limit))
      return
    }
    done()
  })
}
