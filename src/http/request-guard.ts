/**
 * The first hooks of every request, `auth: none` routes included (CONTRACT.md §1.1–§1.2, §6):
 * the path normalized before routing, bad targets, unproxied methods and new requests while
 * draining refused, and the identity namespace stripped before anything can read it.
 */
import fp from 'fastify-plugin'
import type { FastifyInstance, FastifyRequest } from 'fastify'
import type { IncomingMessage } from 'node:http'
import type { Config } from '../config/schema.js'
import type { Health } from '../observability/health.js'
import { GatewayError } from '../errors.js'
import { normalizeRequestTarget, isAlreadyNormal, pathRefusal } from './paths.js'
import { createInboundHeaderPolicy } from './inbound-headers.js'
import { isProxiedMethod, methodRefusal } from './methods.js'
import { clientCertificateOf, type ClientCertificate } from './client-certificate.js'
import { createPeerTrust } from './trusted-peer.js'

declare module 'fastify' {
  interface FastifyRequest {
    /** The bank-selection header as received, read before it was stripped. */
    bankSelection: string | undefined
    /** X-Forwarded-* values computed before the client's own were stripped. */
    forwarded: { for: string, proto: string, host: string } | null
    /** The client certificate a trusted ingress passed on (CONTRACT.md §15); null when none is believed. */
    clientCertificate: ClientCertificate | null
  }
}

const kInvalidTarget = Symbol('bookme.invalidTarget')
type MarkedRequest = IncomingMessage & { [kInvalidTarget]?: boolean }

/**
 * Fastify `rewriteUrl`: routing runs on the normalized path, which is also what is forwarded.
 * A target that cannot be normalized is marked and routed nowhere useful; the guard refuses it.
 */
export function normalizeUrl (req: IncomingMessage): string {
  const url = req.url ?? '/'
  if (isAlreadyNormal(url)) return url
  const target = normalizeRequestTarget(url)
  if (target === null) {
    (req as MarkedRequest)[kInvalidTarget] = true
    return '/'
  }
  return target.path + target.query
}

/** Refuses first, then strips: nothing later can read a spoofed value. */
async function requestGuard (app: FastifyInstance, { config, health }: { config: Readonly<Config>, health: Health }): Promise<void> {
  const certificate = config.server.clientCertificate
  const headerPolicy = createInboundHeaderPolicy({ ...config.headers, clientCertificate: certificate?.header })
  const isTrustedPeer = createPeerTrust(config.server.trustProxy)
  const certificateHeader = certificate?.header.toLowerCase()
  app.decorateRequest('bankSelection', undefined)
  app.decorateRequest('forwarded', null)
  app.decorateRequest('clientCertificate', null)

  app.addHook('onRequest', function guardRequest (request, reply, done) {
    if ((request.raw as MarkedRequest)[kInvalidTarget]) {
      done(pathRefusal())
      return
    }
    if (!isProxiedMethod(request.method)) {
      done(methodRefusal())
      return
    }
    if (health.draining) {
      done(new GatewayError('SHUTTING_DOWN', 'The gateway is shutting down; retry on another instance'))
      return
    }
    request.forwarded = forwardedFor(request)
    // Read under its exact name from a trusted peer only, then stripped with every other spelling.
    if (certificate !== undefined && certificateHeader !== undefined && isTrustedPeer(request.raw.socket.remoteAddress)) {
      request.clientCertificate = clientCertificateOf(request.headers[certificateHeader], certificate.format) ?? null
    }
    request.bankSelection = headerPolicy.strip(request.headers)
    done()
  })
}

/** With trustProxy off, `ips` is just the socket address; with it on, the trusted chain too. */
function forwardedFor (request: FastifyRequest): { for: string, proto: string, host: string } {
  const ips = request.ips
  const chain = ips && ips.length > 0 ? [...ips].reverse().join(', ') : request.ip
  return { for: chain, proto: request.protocol, host: request.host }
}

export default fp(requestGuard, { name: 'request-guard', fastify: '5.x' })
