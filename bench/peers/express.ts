import express from 'express'
import { expressjwt } from 'express-jwt'
import jwksRsa from 'jwks-rsa'
import { createProxyMiddleware } from 'http-proxy-middleware'
import type { IncomingMessage } from 'node:http'
import { allowedIssuers, bankOfTenant, env, jwksUri, listening } from './common.js'

/**
 * The express stack: express + express-jwt + jwks-rsa + http-proxy-middleware, configured for
 * the same checks (RS256 only, audience, issuer allowlist, exp, bank by tid, Employee role,
 * identity headers). express-jwt has no verified-token cache; jwks-rsa caches keys.
 */
type Authed = IncomingMessage & { auth?: { tid: string, oid: string, roles?: string[] }, bank?: string }
const app = express()
app.disable('x-powered-by')
app.use('/api', expressjwt({
  secret: jwksRsa.expressJwtSecret({ jwksUri, cache: true, cacheMaxAge: 3600_000, rateLimit: true, jwksRequestsPerMinute: 10 }) as never,
  algorithms: ['RS256'],
  audience: env.clientId,
  issuer: allowedIssuers as [string, ...string[]]
}), (req, res, next) => {
  const auth = (req as unknown as Authed).auth!
  const bank = bankOfTenant.get(auth.tid.toLowerCase())
  if (!bank) { res.status(403).json({ code: 'TENANT_NOT_MAPPED' }); return }
  if (!auth.roles?.includes('Employee')) { res.status(403).json({ code: 'ROLE_REQUIRED' }); return }
  (req as unknown as Authed).bank = bank
  next()
})
app.use(createProxyMiddleware({
  target: env.upstream,
  pathFilter: '/api',
  on: {
    proxyReq: (proxyReq, req) => {
      const r = req as Authed
      proxyReq.setHeader('x-bookme-bank-id', r.bank!)
      proxyReq.setHeader('x-bookme-tenant-id', r.auth!.tid)
      proxyReq.setHeader('x-bookme-principal-id', r.auth!.oid)
      proxyReq.setHeader('x-bookme-roles', (r.auth!.roles ?? []).join(','))
    }
  }
}))
app.use((err: Error & { status?: number }, _req: express.Request, res: express.Response, _next: express.NextFunction) => {
  res.status(err.status ?? 500).json({ code: err.name })
})
const server = app.listen(env.port, '127.0.0.1', () => listening((server.address() as { port: number }).port))
