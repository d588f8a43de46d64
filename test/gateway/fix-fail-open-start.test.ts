import t from 'tap'
import { spawnSync } from 'node:child_process'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { stringify } from 'yaml'
import { readiness, startTestGateway, untilReady } from '../helpers/gateway.js'
import { startUpstream } from '../helpers/upstream.js'
import { startRedis } from '../helpers/services.js'
import { runCli } from '../helpers/cli.js'
import { eventually } from '../helpers/eventually.js'
import { authConfig, BANK_TENANT, DEFAULT_MAPPINGS, MGMT_CLIENT, startIssuer } from '../helpers/issuer.js'

// Deny-list not loaded → fail open (ADVISORIES.md): a gateway that had not yet read the blocks
// served a blocked user 200 while its /readyz said 503. Until first ready, an authenticated
// route answers 503 GATEWAY_NOT_READY with Retry-After: 1 (CONTRACT.md §8).

async function call (url: string, token?: string): Promise<{ status: number, code: string | undefined, retryAfter: string | null }> {
  const res = await fetch(url, token === undefined ? {} : { headers: { authorization: `Bearer ${token}` } })
  const body = await res.text()
  return { status: res.status, code: res.status === 200 ? undefined : (JSON.parse(body) as { code: string }).code, retryAfter: res.headers.get('retry-after') }
}

t.test('a gateway that cannot read the blocks yet refuses everyone on authenticated routes, the blocked user included', async (t) => {
  const [issuer, upstream, redis] = await Promise.all([startIssuer(t), startUpstream(t), startRedis(t)])
  const raw = {
    ...authConfig(issuer, upstream.url, { routes: [{ name: 'meetings', prefix: '/api/meetings', upstream: upstream.url, api: 'management' }, { name: 'open', prefix: '/open', upstream: upstream.url, auth: 'none' }] }),
    cache: { store: 'redis', redis: { url: redis.url } }
  }
  const blocked = issuer.mint({ tenantId: BANK_TENANT, audience: MGMT_CLIENT })
  const oid = (JSON.parse(Buffer.from(blocked.split('.')[1]!, 'base64url').toString('utf8')) as { oid: string }).oid
  const dir = mkdtempSync(join(tmpdir(), 'bookme-not-ready-'))
  t.teardown(() => { rmSync(dir, { recursive: true, force: true }) })
  writeFileSync(join(dir, 'gateway.yaml'), stringify(raw))
  const command = await runCli(['block', '--user', oid, '--reason', 'drill', '--config', join(dir, 'gateway.yaml')])
  t.equal(command.code, 0, command.stderr)

  const pid = Number(/process_id:(\d+)/.exec(spawnSync('redis-cli', ['-p', String(redis.port), 'INFO', 'server'], { encoding: 'utf8' }).stdout)?.[1])
  process.kill(pid, 'SIGSTOP')
  t.teardown(() => { try { process.kill(pid, 'SIGCONT') } catch {} })
  const gw = await startTestGateway(t, raw, { mappings: DEFAULT_MAPPINGS, ready: false })
  // The signing keys arrive (the issuer answers); the blocks cannot be read.
  await eventually(() => readiness(gw), (r) => r.body.dependencies?.['keys:management']?.state === 'up')
  t.equal((await readiness(gw)).status, 503, '/readyz says not ready')
  const url = `${gw.proxyUrl}/api/meetings/1`
  const before = upstream.requests.length
  t.same(await call(url, blocked), { status: 503, code: 'GATEWAY_NOT_READY', retryAfter: '1' }, 'the blocked user is not let through')
  t.same(await call(url, issuer.mint({ tenantId: BANK_TENANT, audience: MGMT_CLIENT })), { status: 503, code: 'GATEWAY_NOT_READY', retryAfter: '1' }, 'nobody is decided on a partial view')
  t.equal(upstream.requests.length, before, 'nothing reached the upstream')
  t.equal((await call(`${gw.proxyUrl}/open/x`)).status, 200, 'auth: none routes are served')

  process.kill(pid, 'SIGCONT')
  await untilReady(gw)
  t.same(await call(url, blocked), { status: 403, code: 'PRINCIPAL_BLOCKED', retryAfter: null }, 'once the blocks are read, the block holds')
})

t.test('before the signing keys are first fetched, a valid token gets 503 GATEWAY_NOT_READY, not a misleading 401', async (t) => {
  const [issuer, upstream] = await Promise.all([startIssuer(t), startUpstream(t)])
  issuer.down = true
  const gw = await startTestGateway(t, authConfig(issuer, upstream.url), { mappings: DEFAULT_MAPPINGS, ready: false })
  const token = issuer.mint({ tenantId: BANK_TENANT, audience: MGMT_CLIENT })
  t.same(await call(`${gw.proxyUrl}/api/meetings/1`, token), { status: 503, code: 'GATEWAY_NOT_READY', retryAfter: '1' })
  t.same(await call(`${gw.proxyUrl}/_gateway/me`, token), { status: 503, code: 'GATEWAY_NOT_READY', retryAfter: '1' }, '/_gateway/me too')
  issuer.down = false
  await untilReady(gw)
  t.equal((await call(`${gw.proxyUrl}/api/meetings/1`, token)).status, 200, 'served once ready')
})
