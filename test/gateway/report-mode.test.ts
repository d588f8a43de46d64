/**
 * `routes[].mode: report` (CONTRACT.md §14): the route's role, step-up and rate-limit refusals
 * are logged as `decision: report`, counted in `report_only_total` and forwarded; token and
 * block refusals still hold; `explain` says what the route only reports, exit 0.
 */
import t from 'tap'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { stringify } from 'yaml'
import { startUpstream } from '../helpers/upstream.js'
import { startTestGateway, writeMappingsFile } from '../helpers/gateway.js'
import { startRedis } from '../helpers/services.js'
import { runCommand } from '../helpers/command-line.js'
import { eventually } from '../helpers/eventually.js'
import { authConfig, BANK_TENANT, DEFAULT_MAPPINGS, MGMT_CLIENT, startIssuer } from '../helpers/issuer.js'

t.test('a report route forwards what it would refuse, logs and counts it; token and block refusals hold', async (t) => {
  const [issuer, upstream, redis] = await Promise.all([startIssuer(t), startUpstream(t), startRedis(t)])
  const raw = {
    ...authConfig(issuer, upstream.url, {
      routes: [{ name: 'reports', prefix: '/api/reports', upstream: upstream.url, api: 'management', roles: ['Admin'], mode: 'report' }]
    }),
    mappings: { source: 'file', file: writeMappingsFile(t, DEFAULT_MAPPINGS) },
    cache: { store: 'redis', redis: { url: redis.url } },
    rateLimits: { policies: [{ name: 'one', routes: ['reports'], limit: 1, windowSec: 3600 }] }
  }
  const dir = mkdtempSync(join(tmpdir(), 'bookme-report-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  const configFile = join(dir, 'gateway.yaml')
  writeFileSync(configFile, stringify(raw))
  const gw = await startTestGateway(t, raw)
  const employee = issuer.mint({ tenantId: BANK_TENANT, audience: MGMT_CLIENT })
  const call = async (token: string) => await fetch(`${gw.proxyUrl}/api/reports/1`, { headers: { authorization: `Bearer ${token}` } })

  t.equal((await call(employee)).status, 200, 'a user without the role is let through')
  const seen = upstream.requests.at(-1)!
  t.equal(seen.headers['x-bookme-tenant-id'], BANK_TENANT, 'with its identity headers')
  t.equal((await call(employee)).status, 200, 'over the rate limit: still forwarded')
  const lines = gw.logs.filter((line) => line.msg === 'request')
  t.match(lines[0], { decision: 'report', code: 'ROLE_REQUIRED', status: 200, route: 'reports', bankId: '1001' })
  t.match(lines[1], { decision: 'report', code: 'ROLE_REQUIRED', status: 200 })
  const metrics = await (await fetch(`${gw.adminUrl}/metrics`)).text()
  t.match(metrics, 'bookme_gateway_report_only_total{route="reports",code="ROLE_REQUIRED"} 2')
  t.match(metrics, 'bookme_gateway_report_only_total{route="reports",code="RATE_LIMITED"} 1')
  t.match(metrics, 'bookme_gateway_decisions_total{bank="1001",decision="report",code="ROLE_REQUIRED"} 2')

  t.equal((await call('not.a.token')).status, 401, 'a bad token is still refused')
  const explained = await runCommand(['explain', '--token', employee, '--path', '/api/reports/1', '--config', configFile])
  t.equal(explained.code, 0, 'explain: the request would pass')
  t.match(JSON.parse(explained.stdout), { decision: 'report', code: 'ROLE_REQUIRED', reported: [{ code: 'ROLE_REQUIRED', status: 403 }] })

  const oid = (JSON.parse(Buffer.from(employee.split('.')[1]!, 'base64url').toString('utf8')) as { oid: string }).oid
  t.equal((await runCommand(['block', '--user', oid, '--reason', 'incident 1', '--by', 'ops', '--config', configFile])).code, 0)
  await eventually(async () => (await call(employee)).status, (status) => status === 403, 5000)
  t.match(gw.logs.filter((line) => line.msg === 'request').at(-1), { decision: 'deny', code: 'PRINCIPAL_BLOCKED' }, 'a blocked principal is still refused')
})
