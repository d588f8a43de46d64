import t, { type Test } from 'tap'
import { startUpstream } from '../helpers/upstream.js'
import { readiness, startTestGateway, untilReady, type TestGateway } from '../helpers/gateway.js'
import { startOrganizationsDb, type RunningMariaDb } from '../helpers/services.js'
import { startCluster, startSentinel } from '../helpers/redis-topologies.js'
import { eventually } from '../helpers/eventually.js'
import { startTraffic, type Caller } from '../helpers/traffic.js'
import { makeCertificates } from '../helpers/certs.js'
import { startWireRecorder } from '../helpers/wire-recorder.js'
import { authConfig, MGMT_CLIENT, startIssuer } from '../helpers/issuer.js'

// Faults under steady traffic (CONTRACT.md §10): 300 requests/s offered over 50 tenants, each with a
// bank of its own, every answer checked for its status and its bank. The shared cache's process
// layer is off (localTtlSec 0), so every request asks Redis: what a failover costs is visible.
const TENANTS = Array.from({ length: 50 }, (_, i) => ({ tenantId: `bbbbbbbb-0000-4000-8000-${String(i).padStart(12, '0')}`, bankId: `B${i}` }))
const SEED = `INSERT INTO Banks VALUES ${TENANTS.map((x) => `('${x.bankId}', 'Bank ${x.bankId}', 1)`).join(', ')};
  INSERT INTO TenantBanks VALUES ${TENANTS.map((x) => `('${x.tenantId}', '${x.bankId}', 1)`).join(', ')};`

async function gatewayOver (t: Test, cache: Record<string, unknown>, mysql: Record<string, unknown>, db?: RunningMariaDb) {
  const [issuer, upstream] = await Promise.all([startIssuer(t), startUpstream(t)])
  const database = db ?? await startOrganizationsDb(t, SEED)
  const gw = await startTestGateway(t, {
    ...authConfig(issuer, upstream.url),
    mappings: { source: 'mysql', mysql: { host: database.host, port: database.port, user: database.user, password: database.password, ...mysql } },
    cache: { ttlSec: 3600, localTtlSec: 0, ...cache }
  })
  await untilReady(gw, 20_000)
  const callers: Caller[] = TENANTS.map((x) => ({ token: issuer.mint({ tenantId: x.tenantId, audience: MGMT_CLIENT }), bankId: x.bankId }))
  return { gw, callers, db: database, url: `${gw.proxyUrl}/api/meetings/x` }
}

async function counter (gw: TestGateway, name: string, labels = ''): Promise<number> {
  const text = await (await fetch(`${gw.adminUrl}/metrics`)).text()
  const pattern = new RegExp(`^bookme_gateway_${name}\\{[^}]*${labels}[^}]*\\} (\\d+)`, 'gm')
  return [...text.matchAll(pattern)].reduce((sum, m) => sum + Number(m[1]), 0)
}
const sharedHits = async (gw: TestGateway): Promise<number> => await counter(gw, 'mapping_cache_lookups_total', 'layer="shared",result="hit"')

/** Samples /readyz until `stop()`; every status seen. */
function watchReadiness (gw: TestGateway): { stop: () => Promise<number[]> } {
  const seen: number[] = []
  const state = { running: true }
  const loop = (async () => { while (state.running) { seen.push((await readiness(gw)).status); await new Promise((resolve) => setTimeout(resolve, 50)) } })()
  return { async stop () { state.running = false; await loop; return seen } }
}

/**
 * The fault's guarantees, over every answer of the traffic: no 5xx, no other tenant's bank,
 * readiness 200 throughout — and the fault was under traffic: requests kept being sent from the
 * fault to the recovery (at least 50 a second, a sixth of what is offered, so a sender starved by
 * the suite's other files on two cores is not read as a gateway failure).
 */
async function noneHurt (t: Test, fault: string, traffic: Awaited<ReturnType<typeof startTraffic>>, ready: ReturnType<typeof watchReadiness>, during: { from: number, to: number }): Promise<void> {
  const report = await traffic.stop()
  t.comment(`${fault} traffic: ${report.total} requests in ${report.elapsedMs} ms (${Math.round(report.total / (report.elapsedMs / 1000))}/s answered, ${Math.round(report.offered / (report.sendingMs / 1000))}/s offered), ${JSON.stringify(report.byStatus)}`)
  t.same(report.failures, [], 'no 5xx, no transport failure')
  t.equal(report.wrongBank, 0, 'no answer carried another tenant\'s bank')
  const sent = report.starts.filter((at) => at >= during.from && at <= during.to).length
  const windowMs = Math.max(during.to - during.from, 1000)
  t.ok(sent >= windowMs / 1000 * 50, `requests were sent throughout the fault (${sent} in its ${windowMs} ms)`)
  t.equal(report.total, report.offered, 'and every one answered')
  t.same([...new Set(await ready.stop())], [200], 'readiness stayed 200')
}

