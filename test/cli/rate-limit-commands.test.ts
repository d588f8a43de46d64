import t from 'tap'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { stringify } from 'yaml'
import { runCommand } from '../helpers/command-line.js'
import { startRedis } from '../helpers/services.js'
import { authConfig, BANK_TENANT, DEFAULT_MAPPINGS, MGMT_CLIENT, MULTI_BANK_TENANT, startIssuer } from '../helpers/issuer.js'

// `check` and `explain` on rate limits (CONTRACT.md §12).

function writeConfig (t: Parameters<typeof startIssuer>[0], raw: Record<string, unknown>): string {
  const dir = mkdtempSync(join(tmpdir(), 'bookme-cli-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  writeFileSync(join(dir, 'mappings.yaml'), stringify(DEFAULT_MAPPINGS))
  writeFileSync(join(dir, 'gateway.yaml'), stringify({ ...raw, mappings: { source: 'file', file: 'mappings.yaml' } }))
  return join(dir, 'gateway.yaml')
}

const RATE_LIMITS = {
  policies: [
    { name: 'bank-api', routes: ['meetings'], key: 'bank', limit: 600, windowSec: 60, burst: 100 },
    { name: 'per-user', key: 'principal', limit: 30 }
  ],
  overrides: { 2002: { 'bank-api': { limit: 1200 } } }
}

t.test('check lists the policies and proves Redis runs the counting script; an ACL without scripting fails it', async (t) => {
  const issuer = await startIssuer(t)
  const redis = await startRedis(t, { aclUsers: [{ name: 'noscript', password: 'pw', rules: '~* &* +@all -@scripting' }] })
  const base = { ...authConfig(issuer, 'http://127.0.0.1:1'), rateLimits: RATE_LIMITS }
  const ok = await runCommand(['check', '--config', writeConfig(t, { ...base, cache: { store: 'redis', redis: { url: redis.url } } })])
  t.equal(ok.code, 0, ok.stdout)
  t.match(ok.stdout, /^ok rate limits: bank-api on meetings \(bank, 600 per 60 s, burst 100\); per-user on every authenticated route \(principal, 30 per 60 s, burst 30\); counting script loaded on the primary \(sha1 [0-9a-f]{12}\)$/m)

  const denied = await runCommand(['check', '--config', writeConfig(t, { ...base, cache: { store: 'redis', redis: { url: `redis://noscript:pw@127.0.0.1:${redis.port}` } } })])
  t.equal(denied.code, 1)
  t.match(denied.stdout, /^ok cache: /m, 'the cache itself answers')
  t.match(denied.stdout, /^FAIL rate limits: .*NOPERM.*\(policies: bank-api on meetings/m, 'the ACL refusal is named')
  t.notMatch(denied.stdout, /pw@/, 'no credential printed')

  const memory = await runCommand(['check', '--config', writeConfig(t, base)])
  t.match(memory.stdout, /^ok rate limits: .*; counted in this process$/m)
  const none = await runCommand(['check', '--config', writeConfig(t, authConfig(issuer, 'http://127.0.0.1:1'))])
  t.notMatch(none.stdout, /rate limits/, 'no policies, no line')
})

t.test('explain shows the policies that would count the request, with the bank\'s override, and counts nothing', async (t) => {
  const issuer = await startIssuer(t)
  const config = writeConfig(t, { ...authConfig(issuer, 'http://127.0.0.1:1'), rateLimits: RATE_LIMITS })
  const token = issuer.mint({ tenantId: MULTI_BANK_TENANT, audience: MGMT_CLIENT, claims: { roles: ['Employee'] } })
  const res = await runCommand(['explain', '--token', token, '--path', '/api/meetings/7', '--bank', '2002', '--config', config])
  t.equal(res.code, 0, res.stdout)
  const oid = (JSON.parse(res.stdout) as { headers: Record<string, string> }).headers['x-bookme-principal-id']
  t.same(JSON.parse(res.stdout).rateLimits, [
    { policy: 'bank-api', key: 'bank', partition: 'rl:{2002}:bank-api', limit: 1200, windowSec: 60, burst: 200, override: true },
    { policy: 'per-user', key: 'principal', partition: `rl:{2002}:per-user:p:${MULTI_BANK_TENANT}:${oid}`, limit: 30, windowSec: 60, burst: 30, override: false }
  ])
  const profileOnly = await runCommand(['explain', '--token', issuer.mint({ tenantId: BANK_TENANT, audience: MGMT_CLIENT }), '--config', config])
  t.equal(profileOnly.code, 0, profileOnly.stdout)
  t.equal(JSON.parse(profileOnly.stdout).rateLimits, undefined, 'no route, no policy: policies count routes')
})
