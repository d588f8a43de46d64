import type { Test } from 'tap'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { stringify } from 'yaml'
import { startUpstream } from './upstream.js'
import { startTestGateway, untilReady } from './gateway.js'
import { startOrganizationsDb } from './services.js'
import { redisCli } from './redis-topologies.js'
import { runCli } from './cli.js'
import { eventually } from './eventually.js'
import { authConfig, MGMT_CLIENT, startIssuer } from './issuer.js'

/**
 * Sentinel and Cluster as the shared cache (CONTRACT.md §10), each with two gateways: answers
 * cached and read back, `check`'s line, and `cache purge` reaching every primary's keys and
 * every gateway's process layer. One scenario, run by redis-sentinel.test.ts and
 * redis-cluster.test.ts against each topology.
 */
export const TENANTS = Array.from({ length: 20 }, (_, i) => `aaaaaaaa-0000-4000-8000-${String(i).padStart(12, '0')}`)
const SEED = `INSERT INTO Banks VALUES ('1001', 'Demo', 1), ('1002', 'Second', 1);
  INSERT INTO TenantBanks VALUES ${TENANTS.map((id) => `('${id}', '1001', 1)`).join(', ')};`

export async function purgeScenario (t: Test, redis: Record<string, unknown>, keysOn: () => number[], env: NodeJS.ProcessEnv = {}): Promise<string> {
  const [issuer, upstream, db] = await Promise.all([startIssuer(t), startUpstream(t), startOrganizationsDb(t, SEED)])
  const raw = {
    ...authConfig(issuer, upstream.url),
    mappings: { source: 'mysql', mysql: { host: db.host, port: db.port, user: db.user, password: db.password } },
    cache: { store: 'redis', redis, ttlSec: 3600, localTtlSec: 3600 }
  }
  const gateways = [await startTestGateway(t, raw, { env }), await startTestGateway(t, raw, { env })]
  await Promise.all(gateways.map(async (gw) => { await untilReady(gw, 20_000) }))
  const bankIdsSeen = async (tenantId: string): Promise<string[]> => await Promise.all(gateways.map(async (gw) => {
    const res = await fetch(`${gw.proxyUrl}/api/meetings`, { headers: { authorization: `Bearer ${issuer.mint({ tenantId, audience: MGMT_CLIENT })}` } })
    t.equal(res.status, 200)
    return String(upstream.last().headers['x-bookme-bank-ids'])
  }))
  for (const tenant of TENANTS) await bankIdsSeen(tenant)
  const written = keysOn()
  t.equal(written.reduce((a, b) => a + b, 0), TENANTS.length, 'one shared key per answer')
  db.sql(`INSERT INTO TenantBanks VALUES ('${TENANTS[0]}', '1002', 0)`, 'bp_organizations_db')
  t.same(await bankIdsSeen(TENANTS[0]!), ['1001', '1001'], 'cached')

  const dir = mkdtempSync(join(tmpdir(), 'bookme-topology-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  const file = join(dir, 'gateway.yaml')
  writeFileSync(file, stringify(raw))
  const one = await runCli(['cache', 'purge', '--tenant', TENANTS[0]!, '--config', file], env)
  t.match(one.stdout, /^ok cache purge tenant:\S+: 1 shared entry removed, 2 gateways notified$/m, one.stdout + one.stderr)
  t.same(await eventually(() => bankIdsSeen(TENANTS[0]!), (ids) => ids.every((id) => id === '1001,1002')), ['1001,1002', '1001,1002'], 'both gateways read the new answer')
  const all = await runCli(['cache', 'purge', '--all', '--config', file], env)
  t.match(all.stdout, new RegExp(`^ok cache purge all: ${TENANTS.length} shared entries removed, 2 gateways notified$`, 'm'), all.stdout + all.stderr)
  t.same(keysOn().filter((n) => n > 0), [], 'no key left on any primary')
  // Emergency blocks (§13) are announced the same way: both gateways refuse within 1 s, and let go.
  const statuses = async (tenantId: string): Promise<number[]> => await Promise.all(gateways.map(async (gw) =>
    (await fetch(`${gw.proxyUrl}/api/meetings`, { headers: { authorization: `Bearer ${issuer.mint({ tenantId, audience: MGMT_CLIENT })}` } })).status))
  const blocked = await runCli(['block', '--tenant', TENANTS[1]!, '--reason', 'drill', '--config', file], env)
  t.match(blocked.stdout, /^ok block tenant \S+ until \S+: 2 gateways notified$/m, blocked.stdout + blocked.stderr)
  t.same(await eventually(() => statuses(TENANTS[1]!), (s) => s.every((status) => status === 403), 1000), [403, 403], 'a block reaches both gateways')
  t.equal((await runCli(['unblock', '--tenant', TENANTS[1]!, '--config', file], env)).code, 0)
  t.same(await eventually(() => statuses(TENANTS[1]!), (s) => s.every((status) => status === 200), 1000), [200, 200], 'and its lifting')
  const check = await runCli(['check', '--config', file], env)
  t.equal(check.code, 0, check.stdout)
  return /^ok cache: (.*)$/m.exec(check.stdout)?.[1] ?? check.stdout
}

export const dbsize = (port: number, tls?: { caFile: string }, password?: string): number => Number(redisCli(port, tls, password, ['DBSIZE']).trim() || -1)
