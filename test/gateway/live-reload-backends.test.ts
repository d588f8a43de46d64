/**
 * CONTRACT.md §14 "Reload" where the backends change under a running gateway: `/readyz` shows
 * the backends and API profiles of the active config only; the MySQL and Redis TLS files are
 * watched and a rotated one makes new connections (one the server refuses refuses the reload);
 * a switch to another Redis carries the blocks over without counting them as lost.
 */
import t from 'tap'
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { stringify } from 'yaml'
import { Redis } from 'ioredis'
import { startUpstream } from '../helpers/upstream.js'
import { eventually } from '../helpers/eventually.js'
import { makeCertificates } from '../helpers/certs.js'
import { runCommand } from '../helpers/command-line.js'
import { call, startReloadable, tempDir } from '../helpers/reloadable.js'
import { startOrganizationsDb, startRedis } from '../helpers/services.js'
import { authConfig, BANK_TENANT, DEFAULT_MAPPINGS, MGMT_CLIENT, startIssuer } from '../helpers/issuer.js'

t.test('/readyz shows the backends and API profiles of the active config only', async (t) => {
  const [issuer, upstream, redis] = await Promise.all([startIssuer(t), startUpstream(t), startRedis(t)])
  const db = await startOrganizationsDb(t, `INSERT INTO Banks VALUES ('1001', 'Demo', 1); INSERT INTO TenantBanks VALUES ('${BANK_TENANT}', '1001', 0);`)
  const dir = tempDir(t)
  const mappingsFile = join(dir, 'mappings.yaml')
  writeFileSync(mappingsFile, stringify(DEFAULT_MAPPINGS))
  const shared = {
    ...authConfig(issuer, upstream.url, { routes: [{ name: 'meetings', prefix: '/api/meetings', upstream: upstream.url, api: 'management', roles: ['Employee'] }] }),
    mappings: { source: 'mysql', mysql: { host: db.host, port: db.port, user: db.user, password: db.password } },
    cache: { store: 'redis', redis: { url: redis.url } }
  }
  const gw = await startReloadable(t, dir, shared)
  const readyz = async (): Promise<{ status: number, names: string[] }> => {
    const res = await fetch(`${gw.gw.adminUrl}/readyz`)
    const body = await res.json() as { dependencies: Record<string, unknown> }
    return { status: res.status, names: Object.keys(body.dependencies).sort() }
  }
  await eventually(readyz, (r) => r.names.includes('source') && r.names.includes('cache'), 10_000)
  t.same((await readyz()).names, ['blocks', 'cache', 'keys:management', 'keys:system', 'mappings', 'source'])

  // A file source, a memory cache and one API profile fewer: their entries leave with them.
  const { system: _system, ...managementOnly } = (shared as Record<string, unknown>).apis as Record<string, unknown>
  const local = { ...shared, apis: managementOnly, mappings: { source: 'file', file: mappingsFile }, cache: { store: 'memory' } }
  t.equal(await gw.apply(local), 'ok')
  const token = issuer.mint({ tenantId: BANK_TENANT, audience: MGMT_CLIENT })
  t.equal((await call(`${gw.gw.proxyUrl}/api/meetings/x`, token)).status, 200)
  const after = await eventually(readyz, (r) => !r.names.includes('cache'), 10_000)
  t.same(after, { status: 200, names: ['keys:management', 'mappings'] }, 'no stale source, cache, blocks or keys:system entry; still ready')

  // And back: the entries return with the backends that make them.
  t.equal(await gw.apply(shared), 'ok')
  const back = await eventually(readyz, (r) => r.names.includes('cache') && r.names.includes('source'), 10_000)
  t.same(back, { status: 200, names: ['blocks', 'cache', 'keys:management', 'keys:system', 'mappings', 'source'] })
})

