/**
 * The decision log (CONTRACT.md §14): one line per request, allowed or refused, with the facts
 * its decision implies and never a token, a secret or a user name; refusals are always written,
 * allowed lines sampled by `log.allowedSampleRatio`; `decisions_total` bounded by the mappings.
 */
import t, { type Test } from 'tap'
import { startUpstream } from '../helpers/upstream.js'
import { startTestGateway, type TestGateway } from '../helpers/gateway.js'
import { authConfig, BANK_TENANT, DEFAULT_MAPPINGS, HOME_TENANT, MGMT_CLIENT, MULTI_BANK_TENANT, startIssuer, SYSTEM_APP, SYSTEM_CLIENT, UNMAPPED_TENANT } from '../helpers/issuer.js'
import { freePort } from '../helpers/services.js'

const GRAPH_SECRET = 'graph-secret-Zq8wX3vB7nM2kL5p'
const NAMES = { name: 'Ada Lovelace-Decision', preferred_username: 'ada.decision@bank.example', upn: 'ada.upn@bank.example', unique_name: 'ada.unique@bank.example', email: 'ada.mail@bank.example' }

async function setup (t: Test, log: Record<string, unknown> = {}) {
  const [issuer, upstream] = await Promise.all([startIssuer(t), startUpstream(t)])
  const closed = `http://127.0.0.1:${await freePort()}`
  const raw = {
    ...authConfig(issuer, upstream.url, {
      entra: { graph: { clientId: '55555555-5555-4555-8555-555555555555', clientSecret: GRAPH_SECRET } },
      routes: [
        { name: 'meetings', prefix: '/api/meetings', upstream: upstream.url, api: 'management', roles: ['Employee'] },
        { name: 'admin', prefix: '/api/admin', upstream: upstream.url, api: 'management', roles: ['Admin'] },
        { name: 'stepup', prefix: '/api/stepup', upstream: upstream.url, api: 'management', authContext: 'c1' },
        { name: 'limited', prefix: '/api/limited', upstream: upstream.url, api: 'management' },
        { name: 'down', prefix: '/api/down', upstream: closed, api: 'management' },
        { name: 'system', prefix: '/system', upstream: upstream.url, api: 'system' }
      ]
    }),
    server: { bodyLimitBytes: 1024 },
    rateLimits: { policies: [{ name: 'one', routes: ['limited'], limit: 1, windowSec: 3600 }] },
    log
  }
  const gw = await startTestGateway(t, raw, { mappings: DEFAULT_MAPPINGS })
  return { issuer, upstream, gw }
}

async function send (gw: TestGateway, path: string, token?: string, init: RequestInit & { headers?: Record<string, string> } = {}): Promise<{ status: number, code: string | undefined }> {
  const headers = { ...init.headers, ...(token === undefined ? {} : { authorization: `Bearer ${token}` }) }
  const res = await fetch(gw.proxyUrl + path, { ...init, headers })
  const text = await res.text()
  return { status: res.status, code: res.status >= 400 ? (JSON.parse(text) as { code: string }).code : undefined }
}

function requestLines (gw: TestGateway): Array<Record<string, unknown>> {
  return gw.logs.filter((line) => line.msg === 'request')
}

async function decisionSeries (gw: TestGateway): Promise<string[]> {
  const text = await (await fetch(`${gw.adminUrl}/metrics`)).text()
  return text.split('\n').filter((line) => line.startsWith('bookme_gateway_decisions_total{'))
}

