import Fastify from 'fastify'
import fastifyJwt from '@fastify/jwt'
import httpProxy from '@fastify/http-proxy'
import buildGetJwks from 'get-jwks'
import { allowedIssuers, bankOfTenant, env, listening } from './common.js'

/**
 * "The obvious Fastify alternative": fastify + @fastify/jwt + get-jwks + @fastify/http-proxy,
 * configured for the same checks (RS256 only, audience, issuer allowlist of mapped tenants,
 * exp, bank by tid, Employee role, identity headers), with @fastify/jwt's token cache on
 * (`PEER_TOKEN_CACHE=off`: every request verified, the cold-token comparison).
 */
const getJwks = buildGetJwks({ jwksPath: '/common/discovery/v2.0/keys', ttl: 3600_000 })
const app = Fastify({ logger: false })
await app.register(fastifyJwt, {
  decode: { complete: true },
  secret: async (_request: unknown, token: { header: { kid: string, alg: string } }) => await getJwks.getPublicKey({ kid: token.header.kid, alg: token.header.alg, domain: env.authority }),
  verify: { algorithms: ['RS256'], allowedAud: env.clientId, allowedIss: allowedIssuers, cache: process.env.PEER_TOKEN_CACHE !== 'off', requiredClaims: ['exp'] }
} as never)

declare module 'fastify' { interface FastifyRequest { peerBank?: string } }
app.addHook('onRequest', async (request, reply) => {
  try {
    await request.jwtVerify()
  } catch {
    return reply.code(401).send({ code: 'TOKEN_INVALID' })
  }
  const user = request.user as { tid: string, roles?: string[] }
  const bank = bankOfTenant.get(user.tid.toLowerCase())
  if (!bank) return reply.code(403).send({ code: 'TENANT_NOT_MAPPED' })
  if (!user.roles?.includes('Employee')) return reply.code(403).send({ code: 'ROLE_REQUIRED' })
  request.peerBank = bank
})
await app.register(httpProxy, {
  upstream: env.upstream,
  prefix: '/api',
  rewritePrefix: '/api',
  replyOptions: {
    rewriteRequestHeaders: (request, headers) => {
      const user = (request as unknown as { user: { tid: string, oid: string, roles: string[] } }).user
      return { ...headers, 'x-bookme-bank-id': (request as unknown as { peerBank: string }).peerBank, 'x-bookme-tenant-id': user.tid, 'x-bookme-principal-id': user.oid, 'x-bookme-roles': user.roles.join(',') }
    }
  }
})
const address = await app.listen({ host: '127.0.0.1', port: env.port })
listening(Number(new URL(address).port))
