/**
 * CONTRACT.md §14 "Secrets from files": the MySQL and Redis passwords read from files, relative
 * to the config file, at start and for every new connection — a rotation (server and file)
 * followed by the loss of every pooled connection refuses no request.
 */
import t, { type Test } from 'tap'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Redis } from 'ioredis'
import { createConnection } from 'mysql2/promise'
import { parseConfig, ConfigError } from '../../src/config/load.js'
import { startUpstream } from '../helpers/upstream.js'
import { eventually } from '../helpers/eventually.js'
import { startTestGateway } from '../helpers/gateway.js'
import { startOrganizationsDb, startRedis } from '../helpers/services.js'
import { authConfig, BANK_TENANT, MGMT_CLIENT, startIssuer } from '../helpers/issuer.js'

const SEED = `INSERT INTO Banks VALUES ('1001', 'Demo Bank', 1); INSERT INTO TenantBanks VALUES ('${BANK_TENANT}', '1001', 0);`

function secretsDir (t: Test): string {
  const dir = mkdtempSync(join(tmpdir(), 'bookme-secrets-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  return dir
}

function problemsOf (raw: Record<string, unknown>, baseDir: string): string[] {
  try {
    parseConfig(raw, { env: {}, baseDir })
    return []
  } catch (err) {
    if (err instanceof ConfigError) return err.problems
    throw err
  }
}

t.test('a passwordFile is instead of the password, relative to the config file, and must be readable', async (t) => {
  const dir = secretsDir(t)
  writeFileSync(join(dir, 'db-password'), 'from-file\n')
  const base = { entra: { authority: 'https://login.example' }, routes: [{ name: 'open', prefix: '/open', upstream: 'http://127.0.0.1:1', auth: 'none' }] }
  const mysql = (extra: Record<string, unknown>) => ({ ...base, mappings: { source: 'mysql', mysql: { user: 'gw', ...extra } } })
  const config = parseConfig(mysql({ passwordFile: 'db-password' }), { env: {}, baseDir: dir })
  t.equal(config.mappings.mysql?.passwordFile, join(dir, 'db-password'), 'resolved against the config file\'s folder')

  t.same(problemsOf(mysql({ password: 'inline', passwordFile: 'db-password' }), dir), ['mappings.mysql.passwordFile: instead of mappings.mysql.password (or a password in the URL), not beside it; give one'])
  t.same(problemsOf(mysql({ passwordFile: 'missing' }), dir), [`mappings.mysql.passwordFile: cannot read ${join(dir, 'missing')} (ENOENT)`])
  const redis = (extra: Record<string, unknown>) => ({ ...base, cache: { store: 'redis', redis: extra } })
  t.same(problemsOf(redis({ url: 'redis://:inline@127.0.0.1:6379', passwordFile: 'db-password' }), dir), ['cache.redis.passwordFile: instead of cache.redis.password (or a password in the URL), not beside it; give one'])
  t.same(problemsOf(redis({ sentinel: { masterName: 'm', nodes: ['127.0.0.1:26379'], password: 'x', passwordFile: 'db-password' } }), dir),
    ['cache.redis.sentinel.passwordFile: instead of cache.redis.sentinel.password (or a password in the URL), not beside it; give one'])
  writeFileSync(join(dir, 'empty'), '')
  t.same(problemsOf(redis({ url: 'redis://127.0.0.1:6379', passwordFile: 'empty' }), dir), [`cache.redis.passwordFile: ${join(dir, 'empty')} is empty`])
})

t.test('rotated passwords: new connections read the files, no request is refused', async (t) => {
  const dir = secretsDir(t)
  const issuer = await startIssuer(t)
  const upstream = await startUpstream(t)
  const db = await startOrganizationsDb(t, SEED)
  const redisServer = await startRedis(t, { aclUsers: [{ name: 'gw', password: 'redis-old', rules: '~* &* +@all' }] })
  writeFileSync(join(dir, 'mysql-password'), `${db.password}\n`)
  writeFileSync(join(dir, 'redis-password'), 'redis-old\n')
  const gw = await startTestGateway(t, {
    ...authConfig(issuer, upstream.url),
    mappings: { source: 'mysql', mysql: { host: db.host, port: db.port, user: db.user, passwordFile: 'mysql-password', connectTimeoutMs: 1000, queryTimeoutMs: 1000 } },
    // Nothing kept in the process and a 1 s shared TTL: requests keep reaching Redis and MySQL.
    cache: { store: 'redis', localTtlSec: 0, ttlSec: 1, redis: { url: redisServer.url, username: 'gw', passwordFile: 'redis-password', keyPrefix: 'secrets-test:' } }
  }, { baseDir: dir })
  t.notOk(gw.rawLog().includes('redis-old') || gw.rawLog().includes(db.password), 'no password in the log')

  const admin = new Redis(redisServer.url)
  t.teardown(() => admin.disconnect())
  const token = issuer.mint({ tenantId: BANK_TENANT, audience: MGMT_CLIENT })
  const statuses: number[] = []
  const call = async (): Promise<number> => {
    const res = await fetch(`${gw.proxyUrl}/api/meetings/x`, { headers: { authorization: `Bearer ${token}` } })
    await res.arrayBuffer()
    statuses.push(res.status)
    return res.status
  }
  const sourceQueriesOk = async (): Promise<number> => {
    const text = await (await fetch(`${gw.adminUrl}/metrics`)).text()
    return [...text.matchAll(/^bookme_gateway_mapping_source_queries_total\{[^}]*result="ok"[^}]*\} (\d+)/gm)].reduce((n, m) => n + Number(m[1]), 0)
  }
  t.equal(await call(), 200)

  // Rotate on the servers and in the files (as a Secret volume update would), then lose every connection.
  const sending = (async () => { for (let i = 0; i < 40; i++) await call() })()
  db.sql(`ALTER USER '${db.user}'@'127.0.0.1' IDENTIFIED BY 'mysql-new'; ALTER USER '${db.user}'@'localhost' IDENTIFIED BY 'mysql-new';`)
  writeFileSync(join(dir, 'mysql-password'), 'mysql-new\n')
  await admin.call('ACL', 'SETUSER', 'gw', 'resetpass', '>redis-new')
  writeFileSync(join(dir, 'redis-password'), 'redis-new\n')
  db.sql(`KILL CONNECTION USER '${db.user}'@'127.0.0.1';`)
  await admin.call('CLIENT', 'KILL', 'USER', 'gw')
  await sending

  await t.rejects(createConnection({ host: db.host, port: db.port, user: db.user, password: db.password }), 'the old MySQL password is refused now')
  const before = await sourceQueriesOk()
  const after = await eventually(async () => { await call(); return await sourceQueriesOk() }, (n) => n > before, 10_000)
  t.ok(after > before, 'MySQL answers again, on a connection that logged in with the new password')
  const clients = await eventually(async () => String(await admin.call('CLIENT', 'LIST')), (list) => /user=gw /.test(list), 10_000)
  t.match(clients, /user=gw /, 'the gateway is connected to Redis again, with the new password')
  t.same([...new Set(statuses)], [200], `every request answered 200 (${statuses.length} sent)`)
  t.notOk(gw.rawLog().includes('redis-new') || gw.rawLog().includes('mysql-new'), 'no password in the log')
})
