import t from 'tap'
import { spawnSync } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { stringify } from 'yaml'
import { runCli } from '../helpers/cli.js'
import { authConfig, BANK_TENANT, DEFAULT_MAPPINGS, HOME_TENANT, MGMT_CLIENT, startIssuer, SYSTEM_APP, SYSTEM_CLIENT } from '../helpers/issuer.js'

function tempDir (t: Parameters<typeof startIssuer>[0]): string {
  const dir = mkdtempSync(join(tmpdir(), 'bookme-cli-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  return dir
}

function writeConfig (t: Parameters<typeof startIssuer>[0], raw: Record<string, unknown>, mappings: unknown = DEFAULT_MAPPINGS): string {
  const dir = tempDir(t)
  writeFileSync(join(dir, 'mappings.yaml'), stringify(mappings))
  writeFileSync(join(dir, 'gateway.yaml'), stringify({ ...raw, mappings: { source: 'file', file: 'mappings.yaml' } }))
  return join(dir, 'gateway.yaml')
}

t.test('--help, -h, --version, help <command> and <command> --help', async (t) => {
  const version = (JSON.parse(readFileSync(fileURLToPath(new URL('../../package.json', import.meta.url)), 'utf8')) as { version: string }).version
  const versioned = await runCli(['--version'])
  t.same([versioned.code, versioned.stdout], [0, `bookme-gateway ${version}\n`])
  for (const args of [['--help'], ['-h'], ['help']]) {
    const res = await runCli(args)
    t.equal(res.code, 0, args.join(' '))
    for (const command of ['start', 'check', 'explain', 'demo', 'clients', 'cache purge', 'block', 'unblock', 'blocks']) t.match(res.stdout, new RegExp(`^  ${command}\\b`, 'm'), `${args.join(' ')} lists ${command}`)
  }
  t.equal((await runCli([])).code, 2, 'no command: usage, exit 2')
  for (const args of [['help', 'explain'], ['explain', '--help'], ['explain', '-h', '--token', 'x']]) {
    const res = await runCli(args)
    t.equal(res.code, 0, args.join(' '))
    t.match(res.stdout, /^usage: bookme-gateway explain --token JWT/, `${args.join(' ')}: the command's own usage`)
    t.match(res.stdout, /--at TIME/)
  }
  for (const [args, option] of [[['help', 'clients'], '--json'], [['cache', 'purge', '--help'], '--all'], [['help', 'cache', 'purge'], '--tenant'], [['check', '-h'], '--config']] as const) {
    const res = await runCli([...args])
    t.equal(res.code, 0, args.join(' '))
    t.match(res.stdout, option, `${args.join(' ')} shows ${option}`)
  }
  const unknown = await runCli(['help', 'nope'])
  t.equal(unknown.code, 2)
  t.match(unknown.stderr, /unknown command "nope"/)
})

t.test('explain: --at replays a captured token; usage errors name the flag; without --path the audience picks the profile', async (t) => {
  const issuer = await startIssuer(t)
  const config = writeConfig(t, authConfig(issuer, 'http://127.0.0.1:1'))
  const now = Math.floor(Date.now() / 1000)
  const captured = issuer.mint({ tenantId: BANK_TENANT, audience: MGMT_CLIENT, claims: { iat: now - 7200, nbf: now - 7200, exp: now - 3600 } })
  const expired = await runCli(['explain', '--token', captured, '--path', '/api/meetings', '--config', config])
  t.match(JSON.parse(expired.stdout), { decision: 'deny', code: 'TOKEN_EXPIRED' }, 'judged now, it has expired')
  const then = new Date((now - 5400) * 1000).toISOString()
  const replayed = await runCli(['explain', '--token', captured, '--path', '/api/meetings', '--at', then, '--config', config])
  t.equal(replayed.code, 0, replayed.stdout + replayed.stderr)
  t.match(JSON.parse(replayed.stdout), { decision: 'allow', headers: { 'x-bookme-bank-id': '1001' } }, 'judged at --at, it was valid')
  const epoch = await runCli(['explain', '--token', captured, '--path', '/api/meetings', '--at', String(now - 5400), '--config', config])
  t.equal(epoch.code, 0, '--at takes epoch seconds too')
  const before = await runCli(['explain', '--token', captured, '--path', '/api/meetings', '--at', new Date((now - 9000) * 1000).toISOString(), '--config', config])
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
    const res = await runCli(['explain', '--token', captured, '--path', '/api/meetings', ...extra, '--config', config])
    t.equal(res.code, 2, `${extra.join(' ')}: exit 2`)
    t.match(res.stderr, message, `${extra.join(' ')}: names the flag`)
    t.equal(res.stdout, '', 'no decision printed')
  }

  const user = issuer.mint({ tenantId: BANK_TENANT, audience: MGMT_CLIENT })
  const byAudience = await runCli(['explain', '--token', user, '--config', config])
  t.equal(byAudience.code, 0, byAudience.stdout)
  t.match(JSON.parse(byAudience.stdout), { decision: 'allow', api: 'management', route: null, headers: { 'x-bookme-bank-id': '1001' } })
  const app = issuer.mint({ tenantId: HOME_TENANT, audience: SYSTEM_CLIENT, type: 'app', claims: { azp: SYSTEM_APP } })
  t.match(JSON.parse((await runCli(['explain', '--token', app, '--config', config])).stdout), { decision: 'allow', api: 'system', headers: { 'x-bookme-principal-type': 'app' } })
  const other = await runCli(['explain', '--token', issuer.mint({ tenantId: BANK_TENANT, audience: 'ffffffff-0000-4000-8000-000000000000' }), '--config', config])
  t.equal(other.code, 1)
  t.match(JSON.parse(other.stdout), { decision: 'deny', code: 'TOKEN_AUDIENCE_INVALID', api: null })
  const paramPath = await runCli(['explain', '--token', user, '--path', '/api/meetings/admin;x', '--config', config])
  t.match(JSON.parse(paramPath.stdout), { decision: 'deny', status: 400, code: 'REQUEST_INVALID' }, 'the path rules apply')
})

t.test('clients: --expiring-within exits 1 when a secret expires in the window; --json; a window needs a unit', async (t) => {
  const soon = new Date(Date.now() + 10 * 86_400_000).toISOString().slice(0, 10)
  const later = new Date(Date.now() + 200 * 86_400_000).toISOString().slice(0, 10)
  const config = writeConfig(t, { apis: { m: { clientId: MGMT_CLIENT } }, routes: [{ name: 'x', prefix: '/x', upstream: 'http://127.0.0.1:1', api: 'm' }] }, {
    banks: [{ id: '1001', name: 'Demo' }],
    clients: [
      { clientId: 'aaaaaaaa-0000-4000-8000-000000000001', bankId: '1001', description: 'later', secretExpiresAt: later },
      { clientId: 'aaaaaaaa-0000-4000-8000-000000000002', bankId: '1001', description: 'soon', secretExpiresAt: soon }
    ]
  })
  const alert = await runCli(['clients', '--expiring-within', '90d', '--config', config])
  t.equal(alert.code, 1, 'a secret expires within 90 days: exit 1')
  t.match(alert.stdout, /000000000002.*soon/)
  const quiet = await runCli(['clients', '--expiring-within', '1w', '--config', config])
  t.same([quiet.code, quiet.stdout], [0, 'no client secret expires in that window\n'], 'none within a week: exit 0')
  const json = await runCli(['clients', '--json', '--config', config])
  t.equal(json.code, 0)
  t.match(JSON.parse(json.stdout), [
    { clientId: 'aaaaaaaa-0000-4000-8000-000000000002', bankId: '1001', bankName: 'Demo', description: 'soon', enabled: true, daysLeft: Number },
    { clientId: 'aaaaaaaa-0000-4000-8000-000000000001', description: 'later' }
  ])
  const windowJson = await runCli(['clients', '--json', '--expiring-within', '90d', '--config', config])
  t.equal(windowJson.code, 1)
  t.equal((JSON.parse(windowJson.stdout) as unknown[]).length, 1)
  for (const window of ['90', '90 days', '3m']) {
    const res = await runCli(['clients', '--expiring-within', window, '--config', config])
    t.equal(res.code, 2, `"${window}" refused`)
    t.match(res.stderr, /--expiring-within takes a number with a unit/)
  }
})

t.test('output piped into head ends quietly', async (t) => {
  const clients = Array.from({ length: 4000 }, (_, i) => ({ clientId: `aaaaaaaa-0000-4000-8000-${String(i).padStart(12, '0')}`, bankId: '1001', description: 'a client with a long enough description to fill the pipe' }))
  const config = writeConfig(t, { apis: { m: { clientId: MGMT_CLIENT } }, routes: [{ name: 'x', prefix: '/x', upstream: 'http://127.0.0.1:1', api: 'm' }] }, { banks: [{ id: '1001', name: 'Demo' }], clients })
  const cli = fileURLToPath(new URL('../../src/cli.ts', import.meta.url))
  const res = spawnSync('bash', ['-c', `set -o pipefail; "${process.execPath}" --import tsx "${cli}" clients --config "${config}" | head -n 1`], { encoding: 'utf8', cwd: fileURLToPath(new URL('../..', import.meta.url)) })
  t.equal(res.status, 0, 'exit 0 through the pipe')
  t.equal(res.stdout.split('\n').filter(Boolean).length, 1)
  t.equal(res.stderr, '', 'no EPIPE stack trace')
})