t.test('the Redis TLS files are watched: a rotated CA makes new connections, a certificate the server refuses changes nothing', async (t) => {
  const [issuer, upstream] = await Promise.all([startIssuer(t), startUpstream(t)])
  const certs = makeCertificates(t)
  const redis = await startRedis(t, { tls: certs.server, clientCaFile: certs.caFile })
  const dir = tempDir(t)
  const tlsDir = join(dir, 'tls')
  mkdirSync(tlsDir)
  const files = { caFile: join(tlsDir, 'ca.pem'), certFile: join(tlsDir, 'client.pem'), keyFile: join(tlsDir, 'client.key') }
  const ca = readFileSync(certs.caFile, 'utf8')
  writeFileSync(files.caFile, ca)
  writeFileSync(files.certFile, certs.client.cert)
  writeFileSync(files.keyFile, certs.client.key)
  const mappingsFile = join(dir, 'mappings.yaml')
  writeFileSync(mappingsFile, stringify(DEFAULT_MAPPINGS))
  const config = {
    ...authConfig(issuer, upstream.url, { routes: [{ name: 'meetings', prefix: '/api/meetings', upstream: upstream.url, api: 'management', roles: ['Employee'] }] }),
    mappings: { source: 'file', file: mappingsFile },
    cache: { store: 'redis', redis: { url: `rediss://127.0.0.1:${redis.port}`, tls: files, connectTimeoutMs: 2000 } }
  }
  const gw = await startReloadable(t, dir, config)
  const token = issuer.mint({ tenantId: BANK_TENANT, audience: MGMT_CLIENT })
  const url = `${gw.gw.proxyUrl}/api/meetings/x`
  t.equal((await call(url, token)).status, 200)
  const probe = new Redis(`rediss://127.0.0.1:${redis.port}`, { tls: { ca, cert: certs.client.cert, key: certs.client.key } })
  t.teardown(() => probe.disconnect())
  const redisClients = async (): Promise<string[]> => {
    const own = String(await probe.client('ID'))
    return String(await probe.client('LIST')).split('\n').filter(Boolean).map((line) => /id=(\d+)/.exec(line)![1]!).filter((id) => id !== own).sort()
  }
  const reloads = async (result: string): Promise<number> => {
    const line = (await (await fetch(`${gw.gw.adminUrl}/metrics`)).text()).split('\n').find((l) => l.startsWith(`bookme_gateway_config_reloads_total{result="${result}"}`))
    return Number(line?.split(' ')[1] ?? 0)
  }
  const before = await redisClients()
  t.ok(before.length > 0)

  // A client certificate (with its own key) no CA of the server's vouches for: the new connection fails, the reload is refused.
  const refused = { caFile: files.caFile, certFile: join(tlsDir, 'other.pem'), keyFile: join(tlsDir, 'other.key') }
  writeFileSync(refused.keyFile, certs.selfSigned.key)
  writeFileSync(refused.certFile, certs.selfSigned.cert)
  t.equal(await gw.apply({ ...config, cache: { ...config.cache, redis: { ...config.cache.redis, tls: refused } } }), 'invalid', 'the reload is refused')
  t.ok(await reloads('invalid') >= 1)
  t.notOk(gw.lines.some((line) => line.includes('keyFile')), 'by the server, not by a check of the files')
  await gw.apply(config)
  t.equal((await call(url, token)).status, 200, 'the active config keeps serving')
  t.same(await redisClients(), before, 'on the same connections')
  const readiness = await (await fetch(`${gw.gw.adminUrl}/readyz`)).json() as { dependencies: Record<string, { required: boolean, state: string }> }
  t.match(readiness.dependencies, { cache: { required: true }, blocks: { required: true } }, 'the refused revision took none of the active one\'s /readyz entries with it')
  t.match(readiness.dependencies, { cache: { state: 'up' }, blocks: { state: 'up' } }, 'nor reported its failed connection into them')

  // The CA file rewritten in place (a bundle that still holds the CA): new connections, the old closed.
  writeFileSync(files.caFile, `${ca}\n${ca}`)
  const after = await eventually(redisClients, (ids) => ids.length > 0 && ids.every((id) => !before.includes(id)), 15_000)
  t.ok(after.length > 0 && after.every((id) => !before.includes(id)), `new connections, made with the rotated files; the old ones closed (before ${before.join(',')}, after ${after.join(',')})`)
  t.ok(await reloads('ok') >= 1)
  t.equal((await call(url, token)).status, 200)
})

t.test('a reload to another Redis carries the blocks over: in force at once, written to the new store, not counted as lost', async (t) => {
  const [issuer, upstream, first, second] = await Promise.all([startIssuer(t), startUpstream(t), startRedis(t), startRedis(t)])
  const dir = tempDir(t)
  const mappingsFile = join(dir, 'mappings.yaml')
  writeFileSync(mappingsFile, stringify(DEFAULT_MAPPINGS))
  const on = (redis: { url: string }): Record<string, unknown> => ({
    ...authConfig(issuer, upstream.url, { routes: [{ name: 'meetings', prefix: '/api/meetings', upstream: upstream.url, api: 'management', roles: ['Employee'] }] }),
    mappings: { source: 'file', file: mappingsFile },
    cache: { store: 'redis', redis: { url: redis.url } }
  })
  const gw = await startReloadable(t, dir, on(first))
  const cliConfig = (redis: { url: string }): string => {
    const path = join(dir, `cli-${redis.url.replace(/\W/g, '')}.yaml`)
    writeFileSync(path, stringify({ cache: { store: 'redis', redis: { url: redis.url } } }))
    return path
  }
  const token = issuer.mint({ tenantId: BANK_TENANT, audience: MGMT_CLIENT })
  const url = `${gw.gw.proxyUrl}/api/meetings/x`
  t.equal((await runCommand(['block', '--tenant', BANK_TENANT, '--reason', 'incident 4711', '--by', 'alice', '--config', cliConfig(first)])).code, 0)
  t.equal((await eventually(async () => await call(url, token), (r) => r.status === 403, 10_000)).code, 'PRINCIPAL_BLOCKED')

  t.equal(await gw.apply(on(second)), 'ok')
  t.equal((await call(url, token)).code, 'PRINCIPAL_BLOCKED', 'in force from the first request on the new store')
  const listed = await eventually(async () => (await runCommand(['blocks', '--config', cliConfig(second)])).stdout, (out) => out.includes(BANK_TENANT), 10_000)
  t.match(listed, BANK_TENANT, 'written to the new store')
  t.match(listed, 'incident 4711')
  const metrics = await (await fetch(`${gw.gw.adminUrl}/metrics`)).text()
  t.notMatch(metrics, /^bookme_gateway_blocks_lost_total\{kind="tenant"\} [1-9]/m, 'a planned switch loses no block')
  t.notOk(gw.lines.some((line) => line.includes('without an unblock') || line.includes('lost block')), 'and logs none as lost')
  t.ok(gw.lines.some((line) => line.includes('block carried over from the replaced shared cache, written to this one')))
  const readiness = await (await fetch(`${gw.gw.adminUrl}/readyz`)).json() as { dependencies: Record<string, { detail?: string }> }
  t.notMatch(readiness.dependencies.blocks?.detail ?? '', /gone from the shared cache/, 'nor does /readyz')
})
