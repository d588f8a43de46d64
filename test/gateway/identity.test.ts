import t from 'tap'
import { startUpstream } from '../helpers/upstream.js'
import { startTestGateway } from '../helpers/gateway.js'
import { authConfig, BANK_TENANT, DEFAULT_MAPPINGS, HOME_TENANT, MGMT_CLIENT, MULTI_BANK_TENANT, startIssuer, SYSTEM_APP, SYSTEM_CLIENT } from '../helpers/issuer.js'

async function setup (t: Parameters<typeof startIssuer>[0], extra: Record<string, unknown> = {}) {
  const issuer = await startIssuer(t)
  const upstream = await startUpstream(t)
  const gw = await startTestGateway(t, {
    ...authConfig(issuer, upstream.url, {
      routes: [
        { name: 'meetings', prefix: '/api/meetings', upstream: upstream.url, api: 'management', roles: ['Employee'] },
        { name: 'reports', prefix: '/api/reports', upstream: upstream.url, api: 'management', roles: ['Manager'] },
        { name: 'system', prefix: '/system', upstream: upstream.url, api: 'system' }
      ]
    }),
    roles: { mappings: [{ attribute: 'roles', value: '*' }, { attribute: 'groups', value: 'aaaa-managers', role: 'Manager' }] },
    teams: [{ attribute: 'department', value: '*' }],
    businessUnits: [{ attribute: 'extension_bu', value: 'retail', businessUnit: 'Retail' }],
    cors: { origins: ['https://ui.bookme.example'] },
    ...extra
  }, { mappings: DEFAULT_MAPPINGS })
  const call = async (token: string, path = '/api/meetings/x', headers: Record<string, string> = {}) => {
    const res = await fetch(gw.proxyUrl + path, { headers: { authorization: `Bearer ${token}`, ...headers } })
    const text = await res.text()
    return { status: res.status, body: JSON.parse(text) as Record<string, unknown>, headers: res.headers }
  }
  return { issuer, upstream, gw, call }
}

t.test('the upstream receives exactly the §6 identity headers, spoofed ones replaced', async (t) => {
  const { issuer, upstream, call } = await setup(t)
  const token = issuer.mint({ tenantId: MULTI_BANK_TENANT.toUpperCase(), audience: MGMT_CLIENT, claims: { roles: ['employee'], groups: ['AAAA-MANAGERS'], department: 'Lending', extension_bu: 'Retail', preferred_username: 'max@bank.example', scp: 'read write', oid: 'a0a0a0a0-0000-4000-8000-000000000001' } })
  const res = await call(token, '/api/meetings/x', { 'x-bank-context': '2001', 'X-BookMe-Roles': 'Admin', x_bookme_bank_id: '2002', traceparent: '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01' })
  t.equal(res.status, 200)
  const seen = upstream.last().headers
  const identity = Object.fromEntries(Object.entries(seen).filter(([name]) => name.startsWith('x-bookme') || name.startsWith('x_bookme')))
  t.same(identity, {
    'x-bookme-bank-id': '2001',
    'x-bookme-bank-ids': '2001,2002',
    'x-bookme-tenant-id': MULTI_BANK_TENANT,
    'x-bookme-principal-type': 'user',
    'x-bookme-principal-id': 'a0a0a0a0-0000-4000-8000-000000000001',
    'x-bookme-client-id': String(identity['x-bookme-client-id']),
    'x-bookme-user-name': 'max@bank.example',
    'x-bookme-roles': 'Manager,Employee',
    'x-bookme-scopes': 'read write',
    'x-bookme-teams': 'Lending',
    'x-bookme-business-units': 'Retail',
    'x-bookme-api': 'management'
  })
  t.match(String(identity['x-bookme-client-id']), /^[0-9a-f-]{36}$/)
  t.equal(seen.traceparent, '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01', 'traceparent passes through')
  t.equal(seen.authorization, `Bearer ${token}`, 'Authorization forwarded by default')
})

t.test('role decisions: claim missing, no role, route role, profile requiredRoles, hierarchy', async (t) => {
  const { issuer, upstream, call } = await setup(t)
  const user = (claims: Record<string, unknown>) => issuer.mint({ tenantId: BANK_TENANT, audience: MGMT_CLIENT, claims })
  const missing = await call(user({ roles: undefined }))
  t.same([missing.status, missing.body.code, missing.body.detail], [403, 'ROLE_CLAIM_MISSING', 'Claim "roles" is not present in the token'])
  const none = await call(user({ roles: ['Visitor'] }))
  t.same([none.status, none.body.code], [403, 'NO_ROLE'])
  const denied = await call(user({ roles: ['Employee'] }), '/api/reports/q1')
  t.same([denied.status, denied.body.code], [403, 'ROLE_REQUIRED'])
  t.equal(denied.headers.get('www-authenticate'), 'Bearer realm="bookme-gateway", error="insufficient_scope", error_description="This route needs one of the roles: Manager"')
  t.equal((await call(user({ roles: ['Admin'] }), '/api/reports/q1')).status, 200, 'Admin ⊃ Manager')
  t.equal(upstream.last().headers['x-bookme-roles'], 'Admin,Configurator,Manager,Employee')
  const app = issuer.mint({ tenantId: HOME_TENANT, audience: SYSTEM_CLIENT, type: 'app', claims: { azp: SYSTEM_APP, roles: ['Admin'] } })
  const sys = await call(app, '/system/x')
  t.same([sys.status, sys.body.code, sys.body.detail], [403, 'ROLE_REQUIRED', 'This API needs the role: System'], 'profile requiredRoles')
})

