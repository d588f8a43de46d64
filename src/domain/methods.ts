/**
 * The methods the gateway proxies. Anything else Node's parser accepts (`QUERY`, `TRACE`,
 * WebDAV's `PROPFIND`…) is refused up front with `REQUEST_INVALID`, before Fastify's body
 * handling, which would otherwise fail on it with an error of its own.
 */
export const PROXIED_METHODS: readonly string[] = ['DELETE', 'GET', 'HEAD', 'PATCH', 'POST', 'PUT', 'OPTIONS']

const PROXIED = new Set(PROXIED_METHODS)

export function isProxiedMethod (method: string): boolean {
  return PROXIED.has(method)
}
