import t, { type Test } from 'tap'
import { startUpstream } from '../helpers/upstream.js'
import { eventually } from '../helpers/eventually.js'
import { startTestGateway } from '../helpers/gateway.js'
import { startOrganizationsDb, startRedis, type RunningMariaDb } from '../helpers/services.js'
import { authConfig, BANK_TENANT, HOME_TENANT, MGMT_CLIENT, MULTI_BANK_TENANT, startIssuer, SYSTEM_APP, SYSTEM_CLIENT, UNMAPPED_TENANT } from '../helpers/issuer.js'

const DISABLED_CLIENT = '55555555-5555-4555-8555-555555555555'
const CLOSED_BANK_CLIENT = '66666666-6666-4666-8666-666666666666'
const SEED = `
INSERT INTO Banks VALUES ('1001', 'Demo Bank', 1), ('2001', 'North', 1), ('2002', 'South', 1), ('9001', 'Closed', 0);
INSERT INTO TenantBanks VALUES ('${BANK_TENANT.toUpperCase()}', '1001', 0),
  ('${MULTI_BANK_TENANT}', '2001', 0), ('${MULTI_BANK_TENANT}', '2002', 0), ('${MULTI_BANK_TENANT}', '9001', 0);
INSERT INTO BankClients VALUES ('${SYSTEM_APP.toUpperCase()}', '1001', 'core banking', '2027-05-01 00:00:00', 1),
  ('${DISABLED_CLIENT}', '1001', 'old', NULL, 0), ('${CLOSED_BANK_CLIENT}', '9001', NULL, NULL, 1);
`

async function setup (t: Test, cache: Record<string, unknown> = {}, { redis = true } = {}) {
  const issuer = await startIssuer(t)
  const upstream = await startUpstream(t)
  const db = await startOrganizationsDb(t, SEED)
  const redisServer = redis ? await startRedis(t) : undefined
  const gw = await startTestGateway(t, {
    ...authConfig(issuer, upstream.url),
    mappings: { source: 'mysql', mysql: { host: db.host, port: db.port, user: db.user, password: '${MYSQL_PASSWORD}', connectTimeoutMs: 500, queryTimeoutMs: 1000 } },
    cache: { store: redisServer ? 'redis' : 'memory', ...(redisServer ? { redis: { url: redisServer.url, keyPrefix: 'gw-test:' } } : {}), ...cache }
  }, { env: { MYSQL_PASSWORD: db.password } })
  const user = (tenantId: string) => issuer.mint({ tenantId, audience: MGMT_CLIENT })
  const call = async (token: string, headers: Record<string, string> = {}, path = '/api/meetings/x') => {
    const res = await fetch(gw.proxyUrl + path, { headers: { authorization: `Bearer ${token}`, ...headers } })
    const body = await res.json() as Record<string, unknown>
    return { status: res.status, code: body.code as string | undefined, body }
  }
  const sourceQueries = async (): Promise<number> => {
    const text = await (await fetch(`${gw.adminUrl}/metrics`)).text()
    return [...text.matchAll(/^bookme_gateway_mapping_source_queries_total\{[^}]*result="ok"[^}]*\} (\d+)/gm)].reduce((n, m) => n + Number(m[1]), 0)
  }
  return { issuer, upstream, db, redis: redisServer, gw, user, call, sourceQueries }
}

t.test('MySQL source: every rule both ways, GUIDs case-insensitive, headers at the upstream', async (t) => {
  const { issuer, upstream, call, user } = await setup(t)
  t.equal((await call(user(BANK_TENANT))).status, 200, 'single-bank tenant (row written upper case)')
  t.equal(upstream.last().headers['x-bookme-bank-id'], '1001')
  t.equal(upstream.last().headers['x-bookme-bank-ids'], '1001')

  const multi = await call(user(MULTI_BANK_TENANT))
  t.same([multi.status, multi.code, multi.body.availableBankIds], [400, 'BANK_CONTEXT_REQUIRED', ['2001', '2002']])
  t.equal((await call(user(MULTI_BANK_TENANT), { 'x-bank-context': '2002' })).status, 200, 'selection names one of its banks')
  t.equal(upstream.last().headers['x-bookme-bank-id'], '2002')
  t.equal(upstream.last().headers['x-bookme-bank-ids'], '2001,2002')
  t.equal(upstream.last().headers['x-bank-context'], undefined, 'the selection header is not forwarded')
  t.same([(await call(user(MULTI_BANK_TENANT), { 'x-bank-context': '1001' })).code], ['BANK_NOT_ALLOWED'], 'another tenant\'s bank')
  t.same([(await call(user(MULTI_BANK_TENANT), { 'x-bank-context': '9001' })).code], ['BANK_DISABLED'], 'a disabled bank of the tenant')
  t.same([(await call(user(BANK_TENANT), { X_Bank_Context: '1001' })).status], [200], 'other spellings are only stripped')
  t.equal((await call(user(UNMAPPED_TENANT))).code, 'TENANT_NOT_MAPPED')

  const app = (clientId: string) => issuer.mint({ tenantId: HOME_TENANT, audience: SYSTEM_CLIENT, type: 'app', claims: { azp: clientId } })
  t.equal((await call(app(SYSTEM_APP), {}, '/system/x')).status, 200, 'registered client (row upper case)')
  t.equal(upstream.last().headers['x-bookme-bank-id'], '1001')
  t.equal((await call(app('77777777-7777-4777-8777-777777777777'), {}, '/system/x')).code, 'CLIENT_NOT_REGISTERED')
  t.equal((await call(app(DISABLED_CLIENT), {}, '/system/x')).code, 'CLIENT_NOT_REGISTERED', 'disabled client row')
  t.equal((await call(app(CLOSED_BANK_CLIENT), {}, '/system/x')).code, 'BANK_DISABLED', 'client of a disabled bank')
})

