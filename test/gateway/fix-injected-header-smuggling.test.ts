import t from 'tap'
import { startUpstream } from '../helpers/upstream.js'
import { startTestGateway } from '../helpers/gateway.js'
import { authConfig, BANK_TENANT, DEFAULT_MAPPINGS, MGMT_CLIENT, startIssuer } from '../helpers/issuer.js'

// Regression for smuggling through generated request headers (ADVISORIES.md: Envoy
// CVE-2023-27493, unescaped values in generated headers): no claim value may split a header,
// add one, or carry a control character to the upstream.
async function setup (t: Parameters<typeof startIssuer>[0]) {
  const issuer = await startIssuer(t)
  const upstream = await startUpstream(t)
  const gw = await startTestGateway(t, {
    ...authConfig(issuer, upstream.url),
    teams: [{ attribute: 'department', value: '*' }]
  }, { mappings: DEFAULT_MAPPINGS })
  const call = async (token: string) => {
    const res = await fetch(`${gw.proxyUrl}/api/meetings/x`, { headers: { authorization: `Bearer ${token}` } })
    return { status: res.status, body: await res.json() as Record<string, unknown> }
  }
  return { issuer, upstream, call }
}

t.test('a claim with CR/LF cannot split or add a header', async (t) => {
  const { issuer, upstream, call } = await setup(t)
  for (const evil of ['eve\r\nx-bookme-roles: Admin', 'eve\nX-Injected: 1', 'eve\u0000']) {
    const res = await call(issuer.mint({ tenantId: BANK_TENANT, audience: MGMT_CLIENT, claims: { preferred_username: evil } }))
    t.same([res.status, res.body.code], [401, 'TOKEN_MALFORMED'], JSON.stringify(evil))
  }
  const teams = await call(issuer.mint({ tenantId: BANK_TENANT, audience: MGMT_CLIENT, claims: { department: ['a\r\nb'] } }))
  t.equal(teams.status, 401, 'in a list too')
  t.equal(upstream.requests.length, 0, 'nothing reached the upstream')
  t.equal((await call(issuer.mint({ tenantId: BANK_TENANT, audience: MGMT_CLIENT, claims: { preferred_username: 'José, Ñ' } }))).status, 200)
  t.equal(upstream.last().headers['x-bookme-user-name'], 'Jos%C3%A9, %C3%91', 'non-ASCII encoded reversibly')
})
