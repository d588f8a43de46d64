import t, { type Test } from 'tap'
import { startUpstream } from '../helpers/upstream.js'
import { startTestGateway } from '../helpers/gateway.js'
import { authConfig, BANK_TENANT, DEFAULT_MAPPINGS, HOME_TENANT, MGMT_CLIENT, startIssuer, SYSTEM_APP, SYSTEM_CLIENT, UNMAPPED_TENANT } from '../helpers/issuer.js'

async function setup (t: Test, entra: Record<string, unknown> = {}) {
  const issuer = await startIssuer(t)
  const upstream = await startUpstream(t)
  const gw = await startTestGateway(t, authConfig(issuer, upstream.url, { entra }), { mappings: DEFAULT_MAPPINGS })
  const call = async (token: string | undefined, path = '/api/meetings/x', headers: Record<string, string> = {}) => {
    const res = await fetch(gw.proxyUrl + path, { headers: { ...(token === undefined ? {} : { authorization: `Bearer ${token}` }), ...headers } })
    const text = await res.text()
    return { status: res.status, body: text ? JSON.parse(text) as Record<string, unknown> : {}, headers: res.headers, text }
  }
  return { issuer, upstream, gw, call }
}

t.test('valid v2 and v1 user tokens pass and reach the upstream', async (t) => {
  const { issuer, upstream, call } = await setup(t)
  const v2 = await call(issuer.mint({ tenantId: BANK_TENANT, audience: MGMT_CLIENT }))
  t.equal(v2.status, 200, 'v2 with clientId audience')
  t.equal(upstream.last().headers['x-bookme-tenant-id'], BANK_TENANT)
  for (const aud of [`api://${MGMT_CLIENT}`, `api://${MGMT_CLIENT}/`, MGMT_CLIENT]) {
    t.equal((await call(issuer.mint({ version: 1, tenantId: BANK_TENANT, audience: aud }))).status, 200, `v1 with audience ${aud}`)
  }
  t.equal((await call(issuer.mint({ tenantId: BANK_TENANT, audience: ['other', MGMT_CLIENT] }))).status, 200, 'aud array containing ours')
  t.equal((await call(issuer.mint({ tenantId: BANK_TENANT.toUpperCase(), audience: MGMT_CLIENT }))).status, 200, 'upper-case tid')
})

t.test('missing token and other schemes: 401 TOKEN_MISSING with a realm-only challenge', async (t) => {
  const { issuer, call, gw } = await setup(t)
  for (const authorization of [undefined, 'Basic dXNlcjpwYXNz', 'Bearer ', 'Bearer']) {
    const res = await fetch(gw.proxyUrl + '/api/meetings', { headers: authorization === undefined ? {} : { authorization } })
    const body = await res.json() as { code: string }
    t.equal(res.status, 401)
    t.equal(body.code, 'TOKEN_MISSING', String(authorization))
    t.match(res.headers.get('www-authenticate'), /^Bearer realm="[^"]+"$/)
  }
  const token = issuer.mint({ tenantId: BANK_TENANT, audience: MGMT_CLIENT })
  const res = await fetch(gw.proxyUrl + '/api/meetings', { headers: { authorization: `bEaReR ${token}` } })
  t.equal(res.status, 200, 'the scheme is case-insensitive')
  t.equal((await call(token)).status, 200)
})

