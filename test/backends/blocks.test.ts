import t from 'tap'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { stringify } from 'yaml'
import { runCommand } from '../helpers/command-line.js'
import { eventually } from '../helpers/eventually.js'
import { blockedCount, oidOf, setupBlocks } from '../helpers/blocks-setup.js'
import { BANK_TENANT, MGMT_CLIENT, SYSTEM_APP } from '../helpers/issuer.js'

// Emergency blocks (CONTRACT.md §13) on two gateways: enforced, listed, lifted, expired.
// Redis going away, and reads without a message, are in blocks-outage.test.ts.

t.test('a tenant block is enforced by both gateways within 1 s, cached tokens included, and lifted the same way', async (t) => {
  const { upstream, gateways, user, otherTenant, call, statuses, cli } = await setupBlocks(t)
  t.same(await statuses(user), [200, 200], 'the token is verified and in both token caches')

  const blocked = await cli('block', '--tenant', BANK_TENANT.toUpperCase(), '--for', '2h', '--reason', 'compromised admin account')
  t.equal(blocked.code, 0, blocked.stdout + blocked.stderr)
  t.match(blocked.stdout, new RegExp(`^ok block tenant ${BANK_TENANT} until \\d{4}-\\d{2}-\\d{2}T\\d{2}:\\d{2}:\\d{2}Z: 2 gateways notified$`, 'm'))
  const seen = await eventually(() => statuses(user), (s) => s.every((status) => status === 403), 1000)
  t.same(seen, [403, 403], 'both gateways refuse within 1 s of the command')
  // Counted from here: the command returns once the message is published, a moment before the gateways have read it.
  const before = upstream.requests.length
  const answer = await call(gateways[0]!, user)
  t.same(answer, { status: 403, code: 'PRINCIPAL_BLOCKED' })
  t.same(await statuses(user), [403, 403])
  t.equal(upstream.requests.length, before, 'nothing reached the upstream')
  t.same(await statuses(otherTenant), [200, 200], 'another tenant passes')
  const counted = await Promise.all(gateways.map((gw) => blockedCount(gw, 'tenant')))
  t.ok(counted.every((n) => n >= 1), `blocked_requests_total{kind="tenant"} counts the refusals (${counted.join(', ')})`)
  t.same(await Promise.all(gateways.map((gw) => blockedCount(gw, 'user'))), [0, 0])
  for (const gw of gateways) {
    const line = gw.logs.find((entry) => entry.msg === 'block in force')
    t.match(line, { kind: 'tenant', id: BANK_TENANT, reason: 'compromised admin account', until: /^\d{4}-/ }, 'logged with its reason')
    t.notOk(gw.rawLog().includes(user), 'never the token')
  }

  const listed = await cli('blocks')
  t.equal(listed.code, 0)
  t.match(listed.stdout, new RegExp(`^tenant  ${BANK_TENANT}  \\d{4}-\\d{2}-\\d{2}T\\d{2}:\\d{2}:\\d{2}Z  compromised admin account  by \\S+@\\S+  since \\d{4}-\\S+Z\\n$`))
  const json = JSON.parse((await cli('blocks', '--json')).stdout) as Array<Record<string, unknown>>
  t.match(json, [{ kind: 'tenant', id: BANK_TENANT, reason: 'compromised admin account', by: /@/, until: /Z$/, since: /Z$/ }])
  t.ok(Date.parse(String(json[0]!.until)) - Date.now() > 7_100_000 && Date.parse(String(json[0]!.until)) - Date.now() <= 7_200_000, '--for 2h')

  const checked = await cli('check')
  t.match(checked.stdout, /^ok blocks: 1 block record in the shared cache$/m, 'check reads the blocks')
  const purge = await cli('cache', 'purge', '--all')
  t.equal(purge.code, 0)
  t.same(await statuses(user), [403, 403], 'cache purge --all does not lift a block')

  const lifted = await cli('unblock', '--tenant', BANK_TENANT)
  t.match(lifted.stdout, new RegExp(`^ok unblock tenant ${BANK_TENANT}: lifted, 2 gateways notified$`, 'm'))
  t.same(await eventually(() => statuses(user), (s) => s.every((status) => status === 200), 1000), [200, 200], 'lifted on both within 1 s')
  t.ok(gateways.every((gw) => gw.logs.some((entry) => entry.msg === 'block lifted' && entry.id === BANK_TENANT)), 'the lifting is logged')
  t.match((await cli('unblock', '--tenant', BANK_TENANT)).stdout, /: not in the shared cache \(a gateway still holding it lifts it\), 2 gateways notified/)
  t.equal((await cli('blocks')).stdout, 'no blocks in force\n')
})

