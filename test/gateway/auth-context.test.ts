import t from 'tap'
import { startUpstream } from '../helpers/upstream.js'
import { startTestGateway } from '../helpers/gateway.js'
import { authConfig, BANK_TENANT, DEFAULT_MAPPINGS, MGMT_CLIENT, startIssuer } from '../helpers/issuer.js'

// Microsoft's own example of the claims challenge for authentication context c1
// (learn.microsoft.com, "Developer guide to Conditional Access authentication context").
const MICROSOFT_C1_CHALLENGE = 'eyJhY2Nlc3NfdG9rZW4iOnsiYWNycyI6eyJlc3NlbnRpYWwiOnRydWUsInZhbHVlIjoiYzEifX19'

async function setup (t: Parameters<typeof startIssuer>[0], { authority }: { authority?: (issuerUrl: string) => string } = {}) {
  const issuer = await startIssuer(t)
  const upstream = await startUpstream(t)
  const gw = await startTestGateway(t, authConfig(issuer, upstream.url, {
    ...(authority === undefined ? {} : { entra: { authority: authority(issuer.url) } }),
    routes: [
      { name: 'payments', prefix: '/api/payments', upstream: upstream.url, api: 'management', roles: ['Manager'], authContext: 'c1' },
      { name: 'vault', prefix: '/api/vault', upstream: upstream.url, api: 'management', authContext: 'c25' },
      { name: 'meetings', prefix: '/api/meetings', upstream: upstream.url, api: 'management' }
    ]
  }), { mappings: DEFAULT_MAPPINGS })
  const call = async (path: string, claims: Record<string, unknown>) => {
    const token = issuer.mint({ tenantId: BANK_TENANT, audience: MGMT_CLIENT, claims })
    const res = await fetch(gw.proxyUrl + path, { headers: { authorization: `Bearer ${token}` } })
    return { status: res.status, body: await res.json() as Record<string, unknown>, challenge: res.headers.get('www-authenticate') }
  }
  return { issuer, upstream, gw, call }
}

/** RFC 7235 auth-params of a Bearer challenge, as a client's parser reads them. */
function challengeParams (header: string): Record<string, string> {
  if (!header.startsWith('Bearer ')) throw new Error(`not a Bearer challenge: ${header}`)
  const params: Record<string, string> = {}
  for (const match of header.slice('Bearer '.length).matchAll(/([a-z_]+)="([^"]*)"(?:, |$)/g)) params[match[1]!] = match[2]!
  return params
}

t.test('a token without the route\'s authentication context gets the claims challenge MSAL answers', async (t) => {
  const { issuer, upstream, call } = await setup(t)
  const before = upstream.requests.length
  const res = await call('/api/payments/transfer', { roles: ['Manager'] })
  t.equal(res.status, 401)
  t.equal(res.body.code, 'AUTH_CONTEXT_REQUIRED')
  t.equal(res.challenge, `Bearer realm="${BANK_TENANT}", authorization_uri="${issuer.url}/${BANK_TENANT}/oauth2/v2.0/authorize", error="insufficient_claims", claims="${MICROSOFT_C1_CHALLENGE}"`,
    'byte for byte §13: the token\'s tenant as realm, where to sign in again, and Microsoft\'s example claims')
  const params = challengeParams(res.challenge!)
  t.same(Object.keys(params), ['realm', 'authorization_uri', 'error', 'claims'], 'every parameter of Microsoft\'s claims-challenge format')
  t.same(JSON.parse(Buffer.from(params.claims!, 'base64').toString('utf8')), { access_token: { acrs: { essential: true, value: 'c1' } } }, 'what MSAL is handed as `claims` is that JSON')
  t.equal(upstream.requests.length, before, 'nothing reached the upstream')

  const other = await call('/api/payments/transfer', { roles: ['Manager'], acrs: ['c2', 'c3'] })
  t.same([other.status, other.body.code], [401, 'AUTH_CONTEXT_REQUIRED'], 'another context is not this one')
  const vault = await call('/api/vault/x', { roles: ['Employee'] })
  t.equal(JSON.parse(Buffer.from(challengeParams(vault.challenge!).claims!, 'base64').toString('utf8')).access_token.acrs.value, 'c25')
})

t.test('the challenge names the configured authority once, whatever its trailing slash', async (t) => {
  const { issuer, call } = await setup(t, { authority: (url) => `${url}/` })
  const res = await call('/api/payments/transfer', { roles: ['Manager'] })
  t.equal(res.status, 401)
  t.equal(challengeParams(res.challenge!).authorization_uri, `${issuer.url}/${BANK_TENANT}/oauth2/v2.0/authorize`)
})

t.test('acrs as an array, as a single string, in any case passes; the route\'s roles are checked first', async (t) => {
  const { upstream, call } = await setup(t)
  t.equal((await call('/api/payments/x', { roles: ['Manager'], acrs: ['c4', 'c1'] })).status, 200)
  t.equal(upstream.last().url, '/api/payments/x')
  t.equal((await call('/api/payments/x', { roles: ['Manager'], acrs: 'C1' })).status, 200, 'a string is one value, compared case-insensitively')
  t.equal((await call('/api/payments/x', { roles: ['Manager'], acrs: 'c1 c2' })).status, 401, 'a string is not split')
  t.equal((await call('/api/payments/x', { roles: ['Manager'], acrs: [1, { c1: true }] })).status, 401, 'non-string members satisfy nothing')
  const employee = await call('/api/payments/x', { roles: ['Employee'] })
  t.same([employee.status, employee.body.code], [403, 'ROLE_REQUIRED'], 'no step-up prompt for a user who could not use the route anyway')
  t.equal((await call('/api/meetings/x', { roles: ['Employee'] })).status, 200, 'routes without authContext ask for none')
})

t.test('/_gateway/me lists the authentication contexts the token satisfies', async (t) => {
  const { gw, call } = await setup(t)
  const me = await call('/_gateway/me', { roles: ['Employee'], acrs: ['c1', 'c7', 'c1'] })
  t.equal(me.status, 200)
  t.same(me.body.acrs, ['c1', 'c7'])
  t.same((await call('/_gateway/me', { roles: ['Employee'] })).body.acrs, [], 'none: an empty list')
  t.ok(gw.config.routes.some((route) => route.authContext === 'c1'))
})