t.test('each claim check, with its code and an invalid_token challenge', async (t) => {
  const { issuer, call } = await setup(t, { clockToleranceSec: 5 })
  const now = Math.floor(Date.now() / 1000)
  const base = { tenantId: BANK_TENANT, audience: MGMT_CLIENT }
  const cases: Array<[string, string, string]> = [
    ['expired', issuer.mint({ ...base, claims: { exp: now - 60 } }), 'TOKEN_EXPIRED'],
    ['not yet valid', issuer.mint({ ...base, claims: { nbf: now + 120 } }), 'TOKEN_NOT_YET_VALID'],
    ['no exp', issuer.mint({ ...base, claims: { exp: undefined } }), 'TOKEN_MALFORMED'],
    ['string exp', issuer.mint({ ...base, claims: { exp: String(now + 100) } }), 'TOKEN_MALFORMED'],
    ['wrong audience', issuer.mint({ ...base, audience: '99999999-0000-0000-0000-000000000000' }), 'TOKEN_AUDIENCE_INVALID'],
    ['v2 token with a v1 App ID URI audience', issuer.mint({ ...base, audience: `api://${MGMT_CLIENT}` }), 'TOKEN_AUDIENCE_INVALID'],
    ['issuer of another tenant', issuer.mint({ ...base, claims: { iss: `${issuer.url}/${UNMAPPED_TENANT}/v2.0` } }), 'TOKEN_ISSUER_INVALID'],
    ['iss as array', issuer.mint({ ...base, claims: { iss: [`${issuer.url}/${BANK_TENANT}/v2.0`] } }), 'TOKEN_ISSUER_INVALID'],
    ['ver disagrees with issuer', issuer.mint({ ...base, claims: { ver: '1.0' } }), 'TOKEN_ISSUER_INVALID'],
    ['v1 issuer with ver 2.0', issuer.mint({ ...base, version: 1, audience: `api://${MGMT_CLIENT}`, claims: { ver: '2.0' } }), 'TOKEN_ISSUER_INVALID'],
    ['template-shaped issuer', issuer.mint({ ...base, claims: { iss: `${issuer.url}/{tenantid}/v2.0` } }), 'TOKEN_ISSUER_INVALID'],
    ['non-GUID tid', issuer.mint({ ...base, claims: { tid: 'contoso' } }), 'TOKEN_MALFORMED'],
    ['case-variant second tid', issuer.mint({ ...base, claims: { TID: UNMAPPED_TENANT } }), 'TOKEN_MALFORMED'],
    ['consumer tenant', issuer.mint({ ...base, tenantId: '9188040d-6c67-4c5b-b112-36a304b66dad' }), 'TOKEN_ISSUER_INVALID'],
    ['unmapped tenant', issuer.mint({ ...base, tenantId: UNMAPPED_TENANT }), 'TENANT_NOT_MAPPED'],
    ['ID token (nonce)', issuer.mint({ ...base, claims: { nonce: 'n' } }), 'TOKEN_MALFORMED'],
    ['ID token (at_hash)', issuer.mint({ ...base, claims: { at_hash: 'x' } }), 'TOKEN_MALFORMED'],
    ['ID token (c_hash)', issuer.mint({ ...base, claims: { c_hash: 'x' } }), 'TOKEN_MALFORMED'],
    ['neither scp nor roles', issuer.mint({ ...base, claims: { scp: undefined, roles: undefined } }), 'TOKEN_MALFORMED'],
    ['Graph token (header nonce)', issuer.mint({ ...base, header: { nonce: 'abc' } }), 'TOKEN_MALFORMED'],
    ['unknown crit header', issuer.mint({ ...base, header: { crit: ['exp2'], exp2: 1 } }), 'TOKEN_MALFORMED'],
    ['app token on a user-only API', issuer.mint({ ...base, type: 'app' }), 'PRINCIPAL_TYPE_NOT_ALLOWED'],
    ['app token without idtyp (oid = sub, no scp)', issuer.mint({ ...base, type: 'app', claims: { idtyp: undefined } }), 'PRINCIPAL_TYPE_NOT_ALLOWED'],
    ['garbage', 'not-a-jwt', 'TOKEN_MALFORMED'],
    ['two segments', 'eyJhbGciOiJSUzI1NiJ9.e30', 'TOKEN_MALFORMED']
  ]
  for (const [name, token, code] of cases) {
    const res = await call(token)
    t.equal(res.body.code, code, name)
    t.equal(res.status, code === 'TENANT_NOT_MAPPED' || code === 'PRINCIPAL_TYPE_NOT_ALLOWED' ? 403 : 401, `${name}: status`)
    if (res.status === 401) t.match(res.headers.get('www-authenticate'), /^Bearer realm="[^"]+", error="invalid_token", error_description="[^"]+"$/, `${name}: challenge`)
    t.notOk(res.text.includes(token.split('.')[2] ?? '\u0000') && token.includes('.'), `${name}: the token is not echoed`)
  }
  t.equal((await call(issuer.mint({ ...base, claims: { exp: now - 3 } }))).status, 200, 'expiry within the clock tolerance passes')
})