t.test('client and user blocks refuse only that client or that user', async (t) => {
  const { issuer, gateways, user, app, statuses, cli } = await setupBlocks(t)
  const colleague = issuer.mint({ tenantId: BANK_TENANT, audience: MGMT_CLIENT })
  t.same(await statuses(app, '/system/x'), [200, 200])
  t.equal((await cli('block', '--client', SYSTEM_APP, '--reason', 'secret leaked in a build log')).code, 0)
  t.equal((await cli('block', '--user', oidOf(user).toUpperCase())).code, 0)
  t.same(await eventually(() => statuses(app, '/system/x'), (s) => s.every((status) => status === 403), 1000), [403, 403], 'the client\'s tokens are refused')
  t.same(await eventually(() => statuses(user), (s) => s.every((status) => status === 403), 1000), [403, 403], 'the user\'s tokens are refused')
  t.same(await statuses(colleague), [200, 200], 'the user\'s colleague passes')
  t.same([await blockedCount(gateways[0]!, 'client'), await blockedCount(gateways[0]!, 'user')].map((n) => n > 0), [true, true])
  const lines = (await cli('blocks')).stdout.trim().split('\n')
  t.equal(lines.length, 2)
  t.match(lines.join('\n'), new RegExp(`^client  ${SYSTEM_APP}  \\S+Z  secret leaked in a build log  by \\S+  since \\S+Z$`, 'm'))
  t.match(lines.join('\n'), new RegExp(`^user  ${oidOf(user)}  \\S+Z  -  by \\S+  since \\S+Z$`, 'm'), 'ids are kept lower case; no reason: -')
  const me = await fetch(`${gateways[0]!.proxyUrl}/_gateway/me`, { headers: { authorization: `Bearer ${user}` } })
  t.equal(me.status, 403, '/_gateway/me refuses a blocked user too')
})

t.test('a block survives a gateway restart and a MySQL outage, and expires on time', async (t) => {
  const { db, gateways, user, otherTenant, call, statuses, cli, start } = await setupBlocks(t)
  t.same(await statuses(otherTenant), [200, 200], 'the other tenant\'s bank is in the shared cache')
  t.equal((await cli('block', '--tenant', BANK_TENANT, '--reason', 'incident 4711')).code, 0)
  await gateways[0]!.shutdown()
  await db.kill()
  const restarted = await start()
  t.same(await call(restarted, user), { status: 403, code: 'PRINCIPAL_BLOCKED' }, 'a gateway started after the block refuses from its first request, MySQL down')
  t.same(await call(gateways[1]!, user), { status: 403, code: 'PRINCIPAL_BLOCKED' }, 'the running one too')
  t.equal((await call(restarted, otherTenant)).status, 200, 'others are served from the shared cache meanwhile')

  const blocked = await cli('block', '--user', oidOf(otherTenant), '--for', '3s')
  t.equal(blocked.code, 0, blocked.stdout)
  const until = Date.parse(/until (\S+):/.exec(blocked.stdout)![1]!)
  t.same(await eventually(() => call(restarted, otherTenant), (r) => r.status === 403, 1000), { status: 403, code: 'PRINCIPAL_BLOCKED' })
  const after = await eventually(() => call(restarted, otherTenant), (r) => r.status === 200, 6000)
  t.equal(after.status, 200, 'the block lifts by itself')
  t.ok(Date.now() >= until - 1000, 'not before its expiry (the CLI prints whole seconds)')
  t.ok(restarted.logs.some((entry) => entry.msg === 'block expired' && entry.id === oidOf(otherTenant).toLowerCase()), 'the expiry is logged')
  t.notMatch((await cli('blocks')).stdout, /user/, '`blocks` lists only what is in force')
})

t.test('the block commands: usage errors exit 2; without Redis they exit 1 and say why', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'bookme-blocks-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  const config = join(dir, 'gateway.yaml')
  writeFileSync(config, stringify({ routes: [{ name: 'open', prefix: '/open', upstream: 'http://127.0.0.1:1', auth: 'none' }] }))
  const memory = await runCommand(['block', '--tenant', BANK_TENANT, '--config', config])
  t.equal(memory.code, 1)
  t.match(memory.stdout, /^FAIL block: blocks are kept in the shared cache.*set cache\.store: redis/m)
  t.equal((await runCommand(['blocks', '--config', config])).code, 1)
  for (const args of [[], ['--tenant', 'nope'], ['--tenant', BANK_TENANT, '--user', BANK_TENANT], ['--tenant', BANK_TENANT, '--for', '10'], ['--tenant', BANK_TENANT, '--for', '0h'], ['--tenant', BANK_TENANT, '--reason', 'two\nlines']]) {
    const res = await runCommand(['block', ...args, '--config', config])
    t.equal(res.code, 2, `block ${args.join(' ')}: usage error`)
    t.match(res.stderr, /^error: /)
  }
  t.equal((await runCommand(['unblock', '--config', config])).code, 2)
})
