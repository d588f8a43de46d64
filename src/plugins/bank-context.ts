import type { PolicyStep } from './authenticate.js'
import type { ApiProfileConfig } from '../config/schema.js'
import { resolveBankOf, type BankContext } from '../domain/bank-resolution.js'
import { thenMaybe } from '../domain/maybe-promise.js'
import type { Resources } from '../resources.js'

declare module 'fastify' {
  interface FastifyRequest {
    /** The banks of the principal and the active one; null on `auth: none`. */
    bank: BankContext | null
  }
}

export function bankContextHook (profile: ApiProfileConfig, resources: Resources): PolicyStep {
  return function bankContext (request) {
    return thenMaybe(resolveBankOf(resources.mappings, profile.bankResolution, request.principal!.token, request.bankSelection), (bank) => { request.bank = bank })
  }
}
