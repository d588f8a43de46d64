import t from 'tap'
import { startTestGateway, readiness, untilReady } from '../helpers/gateway.js'
import { eventually } from '../helpers/eventually.js'
import { startUpstream } from '../helpers/upstream.js'
import { makeCertificates } from '../helpers/certs.js'
import { startOrganizationsDb, startRedis } from '../helpers/services.js'
import { authConfig, BANK_TENANT, startIssuer } from '../helpers/issuer.js'
import { runCli } from '../helpers/cli.js'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { stringify } from 'yaml'

// CONTRACT.md §10: a backend that refuses the configuration (password, ACL, TLS) keeps /readyz
// at 503, naming it and the reason, even while the other backend answers; a backend that is
// merely down does not (§8: the other one, and the caches, carry the traffic).
const SEED = `INSERT INTO Banks VALUES ('1001', 'Demo Bank', 1); INSERT INTO TenantBanks VALUES ('${BANK_TENANT}', '1001', 1);`

type Dependencies = Record<string, { state: string, detail?: string, misconfigured?: boolean }>
const settled = async (gw: { adminUrl: string }) => await eventually(() => readiness(gw), (r) => {
  const deps = r.body.dependencies as Dependencies | undefined
  return r.status === 200 || Object.values(deps ?? {}).some((d) => d.misconfigured === true)
}, 15_000)

t.test('a wrong MySQL password: 503 naming mysql, though Redis answers', async (t) => {
  const [issuer, upstream, db, redis] = await Promise.all([startIssuer(t), startUpstream(t), startOrganizationsDb(t, SEED), startRedis(t)])
  const gw = await startTestGateway(t, {
    ...authConfig(issuer, upstream.url),
    mappings: { source: 'mysql', mysql: { host: db.host, port: db.port, user: db.user, password: 'wrong', connectTimeoutMs: 1000 } },
    cache: { store: 'redis', redis: { url: redis.url } }
  }, { ready: false })
  const ready = await settled(gw)
  const deps = ready.body.dependencies as Dependencies
  t.equal(ready.status, 503)
  t.match(deps.source, { state: 'down', misconfigured: true, detail: /Access denied for user 'bookme_gw'.*check mappings\.mysql\.user, password/ })
  t.match(deps.cache, { state: 'up', detail: /^redis standalone 127\.0\.0\.1:\d+ \(primary\), TLS off$/ }, 'the other backend answers')
  t.notMatch(JSON.stringify(ready.body), /wrong/, 'the password is not echoed')
})

t.test('a Redis TLS failure: 503 naming the cache, though MySQL answers; an outage alone does not hold readiness', async (t) => {
  const certs = makeCertificates(t)
  const [issuer, upstream, db, redis] = await Promise.all([startIssuer(t), startUpstream(t), startOrganizationsDb(t, SEED), startRedis(t, { tls: certs.wrongHost })])
  const mysql = { host: db.host, port: db.port, user: db.user, password: db.password }
  const gw = await startTestGateway(t, {
    ...authConfig(issuer, upstream.url),
    mappings: { source: 'mysql', mysql },
    cache: { store: 'redis', redis: { url: redis.url, tls: { caFile: certs.caFile }, connectTimeoutMs: 500 } }
  }, { ready: false })
  const ready = await settled(gw)
  const deps = ready.body.dependencies as Dependencies
  t.equal(ready.status, 503)
  t.match(deps.cache, { state: 'down', misconfigured: true, detail: /TLS: host-name mismatch/ })
  t.match(deps.source, { state: 'up', detail: /^mysql 127\.0\.0\.1:\d+\/bp_organizations_db, TLS off$/ })

  // The same, with Redis simply not there: an outage, not a configuration problem. MySQL answers
  // the mappings, but the emergency blocks (§13) live only in Redis: a gateway that never read
  // them would not know whom to refuse, so it waits for Redis before it takes traffic.
  const gone = await startRedis(t)
  await gone.kill()
  const outage = await startTestGateway(t, { ...authConfig(issuer, upstream.url), mappings: { source: 'mysql', mysql }, cache: { store: 'redis', redis: { url: gone.url, connectTimeoutMs: 300 } } }, { ready: false })
  const outageReady = await eventually(() => readiness(outage), (r) => {
    const deps = r.body.dependencies as Dependencies | undefined
    return deps?.cache?.state === 'down' && deps.blocks?.state === 'down' && deps.source?.state === 'up'
  })
  const outageDeps = outageReady.body.dependencies as Dependencies
  t.equal(outageReady.status, 503, 'Redis down at start: not ready, the blocks are unknown')
  t.match(outageDeps.cache, { state: 'down', detail: /ECONNREFUSED/ })
  t.notOk(outageDeps.cache?.misconfigured, 'an outage, not misconfigured')
  t.match(outageDeps.source, { state: 'up' }, 'MySQL answers')
  t.match(outageDeps.blocks, { state: 'down', detail: /could not be read/ })
  await gone.restart()
  await untilReady(outage)
  t.pass('ready as soon as Redis answers')
})

