import t from 'tap'
import { startUpstream } from '../helpers/upstream.js'
import { startTestGateway, untilReady } from '../helpers/gateway.js'
import { authConfig, BANK_TENANT, DEFAULT_MAPPINGS, HOME_TENANT, MGMT_CLIENT, startIssuer, SYSTEM_CLIENT, UNMAPPED_TENANT } from '../helpers/issuer.js'

// CONTRACT.md §3 "Order": the claims, then the signature, then the tenant mapping. A token that
// is not signed by the authority must get the same answer whichever tenant it names, or the
// gateway tells anyone which tenants are BookMe customers.

async function call (url: string, token: string): Promise<{ status: number, code?: string }> {
  const res = await fetch(url, { headers: { authorization: `Bearer ${token}` } })
  return { status: res.status, code: (await res.json() as { code?: string }).code }
}

function reSigned (token: string, signature: string): string {
  return token.slice(0, token.lastIndexOf('.') + 1) + signature
}

t.test('a forged token gets the same 401 for a mapped and an unmapped tenant', async (t) => {
  const issuer = await startIssuer(t)
  const upstream = await startUpstream(t)
  const gw = await startTestGateway(t, authConfig(issuer, upstream.url, { entra: { jwks: { minRefreshIntervalSec: 300 } } }), { mappings: DEFAULT_MAPPINGS })
  await untilReady(gw)
  const url = `${gw.proxyUrl}/api/meetings`
  const unpublished = issuer.addKey({ publish: false })
  const published = issuer.keys[0]!
  for (const tenantId of [BANK_TENANT, UNMAPPED_TENANT]) {
    const forged = issuer.mint({ tenantId, audience: MGMT_CLIENT, key: unpublished, header: { kid: published.kid } })
    t.same(await call(url, forged), { status: 401, code: 'TOKEN_SIGNATURE_INVALID' }, `signed by another key, ${tenantId}`)
    const valid = issuer.mint({ tenantId, audience: MGMT_CLIENT })
    t.same(await call(url, reSigned(valid, 'AAAA')), { status: 401, code: 'TOKEN_SIGNATURE_INVALID' }, `a made-up signature, ${tenantId}`)
    const unsigned = issuer.signRaw({ alg: 'none', typ: 'JWT' }, JSON.parse(Buffer.from(valid.split('.')[1]!, 'base64url').toString()))
    t.same(await call(url, unsigned), { status: 401, code: 'TOKEN_ALGORITHM_NOT_ALLOWED' }, `unsigned, ${tenantId}`)
    const unknownKid = issuer.mint({ tenantId, audience: MGMT_CLIENT, key: unpublished })
    t.same(await call(url, unknownKid), { status: 401, code: 'SIGNING_KEY_NOT_FOUND' }, `an unknown kid, ${tenantId}`)
  }
  t.same(await call(url, issuer.mint({ tenantId: UNMAPPED_TENANT, audience: MGMT_CLIENT })), { status: 403, code: 'TENANT_NOT_MAPPED' },
    'only a token the authority signed learns that its tenant is not mapped')
})

t.test('a token for another API is refused for its audience, not its tenant', async (t) => {
  const issuer = await startIssuer(t)
  const upstream = await startUpstream(t)
  const gw = await startTestGateway(t, authConfig(issuer, upstream.url), { mappings: DEFAULT_MAPPINGS })
  // The system profile's app token (home tenant, not a bank tenant) on a management route.
  const system = issuer.mint({ tenantId: HOME_TENANT, audience: SYSTEM_CLIENT, type: 'app' })
  t.same(await call(`${gw.proxyUrl}/api/meetings`, system), { status: 401, code: 'TOKEN_AUDIENCE_INVALID' })
})

t.test('random kids naming random tenants are bounded by the refetch limit; an unmapped tenant is asked once', async (t) => {
  const issuer = await startIssuer(t)
  const upstream = await startUpstream(t)
  const gw = await startTestGateway(t, authConfig(issuer, upstream.url, { entra: { jwks: { minRefreshIntervalSec: 300 } } }), { mappings: DEFAULT_MAPPINGS })
  await untilReady(gw)
  const before = issuer.jwksFetches()
  const results = await Promise.all(Array.from({ length: 200 }, (_, i) => call(`${gw.proxyUrl}/api/meetings`,
    issuer.mint({ tenantId: `33333333-3333-4333-8333-${String(i).padStart(12, '0')}`, audience: MGMT_CLIENT, header: { kid: `random-${i}` } }))))
  t.ok(results.every((r) => r.status === 401 && r.code === 'SIGNING_KEY_NOT_FOUND'), 'every one: 401 SIGNING_KEY_NOT_FOUND')
  t.ok(issuer.jwksFetches() - before <= 1, `at most one refetch in the interval (${issuer.jwksFetches() - before})`)
  let metrics = await (await fetch(`${gw.adminUrl}/metrics`)).text()
  t.notMatch(metrics, /mapping_source_queries_total\{kind="tenant"/, 'no mapping query for an unsigned token')

  for (let i = 0; i < 3; i++) {
    t.same(await call(`${gw.proxyUrl}/api/meetings`, issuer.mint({ tenantId: UNMAPPED_TENANT, audience: MGMT_CLIENT })), { status: 403, code: 'TENANT_NOT_MAPPED' })
  }
  metrics = await (await fetch(`${gw.adminUrl}/metrics`)).text()
  const queries = [...metrics.matchAll(/mapping_source_queries_total\{kind="tenant",result="[a-z_]+"\} (\d+)/g)].reduce((sum, m) => sum + Number(m[1]), 0)
  t.equal(queries, 1, 'three signed tokens of one unmapped tenant: one mapping query within negativeTtlSec')
})
