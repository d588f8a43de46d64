import t from 'tap'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { stringify } from 'yaml'
import { runCommand } from '../helpers/command-line.js'
import { authConfig, BANK_TENANT, DEFAULT_MAPPINGS, MGMT_CLIENT, MULTI_BANK_TENANT, startIssuer, UNMAPPED_TENANT } from '../helpers/issuer.js'

function writeConfig (t: Parameters<typeof startIssuer>[0], raw: Record<string, unknown>, mappings: unknown = DEFAULT_MAPPINGS): string {
  const dir = mkdtempSync(join(tmpdir(), 'bookme-cli-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  writeFileSync(join(dir, 'mappings.yaml'), stringify(mappings))
  writeFileSync(join(dir, 'gateway.yaml'), stringify({ ...raw, mappings: { source: 'file', file: 'mappings.yaml' } }))
  return join(dir, 'gateway.yaml')
}

t.test('check: one line per check, exit 0 when all pass, 1 with FAIL lines when not', async (t) => {
  const issuer = await startIssuer(t)
  const config = writeConfig(t, authConfig(issuer, 'http://127.0.0.1:1'))
  const ok = await runCommand(['check', '--config', config])
  t.equal(ok.code, 0, ok.stdout + ok.stderr)
  t.match(ok.stdout.split('\n').filter(Boolean), [
    'ok config',
    /^ok discovery and JWKS for management \(1 signing keys\)$/,
    /^ok discovery and JWKS for system/,
    /^ok mapping source: file /,
    /^ok cache: memory$/m
  ])
  issuer.down = true
  const failed = await runCommand(['check', '--config', config])
  t.equal(failed.code, 1)
  t.match(failed.stdout, /^FAIL discovery and JWKS for management: .*HTTP 503/m)
  t.match(failed.stdout, /^ok mapping source: file /m, 'every check still runs')
  const badConfig = writeConfig(t, { routes: [{ name: 'x', prefix: 'nope', upstream: 'ftp://x' }] })
  const bad = await runCommand(['check', '--config', badConfig])
  t.equal(bad.code, 1)
  t.match(bad.stdout, /^FAIL config: routes\[0\]\.prefix: must start with \//m)
  const redis = writeConfig(t, { ...authConfig(issuer, 'http://127.0.0.1:1'), cache: { store: 'redis', redis: { url: 'redis://127.0.0.1:1', connectTimeoutMs: 200 } } })
  issuer.down = false
  const noRedis = await runCommand(['check', '--config', redis])
  t.equal(noRedis.code, 1)
  t.match(noRedis.stdout, /^FAIL cache: /m)
})

t.test('explain: decision JSON with route, code and the headers it would inject; exit 0 allow, 1 deny; offline with --jwks', async (t) => {
  const issuer = await startIssuer(t)
  const config = writeConfig(t, authConfig(issuer, 'http://127.0.0.1:1'))
  const token = issuer.mint({ tenantId: MULTI_BANK_TENANT, audience: MGMT_CLIENT, claims: { roles: ['Employee'], preferred_username: 'max@x' } })
  const allow = await runCommand(['explain', '--token', token, '--path', '/api/meetings/7', '--bank', '2002', '--config', config])
  t.equal(allow.code, 0, allow.stderr)
  const allowed = JSON.parse(allow.stdout) as Record<string, unknown>
  t.match(allowed, { decision: 'allow', status: 200, route: 'meetings', api: 'management', path: '/api/meetings/7', headers: { 'x-bookme-bank-id': '2002', 'x-bookme-bank-ids': '2001,2002', 'x-bookme-roles': 'Employee', 'x-bookme-user-name': 'max@x' } })
  const deny = await runCommand(['explain', '--token', token, '--path', '/api/meetings/7', '--config', config])
  t.equal(deny.code, 1)
  t.match(JSON.parse(deny.stdout), { decision: 'deny', status: 400, code: 'BANK_CONTEXT_REQUIRED', availableBankIds: ['2001', '2002'], route: 'meetings' })
  const unmapped = await runCommand(['explain', '--token', issuer.mint({ tenantId: UNMAPPED_TENANT, audience: MGMT_CLIENT }), '--path', '/api/meetings', '--config', config])
  t.match(JSON.parse(unmapped.stdout), { decision: 'deny', status: 403, code: 'TENANT_NOT_MAPPED' })
  const noRoute = await runCommand(['explain', '--token', token, '--path', '/nowhere', '--config', config])
  t.match(JSON.parse(noRoute.stdout), { decision: 'deny', status: 404, code: 'ROUTE_NOT_FOUND' })
  t.notOk(allow.stdout.includes(token) || deny.stdout.includes(token), 'the token is not echoed')

  const jwksFile = join(dirname(config), 'keys.json')
  writeFileSync(jwksFile, JSON.stringify(await (await fetch(`${issuer.url}/common/discovery/v2.0/keys`)).json()))
  await issuer.close()
  const offline = await runCommand(['explain', '--token', issuer.mint({ tenantId: BANK_TENANT, audience: MGMT_CLIENT }), '--path', '/api/meetings', '--jwks', jwksFile, '--config', config])
  t.equal(offline.code, 0, offline.stdout + offline.stderr)
  t.match(JSON.parse(offline.stdout), { decision: 'allow', headers: { 'x-bookme-bank-id': '1001' } })
  t.equal((await runCommand(['explain', '--config', config])).code, 2, 'no --token: usage error')
})

t.test('clients: soonest expiry first, disabled marked, --expiring-within filters', async (t) => {
  const soon = new Date(Date.now() + 10 * 86_400_000).toISOString().slice(0, 10)
  const later = new Date(Date.now() + 200 * 86_400_000).toISOString().slice(0, 10)
  const past = new Date(Date.now() - 5 * 86_400_000).toISOString().slice(0, 10)
  const config = writeConfig(t, { apis: { m: { clientId: MGMT_CLIENT } }, routes: [{ name: 'x', prefix: '/x', upstream: 'http://127.0.0.1:1', api: 'm' }] }, {
    banks: [{ id: '1001', name: 'Demo' }, { id: '1002', name: 'Gone', enabled: false }],
    clients: [
      { clientId: 'aaaaaaaa-0000-4000-8000-000000000001', bankId: '1001', description: 'later', secretExpiresAt: later },
      { clientId: 'aaaaaaaa-0000-4000-8000-000000000002', bankId: '1001', description: 'soon', secretExpiresAt: soon, enabled: false },
      { clientId: 'aaaaaaaa-0000-4000-8000-000000000003', bankId: '1002', description: 'unknown' },
      { clientId: 'aaaaaaaa-0000-4000-8000-000000000004', bankId: '1001', description: 'expired', secretExpiresAt: past }
    ]
  })
  const all = await runCommand(['clients', '--config', config])
  t.equal(all.code, 0, all.stderr)
  const lines = all.stdout.trim().split('\n')
  t.match(lines, [/^\S+ \(-\d+ days\)\s+aaaaaaaa-0000-4000-8000-000000000004\s+bank 1001 \(Demo\)\s+expired$/, /000000000002.*soon\s+DISABLED$/, /000000000001.*later$/, /^no-expiry-recorded\s+aaaaaaaa-0000-4000-8000-000000000003.*BANK-DISABLED$/])
  const window = await runCommand(['clients', '--expiring-within', '90d', '--config', config])
  t.equal(window.stdout.trim().split('\n').length, 2, 'expired and soon only')
  t.equal((await runCommand(['clients', '--expiring-within', 'soon', '--config', config])).code, 2)
})

t.test('explain shows the claims challenge of a route\'s authentication context, and the route\'s context when allowed', async (t) => {
  const issuer = await startIssuer(t)
  const config = writeConfig(t, authConfig(issuer, 'http://127.0.0.1:1', {
    routes: [{ name: 'payments', prefix: '/api/payments', upstream: 'http://127.0.0.1:1', api: 'management', authContext: 'c3' }]
  }))
  const plain = issuer.mint({ tenantId: BANK_TENANT, audience: MGMT_CLIENT })
  const denied = await runCommand(['explain', '--token', plain, '--path', '/api/payments/1', '--config', config])
  t.equal(denied.code, 1)
  const answer = JSON.parse(denied.stdout) as Record<string, unknown>
  t.match(answer, { decision: 'deny', status: 401, code: 'AUTH_CONTEXT_REQUIRED', route: 'payments' })
  const challenge = `Bearer realm="${BANK_TENANT}", authorization_uri="${issuer.url}/${BANK_TENANT}/oauth2/v2.0/authorize", error="insufficient_claims", claims="`
  t.ok(String(answer.wwwAuthenticate).startsWith(challenge), 'the claims challenge the gateway would send (§13)')
  const claims = /, claims="([A-Za-z0-9+/=]+)"$/.exec(String(answer.wwwAuthenticate))?.[1]
  t.same(JSON.parse(Buffer.from(claims ?? '', 'base64').toString('utf8')), { access_token: { acrs: { essential: true, value: 'c3' } } })
  const stepped = await runCommand(['explain', '--token', issuer.mint({ tenantId: BANK_TENANT, audience: MGMT_CLIENT, claims: { acrs: ['c3'] } }), '--path', '/api/payments/1', '--config', config])
  t.equal(stepped.code, 0, stepped.stdout)
  t.match(JSON.parse(stepped.stdout), { decision: 'allow', authContext: 'c3' })
})
