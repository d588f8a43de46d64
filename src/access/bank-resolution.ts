/**
 * The bank rules of CONTRACT.md §3–§4, over answers already fetched: whether a multi-tenant
 * token's tenant is mapped at all, which banks a principal may act for and which one is active.
 * The rules are pure; `requireMappedTenant` and `resolveBankOf` feed them the lookups.
 */
import { GatewayError } from '../errors.js'
import type { ClientMapping, TenantMapping } from '../mappings/index.js'
import { tokenMemo, type VerifiedToken } from '../token/index.js'
import { thenMaybe, type MaybePromise } from '../maybe-promise.js'

export interface BankContext {
  /** The active bank, or null when a user must still choose (only for /_gateway/me). */
  activeBankId: string | null
  /** Every bank the principal may select. */
  bankIds: string[]
}

/** `selection` is the bank-selection header as received (undefined when absent). */
export function resolveTenantBank (mapping: TenantMapping | null, selection: string | undefined, { requireActive = true } = {}): BankContext {
  if (!hasBanks(mapping)) throw tenantNotMapped()
  const enabled = mapping.banks.filter((bank) => bank.enabled)
  const bankIds = enabled.map((bank) => bank.bankId)
  const chosen = selection?.trim()
  if (chosen !== undefined && chosen !== '') {
    if (bankIds.includes(chosen)) return { activeBankId: chosen, bankIds }
    if (mapping.banks.some((bank) => bank.bankId === chosen)) throw new GatewayError('BANK_DISABLED', 'The selected bank is disabled')
    throw new GatewayError('BANK_NOT_ALLOWED', 'The selected bank is not one of this tenant\'s banks')
  }
  if (enabled.length === 0) throw new GatewayError('BANK_DISABLED', 'Every bank of this tenant is disabled')
  if (enabled.length === 1) return { activeBankId: enabled[0]!.bankId, bankIds }
  const preferred = enabled.find((bank) => bank.isDefault)
  if (preferred) return { activeBankId: preferred.bankId, bankIds }
  if (!requireActive) return { activeBankId: null, bankIds }
  throw new GatewayError('BANK_CONTEXT_REQUIRED', 'This tenant has several banks; choose one with the bank-selection header', {
    extensions: { availableBankIds: bankIds }
  })
}

export function resolveClientBank (mapping: ClientMapping | null): BankContext {
  if (mapping === null || !mapping.enabled) throw new GatewayError('CLIENT_NOT_REGISTERED', 'The calling application is not a registered bank client')
  if (!mapping.bankEnabled) throw new GatewayError('BANK_DISABLED', 'The client\'s bank is disabled')
  return { activeBankId: mapping.bankId, bankIds: [mapping.bankId] }
}

export interface BankLookups {
  tenant (tenantId: string): MaybePromise<TenantMapping | null>
  client (clientId: string): MaybePromise<ClientMapping | null>
}

/** A verified principal's banks, by the profile's `bankResolution`: tenant (tid) or client (azp/appid). */
export function resolveBankOf (lookups: BankLookups, bankResolution: 'tenant' | 'client', token: VerifiedToken, selection: string | undefined, requireActive = true): MaybePromise<BankContext> {
  if (bankResolution === 'client') {
    return token.clientId === undefined ? resolveClientBank(null) : thenMaybe(lookups.client(token.clientId), resolveClientBank)
  }
  return thenMaybe(lookups.tenant(token.tenantId), (mapping) => resolveTenantBank(mapping, selection, { requireActive }))
}

/** The lookups that found the token's tenant mapped: another set (a reload's new mappings) asks again. */
const TENANT_MAPPED = tokenMemo<BankLookups>('tenantMapped')

/**
 * Multi-tenant profiles (§3): the token's tenant has at least one bank mapping, else
 * TENANT_NOT_MAPPED. Kept with the token once known, like what its claims make of it: a
 * token-cache hit asks nothing more than bank resolution's own lookup.
 */
export function requireMappedTenant (lookups: BankLookups, token: VerifiedToken): MaybePromise<void> {
  if (token.recall(TENANT_MAPPED) === lookups) return
  return thenMaybe(lookups.tenant(token.tenantId), (mapping) => {
    if (!hasBanks(mapping)) throw tenantNotMapped()
    token.remember(TENANT_MAPPED, lookups)
  })
}

function hasBanks (mapping: TenantMapping | null): mapping is TenantMapping {
  return mapping !== null && mapping.banks.length > 0
}

function tenantNotMapped (): GatewayError {
  return new GatewayError('TENANT_NOT_MAPPED', 'The token\'s tenant is not mapped to any bank')
}
