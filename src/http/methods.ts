/**
 * The methods the gateway proxies. Anything else Node's parser accepts (`QUERY`, `TRACE`,
 * WebDAV's `PROPFIND`…) is refused up front with `REQUEST_INVALID`, before Fastify's body
 * handling, which would otherwise fail on it with an error of its own.
 */
import { GatewayError } from '../errors.js'

export const PROXIED_METHODS: readonly string[] = ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS']

const PROXIED = new Set(PROXIED_METHODS)

export function isProxiedMethod (method: string): boolean {
  return PROXIED.has(method)
}

/** The refusal of a method the gateway does not proxy (the proxy port's and `explain`'s). */
export function methodRefusal (): GatewayError {
  return new GatewayError('REQUEST_INVALID', `The gateway does not handle this method (it proxies ${PROXIED_METHODS.join(', ')})`)
}