t.test('single-tenant app profile: pinned tenant, confidential client, System role', async (t) => {
  const { issuer, call, upstream } = await setup(t)
  const app = (claims: Record<string, unknown> = {}, tenantId = HOME_TENANT) => issuer.mint({ tenantId, audience: SYSTEM_CLIENT, type: 'app', claims: { azp: SYSTEM_APP, ...claims } })
  t.equal((await call(app(), '/system/jobs')).status, 200)
  t.equal(upstream.last().headers['x-bookme-principal-type'], 'app')
  t.equal(upstream.last().headers['x-bookme-bank-id'], '1001')
  t.equal((await call(app({}, BANK_TENANT), '/system/jobs')).body.code, 'TOKEN_ISSUER_INVALID', 'another tenant')
  t.equal((await call(app({ azpacr: '0' }), '/system/jobs')).body.code, 'PRINCIPAL_TYPE_NOT_ALLOWED', 'public client')
  t.equal((await call(app({ azpacr: '2' }), '/system/jobs')).status, 200, 'certificate client')
  t.equal((await call(issuer.mint({ tenantId: HOME_TENANT, audience: SYSTEM_CLIENT, claims: { azp: SYSTEM_APP } }), '/system/jobs')).body.code, 'PRINCIPAL_TYPE_NOT_ALLOWED', 'user token on an app-only API')
  const v1 = issuer.mint({ version: 1, tenantId: HOME_TENANT, audience: `api://${SYSTEM_CLIENT}`, type: 'app', claims: { appid: SYSTEM_APP, idtyp: undefined } })
  t.equal((await call(v1, '/system/jobs')).status, 200, 'v1 app token without idtyp (oid = sub, no scp)')
  t.equal(upstream.last().headers['x-bookme-client-id'], SYSTEM_APP)
  const mgmtToken = issuer.mint({ tenantId: HOME_TENANT, audience: MGMT_CLIENT, type: 'app', claims: { azp: SYSTEM_APP } })
  t.equal((await call(mgmtToken, '/system/jobs')).body.code, 'TOKEN_AUDIENCE_INVALID', 'a token for one profile is refused by another')
})

t.test('the verified-token cache never lets a token verified for one profile pass another', async (t) => {
  const issuer = await startIssuer(t)
  const upstream = await startUpstream(t)
  // Two profiles share one audience but differ in principals: only the cache key keeps them apart.
  const gw = await startTestGateway(t, authConfig(issuer, upstream.url, {
    apis: { apps: { clientId: MGMT_CLIENT, tenancy: 'multi', principals: ['app'], bankResolution: 'tenant' } },
    routes: [
      { name: 'users', prefix: '/users', upstream: upstream.url, api: 'management' },
      { name: 'apps', prefix: '/apps', upstream: upstream.url, api: 'apps' }
    ]
  }), { mappings: DEFAULT_MAPPINGS })
  const token = issuer.mint({ tenantId: BANK_TENANT, audience: MGMT_CLIENT, claims: { roles: ['Employee'] } })
  const headers = { authorization: `Bearer ${token}` }
  t.equal((await fetch(`${gw.proxyUrl}/users/a`, { headers })).status, 200)
  t.equal((await fetch(`${gw.proxyUrl}/users/a`, { headers })).status, 200, 'a cache hit')
  const other = await fetch(`${gw.proxyUrl}/apps/a`, { headers })
  t.equal(other.status, 403)
  t.equal((await other.json() as { code: string }).code, 'PRINCIPAL_TYPE_NOT_ALLOWED')
  t.equal((await fetch(`${gw.proxyUrl}/nowhere`)).status, 404)
  const metrics = await (await fetch(`${gw.adminUrl}/metrics`)).text()
  t.match(metrics, /bookme_gateway_token_cache_lookups_total\{result="hit"\} [1-9]/)
  t.match(metrics, /bookme_gateway_auth_failures_total\{code="PRINCIPAL_TYPE_NOT_ALLOWED"\} 1\n/, 'each refusal counted once')
  t.notMatch(metrics, /auth_failures_total\{code="ROUTE_NOT_FOUND"\}/, 'routing answers are not access refusals')
})

