import t, { type Test } from 'tap'
import { hostname } from 'node:os'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { stringify } from 'yaml'
import { runCommand } from '../helpers/command-line.js'
import { startRedis } from '../helpers/services.js'
import { redisCli } from '../helpers/redis-topologies.js'
import { BANK_TENANT, MGMT_CLIENT, SYSTEM_APP } from '../helpers/issuer.js'

// `block`, `unblock`, `blocks` and `cache purge` on their own (CONTRACT.md §13): what they
// accept, what they write, what they print, and what of the config they read.

function writeConfig (t: Test, raw: Record<string, unknown>): string {
  const dir = mkdtempSync(join(tmpdir(), 'bookme-blocks-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  writeFileSync(join(dir, 'gateway.yaml'), stringify(raw))
  return join(dir, 'gateway.yaml')
}

/** Every field of the blocks hash, as Redis holds it. */
function stored (port: number): Record<string, string> {
  const lines = redisCli(port, undefined, undefined, ['HGETALL', 'bookme:gw:blocks']).split('\n').filter((line) => line !== '')
  const records: Record<string, string> = {}
  for (let i = 0; i + 1 < lines.length; i += 2) records[lines[i]!] = lines[i + 1]!
  return records
}

const ISO = '\\d{4}-\\d{2}-\\d{2}T\\d{2}:\\d{2}:\\d{2}Z'

t.test('block refuses a --for over 366 days and a reason or author with control, format or separator characters; nothing is written', async (t) => {
  const redis = await startRedis(t)
  const config = writeConfig(t, { cache: { store: 'redis', redis: { url: redis.url } } })
  const refused: Array<[string[], RegExp]> = [
    [['--for', '99999999w'], /--for is at most 366d/],
    [['--for', '367d'], /--for is at most 366d/],
    [['--for', '53w'], /--for is at most 366d/],
    [['--reason', 'csi \u009b31m red'], /--reason must be one line of printable text \(it holds U\+009B\)/],
    [['--reason', 'line\u2028separator'], /U\+2028/],
    [['--reason', 'paragraph\u2029separator'], /U\+2029/],
    [['--reason', 'evil\u202etxt.exe'], /U\+202E/],
    [['--reason', 'zero\u200bwidth'], /U\+200B/],
    [['--reason', 'two\nlines'], /U\+000A/],
    [['--by', 'mallory\u202e'], /--by must be one line of printable text/],
    [['--by', 'a\u0085b'], /--by must be one line/],
    [['--by', ' '], /--by must name who sets it/]
  ]
  for (const [extra, message] of refused) {
    const res = await runCommand(['block', '--tenant', BANK_TENANT, ...extra, '--config', config])
    // Named escaped: a raw U+2028 would break the TAP stream itself.
    const named = JSON.stringify(extra).replace(/[^\x20-\x7e]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`)
    t.equal(res.code, 2, `${named}: usage error`)
    t.match(res.stderr, message, named)
    t.notMatch(res.stderr, /[\u0080-\u009f\u2028\u2029\u202e\u200b]/u, 'the refusal does not print the character itself')
    t.equal(res.stdout, '')
  }
  t.same(stored(redis.port), {}, 'nothing written')
  t.equal((await runCommand(['unblock', '--tenant', BANK_TENANT, '--by', 'x\u2028y', '--config', config])).code, 2, 'unblock --by too')
  t.same(stored(redis.port), {})

  const longest = await runCommand(['block', '--tenant', BANK_TENANT, '--for', '366d', '--reason', 'Ünïcödé — “quoted”, emoji 🚫', '--config', config])
  t.equal(longest.code, 0, longest.stdout + longest.stderr)
  const listed = await runCommand(['blocks', '--config', config])
  t.equal(listed.code, 0, 'a year-long block lists fine')
  t.match(listed.stdout, /Ünïcödé — “quoted”, emoji 🚫/, 'printable text of any script passes')
})

t.test('blocks: one line per block with kind, id, expiry, reason, by and since; --json the same; "no blocks in force" when none', async (t) => {
  const redis = await startRedis(t)
  const config = writeConfig(t, { cache: { store: 'redis', redis: { url: redis.url } } })
  const none = await runCommand(['blocks', '--config', config])
  t.same([none.code, none.stdout], [0, 'no blocks in force\n'])
  t.same((await runCommand(['blocks', '--json', '--config', config])).stdout, '[]\n')

  t.equal((await runCommand(['block', '--tenant', BANK_TENANT, '--for', '2h', '--reason', 'compromised admin account', '--by', 'alice (incident 4711)', '--config', config])).code, 0)
  t.equal((await runCommand(['block', '--client', SYSTEM_APP.toUpperCase(), '--for', '1h', '--config', config], { USER: 'carol' })).code, 0)
  const lines = (await runCommand(['blocks', '--config', config])).stdout
  t.match(lines, new RegExp(`^client  ${SYSTEM_APP}  ${ISO}  -  by carol@${hostname().replace(/\./g, '\\.')}  since ${ISO}\ntenant  ${BANK_TENANT}  ${ISO}  compromised admin account  by alice \\(incident 4711\\)  since ${ISO}\n$`),
    'soonest expiry first; "-" for no reason; --by defaults to $USER@hostname')
  const json = JSON.parse((await runCommand(['blocks', '--json', '--config', config])).stdout) as Array<Record<string, string>>
  t.match(json, [
    { kind: 'client', id: SYSTEM_APP, reason: '', by: `carol@${hostname()}`, until: /Z$/, since: /Z$/ },
    { kind: 'tenant', id: BANK_TENANT, reason: 'compromised admin account', by: 'alice (incident 4711)', until: /Z$/, since: /Z$/ }
  ])
  const tenantSince = Date.parse(json[1]!.since!)

  const lifted = await runCommand(['unblock', '--tenant', BANK_TENANT, '--by', 'bob', '--config', config])
  t.match(lifted.stdout, new RegExp(`^ok unblock tenant ${BANK_TENANT}: lifted, 0 gateways notified$`, 'm'))
  const records = stored(redis.port)
  t.notOk(`tenant:${BANK_TENANT}` in records, 'the block record is gone')
  const tombstone = JSON.parse(records[`lifted:tenant:${BANK_TENANT}`] ?? 'null') as { since: number, until: number, by: string, at: number } | null
  t.match(tombstone, { since: tenantSince, by: 'bob', at: Number, until: Number }, 'a tombstone beside the blocks: the lifted block\'s since, who and when')
  t.ok(Math.abs(tombstone!.until - (tenantSince + 7_200_000)) < 1000, 'kept as long as the block would have lasted')
  t.equal((await runCommand(['blocks', '--json', '--config', config])).stdout.match(/"kind"/g)?.length, 1, 'a tombstone is no block')

  const again = await runCommand(['unblock', '--tenant', BANK_TENANT, '--config', config])
  t.match(again.stdout, /: not in the shared cache \(a gateway still holding it lifts it\), 0 gateways notified/)
  t.equal((await runCommand(['block', '--tenant', BANK_TENANT, '--config', config])).code, 0)
  t.notOk(`lifted:tenant:${BANK_TENANT}` in stored(redis.port), 'a new block clears the tombstone')
})

t.test('block, unblock, blocks and cache purge read only cache.*: another section\'s unset secret or error does not stop them; the cache section is still validated', async (t) => {
  const redis = await startRedis(t)
  const config = writeConfig(t, {
    server: { port: 8080, bogus: true },
    entra: { groupsOverage: 'graph', graph: { clientId: MGMT_CLIENT, clientSecret: '${GRAPH_SECRET}' } },
    apis: { m: { clientId: MGMT_CLIENT } },
    mappings: { source: 'mysql', mysql: { host: '127.0.0.1', user: 'gw', password: '${MYSQL_PASSWORD}' } },
    cache: { store: 'redis', redis: { url: '${REDIS_URL}' } },
    routes: [{ name: 'x', prefix: '/x', upstream: 'http://127.0.0.1:1', api: 'm' }]
  })
  const env = { REDIS_URL: redis.url }
  const blocked = await runCommand(['block', '--user', SYSTEM_APP, '--config', config], env)
  t.equal(blocked.code, 0, blocked.stdout + blocked.stderr)
  t.match((await runCommand(['blocks', '--config', config], env)).stdout, new RegExp(`^user  ${SYSTEM_APP}  `))
  t.equal((await runCommand(['unblock', '--user', SYSTEM_APP, '--config', config], env)).code, 0)
  t.equal((await runCommand(['cache', 'purge', '--all', '--config', config], env)).code, 0)
  t.equal((await runCommand(['check', '--config', config], env)).code, 1, 'check still reads it all')

  const unset = await runCommand(['blocks', '--config', config])
  t.equal(unset.code, 78, 'the cache section\'s own placeholder must be set')
  t.match(unset.stderr, /^cache\.redis\.url: environment variable REDIS_URL is not set$/m)
  t.notMatch(unset.stderr, /MYSQL_PASSWORD|GRAPH_SECRET|server\.bogus/, 'no other section is read')
  const invalid = await runCommand(['block', '--tenant', BANK_TENANT, '--config', writeConfig(t, { cache: { store: 'redis', redis: { url: 'http://x', bogus: 1 } } })])
  t.equal(invalid.code, 78)
  t.match(invalid.stderr, /cache\.redis\.bogus: unknown key/)
  const missing = await runCommand(['cache', 'purge', '--all', '--config', writeConfig(t, { cache: { store: 'redis' } })])
  t.same([missing.code, missing.stderr], [78, 'cache.redis: is required when store is redis\n'])
  const usageFirst = await runCommand(['block', '--config', '/nonexistent.yaml'])
  t.equal(usageFirst.code, 2, 'a usage error is named before the config is read')
})
