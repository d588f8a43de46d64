import t from 'tap'
import { runCommand } from '../helpers/command-line.js'
import { eventually } from '../helpers/eventually.js'
import { redisCli } from '../helpers/redis-topologies.js'
import { oidOf, setupBlocks } from '../helpers/blocks-setup.js'
import type { TestGateway } from '../helpers/gateway.js'
import { BANK_TENANT } from '../helpers/issuer.js'

// `unblock --reason --by` (CONTRACT.md §13): every gateway that lifts the block logs who lifted
// it and why (§14), the tombstone keeps both, and a reason that is not one line of printable
// text is refused before anything is written.

const BLOCKS_KEY = 'bookme:gw:blocks'

function liftedLines (gw: TestGateway, id: string): Array<Record<string, unknown>> {
  return gw.logs.filter((entry) => entry.msg === 'block lifted' && entry.id === id)
}

t.test('unblock --reason --by: refused when the reason is not one line of printable text, the block staying; else lifted on both gateways, each logging by and reason', async (t) => {
  const { redis, gateways, user, statuses, cli } = await setupBlocks(t)
  const blocked = await cli('block', '--tenant', BANK_TENANT, '--reason', 'compromised admin account', '--by', 'alice')
  t.equal(blocked.code, 0, blocked.stdout + blocked.stderr)
  t.same(await eventually(() => statuses(user), (s) => s.every((status) => status === 403), 1000), [403, 403])
  for (const gw of gateways) t.match(gw.logs.find((entry) => entry.msg === 'block in force'), { id: BANK_TENANT, by: 'alice', reason: 'compromised admin account' }, 'the block is logged with by and reason')

  const before = redisCli(redis.port, undefined, undefined, ['HGETALL', BLOCKS_KEY])
  const refused: Array<[string, RegExp]> = [
    ['two\nlines', /^error: --reason must be one line of printable text \(it holds U\+000A\)$/m],
    ['line\u2028separator', /^error: --reason must be one line of printable text \(it holds U\+2028\)$/m],
    ['x'.repeat(501), /^error: --reason is longer than 500 characters$/m]
  ]
  for (const [reason, message] of refused) {
    const res = await cli('unblock', '--tenant', BANK_TENANT, '--reason', reason, '--by', 'bob')
    t.equal(res.code, 2, `${message.source}: usage error`)
    t.match(res.stderr, message)
    t.notMatch(res.stderr, /two|separator|xxxx|\u2028/u, 'the refusal does not echo the text')
    t.equal(res.stdout, '', 'nothing done')
  }
  t.equal(redisCli(redis.port, undefined, undefined, ['HGETALL', BLOCKS_KEY]), before, 'the shared cache is as it was: no tombstone, the block in place')
  t.match((await cli('blocks')).stdout, new RegExp(`^tenant  ${BANK_TENANT}  .*  compromised admin account  by alice  `, 'm'), 'the block is still listed')
  t.same(await statuses(user), [403, 403], 'and still enforced by both gateways')
  t.same(gateways.map((gw) => liftedLines(gw, BANK_TENANT).length), [0, 0], 'no gateway logged a lifting')

  const lifted = await cli('unblock', '--tenant', BANK_TENANT, '--reason', 'INC-4711 closed: account secured', '--by', 'bob (on call)')
  t.equal(lifted.code, 0, lifted.stdout + lifted.stderr)
  t.match(lifted.stdout, new RegExp(`^ok unblock tenant ${BANK_TENANT}: lifted, 2 gateways notified$`, 'm'))
  t.same(await eventually(() => statuses(user), (s) => s.every((status) => status === 200), 1000), [200, 200], 'lifted on both')
  const lines = await eventually(() => gateways.map((gw) => liftedLines(gw, BANK_TENANT)), (seen) => seen.every((l) => l.length > 0))
  for (const seen of lines) {
    t.equal(seen.length, 1, 'one line per gateway')
    t.match(seen[0], { kind: 'tenant', id: BANK_TENANT, by: 'bob (on call)', reason: 'INC-4711 closed: account secured', blockedBy: 'alice', blockReason: 'compromised admin account' },
      'who lifted it and why, beside who set it and why')
  }
  const tombstone = JSON.parse(redisCli(redis.port, undefined, undefined, ['HGET', BLOCKS_KEY, `lifted:tenant:${BANK_TENANT}`]) || 'null') as Record<string, unknown> | null
  t.match(tombstone, { by: 'bob (on call)', reason: 'INC-4711 closed: account secured', since: Number, until: Number, at: Number }, 'the tombstone keeps the reason beside by')
})

t.test('unblock lifts a revocation (block --issued-before) the same way: both gateways log by and reason', async (t) => {
  const { gateways, user, call, statuses, cli } = await setupBlocks(t)
  const oid = oidOf(user).toLowerCase()
  t.equal((await cli('block', '--user', oid, '--issued-before', 'now', '--reason', 'session hijack suspected', '--by', 'alice')).code, 0)
  t.same(await eventually(() => call(gateways[0]!, user), (r) => r.status === 401, 1000), { status: 401, code: 'TOKEN_REVOKED' })
  t.same(await eventually(() => statuses(user), (s) => s.every((status) => status === 401), 1000), [401, 401])

  const lifted = await cli('unblock', '--user', oid, '--reason', 'false alarm', '--by', 'carol')
  t.equal(lifted.code, 0, lifted.stdout + lifted.stderr)
  t.same(await eventually(() => statuses(user), (s) => s.every((status) => status === 200), 1000), [200, 200], 'the revoked token passes again on both')
  const lines = await eventually(() => gateways.map((gw) => liftedLines(gw, oid)), (seen) => seen.every((l) => l.length > 0))
  for (const seen of lines) t.match(seen, [{ kind: 'user', id: oid, issuedBefore: /Z$/, by: 'carol', reason: 'false alarm', blockedBy: 'alice', blockReason: 'session hijack suspected' }])
})

t.test('unblock --help lists --reason beside --by', async (t) => {
  const help = await runCommand(['unblock', '--help'])
  t.equal(help.code, 0)
  t.match(help.stdout, /^usage: bookme-gateway unblock --tenant GUID \| --client GUID \| --user OID \[--reason TEXT\] \[--by TEXT\]/)
  t.match(help.stdout, /^ {4}--reason TEXT {3}/m)
})