t.test('every refusal and every allowed request has its decision line, with no token, secret or user name', async (t) => {
  const { issuer, gw } = await setup(t)
  const now = Math.floor(Date.now() / 1000)
  const user = (claims: Record<string, unknown> = {}, tenantId = BANK_TENANT): string => issuer.mint({ tenantId, audience: MGMT_CLIENT, version: 1, claims: { ...NAMES, ...claims } })
  const v2user = issuer.mint({ tenantId: BANK_TENANT, audience: MGMT_CLIENT, claims: NAMES })
  const forger = issuer.addKey({ publish: false })
  const good = user()
  const tokens: string[] = [good, v2user]
  const use = (token: string): string => { tokens.push(token); return token }
  const cases: Array<[string, string | undefined, string | undefined, Record<string, string>?, RequestInit?]> = [
    ['/api/meetings/1', undefined, 'TOKEN_MISSING'],
    ['/api/meetings/1', use('abc.def'), 'TOKEN_MALFORMED'],
    ['/api/meetings/1', use(user({ exp: now - 3600, nbf: now - 7200, iat: now - 7200 })), 'TOKEN_EXPIRED'],
    ['/api/meetings/1', use(issuer.mint({ tenantId: BANK_TENANT, audience: MGMT_CLIENT, key: forger, header: { kid: issuer.keys[0]!.kid }, claims: NAMES })), 'TOKEN_SIGNATURE_INVALID'],
    ['/api/meetings/1', use(issuer.mint({ tenantId: BANK_TENANT, audience: 'api://someone-else', claims: NAMES })), 'TOKEN_AUDIENCE_INVALID'],
    ['/api/meetings/1', use(user({ iss: 'https://evil.example/' })), 'TOKEN_ISSUER_INVALID'],
    ['/api/meetings/1', use(issuer.mint({ tenantId: BANK_TENANT, audience: MGMT_CLIENT, key: forger, claims: NAMES })), 'SIGNING_KEY_NOT_FOUND'],
    ['/api/meetings/1', use(user({}, UNMAPPED_TENANT)), 'TENANT_NOT_MAPPED'],
    ['/api/meetings/1', use(user({}, MULTI_BANK_TENANT)), 'BANK_NOT_ALLOWED', { 'x-bank-context': '1001' }],
    ['/api/meetings/1', use(user({}, MULTI_BANK_TENANT)), 'BANK_CONTEXT_REQUIRED'],
    ['/api/meetings/1', use(user({}, MULTI_BANK_TENANT)), 'BANK_DISABLED', { 'x-bank-context': '9001' }],
    ['/api/admin/1', good, 'ROLE_REQUIRED'],
    ['/api/meetings/1', use(user({ roles: ['Nothing'] })), 'NO_ROLE'],
    ['/api/stepup/1', good, 'AUTH_CONTEXT_REQUIRED'],
    ['/api/limited/1', good, undefined],
    ['/api/limited/1', good, 'RATE_LIMITED'],
    ['/nowhere', good, 'ROUTE_NOT_FOUND'],
    ['/api/meetings/a;b', good, 'REQUEST_INVALID'],
    ['/api/meetings/1', good, 'PAYLOAD_TOO_LARGE', { 'content-type': 'text/plain' }, { method: 'POST', body: 'x'.repeat(4096) }],
    ['/api/down/1', good, 'UPSTREAM_UNAVAILABLE'],
    ['/system/1', use(issuer.mint({ tenantId: HOME_TENANT, audience: SYSTEM_CLIENT, type: 'app', claims: { azp: '66666666-6666-4666-8666-666666666666' } })), 'CLIENT_NOT_REGISTERED'],
    ['/system/1', use(issuer.mint({ tenantId: HOME_TENANT, audience: SYSTEM_CLIENT, claims: NAMES })), 'PRINCIPAL_TYPE_NOT_ALLOWED'],
    ['/api/meetings/1', good, undefined],
    ['/api/meetings/2', good, undefined],
    ['/api/meetings/3', v2user, undefined],
    ['/system/1', use(issuer.mint({ tenantId: HOME_TENANT, audience: SYSTEM_CLIENT, type: 'app', claims: { azp: SYSTEM_APP } })), undefined]
  ]
  const answers = []
  for (const [path, token, , headers, init] of cases) answers.push(await send(gw, path, token, { ...init, headers: headers ?? {} }))
  t.same(answers.map((a) => a.code), cases.map((c) => c[2]), 'each request got the answer it was built for')

  const lines = requestLines(gw)
  t.equal(lines.length, cases.length, 'one line per request')
  for (const [i, line] of lines.entries()) {
    const code = cases[i]![2]
    if (code === undefined) {
      t.match(line, { decision: 'allow', status: 200, tenantId: String, bankId: '1001', principalType: String, principalId: String, clientId: String, kid: issuer.keys[0]!.kid, tokenCache: /^(hit|miss)$/, requestId: String, durationMs: Number }, `allowed ${String(line.path)}`)
      t.notOk('code' in line, 'no code when allowed')
    } else {
      t.match(line, { decision: 'deny', code, status: answers[i]!.status, route: String, requestId: String }, code)
    }
  }
  const byCode = (code: string): Record<string, unknown> => lines[cases.findIndex((c) => c[2] === code)]!
  t.match(byCode('TENANT_NOT_MAPPED'), { tenantId: UNMAPPED_TENANT, principalType: 'user', kid: issuer.keys[0]!.kid, api: 'management' }, 'a refusal carries what was known when it came')
  t.notOk('bankId' in byCode('TENANT_NOT_MAPPED'), 'no bank for an unmapped tenant')
  for (const code of ['TOKEN_SIGNATURE_INVALID', 'SIGNING_KEY_NOT_FOUND', 'TOKEN_EXPIRED', 'TOKEN_ISSUER_INVALID']) {
    const line = byCode(code)
    t.ok(!('tenantId' in line) && !('kid' in line) && !('principalId' in line), `${code}: nothing from the unverified token`)
  }
  t.match(byCode('ROLE_REQUIRED'), { tenantId: BANK_TENANT, bankId: '1001', route: 'admin' })

  const raw = gw.rawLog()
  for (const token of tokens) {
    for (let i = 0; i + 16 <= token.length; i += 8) {
      if (raw.includes(token.slice(i, i + 16))) t.fail(`a fragment of a token is in the log: ${i}`)
    }
  }
  t.notMatch(raw, GRAPH_SECRET, 'no secret')
  for (const name of Object.values(NAMES)) t.notMatch(raw, name, `no user name (${name.slice(0, 3)}…)`)

  const series = await decisionSeries(gw)
  t.ok(series.some((s) => s.startsWith('bookme_gateway_decisions_total{bank="1001",decision="allow",code=""}')), 'allowed, per bank')
  t.ok(series.some((s) => s.startsWith('bookme_gateway_decisions_total{bank="none",decision="deny",code="TENANT_NOT_MAPPED"}')), 'unresolved: bank none')
})

