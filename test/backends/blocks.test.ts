import t from 'tap'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { stringify } from 'yaml'
import { startUpstream } from '../helpers/upstream.js'
import { readiness, startTestGateway, untilReady, type TestGateway } from '../helpers/gateway.js'
import { startOrganizationsDb, startRedis } from '../helpers/services.js'
import { redisCli } from '../helpers/redis-topologies.js'
import { runCli } from '../helpers/cli.js'
import { eventually } from '../helpers/eventually.js'
import { authConfig, BANK_TENANT, HOME_TENANT, MGMT_CLIENT, MULTI_BANK_TENANT, startIssuer, SYSTEM_APP, SYSTEM_CLIENT } from '../helpers/issuer.js'

const SEED = `INSERT INTO Banks VALUES ('1001', 'Demo', 1), ('2001', 'North', 1);
  INSERT INTO TenantBanks VALUES ('${BANK_TENANT}', '1001', 0), ('${MULTI_BANK_TENANT}', '2001', 0);
  INSERT INTO BankClients (ClientId, BankId) VALUES ('${SYSTEM_APP}', '1001');`

async function setup (t: Parameters<typeof startIssuer>[0]) {
  const [issuer, upstream, db, redis] = await Promise.all([startIssuer(t), startUpstream(t), startOrganizationsDb(t, SEED), startRedis(t)])
  const raw = {
    ...authConfig(issuer, upstream.url),
    mappings: { source: 'mysql', mysql: { host: db.host, port: db.port, user: db.user, password: db.password } },
    cache: { store: 'redis', redis: { url: redis.url } }
  }
  const dir = mkdtempSync(join(tmpdir(), 'bookme-blocks-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  const config = join(dir, 'gateway.yaml')
  writeFileSync(config, stringify(raw))
  const cli = async (...args: string[]) => await runCli([...args, '--config', config])
  const start = async (): Promise<TestGateway> => {
    const gw = await startTestGateway(t, raw)
    await untilReady(gw)
    return gw
  }
  const gateways = [await start(), await start()]
  const user = issuer.mint({ tenantId: BANK_TENANT, audience: MGMT_CLIENT })
  const otherTenant = issuer.mint({ tenantId: MULTI_BANK_TENANT, audience: MGMT_CLIENT })
  const app = issuer.mint({ tenantId: HOME_TENANT, audience: SYSTEM_CLIENT, type: 'app', claims: { azp: SYSTEM_APP } })
  const call = async (gw: TestGateway, token: string, path = '/api/meetings/1') => {
    const res = await fetch(gw.proxyUrl + path, { headers: { authorization: `Bearer ${token}` } })
    return { status: res.status, code: (res.status === 200 ? undefined : (await res.json() as { code: string }).code) }
  }
  const statuses = async (token: string, path?: string) => await Promise.all(gateways.map(async (gw) => (await call(gw, token, path)).status))
  return { issuer, upstream, db, redis, raw, gateways, user, otherTenant, app, call, statuses, cli, start }
}

function oidOf (token: string): string {
  return (JSON.parse(Buffer.from(token.split('.')[1]!, 'base64url').toString('utf8')) as { oid: string }).oid
}

async function metric (gw: TestGateway, kind: string): Promise<number> {
  const text = await (await fetch(`${gw.adminUrl}/metrics`)).text()
  return Number(new RegExp(`^bookme_gateway_blocked_requests_total\\{kind="${kind}"\\} (\\d+)$`, 'm').exec(text)?.[1] ?? 0)
}

t.test('a tenant block is enforced by both gateways within 1 s, cached tokens included, and lifted the same way', async (t) => {
  const { upstream, gateways, user, otherTenant, call, statuses, cli } = await setup(t)
  t.same(await statuses(user), [200, 200], 'the token is verified and in both token caches')
  const before = upstream.requests.length

  const blocked = await cli('block', '--tenant', BANK_TENANT.toUpperCase(), '--for', '2h', '--reason', 'compromised admin account')
  t.equal(blocked.code, 0, blocked.stdout + blocked.stderr)
  t.match(blocked.stdout, new RegExp(`^ok block tenant ${BANK_TENANT} until \\d{4}-\\d{2}-\\d{2}T\\d{2}:\\d{2}:\\d{2}Z: 2 gateways notified$`, 'm'))
  const seen = await eventually(() => statuses(user), (s) => s.every((status) => status === 403), 1000)
  t.same(seen, [403, 403], 'both gateways refuse within 1 s of the command')
  const answer = await call(gateways[0]!, user)
  t.same(answer, { status: 403, code: 'PRINCIPAL_BLOCKED' })
  t.equal(upstream.requests.length, before, 'nothing reached the upstream')
  t.same(await statuses(otherTenant), [200, 200], 'another tenant passes')
  const counted = await Promise.all(gateways.map((gw) => metric(gw, 'tenant')))
  t.ok(counted.every((n) => n >= 1), `blocked_requests_total{kind="tenant"} counts the refusals (${counted.join(', ')})`)
  t.same(await Promise.all(gateways.map((gw) => metric(gw, 'user'))), [0, 0])
  for (const gw of gateways) {
    const line = gw.logs.find((entry) => entry.msg === 'block in force')
    t.match(line, { kind: 'tenant', id: BANK_TENANT, reason: 'compromised admin account', until: /^\d{4}-/ }, 'logged with its reason')
    t.notOk(gw.rawLog().includes(user), 'never the token')
  }

  const listed = await cli('blocks')
  t.equal(listed.code, 0)
  t.match(listed.stdout, new RegExp(`^tenant  ${BANK_TENANT}  \\d{4}-\\d{2}-\\d{2}T\\d{2}:\\d{2}:\\d{2}Z  compromised admin account\\n$`))
  const json = JSON.parse((await cli('blocks', '--json')).stdout) as Array<Record<string, unknown>>
  t.match(json, [{ kind: 'tenant', id: BANK_TENANT, reason: 'compromised admin account', until: /Z$/, since: /Z$/ }])
  t.ok(Date.parse(String(json[0]!.until)) - Date.now() > 7_100_000 && Date.parse(String(json[0]!.until)) - Date.now() <= 7_200_000, '--for 2h')

  const checked = await cli('check')
  t.match(checked.stdout, /^ok blocks: 1 block record in the shared cache$/m, 'check reads the blocks')
  const purge = await cli('cache', 'purge', '--all')
  t.equal(purge.code, 0)
  t.same(await statuses(user), [403, 403], 'cache purge --all does not lift a block')

  const lifted = await cli('unblock', '--tenant', BANK_TENANT)
  t.match(lifted.stdout, new RegExp(`^ok unblock tenant ${BANK_TENANT}: lifted, 2 gateways notified$`, 'm'))
  t.same(await eventually(() => statuses(user), (s) => s.every((status) => status === 200), 1000), [200, 200], 'lifted on both within 1 s')
  t.ok(gateways.every((gw) => gw.logs.some((entry) => entry.msg === 'block lifted' && entry.id === BANK_TENANT)), 'the lifting is logged')
  t.match((await cli('unblock', '--tenant', BANK_TENANT)).stdout, /: was not blocked, 2 gateways notified/)
  t.equal((await cli('blocks')).stdout, '', 'no block: no line')
})

t.test('client and user blocks refuse only that client or that user', async (t) => {
  const { issuer, gateways, user, app, statuses, cli } = await setup(t)
  const colleague = issuer.mint({ tenantId: BANK_TENANT, audience: MGMT_CLIENT })
  t.same(await statuses(app, '/system/x'), [200, 200])
  t.equal((await cli('block', '--client', SYSTEM_APP, '--reason', 'secret leaked in a build log')).code, 0)
  t.equal((await cli('block', '--user', oidOf(user).toUpperCase())).code, 0)
  t.same(await eventually(() => statuses(app, '/system/x'), (s) => s.every((status) => status === 403), 1000), [403, 403], 'the client\'s tokens are refused')
  t.same(await eventually(() => statuses(user), (s) => s.every((status) => status === 403), 1000), [403, 403], 'the user\'s tokens are refused')
  t.same(await statuses(colleague), [200, 200], 'the user\'s colleague passes')
  t.same([await metric(gateways[0]!, 'client'), await metric(gateways[0]!, 'user')].map((n) => n > 0), [true, true])
  const lines = (await cli('blocks')).stdout.trim().split('\n')
  t.equal(lines.length, 2)
  t.match(lines.join('\n'), new RegExp(`^client  ${SYSTEM_APP}  \\S+Z  secret leaked in a build log$`, 'm'))
  t.match(lines.join('\n'), new RegExp(`^user  ${oidOf(user)}  \\S+Z$`, 'm'), 'ids are kept lower case; no reason, no column')
  const me = await fetch(`${gateways[0]!.proxyUrl}/_gateway/me`, { headers: { authorization: `Bearer ${user}` } })
  t.equal(me.status, 403, '/_gateway/me refuses a blocked user too')
})

t.test('a block survives a gateway restart and a MySQL outage, and expires on time', async (t) => {
  const { db, gateways, user, otherTenant, call, statuses, cli, start } = await setup(t)
  t.same(await statuses(otherTenant), [200, 200], 'the other tenant\'s bank is in the shared cache')
  t.equal((await cli('block', '--tenant', BANK_TENANT, '--reason', 'incident 4711')).code, 0)
  await gateways[0]!.shutdown()
  await db.kill()
  const restarted = await start()
  t.same(await call(restarted, user), { status: 403, code: 'PRINCIPAL_BLOCKED' }, 'a gateway started after the block refuses from its first request, MySQL down')
  t.same(await call(gateways[1]!, user), { status: 403, code: 'PRINCIPAL_BLOCKED' }, 'the running one too')
  t.equal((await call(restarted, otherTenant)).status, 200, 'others are served from the shared cache meanwhile')

  const blocked = await cli('block', '--user', oidOf(otherTenant), '--for', '3s')
  t.equal(blocked.code, 0, blocked.stdout)
  const until = Date.parse(/until (\S+):/.exec(blocked.stdout)![1]!)
  t.same(await eventually(() => call(restarted, otherTenant), (r) => r.status === 403, 1000), { status: 403, code: 'PRINCIPAL_BLOCKED' })
  const after = await eventually(() => call(restarted, otherTenant), (r) => r.status === 200, 6000)
  t.equal(after.status, 200, 'the block lifts by itself')
  t.ok(Date.now() >= until - 1000, 'not before its expiry (the CLI prints whole seconds)')
  t.ok(restarted.logs.some((entry) => entry.msg === 'block expired' && entry.id === oidOf(otherTenant).toLowerCase()), 'the expiry is logged')
  t.notMatch((await cli('blocks')).stdout, /user/, '`blocks` lists only what is in force')
})

t.test('Redis down: known blocks stay in force from memory; new blocks fail with exit 1 and say why; a reconnected gateway reads again', async (t) => {
  const { redis, gateways, user, otherTenant, statuses, cli } = await setup(t)
  t.equal((await cli('block', '--tenant', BANK_TENANT)).code, 0)
  await eventually(() => statuses(user), (s) => s.every((status) => status === 403), 1000)
  await redis.kill()
  // Past a poll interval: every gateway has tried to read the blocks while Redis is away.
  await eventually(() => readiness(gateways[0]!), (r) => r.body.dependencies?.blocks?.state === 'down', 10_000)
  t.same(await statuses(user), [403, 403], 'still refused by both')
  t.same(await statuses(otherTenant), [200, 200], 'others still served (local layer)')
  const failed = await cli('block', '--tenant', MULTI_BANK_TENANT)
  t.equal(failed.code, 1)
  t.match(failed.stdout, new RegExp(`^FAIL block: Redis redis://127\\.0\\.0\\.1:${redis.port}: .*ECONNREFUSED.*; run it again once Redis answers$`, 'm'), 'a clear message naming Redis')
  t.equal((await cli('blocks')).code, 1)

  await redis.restart()
  // This Redis keeps no data across restarts, so the first block went with it; a new one arrives
  // while the gateways are reconnecting and resubscribing, and is read on reconnect or by the poll.
  t.equal((await cli('block', '--tenant', MULTI_BANK_TENANT)).code, 0)
  t.same(await eventually(() => statuses(otherTenant), (s) => s.every((status) => status === 403), 10_000), [403, 403])
})

t.test('a block written while a gateway missed the message is still learnt within seconds', async (t) => {
  const { redis, user, statuses } = await setup(t)
  // The record as the CLI writes it, but no announcement.
  redisCli(redis.port, undefined, undefined, ['HSET', 'bookme:gw:blocks', `tenant:${BANK_TENANT}`, JSON.stringify({ until: Date.now() + 60_000, reason: 'no message', since: Date.now() })])
  t.same(await eventually(() => statuses(user), (s) => s.every((status) => status === 403), 8000), [403, 403])
  // A damaged record keeps its block in force rather than lifting it.
  redisCli(redis.port, undefined, undefined, ['HSET', 'bookme:gw:blocks', `tenant:${BANK_TENANT}`, 'not json'])
  redisCli(redis.port, undefined, undefined, ['PUBLISH', 'bookme:gw:blocks:changed', 'changed'])
  t.same(await statuses(user), [403, 403])
})

t.test('a gateway that cannot read the blocks at start is not ready: it would not know whom to refuse', async (t) => {
  const issuer = await startIssuer(t)
  const upstream = await startUpstream(t)
  const redis = await startRedis(t)
  await redis.kill()
  const gw = await startTestGateway(t, { ...authConfig(issuer, upstream.url), cache: { store: 'redis', redis: { url: redis.url, connectTimeoutMs: 300 } } }, { mappings: {} })
  const pending = await eventually(() => readiness(gw), (r) => r.body.dependencies?.blocks?.state === 'down', 10_000)
  t.equal(pending.status, 503)
  await redis.restart()
  await untilReady(gw)
  t.equal((await readiness(gw)).status, 200, 'ready once Redis answers')
})

t.test('the block commands: usage errors exit 2; without Redis they exit 1 and say why', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'bookme-blocks-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  const config = join(dir, 'gateway.yaml')
  writeFileSync(config, stringify({ routes: [{ name: 'open', prefix: '/open', upstream: 'http://127.0.0.1:1', auth: 'none' }] }))
  const memory = await runCli(['block', '--tenant', BANK_TENANT, '--config', config])
  t.equal(memory.code, 1)
  t.match(memory.stdout, /^FAIL block: blocks are kept in the shared cache.*set cache\.store: redis/m)
  t.equal((await runCli(['blocks', '--config', config])).code, 1)
  for (const args of [[], ['--tenant', 'nope'], ['--tenant', BANK_TENANT, '--user', BANK_TENANT], ['--tenant', BANK_TENANT, '--for', '10'], ['--tenant', BANK_TENANT, '--for', '0h'], ['--tenant', BANK_TENANT, '--reason', 'two\nlines']]) {
    const res = await runCli(['block', ...args, '--config', config])
    t.equal(res.code, 2, `block ${args.join(' ')}: usage error`)
    t.match(res.stderr, /^error: /)
  }
  t.equal((await runCli(['unblock', '--config', config])).code, 2)
})
