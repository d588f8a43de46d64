import type { Test } from 'tap'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { stringify } from 'yaml'
import { startUpstream } from './upstream.js'
import { startTestGateway, untilReady, type TestGateway } from './gateway.js'
import { startOrganizationsDb, startRedis } from './services.js'
import { runCommand } from './command-line.js'
import { authConfig, BANK_TENANT, HOME_TENANT, MGMT_CLIENT, MULTI_BANK_TENANT, startIssuer, SYSTEM_APP, SYSTEM_CLIENT } from './issuer.js'

/**
 * Two gateways on MySQL and Redis, an issuer and an upstream, for the emergency-block tests
 * (CONTRACT.md §13); `cli` runs a command against the same config, in this process.
 */
const SEED = `INSERT INTO Banks VALUES ('1001', 'Demo', 1), ('2001', 'North', 1);
  INSERT INTO TenantBanks VALUES ('${BANK_TENANT}', '1001', 0), ('${MULTI_BANK_TENANT}', '2001', 0);
  INSERT INTO BankClients (ClientId, BankId) VALUES ('${SYSTEM_APP}', '1001');`

export async function setupBlocks (t: Test) {
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
  const cli = async (...args: string[]) => await runCommand([...args, '--config', config])
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

export function oidOf (token: string): string {
  return (JSON.parse(Buffer.from(token.split('.')[1]!, 'base64url').toString('utf8')) as { oid: string }).oid
}

export async function blockedCount (gw: TestGateway, kind: string): Promise<number> {
  const text = await (await fetch(`${gw.adminUrl}/metrics`)).text()
  return Number(new RegExp(`^bookme_gateway_blocked_requests_total\\{kind="${kind}"\\} (\\d+)$`, 'm').exec(text)?.[1] ?? 0)
}
