import t from 'tap'
import { bearerTokenOf, createDecider } from '../../src/access/decision.js'
import { createClaimMapper } from '../../src/access/roles.js'
import type { TenantMapping } from '../../src/mappings/source.js'
import { startIssuer, testAuthenticator, MGMT_CLIENT, BANK_TENANT, MULTI_BANK_TENANT } from '../helpers/issuer.js'

t.test('one decision: token, bank, roles and headers; memoized on the cached token', async (t) => {
  const issuer = await startIssuer(t)
  const authenticator = testAuthenticator(t, issuer)
  const tenants: Record<string, TenantMapping> = {
    [BANK_TENANT]: { tenantId: BANK_TENANT, banks: [{ bankId: '1001', enabled: true, isDefault: false }] },
    [MULTI_BANK_TENANT]: { tenantId: MULTI_BANK_TENANT, banks: [{ bankId: '2001', enabled: true, isDefault: false }, { bankId: '2002', enabled: true, isDefault: false }] }
  }
  const decider = createDecider({
    verify: (api, token) => authenticator.verify(api, token),
    profileForAudience: (aud) => authenticator.profileForAudience(aud),
    blocks: { refuse () {} },
    lookups: { tenant: (id) => tenants[id] ?? null, client: () => null },
    profiles: { m: { tenancy: 'multi', bankResolution: 'tenant', requiredRoles: [] } },
    mapClaims: createClaimMapper({ roles: [{ attribute: 'roles', value: '*' }], teams: [], businessUnits: [] }),
    headerPrefix: 'x-bookme-'
  })
  const token = issuer.mint({ tenantId: BANK_TENANT, audience: MGMT_CLIENT, claims: { roles: ['Manager'] } })
  const route = { name: 'r', roles: ['Employee' as const], authContext: undefined }
  const request = { api: 'm', token, selection: undefined, method: 'GET', path: '/r', route, requireActiveBank: true, rateLimit: 'count' as const }
  const decision = await decider.decide(request)
  t.match(decision, { api: 'm', bank: { activeBankId: '1001', bankIds: ['1001'] }, mapped: { roles: ['Manager'] }, headers: { 'x-bookme-bank-id': '1001', 'x-bookme-roles': 'Manager,Employee', 'x-bookme-api': 'm' } })
  const again = await decider.decide(request)
  t.equal(again.token, decision.token, 'the cached token')
  t.equal(again.headers, decision.headers, 'the same memoized headers')
  await t.rejects(decider.decide({ ...request, route: { ...route, roles: ['Admin'] } }), { code: 'ROLE_REQUIRED' })

  const multi = issuer.mint({ tenantId: MULTI_BANK_TENANT, audience: MGMT_CLIENT })
  await t.rejects(decider.decide({ ...request, token: multi }), { code: 'BANK_CONTEXT_REQUIRED' }, 'a route needs an active bank')
  t.match(await decider.decide({ ...request, token: multi, requireActiveBank: false }), { bank: { activeBankId: null, bankIds: ['2001', '2002'] } }, '/_gateway/me does not')
  t.match(await decider.decide({ ...request, token: multi, selection: '2002' }), { headers: { 'x-bookme-bank-id': '2002' } })

  t.equal(decider.profileFor(token), 'm')
  t.throws(() => decider.profileFor(issuer.mint({ tenantId: BANK_TENANT, audience: 'ffffffff-0000-4000-8000-000000000000' })), { code: 'TOKEN_AUDIENCE_INVALID' })
})

t.test('bearerTokenOf: the Bearer scheme, case-insensitive, and a token', async (t) => {
  t.equal(bearerTokenOf('Bearer abc'), 'abc')
  t.equal(bearerTokenOf('bEaReR  abc '), 'abc')
  for (const header of [undefined, ['Bearer a', 'Bearer b'], 'Basic abc', 'Bearer', 'Bearer ', 'abc']) {
    t.throws(() => bearerTokenOf(header), { code: 'TOKEN_MISSING' }, String(header))
  }
})
