import t from 'tap'
import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import { startUpstream } from '../helpers/upstream.js'
import { startTestGateway, type TestGateway } from '../helpers/gateway.js'
import { startRedis } from '../helpers/services.js'
import { eventually } from '../helpers/eventually.js'
import { GRAPH_APP, GRAPH_SECRET, groupIds, startFakeGraph, type FakeGraph } from '../helpers/graph.js'
import { authConfig, BANK_TENANT, DEFAULT_MAPPINGS, MGMT_CLIENT, startIssuer } from '../helpers/issuer.js'
import type { LocalIssuer } from '../../src/demo/local-issuer.js'

// 25 named groups: Graph is asked in two calls (20 + 5). The user is in G[3] and G[22], and in
// groups no rule names.
const G = groupIds('9a', 25)
const RULES = {
  roles: { mappings: [{ attribute: 'roles', value: '*' }, { attribute: 'groups', value: G[3]!.toUpperCase(), role: 'Manager' }] },
  teams: G.map((id, i) => ({ attribute: 'groups', value: id, team: `team-${i}` }))
}
const USER = 'aaaaaaaa-0000-4000-8000-000000000001'

/** A local server standing where the token's `_claim_sources` points: it must never be called. */
async function claimSource (t: Parameters<typeof startIssuer>[0]) {
  let hits = 0
  const server = createServer((_req, res) => { hits++; res.writeHead(200, { 'content-type': 'application/json' }).end('{"value":[]}') })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  t.teardown(() => new Promise<void>((resolve) => { server.closeAllConnections(); server.close(() => resolve()) }))
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, hits: () => hits }
}

function overageV2 (issuer: LocalIssuer, endpoint: string, claims: Record<string, unknown> = {}): string {
  return issuer.mint({ tenantId: BANK_TENANT, audience: MGMT_CLIENT, claims: { oid: USER, roles: ['Employee'], _claim_names: { groups: 'src1' }, _claim_sources: { src1: { endpoint: `${endpoint}/${BANK_TENANT}/users/${USER}/getMemberObjects` } }, ...claims } })
}

function overageV1 (issuer: LocalIssuer): string {
  return issuer.mint({ version: 1, tenantId: BANK_TENANT, audience: `api://${MGMT_CLIENT}`, claims: { oid: USER, roles: ['Employee'], hasgroups: true } })
}

async function call (gw: TestGateway, token: string, path = '/api/meetings/1') {
  const res = await fetch(gw.proxyUrl + path, { headers: { authorization: `Bearer ${token}` } })
  const text = await res.text()
  return { status: res.status, body: (text === '' ? {} : JSON.parse(text)) as Record<string, unknown>, retryAfter: res.headers.get('retry-after') }
}

t.test('deny (default): an overage token is refused whenever a rule reads groups, with the fix in the detail', async (t) => {
  const issuer = await startIssuer(t)
  const upstream = await startUpstream(t)
  const source = await claimSource(t)
  const gw = await startTestGateway(t, { ...authConfig(issuer, upstream.url), ...RULES }, { mappings: DEFAULT_MAPPINGS })
  for (const [name, token] of [['v2 _claim_names', overageV2(issuer, source.url)], ['v1 hasgroups', overageV1(issuer)]] as const) {
    const res = await call(gw, token)
    t.equal(res.status, 403, name)
    t.equal(res.body.code, 'GROUPS_OVERAGE', name)
    t.match(res.body.detail, /groupMembershipClaims to ApplicationGroup.*or map app roles/, 'the detail names what to change in Entra')
  }
  t.equal(upstream.requests.length, 0, 'nothing reached the upstream, though the roles claim grants Employee')
  t.equal(source.hits(), 0, 'the token\'s _claim_sources endpoint is never called')
  const plain = issuer.mint({ tenantId: BANK_TENANT, audience: MGMT_CLIENT, claims: { roles: ['Employee'], groups: [G[3]] } })
  t.equal((await call(gw, plain)).status, 200, 'a token that carries its groups is mapped as before')
  t.equal(upstream.last().headers['x-bookme-roles'], 'Manager,Employee')

  const noGroupRules = await startTestGateway(t, authConfig(issuer, upstream.url), { mappings: DEFAULT_MAPPINGS })
  t.equal((await call(noGroupRules, overageV2(issuer, source.url))).status, 200, 'no rule reads groups: overage changes nothing')
})