t.test('allowedSampleRatio 0: no allowed line, every refusal still logged', async (t) => {
  const { issuer, gw } = await setup(t, { allowedSampleRatio: 0 })
  const good = issuer.mint({ tenantId: BANK_TENANT, audience: MGMT_CLIENT })
  for (let i = 0; i < 5; i++) t.equal((await send(gw, '/api/meetings/1', good)).status, 200)
  t.equal((await send(gw, '/api/admin/1', good)).code, 'ROLE_REQUIRED')
  t.equal((await send(gw, '/api/meetings/1')).code, 'TOKEN_MISSING')
  t.same(requestLines(gw).map((l) => [l.decision, l.code]), [['deny', 'ROLE_REQUIRED'], ['deny', 'TOKEN_MISSING']])
  t.ok((await decisionSeries(gw)).some((s) => s === 'bookme_gateway_decisions_total{bank="1001",decision="allow",code=""} 5'), 'still counted')
})

t.test('1,000 unmapped tenants: decisions_total does not grow with them', async (t) => {
  const { issuer, gw } = await setup(t)
  const before = (await decisionSeries(gw)).length
  const tenant = (i: number): string => `${i.toString(16).padStart(8, '0')}-aaaa-4aaa-8aaa-aaaaaaaaaaaa`
  for (let batch = 0; batch < 1000; batch += 50) {
    await Promise.all(Array.from({ length: 50 }, async (_, j) => {
      t.equal((await send(gw, '/api/meetings/1', issuer.mint({ tenantId: tenant(batch + j), audience: MGMT_CLIENT }))).code, 'TENANT_NOT_MAPPED')
    }))
  }
  const series = await decisionSeries(gw)
  t.same(series, ['bookme_gateway_decisions_total{bank="none",decision="deny",code="TENANT_NOT_MAPPED"} 1000'], 'one series for all of them')
  t.ok(series.length <= before + 1)
})
