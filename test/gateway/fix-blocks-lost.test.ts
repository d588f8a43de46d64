import t, { type Test } from 'tap'
import { Writable } from 'node:stream'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { stringify } from 'yaml'
import { startUpstream } from '../helpers/upstream.js'
import { startTestGateway, untilReady, type TestGateway } from '../helpers/gateway.js'
import { startRedis } from '../helpers/services.js'
import { redisCli } from '../helpers/redis-topologies.js'
import { runCommand } from '../helpers/command-line.js'
import { eventually } from '../helpers/eventually.js'
import { authConfig, BANK_TENANT, DEFAULT_MAPPINGS, MGMT_CLIENT, startIssuer } from '../helpers/issuer.js'
import { createLogger } from '../../src/observability/logger.js'
import { createHealth } from '../../src/observability/health.js'
import { watchBlocks } from '../../src/blocks/block-watcher.js'
import { loadCacheConfig } from '../../src/commands/cache-config.js'
import { createSharedCache } from '../../src/backends/shared-cache.js'
import { createBlockStore } from '../../src/blocks/block-store.js'
import { blockField, encodeBlock, encodeLifted, liftedField } from '../../src/blocks/block-records.js'

// CONTRACT.md §13: a block is lifted by unblock or its expiry, by nothing else. Blocks that
// vanish with Redis's data (FLUSHALL, a restart without persistence, a failover to an empty
// replica) used to be read as lifted within a poll: the blocked user got 200 again, logged like
// a deliberate unblock.

const LOST = 'block disappeared from the shared cache without an unblock; kept in force until its expiry'

