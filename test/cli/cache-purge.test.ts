import t from 'tap'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { stringify } from 'yaml'
import { startUpstream } from '../helpers/upstream.js'
import { startTestGateway } from '../helpers/gateway.js'
import { startOrganizationsDb, startRedis } from '../helpers/services.js'
import { runCommand } from '../helpers/command-line.js'
import { eventually } from '../helpers/eventually.js'
import { authConfig, BANK_TENANT, MGMT_CLIENT, startIssuer } from '../helpers/issuer.js'

t.test('cache purge --tenant drops the answer in Redis and in every replica\'s process layer', async (t) => {
  const issuer = await startIssuer(t)
  const upstream = await startUpstream(t)
  const db = await startOrganizationsDb(t, `INSERT INTO Banks VALUES ('1001', 'Demo', 1), ('1002', 'Second', 1);
    INSERT INTO TenantBanks VALUES ('${BANK_TENANT}', '1001', 0);`)
  const redis = await startRedis(t)
  const raw = {
    ...authConfig(issuer, upstream.url),
    mappings: { source: 'mysql', mysql: { host: db.host, port: db.port, user: db.user, password: db.password } },
    cache: { store: 'redis', redis: { url: redis.url }, ttlSec: 3600, localTtlSec: 3600 }
  }
  const replicas = [await startTestGateway(t, raw), await startTestGateway(t, raw)]
  const token = issuer.mint({ tenantId: BANK_TENANT, audience: MGMT_CLIENT })
  const bankIdsSeen = async (): Promise<string[]> => {
    const seen: string[] = []
    for (const gw of replicas) {
      const res = await fetch(`${gw.proxyUrl}/api/meetings`, { headers: { authorization: `Bearer ${token}`, 'x-bank-context': '1001' } })
      t.equal(res.status, 200)
      seen.push(String(upstream.last().headers['x-bookme-bank-ids']))
    }
    return seen
  }
  t.same(await bankIdsSeen(), ['1001', '1001'])
  db.sql(`INSERT INTO TenantBanks VALUES ('${BANK_TENANT}', '1002', 0)`, 'bp_organizations_db')
  t.same(await bankIdsSeen(), ['1001', '1001'], 'cached for an hour')

  const dir = mkdtempSync(join(tmpdir(), 'bookme-purge-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  writeFileSync(join(dir, 'gateway.yaml'), stringify(raw))
  const purged = await runCommand(['cache', 'purge', '--tenant', BANK_TENANT.toUpperCase(), '--reason', 'CHG-1042 second bank onboarded', '--by', 'ops@bank', '--config', join(dir, 'gateway.yaml')])
  t.equal(purged.code, 0, purged.stderr)
  t.match(purged.stdout, /^ok cache purge tenant:11111111-1111-4111-8111-111111111111: 1 shared entry removed, 2 gateways notified$/m, 'it says how many gateways received it')
  t.notMatch(purged.stdout, /warning/)
  // The purge reaches the replicas' process layers by Redis pub/sub, a moment after the CLI exits.
  const seen = await eventually(bankIdsSeen, (ids) => ids.every((id) => id === '1001,1002'))
  t.same(seen, ['1001,1002', '1001,1002'], 'both replicas read the new answer')
  // Every gateway that applied the purge logs who asked for it and why (CONTRACT.md §14).
  const audits = await eventually(() => replicas.map((gw) => gw.logs.find((line) => line.msg === 'cache purge')), (lines) => lines.every(Boolean))
  for (const line of audits) t.match(line, { key: `tenant:${BANK_TENANT}`, by: 'ops@bank', reason: 'CHG-1042 second bank onboarded' })
  const refused = await runCommand(['cache', 'purge', '--all', '--reason', 'bad\u202etext', '--config', join(dir, 'gateway.yaml')])
  t.equal(refused.code, 2, 'the reason is one line of printable text, as for blocks')

  const all = await runCommand(['cache', 'purge', '--all', '--config', join(dir, 'gateway.yaml')])
  t.equal(all.code, 0)
  await Promise.all(replicas.map((gw) => gw.shutdown()))
  const nobody = await runCommand(['cache', 'purge', '--all', '--config', join(dir, 'gateway.yaml')])
  t.equal(nobody.code, 0, 'the shared entries are still purged')
  t.match(nobody.stdout, /0 gateways notified\nwarning cache purge: no running gateway received the message/, 'no receiver is a warning')
  t.equal((await runCommand(['cache', 'purge', '--config', join(dir, 'gateway.yaml')])).code, 2, 'no target: usage error')
  t.equal((await runCommand(['cache', 'purge', '--tenant', 'nope', '--config', join(dir, 'gateway.yaml')])).code, 2, 'not a GUID: usage error')
})
