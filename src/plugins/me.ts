import type { FastifyInstance } from 'fastify'
import type { Config } from '../config/schema.js'
import { authorize } from '../domain/authorization.js'
import { peekAudience } from '../domain/entra-token.js'
import { userNameOf } from '../domain/identity-headers.js'
import { GatewayError } from '../errors.js'
import type { Resources } from '../resources.js'
import { bearerToken } from './authenticate.js'
import { resolveBankOf } from '../domain/bank-resolution.js'

/**
 * `GET /_gateway/me` (CONTRACT.md §8): who the caller is, as the Management UI's bank switcher
 * needs it. Verified with the profile whose audience the token carries; every check of that
 * profile applies, but a user of several banks need not have chosen one yet.
 */
export const ME_PATH = '/_gateway/me'

export default async function me (app: FastifyInstance, { config, resources }: { config: Readonly<Config>, resources: Resources }): Promise<void> {
  app.get(ME_PATH, { config: { routeName: '_gateway_me' } }, async function whoAmI (request, reply) {
    const raw = bearerToken(request)
    const api = resources.authenticator.profileForAudience(peekAudience(raw))
    if (api === undefined) throw new GatewayError('TOKEN_AUDIENCE_INVALID', 'The token is not for any API of this gateway')
    const profile = config.apis[api]!
    const token = await resources.authenticator.verify(api, raw)
    const bank = await resolveBankOf(resources.mappings, profile.bankResolution, token, request.bankSelection, false)
    const { mapped } = authorize({ api, token, bank, routeRoles: [], requiredRoles: profile.requiredRoles, mapClaims: resources.mapClaims, headerPrefix: config.headers.prefix })
    const p = token.payload
    reply.header('cache-control', 'no-store')
    return {
      tenantId: token.tenantId,
      principal: { type: token.principalType, id: typeof p.oid === 'string' ? p.oid : null, clientId: token.clientId ?? null, userName: userNameOf(token) ?? null },
      bankIds: bank.bankIds,
      activeBankId: bank.activeBankId,
      roles: mapped.effectiveRoles,
      teams: mapped.teams,
      businessUnits: mapped.businessUnits,
      api
    }
  })
}
