import t from 'tap'
import { createAuthenticator } from '../../src/token/authenticator.js'
import { createJwksStore, type JwksStore, type KeySource } from '../../src/token/jwks-store.js'
import { identityHeadersOf, tokenIdentityOf } from '../../src/access/token-identity.js'
import { createClaimMapper } from '../../src/access/roles.js'
import { startIssuer, testAuthenticator, MGMT_CLIENT, BANK_TENANT } from '../helpers/issuer.js'

t.test('concurrent requests with one fresh token share a single verification; the cache serves the rest', async (t) => {
  const issuer = await startIssuer(t)
  const real = createJwksStore({ timeoutMs: 1000, cacheTtlSec: 3600, refreshIntervalSec: 3600, minRefreshIntervalSec: 300, clockToleranceSec: 60 })
  t.teardown(() => real.close())
  let keyLookups = 0
  const counting: JwksStore = {
    ...real,
    source (url) {
      const source = real.source(url)
      return Object.assign(Object.create(source) as KeySource, { getKey: (id: string) => { keyLookups++; return source.getKey(id) } })
    }
  }
  const authenticator = createAuthenticator({
    profiles: { m: { clientId: MGMT_CLIENT, appIdUris: [`api://${MGMT_CLIENT}`], tenancy: 'multi', tenantId: undefined, principals: ['user'] } },
    authority: issuer.url,
    v2IssuerTemplate: '{authority}/{tenantid}/v2.0',
    v1IssuerTemplate: 'https://sts.windows.net/{tenantid}/',
    store: counting,
    tokenCache: { maxEntries: 100, ttlSec: 300 }
  })
  const token = issuer.mint({ tenantId: BANK_TENANT, audience: MGMT_CLIENT })
  const results = await Promise.all(Array.from({ length: 50 }, () => authenticator.verify('m', token)))
  t.equal(keyLookups, 1, 'one verification for 50 concurrent requests')
  t.ok(results.every((r) => r === results[0]), 'all get the same verified token')
  await authenticator.verify('m', token)
  t.equal(keyLookups, 1, 'then from cache')
  const bad = issuer.mint({ tenantId: BANK_TENANT, audience: MGMT_CLIENT, claims: { exp: 1 } })
  const failures = await Promise.allSettled(Array.from({ length: 10 }, () => authenticator.verify('m', bad)))
  t.ok(failures.every((f) => f.status === 'rejected' && (f.reason as { code: string }).code === 'TOKEN_EXPIRED'), 'a shared failure fails every waiter')
  const again = await Promise.resolve(authenticator.verify('m', bad)).then(() => 'accepted', (err: { code: string }) => err.code)
  t.equal(again, 'TOKEN_EXPIRED', 'failures are not cached as successes')
})

t.test('a cached token vouches only for its own bytes and its own profile', async (t) => {
  const issuer = await startIssuer(t)
  const profile = { appIdUris: [`api://${MGMT_CLIENT}`], tenancy: 'multi' as const, tenantId: undefined, principals: ['user' as const] }
  const lookups: string[] = []
  const authenticator = testAuthenticator(t, issuer, {
    profiles: { m: { ...profile, clientId: MGMT_CLIENT }, other: { ...profile, clientId: '77777777-7777-4777-8777-777777777777', appIdUris: ['api://other'] } },
    onCacheLookup: (result) => { lookups.push(result) }
  })
  const token = issuer.mint({ tenantId: BANK_TENANT, audience: MGMT_CLIENT, claims: { roles: ['Employee'] } })
  await authenticator.verify('m', token)
  await authenticator.verify('m', token)
  t.same(lookups, ['miss', 'hit'], 'the token itself is served from cache')

  // The cached token's signature on an Admin payload: the cache must not answer for it.
  const [header, payload, signature] = token.split('.') as [string, string, string]
  const escalated = JSON.parse(Buffer.from(payload, 'base64url').toString()) as Record<string, unknown>
  escalated.roles = ['Admin']
  const forged = `${header}.${Buffer.from(JSON.stringify(escalated)).toString('base64url')}.${signature}`
  const forgedResult = await Promise.resolve(authenticator.verify('m', forged)).then(() => 'accepted', (err: { code: string }) => err.code)
  t.equal(forgedResult, 'TOKEN_SIGNATURE_INVALID')
  t.equal(lookups.at(-1), 'miss')

  const otherProfile = await Promise.resolve(authenticator.verify('other', token)).then(() => 'accepted', (err: { code: string }) => err.code)
  t.equal(otherProfile, 'TOKEN_AUDIENCE_INVALID', 'verified for m, not taken from cache for another profile')
  t.equal(lookups.at(-1), 'miss')
  const still = await authenticator.verify('m', token)
  t.same(still.claims.roles, ['Employee'])
})

t.test('a cached token lets its decoded claims go after authorization and decodes the same ones again; a bank switch still gets that bank\'s headers', async (t) => {
  const issuer = await startIssuer(t)
  const authenticator = testAuthenticator(t, issuer)
  const mapClaims = createClaimMapper({ roles: [{ attribute: 'roles', value: '*' }], teams: [{ attribute: 'groups', value: 'g-1', name: 'Team One' }], businessUnits: [] })
  const token = issuer.mint({ tenantId: BANK_TENANT, audience: MGMT_CLIENT, claims: { roles: ['Manager'], groups: ['g-1'], oid: 'a0a0a0a0-0000-4000-8000-000000000001', name: 'Zoë Ünal', preferred_username: 'zoe@bank.example' } })
  const verified = await authenticator.verify('m', token)
  const claims = structuredClone(verified.claims)
  const asked = (bankId: string): Record<string, string> => identityHeadersOf(tokenIdentityOf(verified, mapClaims), verified, 'm', 'x-bookme-', { activeBankId: bankId, bankIds: ['1001', '1002'] })
  const first = asked('1001')
  t.equal(first['x-bookme-bank-id'], '1001')
  t.equal(first['x-bookme-teams'], 'Team One')
  t.equal(first['x-bookme-roles'], 'Manager,Employee')
  t.equal(await authenticator.verify('m', token), verified, 'the same cached token')
  const switched = asked('1002')
  t.same(switched, { ...first, 'x-bookme-bank-id': '1002' }, 'another bank: only the bank header differs, every claim-derived header is intact')
  t.same(verified.claims, claims, 'the claims read again are the verified ones')
  t.same(asked('1001'), first, 'and back')
})