t.test('Sentinel: the primary killed under traffic', async (t) => {
  const sentinel = await startSentinel(t)
  const { gw, callers, url } = await gatewayOver(t, { store: 'redis', redis: { sentinel: { masterName: sentinel.masterName, nodes: sentinel.nodes } } }, {})
  for (const caller of callers) await fetch(url, { headers: { authorization: `Bearer ${caller.token}` } })
  const traffic = await startTraffic(url, callers)
  const ready = watchReadiness(gw)
  await eventually(() => sharedHits(gw), (n) => n > 200)

  const killedAt = Date.now()
  await sentinel.primary.kill()
  const hitsAtKill = await sharedHits(gw)
  // The sentinels' election is theirs (seconds, longer on a loaded machine); following the
  // promotion is the gateway's: judged from the moment the replica is the primary.
  const promoted = await eventually(() => sentinel.currentPrimaryPort(), (port) => port === sentinel.replica.port, 60_000)
  const promotedAt = Date.now()
  t.equal(promoted, sentinel.replica.port, `the sentinels promoted the replica, the only Redis left (${promotedAt - killedAt} ms after the kill)`)
  const resumed = await eventually(() => sharedHits(gw), (n) => n > hitsAtKill + 20, 30_000)
  const followMs = Date.now() - promotedAt
  if (!t.ok(resumed > hitsAtKill + 20, 'shared-cache hits resumed')) {
    // What the gateway saw meanwhile, to tell a slow promotion from a client that did not follow it.
    t.comment(JSON.stringify(gw.logs.filter((line) => line.level !== undefined && Number(line.level) >= 40).slice(-10)))
  }
  t.ok(followMs < 10_000, `the new primary in use ${followMs} ms after the promotion`)
  t.comment(`sentinel failover: promoted ${promotedAt - killedAt} ms after the kill, in use by the gateway ${followMs} ms later`)
  const recoveredAt = Date.now()
  await eventually(() => sharedHits(gw), (n) => n > resumed + 200)

  await noneHurt(t, 'sentinel failover', traffic, ready, { from: killedAt, to: recoveredAt })
})

t.test('Cluster: a primary killed under traffic; its slots fall through to MySQL', async (t) => {
  const cluster = await startCluster(t)
  const { gw, callers, url } = await gatewayOver(t, { store: 'redis', redis: { cluster: { nodes: cluster.nodes } } }, {})
  for (const caller of callers) await fetch(url, { headers: { authorization: `Bearer ${caller.token}` } })
  const traffic = await startTraffic(url, callers)
  const ready = watchReadiness(gw)
  await eventually(() => sharedHits(gw), (n) => n > 200)
  const queriesBefore = await counter(gw, 'mapping_source_queries_total', 'result="ok"')

  const killedAt = Date.now()
  await cluster.primaries[0]!.kill()
  const hitsAtKill = await sharedHits(gw)
  t.ok(await eventually(() => sharedHits(gw), (n) => n > hitsAtKill + 200) > hitsAtKill + 200, 'the other primaries\' slots keep answering')
  const queriesAfter = await eventually(() => counter(gw, 'mapping_source_queries_total', 'result="ok"'), (n) => n > queriesBefore + 50)
  t.ok(queriesAfter > queriesBefore + 50, `the dead primary's tenants were answered by MySQL (${queriesAfter - queriesBefore} queries)`)

  await noneHurt(t, 'cluster primary loss', traffic, ready, { from: killedAt, to: Date.now() })
})

t.test('MySQL over TLS: a restart reconnects over TLS; a certificate for another host fails closed', async (t) => {
  const certs = makeCertificates(t)
  const serverTls = (pair: { certFile: string, keyFile: string }) => ({ caFile: certs.caFile, certFile: pair.certFile, keyFile: pair.keyFile })
  const db = await startOrganizationsDb(t, SEED, { tls: serverTls(certs.server) })
  const wire = await startWireRecorder(t, db.port)
  const { callers, url } = await gatewayOver(t, { store: 'memory', localTtlSec: 3600 }, { port: wire.port, tls: { mode: 'verify-full', caFile: certs.caFile } }, { ...db, port: wire.port })
  const ask = async (caller: Caller): Promise<{ status: number, code?: string, bank?: string }> => {
    const res = await fetch(url, { headers: { authorization: `Bearer ${caller.token}` } })
    const body = await res.json() as { code?: string, headers?: Record<string, string> }
    return { status: res.status, ...(body.code ? { code: body.code } : {}), ...(body.headers ? { bank: body.headers['x-bookme-bank-id'] } : {}) }
  }
  const cached = callers.slice(0, 10)
  for (const caller of cached) t.equal((await ask(caller)).status, 200)

  await db.kill()
  await db.restart()
  const after = await eventually(() => ask(callers[20]!), (answer) => answer.status === 200)
  t.same(after, { status: 200, bank: 'B20' }, 'an uncached tenant answered after the restart: the pool reconnected')
  t.notOk(wire.carried(db.user), 'every login went inside TLS')

  wire.forget()
  db.useCertificate(serverTls(certs.wrongHost))
  await db.kill()
  await db.restart()
  t.same(await ask(callers[30]!), { status: 503, code: 'MAPPING_UNAVAILABLE' }, 'an uncached tenant: 503, never a plaintext retry')
  t.same(await ask(callers[31]!), { status: 503, code: 'MAPPING_UNAVAILABLE' })
  for (const [i, caller] of cached.entries()) t.same(await ask(caller), { status: 200, bank: `B${i}` }, `cached tenant ${i} keeps its bank`)
  t.ok(wire.sent.length > 0, 'the gateway did try the server')
  t.notOk(wire.carried(db.user), 'and sent nothing in plaintext to it')
})