t.test('tokens are never logged', async (t) => {
  const { issuer, call, gw } = await setup(t)
  const good = issuer.mint({ tenantId: BANK_TENANT, audience: MGMT_CLIENT })
  const bad = issuer.mint({ tenantId: UNMAPPED_TENANT, audience: MGMT_CLIENT })
  await call(good)
  await call(bad, '/api/meetings/x?access_token=' + bad)
  const log = gw.rawLog()
  for (const token of [good, bad]) {
    for (const part of token.split('.')) t.notOk(log.includes(part), 'no token segment in the log')
  }
})

t.test('v1 audiences: GUIDs compare case-insensitively; appIdUri takes a list, spn: forms included', async (t) => {
  const issuer = await startIssuer(t)
  const upstream = await startUpstream(t)
  const upper = 'AAAAAAAA-BBBB-4CCC-8DDD-EEEEEEEEEEEE'
  const gw = await startTestGateway(t, authConfig(issuer, upstream.url, {
    apis: {
      upper: { clientId: upper, tenancy: 'multi', principals: ['user'] },
      uris: { clientId: '55555555-5555-4555-8555-555555555555', appIdUri: ['https://bookme.bank.example/api', 'spn:55555555-5555-4555-8555-555555555555'], tenancy: 'multi', principals: ['user'] }
    },
    routes: [
      { name: 'upper', prefix: '/upper', upstream: upstream.url, api: 'upper' },
      { name: 'uris', prefix: '/uris', upstream: upstream.url, api: 'uris' }
    ]
  }), { mappings: DEFAULT_MAPPINGS })
  const status = async (path: string, audience: string, version: 1 | 2 = 1) => {
    const res = await fetch(`${gw.proxyUrl}${path}`, { headers: { authorization: `Bearer ${issuer.mint({ version, tenantId: BANK_TENANT, audience })}` } })
    return `${res.status} ${(await res.json() as { code?: string }).code ?? ''}`.trim()
  }
  for (const aud of [`api://${upper.toLowerCase()}`, `api://${upper}`, `api://${upper.toLowerCase()}/`, upper.toLowerCase(), upper]) {
    t.equal(await status('/upper', aud), '200', `v1 ${aud} for an upper-case clientId`)
  }
  t.equal(await status('/upper', upper.toLowerCase(), 2), '200', 'v2 as before')
  for (const aud of ['https://bookme.bank.example/api', 'https://bookme.bank.example/api/', 'spn:55555555-5555-4555-8555-555555555555', '55555555-5555-4555-8555-555555555555']) {
    t.equal(await status('/uris', aud), '200', `v1 ${aud} from the list`)
  }
  t.equal(await status('/uris', 'api://55555555-5555-4555-8555-555555555555'), '401 TOKEN_AUDIENCE_INVALID', 'the api:// default applies only when appIdUri is not set')
  t.equal(await status('/uris', 'https://bookme.bank.example/api/extra'), '401 TOKEN_AUDIENCE_INVALID', 'no prefix match')
})