t.test('check: one line per backend with topology, answering node and TLS state, or one FAIL naming the problem', async (t) => {
  const certs = makeCertificates(t)
  const [issuer, db, redis] = await Promise.all([startIssuer(t), startOrganizationsDb(t, SEED, { tls: { caFile: certs.caFile, certFile: certs.server.certFile, keyFile: certs.server.keyFile } }), startRedis(t, { tls: certs.server })])
  const dir = mkdtempSync(join(tmpdir(), 'bookme-check-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  const check = async (mysqlTls: Record<string, unknown>, redisTls: Record<string, unknown>) => {
    const file = join(dir, 'gateway.yaml')
    writeFileSync(file, stringify({
      ...authConfig(issuer, 'http://127.0.0.1:1'),
      mappings: { source: 'mysql', mysql: { host: '127.0.0.1', port: db.port, user: db.user, password: '${MYSQL_PASSWORD}', tls: mysqlTls } },
      cache: { store: 'redis', redis: { url: redis.url, tls: redisTls, connectTimeoutMs: 500 } }
    }))
    return await runCli(['check', '--config', file], { MYSQL_PASSWORD: db.password })
  }
  const good = await check({ mode: 'verify-full', caFile: certs.caFile }, { caFile: certs.caFile })
  t.equal(good.code, 0, good.stdout)
  t.match(good.stdout, new RegExp(`^ok mapping source: mysql 127\\.0\\.0\\.1:${db.port}/bp_organizations_db, TLS verified \\(TLSv1\\.3\\)$`, 'm'))
  t.match(good.stdout, new RegExp(`^ok cache: redis standalone 127\\.0\\.0\\.1:${redis.port} \\(primary\\), TLS verified \\(TLSv1\\.3\\)$`, 'm'))
  const bad = await check({ mode: 'verify-full' }, { mode: 'verify-full' })
  t.equal(bad.code, 1)
  t.match(bad.stdout, /^FAIL mapping source: TLS: unknown CA: no trusted CA signed the server's certificate \(.*\); check mappings\.mysql\.tls\.caFile or the server's certificate$/m)
  t.match(bad.stdout, /^FAIL cache: TLS: unknown CA: no trusted CA signed the server's certificate \(.*\); check cache\.redis\.tls\.caFile or the server's certificate$/m)
  t.notMatch(bad.stdout + bad.stderr, new RegExp(db.password), 'no password in the output')
  const missing = await check({ mode: 'verify-full', caFile: join(dir, 'none.pem') }, {})
  t.equal(missing.code, 1)
  t.match(missing.stdout, /^FAIL config: mappings\.mysql\.tls\.caFile: cannot read .*none\.pem \(ENOENT\)$/m, 'a certificate file problem is a config problem')
  const start = await runCli(['start', '--config', join(dir, 'gateway.yaml')], { MYSQL_PASSWORD: db.password })
  t.equal(start.code, 78, 'start: exit 78 before opening a port')
  t.match(start.stderr, /mappings\.mysql\.tls\.caFile: cannot read .*none\.pem \(ENOENT\)/)
})
