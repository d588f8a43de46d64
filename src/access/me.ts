/**
 * `GET /_gateway/me` (CONTRACT.md §8): who the caller is, as the Management UI's bank switcher
 * needs it. Verified with the profile whose audience the token carries; every check of that
 * profile applies, but a user of several banks need not have chosen one yet.
 */
import fp from 'fastify-plugin'
import type { FastifyInstance } from 'fastify'
import { bearerTokenOf, type Decider } from './decision.js'
import { authContextsOf } from './route-checks/auth-context.js'
import { refuseUntilReady, type Health } from '../observability/health.js'

const ME_PATH = '/_gateway/me'

export interface MeOptions {
  decider: Decider
  health: Health
}

async function me (app: FastifyInstance, { decider, health }: MeOptions): Promise<void> {
  app.get(ME_PATH, { config: { routeName: '_gateway_me' } }, async function whoAmI (request, reply) {
    refuseUntilReady(health)
    const facts = {}
    request.accessFacts = facts
    const token = bearerTokenOf(request.headers.authorization)
    const { api, token: verified, bank, mapped } = await decider.decide({
      api: decider.profileFor(token),
      token,
      selection: request.bankSelection,
      method: request.method,
      path: ME_PATH,
      route: undefined,
      requireActiveBank: false,
      rateLimit: 'count',
      clientCertificate: request.clientCertificate ?? undefined,
      facts
    })
    reply.header('cache-control', 'no-store')
    return {
      tenantId: verified.tenantId,
      principal: { type: verified.principalType, id: verified.objectId ?? null, clientId: verified.clientId ?? null, userName: verified.userName ?? null },
      bankIds: bank.bankIds,
      activeBankId: bank.activeBankId,
      roles: mapped.effectiveRoles,
      teams: mapped.teams,
      businessUnits: mapped.businessUnits,
      // The authentication contexts (§13) this token satisfies, for a UI that steps up ahead of time.
      acrs: authContextsOf(verified),
      api
    }
  })
}

export default fp(me, { name: 'me', fastify: '5.x', dependencies: ['request-guard'], encapsulate: true })