function writeConfig (t: Test, raw: Record<string, unknown>): string {
  const dir = mkdtempSync(join(tmpdir(), 'bookme-blocks-lost-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  writeFileSync(join(dir, 'gateway.yaml'), stringify(raw))
  return join(dir, 'gateway.yaml')
}

async function lostCount (gw: TestGateway, kind: string): Promise<number> {
  const text = await (await fetch(`${gw.adminUrl}/metrics`)).text()
  return Number(new RegExp(`^bookme_gateway_blocks_lost_total\\{kind="${kind}"\\} (\\d+)$`, 'm').exec(text)?.[1] ?? 0)
}

t.test('after FLUSHALL both gateways keep refusing until unblock, log it as an error and count it; the block is written back', async (t) => {
  const [issuer, upstream, redis] = await Promise.all([startIssuer(t), startUpstream(t), startRedis(t)])
  const cache = { store: 'redis', redis: { url: redis.url } }
  const raw = { ...authConfig(issuer, upstream.url), cache }
  const start = async (): Promise<TestGateway> => {
    const gw = await startTestGateway(t, raw, { mappings: DEFAULT_MAPPINGS })
    await untilReady(gw)
    return gw
  }
  const gateways = [await start(), await start()]
  const config = writeConfig(t, { cache })
  const cli = async (...args: string[]) => await runCommand([...args, '--config', config])
  const user = issuer.mint({ tenantId: BANK_TENANT, audience: MGMT_CLIENT })
  const statuses = async (): Promise<number[]> => await Promise.all(gateways.map(async (gw) => (await fetch(`${gw.proxyUrl}/api/meetings/1`, { headers: { authorization: `Bearer ${user}` } })).status))
  // What a poll does, on both gateways at once: each reads the blocks again.
  const readAgain = async (): Promise<void> => { await Promise.all(gateways.map(async (gw) => { await gw.resources.blocks.refresh() })) }

  t.same(await statuses(), [200, 200])
  t.equal((await cli('block', '--tenant', BANK_TENANT, '--reason', 'incident 4711', '--by', 'alice')).code, 0)
  t.same(await eventually(statuses, (s) => s.every((status) => status === 403), 1000), [403, 403])

  redisCli(redis.port, undefined, undefined, ['FLUSHALL'])
  // Several reads of the emptied store (the change channel prompts the same read a poll makes).
  for (let i = 0; i < 3; i++) await readAgain()
  t.same(await statuses(), [403, 403], 'still refused by both after several reads of the emptied store')
  for (const gw of gateways) {
    const line = gw.logs.find((entry) => entry.msg === LOST)
    t.match(line, { level: 50, kind: 'tenant', id: BANK_TENANT, reason: 'incident 4711', by: 'alice', until: /^\d{4}-/ }, 'an error, naming the block')
    t.notOk(gw.logs.some((entry) => entry.msg === 'block lifted'), 'not logged as lifted')
    t.equal(await lostCount(gw, 'tenant'), 1, 'bookme_gateway_blocks_lost_total{kind="tenant"} counts it once')
  }
  const listed = await eventually(() => cli('blocks'), (res) => res.stdout.startsWith('tenant'))
  t.match(listed.stdout, new RegExp(`^tenant  ${BANK_TENANT}  \\S+Z  incident 4711  by alice  since \\S+Z\\n$`), 'written back from memory: blocks and later gateways see it again')
  const late = await start()
  t.equal((await fetch(`${late.proxyUrl}/api/meetings/1`, { headers: { authorization: `Bearer ${user}` } })).status, 403, 'a gateway started after the flush refuses too')
  for (let i = 0; i < 2; i++) await readAgain()
  t.same(await Promise.all(gateways.map((gw) => lostCount(gw, 'tenant'))), [1, 1], 'once back in the store it is no longer lost')

  const lifted = await cli('unblock', '--tenant', BANK_TENANT)
  t.match(lifted.stdout, /: lifted, 3 gateways notified/)
  t.same(await eventually(statuses, (s) => s.every((status) => status === 200), 1000), [200, 200], 'unblock still lifts at once on both')
  t.ok(gateways.every((gw) => gw.logs.some((entry) => entry.msg === 'block lifted' && entry.id === BANK_TENANT)))

  // Lost again, and this time gone from the store when unblock runs: the change message and a
  // tombstone covering everything set until then still lift it.
  t.equal((await cli('block', '--tenant', BANK_TENANT)).code, 0)
  await eventually(statuses, (s) => s.every((status) => status === 403), 1000)
  redisCli(redis.port, undefined, undefined, ['FLUSHALL'])
  await readAgain()
  redisCli(redis.port, undefined, undefined, ['FLUSHALL'])
  t.equal((await cli('unblock', '--tenant', BANK_TENANT)).code, 0)
  t.same(await eventually(statuses, (s) => s.every((status) => status === 200), 1000), [200, 200], 'lifted on both at once')
})

t.test('a gateway that missed the unblock message lifts the block by its tombstone, and keeps one that vanished without', async (t) => {
  const redis = await startRedis(t)
  const config = writeConfig(t, { cache: { store: 'redis', redis: { url: redis.url } } })
  const cli = async (...args: string[]) => await runCommand([...args, '--config', config])
  const cache = createSharedCache(loadCacheConfig(config))
  t.teardown(() => cache.close())
  await cache.ready()
  const store = createBlockStore(cache)
  const lines: Array<Record<string, unknown>> = []
  const logger = createLogger({ level: 'info', destination: new Writable({ write (chunk: Buffer, _encoding, callback) { lines.push(...chunk.toString().split('\n').filter(Boolean).map((line) => JSON.parse(line) as Record<string, unknown>)); callback() } }) })
  // Never subscribed: every change message is missed, only reads (polls) tell it anything.
  const watcher = watchBlocks({ ...store, onBlocksChanged () {} }, { logger, health: createHealth(), refused: () => {}, pollMs: 3_600_000 })
  t.teardown(() => watcher.close())
  const principal = { tenantId: BANK_TENANT, clientId: undefined, objectId: undefined }

  t.equal((await cli('block', '--tenant', BANK_TENANT)).code, 0)
  await watcher.refresh()
  t.ok(watcher.list.find(principal), 'read at its poll')
  redisCli(redis.port, undefined, undefined, ['DEL', 'bookme:gw:blocks'])
  redisCli(redis.port, undefined, undefined, ['SCRIPT', 'FLUSH'])
  await watcher.refresh()
  t.ok(watcher.list.find(principal), 'gone without an unblock: kept')
  t.ok(lines.some((line) => line.msg === LOST))
  t.match(await store.readBlocks(), { [blockField('tenant', BANK_TENANT)]: /"since"/ }, 'and written back (the restore script is loaded again after SCRIPT FLUSH)')

  t.equal((await cli('unblock', '--tenant', BANK_TENANT)).code, 0)
  await watcher.refresh()
  t.equal(watcher.list.find(principal), undefined, 'the message missed, the tombstone lifts it')
  t.ok(lines.some((line) => line.msg === 'block lifted' && line.id === BANK_TENANT))
})

t.test('a lost block is written back only where no record and no tombstone lifting it are', async (t) => {
  const redis = await startRedis(t)
  const cache = createSharedCache(loadCacheConfig(writeConfig(t, { cache: { store: 'redis', redis: { url: redis.url } } })))
  t.teardown(() => cache.close())
  await cache.ready()
  const store = createBlockStore(cache)
  const block = { kind: 'user' as const, id: 'aaaaaaaa-bbbb-4ccc-8ddd-eeeeeeeeeeee', until: Date.now() + 60_000, reason: 'r', since: 5000, by: 'a' }
  const restore = { field: blockField(block.kind, block.id), value: encodeBlock(block), liftedField: liftedField(block.kind, block.id), since: block.since }
  const tombstone = (since: number): string => encodeLifted({ kind: block.kind, id: block.id, since, until: block.until, by: 'b', reason: '', at: 6000 })

  await store.changeBlocks({ [restore.liftedField]: tombstone(5000) }, [])
  t.same(await store.restoreBlocks([restore]), [false], 'never over a tombstone as new as the block')
  await store.changeBlocks({ [restore.liftedField]: tombstone(4999) }, [])
  t.same(await store.restoreBlocks([restore]), [true], 'an older tombstone lifted an older block: this one goes back')
  const newer = encodeBlock({ ...block, since: 7000, reason: 'newer' })
  await store.changeBlocks({ [restore.field]: newer }, [])
  t.same(await store.restoreBlocks([restore]), [false], 'never over a record')
  t.equal((await store.readBlocks())[restore.field], newer)
  await store.changeBlocks({ [restore.liftedField]: 'damaged' }, [restore.field])
  t.same(await store.restoreBlocks([restore]), [true], 'a damaged tombstone lifts nothing')
})
