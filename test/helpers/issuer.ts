import type { Test } from 'tap'
import { startLocalIssuer, type LocalIssuer } from '../../src/demo/local-issuer.js'
import { createAuthenticator, type Authenticator, type AuthenticatorOptions } from '../../src/token/authenticator.js'
import { createJwksStore } from '../../src/token/jwks-store.js'

/** The real local Entra-shaped issuer (src/demo/local-issuer.ts), closed by `t`. */
export async function startIssuer (t: Test): Promise<LocalIssuer> {
  const issuer = await startLocalIssuer()
  t.teardown(() => issuer.close())
  return issuer
}

export const MGMT_CLIENT = '00000000-0000-0000-0000-000000000001'
export const SYSTEM_CLIENT = '00000000-0000-0000-0000-000000000002'
export const HOME_TENANT = '00000000-0000-0000-0000-0000000000aa'
export const BANK_TENANT = '11111111-1111-4111-8111-111111111111'
export const MULTI_BANK_TENANT = '22222222-2222-4222-8222-222222222222'
export const UNMAPPED_TENANT = '33333333-3333-4333-8333-333333333333'
export const SYSTEM_APP = '44444444-4444-4444-8444-444444444444'

/** A gateway config with a multi-tenant user profile and a single-tenant app profile. */
export function authConfig (issuer: LocalIssuer, upstream: string, extra: { entra?: Record<string, unknown>, routes?: unknown[], apis?: Record<string, unknown> } = {}): Record<string, unknown> {
  return {
    entra: { authority: issuer.url, jwks: { minRefreshIntervalSec: 0 }, ...extra.entra },
    apis: {
      management: { clientId: MGMT_CLIENT, tenancy: 'multi', principals: ['user'], bankResolution: 'tenant' },
      system: { clientId: SYSTEM_CLIENT, tenancy: 'single', tenantId: HOME_TENANT, principals: ['app'], requiredRoles: ['System'], bankResolution: 'client' },
      ...extra.apis
    },
    routes: extra.routes ?? [
      { name: 'meetings', prefix: '/api/meetings', upstream, api: 'management', roles: ['Employee'] },
      { name: 'system', prefix: '/system', upstream, api: 'system' }
    ]
  }
}

export const DEFAULT_MAPPINGS = {
  banks: [{ id: '1001', name: 'Demo Bank' }, { id: '2001', name: 'North' }, { id: '2002', name: 'South' }, { id: '9001', name: 'Closed', enabled: false }],
  tenants: [
    { tenantId: BANK_TENANT, banks: ['1001'] },
    { tenantId: MULTI_BANK_TENANT, banks: ['2001', '2002', '9001'] }
  ],
  clients: [{ clientId: SYSTEM_APP, bankId: '1001', description: 'core banking', secretExpiresAt: '2027-05-01' }]
}

/**
 * A real authenticator (real JWKS store, the local issuer's keys) for domain tests: one
 * multi-tenant user profile `m` for MGMT_CLIENT unless `profiles` says otherwise; the store is
 * closed by `t`.
 */
export function testAuthenticator (t: Test, issuer: LocalIssuer, options: Partial<Pick<AuthenticatorOptions, 'profiles' | 'onCacheLookup' | 'store'>> = {}): Authenticator {
  const store = options.store ?? createJwksStore({ timeoutMs: 1000, cacheTtlSec: 3600, refreshIntervalSec: 3600, minRefreshIntervalSec: 300, clockToleranceSec: 60 })
  t.teardown(() => store.close())
  return createAuthenticator({
    profiles: options.profiles ?? { m: { clientId: MGMT_CLIENT, appIdUris: [`api://${MGMT_CLIENT}`], tenancy: 'multi', tenantId: undefined, principals: ['user'] } },
    authority: issuer.url,
    v2IssuerTemplate: '{authority}/{tenantid}/v2.0',
    v1IssuerTemplate: 'https://sts.windows.net/{tenantid}/',
    store,
    tokenCache: { maxEntries: 100, ttlSec: 300 },
    ...(options.onCacheLookup ? { onCacheLookup: options.onCacheLookup } : {})
  })
}
