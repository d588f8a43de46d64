import t from 'tap'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { stringify } from 'yaml'
import { runCommand } from '../helpers/command-line.js'
import { authConfig, BANK_TENANT, DEFAULT_MAPPINGS, HOME_TENANT, MGMT_CLIENT, startIssuer, SYSTEM_APP, SYSTEM_CLIENT, UNMAPPED_TENANT } from '../helpers/issuer.js'

function tempDir (t: Parameters<typeof startIssuer>[0]): string {
  const dir = mkdtempSync(join(tmpdir(), 'bookme-cli-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  return dir
}

function writeConfig (t: Parameters<typeof startIssuer>[0], raw: Record<string, unknown>): string {
  const dir = tempDir(t)
  writeFileSync(join(dir, 'mappings.yaml'), stringify(DEFAULT_MAPPINGS))
  writeFileSync(join(dir, 'gateway.yaml'), stringify({ ...raw, mappings: { source: 'file', file: 'mappings.yaml' } }))
  return join(dir, 'gateway.yaml')
}

t.test('explain: --at replays a captured token; usage errors name the flag; without --path the audience picks the profile', async (t) => {
  const issuer = await startIssuer(t)
  const config = writeConfig(t, authConfig(issuer, 'http://127.0.0.1:1'))
  const now = Math.floor(Date.now() / 1000)
  const captured = issuer.mint({ tenantId: BANK_TENANT, audience: MGMT_CLIENT, claims: { iat: now - 7200, nbf: now - 7200, exp: now - 3600 } })
  const expired = await runCommand(['explain', '--token', captured, '--path', '/api/meetings', '--config', config])
  t.match(JSON.parse(expired.stdout), { decision: 'deny', code: 'TOKEN_EXPIRED' }, 'judged now, it has expired')
  const then = new Date((now - 5400) * 1000).toISOString()
  const replayed = await runCommand(['explain', '--token', captured, '--path', '/api/meetings', '--at', then, '--config', config])
  t.equal(replayed.code, 0, replayed.stdout + replayed.stderr)
  t.match(JSON.parse(replayed.stdout), { decision: 'allow', headers: { 'x-bookme-bank-id': '1001' } }, 'judged at --at, it was valid')
  const epoch = await runCommand(['explain', '--token', captured, '--path', '/api/meetings', '--at', String(now - 5400), '--config', config])
  t.equal(epoch.code, 0, '--at takes epoch seconds too')
  const before = await runCommand(['explain', '--token', captured, '--path', '/api/meetings', '--at', new Date((now - 9000) * 1000).toISOString(), '--config', config])
  t.match(JSON.parse(before.stdout), { decision: 'deny', code: 'TOKEN_NOT_YET_VALID' }, 'before its nbf')

  const dir = tempDir(t)
  const noKeys = join(dir, 'no-keys.json')
  writeFileSync(noKeys, JSON.stringify({ key: [] }))
  const notJson = join(dir, 'not.json')
  writeFileSync(notJson, '<html>')
  const usage: Array<[string[], RegExp]> = [
    [['--jwks', join(dir, 'missing.json')], /--jwks: cannot read .*missing\.json: ENOENT/],
    [['--jwks', notJson], /--jwks: .*not\.json is not JSON/],
    [['--jwks', noKeys], /--jwks: .*no-keys\.json has no "keys" array/],
    [['--at', 'yesterday'], /--at takes an ISO 8601 time/],
    [['--at', '2026-12-01 09:30'], /--at takes an ISO 8601 time/],
    [['--bogus'], /--bogus/]
  ]
  for (const [extra, message] of usage) {
    const res = await runCommand(['explain', '--token', captured, '--path', '/api/meetings', ...extra, '--config', config])
    t.equal(res.code, 2, `${extra.join(' ')}: exit 2`)
    t.match(res.stderr, message, `${extra.join(' ')}: names the flag`)
    t.equal(res.stdout, '', 'no decision printed')
  }

  const user = issuer.mint({ tenantId: BANK_TENANT, audience: MGMT_CLIENT })
  const byAudience = await runCommand(['explain', '--token', user, '--config', config])
  t.equal(byAudience.code, 0, byAudience.stdout)
  t.match(JSON.parse(byAudience.stdout), { decision: 'allow', api: 'management', route: null, headers: { 'x-bookme-bank-id': '1001' } })
  const app = issuer.mint({ tenantId: HOME_TENANT, audience: SYSTEM_CLIENT, type: 'app', claims: { azp: SYSTEM_APP } })
  t.match(JSON.parse((await runCommand(['explain', '--token', app, '--config', config])).stdout), { decision: 'allow', api: 'system', headers: { 'x-bookme-principal-type': 'app' } })
  const other = await runCommand(['explain', '--token', issuer.mint({ tenantId: BANK_TENANT, audience: 'ffffffff-0000-4000-8000-000000000000' }), '--config', config])
  t.equal(other.code, 1)
  t.match(JSON.parse(other.stdout), { decision: 'deny', code: 'TOKEN_AUDIENCE_INVALID', api: null })
  const paramPath = await runCommand(['explain', '--token', user, '--path', '/api/meetings/admin;x', '--config', config])
  t.match(JSON.parse(paramPath.stdout), { decision: 'deny', status: 400, code: 'REQUEST_INVALID' }, 'the path rules apply')
})

t.test('explain names what to fix: the expected and actual issuer, the unmapped tenant; and shows the token\'s non-secret claims', async (t) => {
  const issuer = await startIssuer(t)
  const config = writeConfig(t, authConfig(issuer, 'http://127.0.0.1:1'))
  const explain = async (token: string, path = '/api/meetings') => JSON.parse((await runCommand(['explain', '--token', token, '--path', path, '--config', config])).stdout) as Record<string, unknown>

  const wrongIssuer = `https://login.example.net/${BANK_TENANT}/v2.0`
  const forged = await explain(issuer.mint({ tenantId: BANK_TENANT, audience: MGMT_CLIENT, claims: { iss: wrongIssuer } }))
  t.match(forged, { decision: 'deny', status: 401, code: 'TOKEN_ISSUER_INVALID' })
  t.equal(forged.detail, `The token issuer does not match its tenant: expected iss "${issuer.url}/${BANK_TENANT}/v2.0" (ver "2.0") or "https://sts.windows.net/${BANK_TENANT}/" (ver "1.0"); the token's iss is "${wrongIssuer}", ver "2.0"`)
  const mismatched = await explain(issuer.mint({ tenantId: BANK_TENANT, audience: MGMT_CLIENT, claims: { ver: '1.0' } }))
  t.match(mismatched.detail, /^The token version does not agree with its issuer: expected iss .*; the token's iss is ".*\/v2\.0", ver "1\.0"$/)
  const otherTenant = await explain(issuer.mint({ tenantId: BANK_TENANT, audience: SYSTEM_CLIENT, type: 'app', claims: { azp: SYSTEM_APP } }), '/system/x')
  t.match(otherTenant, { code: 'TOKEN_ISSUER_INVALID', detail: new RegExp(`^The token was issued by another tenant: expected iss "${issuer.url}/${HOME_TENANT}/v2\\.0" .* for the API profile system's tenant; the token's iss is "${issuer.url}/${BANK_TENANT}/v2\\.0"`) })

  const unmapped = await explain(issuer.mint({ tenantId: UNMAPPED_TENANT, audience: MGMT_CLIENT }))
  t.match(unmapped, { decision: 'deny', status: 403, code: 'TENANT_NOT_MAPPED', detail: `The token's tenant ${UNMAPPED_TENANT} is not mapped to any bank` })

  const token = issuer.mint({ tenantId: BANK_TENANT, audience: MGMT_CLIENT, claims: { roles: ['Employee'], preferred_username: 'max@x', email: 'max@x' } })
  const allowed = await explain(token)
  t.equal(allowed.decision, 'allow')
  const payload = JSON.parse(Buffer.from(token.split('.')[1]!, 'base64url').toString('utf8')) as Record<string, unknown>
  const facts = ['tid', 'oid', 'aud', 'iss', 'ver', 'idtyp', 'azp', 'appid', 'roles', 'scp', 'iat', 'exp'].filter((name) => name in payload)
  t.same(allowed.claims, Object.fromEntries(facts.map((name) => [name, payload[name]])), 'exactly the facts the token carries')
  t.ok(['tid', 'oid', 'aud', 'iss', 'ver', 'iat', 'exp'].every((name) => name in (allowed.claims as object)), 'a user token\'s facts are there')
  const text = JSON.stringify([allowed, forged, unmapped])
  t.notOk(text.includes(token.split('.')[2]!) || text.includes(token), 'never the signature, never the token')
  t.notMatch(JSON.stringify(allowed.claims), /max@x/, 'no other claim')
  t.match(unmapped.claims, { tid: UNMAPPED_TENANT }, 'a denied token\'s facts too')
  const garbage = JSON.parse((await runCommand(['explain', '--token', 'not-a-token', '--path', '/api/meetings', '--config', config])).stdout) as Record<string, unknown>
  t.match(garbage, { decision: 'deny', code: 'TOKEN_MALFORMED' })
  t.notOk('claims' in garbage, 'nothing decodable: no claims')
})
