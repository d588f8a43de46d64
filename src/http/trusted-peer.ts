/**
 * Whether the request's direct peer is one `server.trustProxy` trusts, decided as Fastify decides
 * it for `X-Forwarded-Host` (fastify lib/request.js: `proxyFn(socket.remoteAddress, 0)`), with the
 * same @fastify/proxy-addr rules: what such a peer adds to a request (a client certificate,
 * CONTRACT.md §15) is believed, the same header from anyone else is not.
 */
import { compile } from '@fastify/proxy-addr'

export function createPeerTrust (trustProxy: boolean | number | readonly string[]): (address: string | undefined) => boolean {
  if (typeof trustProxy === 'boolean') return () => trustProxy
  // A hop count (app.ts trustHops): the direct peer is hop 0.
  if (typeof trustProxy === 'number') return () => trustProxy > 0
  const trust = compile([...trustProxy])
  return function isTrustedPeer (address) { return address !== undefined && trust(address, 0) }
}