async function graphSetup (t: Parameters<typeof startIssuer>[0], graphExtra: Record<string, unknown> = {}) {
  const issuer = await startIssuer(t)
  const upstream = await startUpstream(t)
  const graph = await startFakeGraph(t, issuer)
  graph.consented.add(BANK_TENANT)
  graph.members.set(USER, [G[3]!, G[22]!, 'ffffffff-0000-4000-8000-000000000000'])
  const redis = await startRedis(t)
  const raw = {
    ...authConfig(issuer, upstream.url, { entra: { groupsOverage: 'graph', graph: { endpoint: graph.url, clientId: GRAPH_APP, clientSecret: '${GRAPH_SECRET}', ...graphExtra } } }),
    ...RULES,
    cache: { store: 'redis', redis: { url: redis.url } }
  }
  const start = async ({ secret = GRAPH_SECRET, mappings = DEFAULT_MAPPINGS }: { secret?: string, mappings?: typeof DEFAULT_MAPPINGS } = {}) =>
    await startTestGateway(t, raw, { mappings, env: { GRAPH_SECRET: secret } })
  return { issuer, upstream, graph, redis, start }
}

function lookups (graph: FakeGraph): number {
  return graph.calls.length
}

t.test('graph: the rules\' group ids are checked in batches of 20; the answer maps roles and teams and is shared through Redis', async (t) => {
  const { issuer, upstream, graph, start } = await graphSetup(t)
  const source = await claimSource(t)
  const [first, second] = [await start(), await start()]
  const res = await call(first, overageV2(issuer, source.url))
  t.equal(res.status, 200, String(res.body.code ?? 'allowed'))
  const seen = upstream.last().headers
  t.equal(seen['x-bookme-roles'], 'Manager,Employee', 'Manager from G[3], through Graph')
  t.equal(seen['x-bookme-teams'], 'team-3,team-22')
  t.same(graph.calls.map((c) => c.groupIds.length).sort((a, b) => a - b), [5, 20], 'exactly the 25 named ids, 20 per call')
  t.same(new Set(graph.calls.flatMap((c) => c.groupIds)), new Set(G), 'only the ids the rules name (lower case)')
  t.same(graph.calls.map((c) => [c.tenant, c.objectId]), [[BANK_TENANT, USER], [BANK_TENANT, USER]], 'with a token for the user\'s tenant')
  t.equal(graph.tokenRequests.length, 1)
  t.match(Object.fromEntries(graph.tokenRequests[0]!.form), { grant_type: 'client_credentials', client_id: GRAPH_APP, scope: `${graph.url}/.default` })
  t.equal(graph.tokenRequests[0]!.tenant, BANK_TENANT)

  t.equal((await call(first, overageV2(issuer, source.url))).status, 200, 'a new token of the same user')
  t.equal((await call(second, overageV2(issuer, source.url))).status, 200, 'on the other replica')
  t.equal(upstream.last().headers['x-bookme-roles'], 'Manager,Employee')
  t.equal(lookups(graph), 2, 'answered from the cache store: Graph asked once for the user, by all replicas together')
  t.equal((await call(first, overageV1(issuer))).status, 200, 'a v1 hasgroups token is looked up the same way')
  t.equal(source.hits(), 0, 'the token\'s _claim_sources endpoint is never called')
  for (const gw of [first, second]) t.notOk(gw.rawLog().includes(GRAPH_SECRET), 'the client secret is never logged')
})

t.test('graph: one lookup in flight per user; the Graph token is kept until it expires', async (t) => {
  const { issuer, graph, start } = await graphSetup(t)
  const gw = await start()
  const answers = await Promise.all(Array.from({ length: 12 }, async () => await call(gw, overageV2(issuer, 'http://127.0.0.1:9'))))
  t.same(answers.map((a) => a.status), Array(12).fill(200))
  t.equal(lookups(graph), 2, 'twelve concurrent first requests: one lookup (two batches)')
  graph.members.set('bbbbbbbb-0000-4000-8000-000000000002', [G[24]!])
  t.equal((await call(gw, overageV2(issuer, 'http://127.0.0.1:9', { oid: 'bbbbbbbb-0000-4000-8000-000000000002' }))).status, 200)
  t.equal(graph.tokenRequests.length, 1, 'another user of the tenant: the same Graph token')
})

