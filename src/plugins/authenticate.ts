import type { FastifyRequest } from 'fastify'
import type { VerifiedToken } from '../domain/entra-token.js'
import type { Resources } from '../resources.js'
import { GatewayError } from '../errors.js'
import { thenMaybe } from '../domain/maybe-promise.js'

declare module 'fastify' {
  interface FastifyRequest {
    /** The verified token and the profile it was verified for; null on `auth: none`. */
    principal: { api: string, token: VerifiedToken } | null
  }
}

/**
 * `Authorization: Bearer <jwt>` (scheme case-insensitive, RFC 7235 §2.1) → the raw token;
 * no header, another scheme or an empty value → TOKEN_MISSING.
 */
export function bearerToken (request: FastifyRequest): string {
  const header = request.headers.authorization
  if (typeof header !== 'string') throw new GatewayError('TOKEN_MISSING', 'A bearer token is required')
  const space = header.indexOf(' ')
  const scheme = space === -1 ? header : header.slice(0, space)
  const token = space === -1 ? '' : header.slice(space + 1).trim()
  if (scheme.toLowerCase() !== 'bearer' || token === '') throw new GatewayError('TOKEN_MISSING', 'A bearer token is required')
  return token
}

/**
 * One step of a route's policy (token, bank, roles), run in order by app.ts's single hook. A step
 * answered from memory returns nothing; one that must wait returns its promise.
 */
export type PolicyStep = (request: FastifyRequest) => void | Promise<void>

export function authenticateHook (api: string, resources: Resources): PolicyStep {
  return function authenticate (request) {
    return thenMaybe(resources.authenticator.verify(api, bearerToken(request)), (token) => { request.principal = { api, token } })
  }
}