t.test('forwardAuthorization false drops the token per route', async (t) => {
  const issuer = await startIssuer(t)
  const upstream = await startUpstream(t)
  const gw = await startTestGateway(t, authConfig(issuer, upstream.url, {
    routes: [{ name: 'm', prefix: '/m', upstream: upstream.url, api: 'management', forwardAuthorization: false }]
  }), { mappings: DEFAULT_MAPPINGS })
  const res = await fetch(`${gw.proxyUrl}/m`, { headers: { authorization: `Bearer ${issuer.mint({ tenantId: BANK_TENANT, audience: MGMT_CLIENT })}` } })
  t.equal(res.status, 200)
  t.equal(upstream.last().headers.authorization, undefined)
  t.equal(upstream.last().headers['x-bookme-bank-id'], '1001')
})

t.test('GET /_gateway/me answers with the profile whose audience the token carries', async (t) => {
  const { issuer, upstream, call, gw } = await setup(t)
  const manager = issuer.mint({ tenantId: MULTI_BANK_TENANT, audience: MGMT_CLIENT, claims: { roles: ['Manager'], preferred_username: 'max@x', oid: 'a0a0a0a0-0000-4000-8000-000000000002', department: 'Lending' } })
  const me = await call(manager, '/_gateway/me')
  t.equal(me.status, 200)
  t.same({ ...me.body, principal: { ...(me.body.principal as object), clientId: 'c' } }, {
    tenantId: MULTI_BANK_TENANT,
    principal: { type: 'user', id: 'a0a0a0a0-0000-4000-8000-000000000002', clientId: 'c', userName: 'max@x' },
    bankIds: ['2001', '2002'],
    activeBankId: null,
    roles: ['Manager', 'Employee'],
    teams: ['Lending'],
    businessUnits: [],
    acrs: [],
    api: 'management'
  })
  t.same((await call(manager, '/_gateway/me')).body, me.body, 'the same answer again, from the token cache (claims decoded again from the token)')
  t.equal((await call(manager, '/_gateway/me', { 'x-bank-context': '2002' })).body.activeBankId, '2002')
  t.equal((await call(manager, '/_gateway/me', { 'x-bank-context': '1001' })).body.code, 'BANK_NOT_ALLOWED')
  const app = issuer.mint({ tenantId: HOME_TENANT, audience: SYSTEM_CLIENT, type: 'app', claims: { azp: SYSTEM_APP } })
  const appMe = await call(app, '/_gateway/me')
  t.same([appMe.body.api, appMe.body.activeBankId, (appMe.body.principal as { userName: unknown }).userName], ['system', '1001', null])
  t.equal((await call(issuer.mint({ tenantId: BANK_TENANT, audience: '99999999-9999-4999-8999-999999999999' }), '/_gateway/me')).body.code, 'TOKEN_AUDIENCE_INVALID')
  t.equal((await fetch(`${gw.proxyUrl}/_gateway/me`)).status, 401)
  t.equal(upstream.requests.length, 0, 'never proxied')
})

t.test('CORS: preflights answered 204 at the edge; only listed origins get CORS headers', async (t) => {
  const { issuer, upstream, gw } = await setup(t)
  const preflight = (origin: string) => fetch(`${gw.proxyUrl}/api/meetings/x`, {
    method: 'OPTIONS', headers: { origin, 'access-control-request-method': 'POST', 'access-control-request-headers': 'authorization, x-bank-context' }
  })
  const listed = await preflight('https://ui.bookme.example')
  t.equal(listed.status, 204)
  t.equal(listed.headers.get('access-control-allow-origin'), 'https://ui.bookme.example')
  t.equal(listed.headers.get('access-control-allow-credentials'), 'true')
  t.equal(listed.headers.get('access-control-allow-headers'), 'authorization, content-type, x-bank-context, x-request-id, traceparent')
  const other = await preflight('https://evil.example')
  t.equal(other.status, 204)
  t.equal(other.headers.get('access-control-allow-origin'), null)
  t.equal(other.headers.get('access-control-allow-credentials'), null)
  t.equal(upstream.requests.length, 0, 'preflights never reach the upstream')
  const token = issuer.mint({ tenantId: BANK_TENANT, audience: MGMT_CLIENT })
  const actual = await fetch(`${gw.proxyUrl}/_gateway/me`, { headers: { origin: 'https://ui.bookme.example', authorization: `Bearer ${token}` } })
  t.equal(actual.headers.get('access-control-allow-origin'), 'https://ui.bookme.example')
  const proxied = await fetch(`${gw.proxyUrl}/api/meetings/x`, { headers: { origin: 'https://evil.example', authorization: `Bearer ${token}` } })
  t.equal(proxied.status, 200)
  t.equal(proxied.headers.get('access-control-allow-origin'), null)
})
