import t, { type Test } from 'tap'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { stringify } from 'yaml'
import { Redis } from 'ioredis'
import { runCommand } from '../helpers/command-line.js'
import { startTestGateway } from '../helpers/gateway.js'
import { startOrganizationsDb, startRedis } from '../helpers/services.js'
import { startUpstream } from '../helpers/upstream.js'
import { authConfig, BANK_TENANT, DEFAULT_MAPPINGS, MGMT_CLIENT, MULTI_BANK_TENANT, SYSTEM_APP, UNMAPPED_TENANT, startIssuer } from '../helpers/issuer.js'

function writeConfig (t: Test, config: Record<string, unknown>, mappings?: unknown): string {
  const dir = mkdtempSync(join(tmpdir(), 'bookme-lookup-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  if (mappings !== undefined) writeFileSync(join(dir, 'mappings.yaml'), stringify(mappings))
  writeFileSync(join(dir, 'gateway.yaml'), stringify(config))
  return join(dir, 'gateway.yaml')
}

const fileConfig = {
  apis: { m: { clientId: MGMT_CLIENT } },
  routes: [{ name: 'x', prefix: '/x', upstream: 'http://127.0.0.1:1', api: 'm' }],
  mappings: { source: 'file', file: 'mappings.yaml' }
}

t.test('file source: a tenant\'s banks, the default and a disabled bank; a client; an unmapped tenant exits 1', async (t) => {
  const mappings = {
    ...DEFAULT_MAPPINGS,
    tenants: [...DEFAULT_MAPPINGS.tenants.slice(0, 1), { tenantId: MULTI_BANK_TENANT, banks: ['2001', '2002', '9001'], default: '2002' }],
    clients: [...DEFAULT_MAPPINGS.clients, { clientId: 'aaaaaaaa-0000-4000-8000-000000000009', bankId: '9001', description: 'closed bank app' }]
  }
  const config = writeConfig(t, fileConfig, mappings)

  const tenant = await runCommand(['lookup', '--tenant', MULTI_BANK_TENANT.toUpperCase(), '--config', config])
  t.equal(tenant.code, 0, tenant.stderr)
  t.same(tenant.stdout.split('\n').slice(0, 7), [
    `tenant ${MULTI_BANK_TENANT}`,
    'bank 2001: enabled',
    'bank 2002: enabled, default',
    'bank 9001: disabled',
    'default: 2002',
    'resolves: to bank 2002 without x-bank-context; x-bank-context may name 2001, 2002',
    'from: source (file), age 0 s'
  ])
  t.match(tenant.stdout, /^asked process layer: none in this process/m, 'it says the process layer of a gateway is not visible')
  t.match(tenant.stdout, /^asked shared cache: memory: each gateway process holds its own/m)

  const client = await runCommand(['lookup', '--client', SYSTEM_APP, '--config', config])
  t.equal(client.code, 0, client.stderr)
  t.match(client.stdout, /^bank: 1001 \(Demo Bank\), enabled$/m)
  t.match(client.stdout, /^enabled: yes$/m)
  t.match(client.stdout, /^description: core banking$/m)
  t.match(client.stdout, /^secret expires: 2027-05-01T00:00:00.000Z$/m)

  const closed = await runCommand(['lookup', '--client', 'aaaaaaaa-0000-4000-8000-000000000009', '--config', config])
  t.equal(closed.code, 1, 'a client of a disabled bank does not resolve')
  t.match(closed.stdout, /^bank: 9001 \(Closed\), disabled$/m)
  t.match(closed.stdout, /^does not resolve: its bank is disabled \(the gateway answers 403 BANK_DISABLED\)$/m)

  const unmapped = await runCommand(['lookup', '--tenant', UNMAPPED_TENANT, '--config', config])
  t.equal(unmapped.code, 1)
  t.match(unmapped.stdout, /^not mapped: no bank is mapped to this tenant \(the gateway answers 403 TENANT_NOT_MAPPED\)$/m)
  const unregistered = await runCommand(['lookup', '--client', UNMAPPED_TENANT, '--json', '--config', config])
  t.equal(unregistered.code, 1)
  t.match(JSON.parse(unregistered.stdout), { kind: 'client', resolves: false, outcome: 'CLIENT_NOT_REGISTERED' })
})

t.test('--json is one object; usage errors name the flag (exit 2); a bad config exits 78', async (t) => {
  const config = writeConfig(t, fileConfig, DEFAULT_MAPPINGS)
  const json = await runCommand(['lookup', '--tenant', BANK_TENANT, '--json', '--config', config])
  t.equal(json.code, 0, json.stderr)
  t.same(JSON.parse(json.stdout), {
    kind: 'tenant',
    id: BANK_TENANT,
    resolves: true,
    outcome: 'ok',
    banks: [{ bankId: '1001', enabled: true, default: false }],
    default: null,
    bankWithoutSelection: '1001',
    from: 'source',
    sourceKind: 'file',
    ageSec: 0,
    stale: false,
    asked: JSON.parse(json.stdout).asked
  })
  t.match(JSON.parse(json.stdout).asked, { processLayer: String, sharedCache: /^memory/, source: /^file: answered/ })

  const badGuid = await runCommand(['lookup', '--tenant', 'not-a-guid', '--config', config])
  t.same([badGuid.code, badGuid.stdout], [2, ''])
  t.match(badGuid.stderr, /^error: --tenant takes a GUID, not "not-a-guid"$/m)
  const both = await runCommand(['lookup', '--tenant', BANK_TENANT, '--client', SYSTEM_APP, '--config', config])
  t.equal(both.code, 2)
  t.match(both.stderr, /exactly one of --tenant GUID, --client GUID/)
  t.equal((await runCommand(['lookup', '--bank', '1', '--config', config])).code, 2, 'an unknown flag')
  const badConfig = writeConfig(t, { ...fileConfig, cache: { ttlSec: 'soon' } }, DEFAULT_MAPPINGS)
  const bad = await runCommand(['lookup', '--tenant', BANK_TENANT, '--config', badConfig])
  t.equal(bad.code, 78)
  t.match(bad.stderr, /cache\.ttlSec/)
  const help = await runCommand(['lookup', '--help'])
  t.match(help.stdout, /^usage: bookme-gateway lookup --tenant GUID \| --client GUID/)
})

t.test('MySQL and Redis: the entry a running gateway cached answers, with its age; lookup writes nothing to Redis', async (t) => {
  const issuer = await startIssuer(t)
  const upstream = await startUpstream(t)
  const db = await startOrganizationsDb(t, `INSERT INTO Banks VALUES ('1001', 'Demo', 1), ('1002', 'Closed', 0);
    INSERT INTO TenantBanks VALUES ('${BANK_TENANT}', '1001', 1), ('${BANK_TENANT}', '1002', 0), ('${MULTI_BANK_TENANT}', '1001', 0);
    INSERT INTO BankClients VALUES ('${SYSTEM_APP}', '1001', 'core banking', '2027-05-01 00:00:00', 1);`)
  const redis = await startRedis(t)
  const raw = {
    ...authConfig(issuer, upstream.url),
    mappings: { source: 'mysql', mysql: { host: db.host, port: db.port, user: db.user, password: db.password } },
    cache: { store: 'redis', redis: { url: redis.url }, ttlSec: 3600 }
  }
  const gateway = await startTestGateway(t, raw)
  const token = issuer.mint({ tenantId: BANK_TENANT, audience: MGMT_CLIENT })
  const res = await fetch(`${gateway.proxyUrl}/api/meetings`, { headers: { authorization: `Bearer ${token}` } })
  t.equal(res.status, 200, 'the gateway resolved the tenant and cached the answer in Redis')
  const config = writeConfig(t, raw)
  const keys = new Redis(redis.url)
  t.teardown(() => keys.disconnect())
  const before = (await keys.keys('*')).sort()

  const cached = await runCommand(['lookup', '--tenant', BANK_TENANT, '--config', config])
  t.equal(cached.code, 0, cached.stderr)
  t.match(cached.stdout, /^bank 1001: enabled, default\nbank 1002: disabled\ndefault: 1001\n/m)
  t.match(cached.stdout, /^from: shared cache, age \d+ s$/m)
  t.match(cached.stdout, /^asked shared cache: redis: fresh entry, \d+ s old \(fresh for 3600 s\)$/m)
  t.match(cached.stdout, /^asked source: not asked$/m)
  t.notMatch(cached.stdout + cached.stderr, new RegExp(db.password), 'no password printed')

  const fromSource = await runCommand(['lookup', '--tenant', MULTI_BANK_TENANT, '--json', '--config', config])
  t.equal(fromSource.code, 0, fromSource.stderr)
  t.match(JSON.parse(fromSource.stdout), { from: 'source', sourceKind: 'mysql', ageSec: 0, bankWithoutSelection: '1001', asked: { sharedCache: 'redis: no entry', source: /^mysql: answered/ } })
  const client = await runCommand(['lookup', '--client', SYSTEM_APP, '--json', '--config', config])
  t.match(JSON.parse(client.stdout), { resolves: true, bankId: '1001', bankName: 'Demo', enabled: true, bankEnabled: true, description: 'core banking', secretExpiresAt: '2027-05-01T00:00:00.000Z', from: 'source' })
  t.same((await keys.keys('*')).sort(), before, 'the source\'s answers were not written into the shared cache')
})

t.test('an unreachable shared cache is said, and the source answers, as it would for the gateway', async (t) => {
  const config = writeConfig(t, { ...fileConfig, cache: { store: 'redis', redis: { url: 'redis://127.0.0.1:9', connectTimeoutMs: 200 } } }, DEFAULT_MAPPINGS)
  const res = await runCommand(['lookup', '--tenant', BANK_TENANT, '--config', config])
  t.equal(res.code, 0, res.stderr)
  t.match(res.stdout, /^asked shared cache: redis: unreachable \(.+\); the gateway would fall through to the source$/m)
  t.match(res.stdout, /^from: source \(file\), age 0 s$/m)
})