t.test('graph throttling: a short Retry-After is waited out once; a long one is a 503 with Retry-After, and Graph is left alone meanwhile', async (t) => {
  const { issuer, graph, start } = await graphSetup(t)
  const gw = await start()
  graph.nextAnswers.push({ status: 429, headers: { 'retry-after': '1' }, body: { error: { code: 'TooManyRequests' } } })
  const waited = await call(gw, overageV2(issuer, 'http://127.0.0.1:9'))
  t.equal(waited.status, 200, 'retried after 1 s, within timeoutMs (2000)')
  const calls = lookups(graph)

  graph.members.set('cccccccc-0000-4000-8000-000000000003', [G[3]!])
  const other = (): string => overageV2(issuer, 'http://127.0.0.1:9', { oid: 'cccccccc-0000-4000-8000-000000000003' })
  graph.nextAnswers.push({ status: 429, headers: { 'retry-after': '30' } }, { status: 429, headers: { 'retry-after': '30' } })
  const throttled = await call(gw, other())
  t.equal(throttled.status, 503)
  t.equal(throttled.body.code, 'GROUPS_UNAVAILABLE')
  t.match(throttled.body.detail, /throttling/)
  t.ok(Number(throttled.retryAfter) >= 29 && Number(throttled.retryAfter) <= 30, `Retry-After passed on (${throttled.retryAfter})`)
  const before = lookups(graph)
  t.ok(before - calls <= 2, 'one round of calls')
  const again = await call(gw, other())
  t.same([again.status, again.body.code], [503, 'GROUPS_UNAVAILABLE'])
  t.equal(lookups(graph), before, 'not asked again before its Retry-After')
  t.match(gw.logs.find((l) => l.kind === 'throttled'), { tenantId: BANK_TENANT, msg: /groups overage: Microsoft Graph could not be asked/ })
})

