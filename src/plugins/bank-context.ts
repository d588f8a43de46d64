import type { preHandlerAsyncHookHandler } from 'fastify'
import type { ApiProfileConfig } from '../config/schema.js'
import { resolveClientBank, resolveTenantBank, type BankContext } from '../domain/bank-resolution.js'
import type { VerifiedToken } from '../domain/entra-token.js'
import type { Resources } from '../resources.js'
import { countFailure } from './authenticate.js'

declare module 'fastify' {
  interface FastifyRequest {
    /** The banks of the principal and the active one; null on `auth: none`. */
    bank: BankContext | null
  }
}

/** The bank of a verified principal (CONTRACT.md §4), through the cached mappings. */
export async function resolveBank (resources: Resources, profile: ApiProfileConfig, token: VerifiedToken, selection: string | undefined, requireActive = true): Promise<BankContext> {
  if (profile.bankResolution === 'client') {
    if (token.clientId === undefined) return resolveClientBank(null)
    return resolveClientBank(await resources.mappings.client(token.clientId))
  }
  return resolveTenantBank(await resources.mappings.tenant(token.tenantId), selection, { requireActive })
}

export function bankContextHook (profile: ApiProfileConfig, resources: Resources): preHandlerAsyncHookHandler {
  return async function bankContext (request) {
    try {
      request.bank = await resolveBank(resources, profile, request.principal!.token, request.bankSelection)
    } catch (err) {
      countFailure(resources, err)
      throw err
    }
  }
}
