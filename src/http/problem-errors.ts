/**
 * The one error plugin (CONTRACT.md §7): every error of the proxy port — a GatewayError thrown by
 * any step, Fastify's own, or a bug — answered as application/problem+json with its challenge.
 */
import fp from 'fastify-plugin'
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import { ERRORS, GatewayError, INTERNAL_ERROR, isGatewayError, routeNotFound, wwwAuthenticate } from '../errors.js'

export const PROBLEM_CONTENT_TYPE = 'application/problem+json; charset=utf-8'

export interface Problem {
  type: string
  title: string
  status: number
  code: string
  detail: string
  requestId: string
  [extension: string]: unknown
}

/** Renders any error as the contract's problem body (CONTRACT.md §7). */
export function toProblem (err: unknown, requestId: string): Problem {
  const known = asGatewayError(err)
  if (known) {
    return {
      ...known.extensions,
      type: `urn:bookme:gateway:error:${known.code}`,
      title: ERRORS[known.code].title,
      status: known.statusCode,
      code: known.code,
      detail: known.detail,
      requestId
    }
  }
  return {
    type: `urn:bookme:gateway:error:${INTERNAL_ERROR.code}`,
    title: INTERNAL_ERROR.title,
    status: INTERNAL_ERROR.status,
    code: INTERNAL_ERROR.code,
    detail: 'The gateway could not handle this request',
    requestId
  }
}

/** Fastify's own errors that have a contract code. */
function asGatewayError (err: unknown): GatewayError | undefined {
  if (isGatewayError(err)) return err
  const code = (err as FastifyError | undefined)?.code
  if (code === 'FST_ERR_CTP_BODY_TOO_LARGE') return new GatewayError('PAYLOAD_TOO_LARGE', 'The request body is larger than the gateway accepts')
  if (code === 'FST_ERR_NOT_FOUND') return routeNotFound()
  // Every other refusal of Fastify's own (a bad URL, a content-type or body it cannot take):
  // the contract's code, and a detail of ours, since Fastify's messages quote the request.
  const status = (err as FastifyError | undefined)?.statusCode
  if (code?.startsWith('FST_') && status !== undefined && status >= 400 && status < 500) {
    return new GatewayError('REQUEST_INVALID', 'The request cannot be handled by the gateway')
  }
  return undefined
}

function sendProblem (reply: FastifyReply, err: unknown): FastifyReply {
  const problem = toProblem(err, reply.request.id)
  // The decision log's `code` (observability/request-log.ts).
  reply.request.refusal = problem.code
  if (isGatewayError(err)) {
    const challenge = wwwAuthenticate(err)
    if (challenge) reply.header('www-authenticate', challenge)
    if (err.retryAfterSec !== undefined) reply.header('retry-after', String(err.retryAfterSec))
    if (err.headers !== undefined) reply.headers(err.headers)
  }
  if (problem.status === 413) reply.header('connection', 'close')
  return reply.code(problem.status).type(PROBLEM_CONTENT_TYPE).send(problem)
}

async function problemErrors (app: FastifyInstance): Promise<void> {
  app.setErrorHandler(function handleError (err, request: FastifyRequest, reply) {
    if (!isGatewayError(err) && asGatewayError(err) === undefined) {
      request.log.error({ requestId: request.id, err: { message: (err as Error).message, code: (err as FastifyError).code, stack: (err as Error).stack } }, 'unexpected error')
    }
    return sendProblem(reply, err)
  })
  app.setNotFoundHandler(function handleNotFound (_request, reply) {
    return sendProblem(reply, routeNotFound())
  })
}

export default fp(problemErrors, { name: 'problem-errors', fastify: '5.x' })