t.test('graph failures: a tenant that never consented, a refused secret, Graph down or hung → 503 GROUPS_UNAVAILABLE naming the cause; a cached answer is served meanwhile', async (t) => {
  const { issuer, graph, start } = await graphSetup(t, { timeoutMs: 400, cacheTtlSec: 1 })
  const gw = await start()
  t.equal((await call(gw, overageV2(issuer, 'http://127.0.0.1:9'))).status, 200, 'cached for the user')

  const unconsented = '66666666-6666-4666-8666-666666666666'
  const mappings = await start({ mappings: { ...DEFAULT_MAPPINGS, tenants: [...DEFAULT_MAPPINGS.tenants, { tenantId: unconsented, banks: ['1001'] }] } })
  const stranger = issuer.mint({ tenantId: unconsented, audience: MGMT_CLIENT, claims: { roles: ['Employee'], hasgroups: true } })
  const never = await call(mappings, stranger)
  t.same([never.status, never.body.code], [503, 'GROUPS_UNAVAILABLE'])
  t.match(never.body.detail, /has not consented to the gateway's Graph application.*admin consent for GroupMember\.Read\.All \(AADSTS700016\)/, 'Entra\'s answer for an app unknown in the tenant')
  graph.tokenAnswers.set(unconsented, { status: 403, body: { error: 'access_denied' } })
  const forbidden = await call(mappings, issuer.mint({ tenantId: unconsented, audience: MGMT_CLIENT, claims: { roles: ['Employee'], hasgroups: true } }))
  t.match(forbidden.body.detail, /has not consented/, '403 from the token endpoint: the same')
  t.notMatch(JSON.stringify(never.body) + JSON.stringify(forbidden.body), new RegExp(GRAPH_SECRET), 'no secret in the answer')

  const wrongSecret = await start({ secret: 'stale-secret' })
  const refused = await call(wrongSecret, issuer.mint({ tenantId: BANK_TENANT, audience: MGMT_CLIENT, claims: { oid: 'dddddddd-0000-4000-8000-000000000004', roles: ['Employee'], hasgroups: true } }))
  t.same([refused.status, refused.body.code], [503, 'GROUPS_UNAVAILABLE'])
  t.match(refused.body.detail, /refused the gateway's Graph credentials \(entra\.graph\.clientId, clientSecret\) \(AADSTS7000215\)/)
  for (const g of [mappings, wrongSecret]) t.notOk(g.rawLog().includes('stale-secret') || g.rawLog().includes(GRAPH_SECRET), 'secrets never logged')

  graph.hang = true
  const started = Date.now()
  const hung = await call(gw, issuer.mint({ tenantId: BANK_TENANT, audience: MGMT_CLIENT, claims: { oid: 'eeeeeeee-0000-4000-8000-000000000005', roles: ['Employee'], hasgroups: true } }))
  t.same([hung.status, hung.body.code], [503, 'GROUPS_UNAVAILABLE'])
  t.match(hung.body.detail, /did not answer \(timeout after 400 ms\)/)
  t.ok(Date.now() - started < 2000, 'bounded by timeoutMs')
  await graph.close()
  // Past cacheTtlSec (1 s) the known user's answer is stale: Graph is asked, fails, and the stale answer serves.
  const stale = await eventually(async () => {
    const res = await call(gw, overageV2(issuer, 'http://127.0.0.1:9'))
    const metrics = await (await fetch(`${gw.adminUrl}/metrics`)).text()
    return { res, stale: /bookme_gateway_groups_lookups_total\{result="stale"\} [1-9]/.test(metrics) }
  }, (probe) => probe.stale || probe.res.status !== 200, 5000)
  t.ok(stale.stale, 'the stale answer was served while Graph is down')
  t.equal(stale.res.status, 200)
  const unknown = await call(gw, issuer.mint({ tenantId: BANK_TENANT, audience: MGMT_CLIENT, claims: { oid: 'ffffffff-0000-4000-8000-000000000006', roles: ['Employee'], hasgroups: true } }))
  t.same([unknown.status, unknown.body.code], [503, 'GROUPS_UNAVAILABLE'], 'nothing cached: never a guess')
})

t.test('graph: Graph refusing the permission is named', async (t) => {
  const { issuer, graph, start } = await graphSetup(t)
  const gw = await start()
  graph.nextAnswers.push({ status: 403, body: { error: { code: 'Authorization_RequestDenied' } } }, { status: 403, body: { error: { code: 'Authorization_RequestDenied' } } })
  const res = await call(gw, overageV2(issuer, 'http://127.0.0.1:9'))
  t.same([res.status, res.body.code], [503, 'GROUPS_UNAVAILABLE'])
  t.match(res.body.detail, /grant its application GroupMember\.Read\.All with admin consent \(Authorization_RequestDenied\)/)
})

t.test('check proves the Graph credentials with a token in the home tenant, and never prints the secret', async (t) => {
  const { mkdtempSync, rmSync, writeFileSync } = await import('node:fs')
  const { tmpdir } = await import('node:os')
  const { join } = await import('node:path')
  const { stringify } = await import('yaml')
  const { runCli } = await import('../helpers/cli.js')
  const { HOME_TENANT } = await import('../helpers/issuer.js')
  const issuer = await startIssuer(t)
  const graph = await startFakeGraph(t, issuer)
  graph.consented.add(HOME_TENANT)
  const dir = mkdtempSync(join(tmpdir(), 'bookme-graph-check-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  writeFileSync(join(dir, 'mappings.yaml'), stringify(DEFAULT_MAPPINGS))
  writeFileSync(join(dir, 'gateway.yaml'), stringify({
    ...authConfig(issuer, 'http://127.0.0.1:1', { entra: { groupsOverage: 'graph', graph: { endpoint: graph.url, clientId: GRAPH_APP, clientSecret: '${GRAPH_SECRET}' } } }),
    ...RULES,
    mappings: { source: 'file', file: 'mappings.yaml' }
  }))
  const ok = await runCli(['check', '--config', join(dir, 'gateway.yaml')], { GRAPH_SECRET })
  t.equal(ok.code, 0, ok.stdout)
  t.match(ok.stdout, new RegExp(`^ok groups overage: graph, 25 group ids named by rules; client secret \\(entra\\.graph\\.clientSecret\\) accepted: a Graph token obtained in the home tenant ${HOME_TENANT}$`, 'm'))
  t.same(graph.tokenRequests.map((r) => r.tenant), [HOME_TENANT])
  const bad = await runCli(['check', '--config', join(dir, 'gateway.yaml')], { GRAPH_SECRET: 'wrong-secret' })
  t.equal(bad.code, 1)
  t.match(bad.stdout, /^FAIL groups overage: no Graph token in the home tenant .*refused the gateway's Graph credentials.*AADSTS7000215/m)
  t.notOk(/wrong-secret|graph-secret/.test(bad.stdout + bad.stderr + ok.stdout + ok.stderr), 'the secret is never printed')
})
