/**
 * The admin-port instance (CONTRACT.md §8), apart from proxy traffic so probes and scrapes
 * neither pass through nor compete with the request pipeline.
 */
import Fastify, { type FastifyInstance } from 'fastify'
import type { Resources } from './resources.js'
import { fastifyLogOptions } from './observability/logger.js'
import problemErrors from './http/problem-errors.js'
import assertionJwks from './assertion/jwks-route.js'

/** `configSha256`: the active config's hash, shown by `/readyz` (CONTRACT.md §14), when the gateway reloads. */
export async function buildAdminApp (current: () => Resources, { configSha256 }: { configSha256?: () => string | undefined } = {}): Promise<FastifyInstance> {
  // Logger, health and metrics are the process's; the assertion's keys are the active config's.
  const resources = current()
  const app = Fastify({ ...fastifyLogOptions(resources.logger), forceCloseConnections: true })
  await app.register(problemErrors)

  app.get('/healthz', async function healthz () {
    return { status: 'ok' }
  })

  app.get('/readyz', async function readyz (_request, reply) {
    const snapshot = resources.health.snapshot()
    reply.code(snapshot.ready ? 200 : 503)
    const sha256 = configSha256?.()
    return sha256 === undefined ? snapshot : { ...snapshot, config: { sha256 } }
  })

  await app.register(assertionJwks, { signer: () => current().assertion, path: '/jwks.json' })

  app.get('/metrics', async function metrics (_request, reply) {
    reply.type(resources.metrics.registry.contentType)
    return resources.metrics.registry.metrics()
  })

  return app
}
