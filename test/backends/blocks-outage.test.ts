import t from 'tap'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { stringify } from 'yaml'
import { runCommand } from '../helpers/command-line.js'
import { startUpstream } from '../helpers/upstream.js'
import { readiness, startTestGateway, untilReady } from '../helpers/gateway.js'
import { startRedis } from '../helpers/services.js'
import { redisCli } from '../helpers/redis-topologies.js'
import { eventually } from '../helpers/eventually.js'
import { setupBlocks } from '../helpers/blocks-setup.js'
import { authConfig, BANK_TENANT, MULTI_BANK_TENANT, startIssuer } from '../helpers/issuer.js'

// Emergency blocks (CONTRACT.md §13) when Redis goes away or a gateway misses a message: the
// known blocks stay in force, and what was missed is read again. A flush is fix-blocks-lost.test.ts.

t.test('Redis down: known blocks stay in force from memory; new blocks fail with exit 1 and say why; a reconnected gateway reads again', async (t) => {
  const { redis, gateways, user, otherTenant, statuses } = await setupBlocks(t)
  // The commands read only cache.*: a short connect timeout, so a refused connection fails fast.
  const dir = mkdtempSync(join(tmpdir(), 'bookme-blocks-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  writeFileSync(join(dir, 'gateway.yaml'), stringify({ cache: { store: 'redis', redis: { url: redis.url, connectTimeoutMs: 300 } } }))
  const cli = async (...args: string[]) => await runCommand([...args, '--config', join(dir, 'gateway.yaml')])
  t.equal((await cli('block', '--tenant', BANK_TENANT)).code, 0)
  await eventually(() => statuses(user), (s) => s.every((status) => status === 403), 1000)
  await redis.kill()
  // Past a poll interval: every gateway has tried to read the blocks while Redis is away.
  await eventually(() => readiness(gateways[0]!), (r) => r.body.dependencies?.blocks?.state === 'down', 10_000)
  t.same(await statuses(user), [403, 403], 'still refused by both')
  t.same(await statuses(otherTenant), [200, 200], 'others still served (local layer)')
  const failed = await cli('block', '--tenant', MULTI_BANK_TENANT)
  t.equal(failed.code, 1)
  t.match(failed.stdout, new RegExp(`^FAIL block: Redis redis://127\\.0\\.0\\.1:${redis.port}: .*ECONNREFUSED.*; run it again once Redis answers$`, 'm'), 'a clear message naming Redis')
  t.equal((await cli('blocks')).code, 1)

  await redis.restart()
  // This Redis keeps no data across restarts: the first block went with it, but not from the
  // gateways (fix-blocks-lost.test.ts). A new one arrives while the gateways are reconnecting and
  // resubscribing, and is read on reconnect or by the poll.
  t.equal((await cli('block', '--tenant', MULTI_BANK_TENANT)).code, 0)
  t.same(await eventually(() => statuses(otherTenant), (s) => s.every((status) => status === 403), 10_000), [403, 403])
  t.same(await statuses(user), [403, 403], 'the block Redis lost is still in force')
})

t.test('a block written while a gateway missed the message is still learnt within seconds', async (t) => {
  const { redis, user, statuses } = await setupBlocks(t)
  // The record as the CLI writes it, but no announcement.
  redisCli(redis.port, undefined, undefined, ['HSET', 'bookme:gw:blocks', `tenant:${BANK_TENANT}`, JSON.stringify({ until: Date.now() + 60_000, reason: 'no message', since: Date.now() })])
  t.same(await eventually(() => statuses(user), (s) => s.every((status) => status === 403), 8000), [403, 403])
  // A damaged record keeps its block in force rather than lifting it.
  redisCli(redis.port, undefined, undefined, ['HSET', 'bookme:gw:blocks', `tenant:${BANK_TENANT}`, 'not json'])
  redisCli(redis.port, undefined, undefined, ['PUBLISH', 'bookme:gw:blocks:changed', 'changed'])
  t.same(await statuses(user), [403, 403])
})

t.test('a gateway that cannot read the blocks at start is not ready: it would not know whom to refuse', async (t) => {
  const issuer = await startIssuer(t)
  const upstream = await startUpstream(t)
  const redis = await startRedis(t)
  await redis.kill()
  const gw = await startTestGateway(t, { ...authConfig(issuer, upstream.url), cache: { store: 'redis', redis: { url: redis.url, connectTimeoutMs: 300 } } }, { mappings: {}, ready: false })
  const pending = await eventually(() => readiness(gw), (r) => r.body.dependencies?.blocks?.state === 'down', 10_000)
  t.equal(pending.status, 503)
  await redis.restart()
  await untilReady(gw)
  t.equal((await readiness(gw)).status, 200, 'ready once Redis answers')
})