t.test('a change in MySQL is visible after ttlSec (real time; every lifetime on a moved clock: test/mappings/cache-lifetimes.test.ts)', async (t) => {
  // A margin of 2 s: "still cached" must hold while a loaded machine runs the mysql client
  // for the change, which can take most of a second.
  const { db, call, user } = await setup(t, { ttlSec: 2, localTtlSec: 2 })
  t.equal((await call(user(BANK_TENANT))).status, 200)
  const changed = Date.now()
  db.sql('UPDATE Banks SET Enabled = 0 WHERE BankId = \'1001\'', 'bp_organizations_db')
  t.equal((await call(user(BANK_TENANT))).status, 200, 'still cached')
  const seen = await eventually(() => call(user(BANK_TENANT)), (res) => res.code === 'BANK_DISABLED', 10_000)
  t.equal(seen.code, 'BANK_DISABLED', 'visible once the cached answer expired')
  t.ok(Date.now() - changed >= 1000, 'and not before')
})

t.test('200 concurrent first requests for one tenant make one source query', async (t) => {
  const { call, user, sourceQueries } = await setup(t)
  const token = user(BANK_TENANT)
  const before = await sourceQueries()
  const results = await Promise.all(Array.from({ length: 200 }, () => call(token)))
  t.ok(results.every((r) => r.status === 200), 'all 200')
  t.equal(await sourceQueries() - before, 1, 'one query')
})

t.test('Redis killed mid-run: mapped tenants keep getting answers, never a 5xx; Redis back: used again', async (t) => {
  const { redis, call, user, gw } = await setup(t, { localTtlSec: 0 })
  t.equal((await call(user(BANK_TENANT))).status, 200)
  await redis!.kill()
  for (const tenant of [BANK_TENANT, BANK_TENANT, MULTI_BANK_TENANT]) {
    const started = Date.now()
    const res = await call(user(tenant), { 'x-bank-context': tenant === MULTI_BANK_TENANT ? '2001' : '1001' })
    t.equal(res.status, 200, 'answered from the source')
    t.ok(Date.now() - started < 1500, 'a dead Redis costs milliseconds, not seconds')
  }
  const metrics = await (await fetch(`${gw.adminUrl}/metrics`)).text()
  t.match(metrics, /bookme_gateway_cache_store_errors_total [1-9]/)
  await redis!.restart()
  t.equal((await eventually(() => call(user(BANK_TENANT)), (res) => res.status === 200)).status, 200)
})

t.test('MariaDB killed: cached tenants served stale, uncached ones 503 MAPPING_UNAVAILABLE; back: recovery without restart', async (t) => {
  const { db, call, user, gw } = await setup(t, { ttlSec: 1, localTtlSec: 1, staleIfErrorSec: 3600 }, { redis: false })
  t.equal((await call(user(BANK_TENANT))).status, 200)
  await (db as RunningMariaDb).kill()
  const staleServed = async (): Promise<number> => Number(/bookme_gateway_mapping_stale_served_total\{kind="tenant"\} (\d+)/.exec(await (await fetch(`${gw.adminUrl}/metrics`)).text())?.[1] ?? 0)
  // Asked until the cached answer has expired (ttlSec 1) and the stale one is served instead.
  const served = await eventually(async () => ({ status: (await call(user(BANK_TENANT))).status, stale: await staleServed() }), (r) => r.stale > 0 || r.status !== 200)
  t.same(served.status, 200, 'stale answer served')
  t.ok(served.stale > 0, 'counted as stale')
  const uncached = await call(user(MULTI_BANK_TENANT), { 'x-bank-context': '2001' })
  t.same([uncached.status, uncached.code], [503, 'MAPPING_UNAVAILABLE'], 'never 200 without an answer')
  const ready = await fetch(`${gw.adminUrl}/readyz`)
  t.equal(ready.status, 200, 'a later outage does not take the pod out')
  const metrics = await (await fetch(`${gw.adminUrl}/metrics`)).text()
  t.match(metrics, /bookme_gateway_mapping_stale_served_total\{kind="tenant"\} [1-9]/)
  await db.restart()
  const recovered = await eventually(() => call(user(MULTI_BANK_TENANT), { 'x-bank-context': '2001' }), (res) => res.status === 200)
  t.equal(recovered.status, 200, 'the source answers again')
})
