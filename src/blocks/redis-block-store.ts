/**
 * The emergency blocks on Redis: one hash under the key prefix (redis-backend.ts BLOCKS_KEY),
 * changed atomically and announced on a channel of its own, read whole by one HGETALL.
 */
import { BLOCKS_KEY, type RedisBackend } from '../backends/redis-backend.js'
import type { BlockStore } from './block-store.js'

type RestoreBlock = (key: string, field: string, liftedField: string, value: string, since: number) => Promise<number>

export function createRedisBlockStore (backend: RedisBackend): BlockStore {
  const { client, keyPrefix } = backend
  const blocksKey = keyPrefix + BLOCKS_KEY
  const channel = `${keyPrefix}blocks:changed`
  // Loaded as ioredis loads the counting script (rate-limits/redis-counter-store.ts).
  client.defineCommand('restoreBlock', { numberOfKeys: 1, lua: RESTORE_BLOCK_SCRIPT })
  const restoreBlock = (client as unknown as { restoreBlock: RestoreBlock }).restoreBlock.bind(client)

  return {
    kind: 'redis',
    async readBlocks () {
      backend.assertConnected()
      return await client.hgetall(blocksKey)
    },
    async changeBlocks (set, remove, message = 'changed') {
      backend.assertConnected()
      // One key, so one slot: MULTI holds in a cluster too. A restore (below) sees all of it or none.
      const transaction = client.multi()
      if (Object.keys(set).length > 0) transaction.hset(blocksKey, set)
      if (remove.length > 0) transaction.hdel(blocksKey, ...remove)
      const results = await transaction.exec()
      const failed = results?.find(([err]) => err !== null)?.[0]
      if (failed) throw failed
      return await backend.publish(channel, message)
    },
    async restoreBlocks (blocks) {
      backend.assertConnected()
      const written = await Promise.all(blocks.map(async (block) => await restoreBlock(blocksKey, block.field, block.liftedField, block.value, block.since) === 1))
      // Gateways started since the loss learn it now rather than at their next poll.
      if (written.includes(true)) await client.publish(channel, 'changed')
      return written
    },
    onBlocksChanged (listener) {
      // After a reconnect a message may have been missed: read again whenever the subscription is
      // back, and whenever the connection that reads is (it may come back after the subscriber).
      backend.subscribe(channel, (message) => { listener(message) }).on('ready', () => { listener() })
      client.on('ready', () => { listener() })
    }
  }
}

/**
 * A lost block written back (BlockStore.restoreBlocks): KEYS[1] the blocks hash; ARGV the
 * block's field, its tombstone's field, the record, the block's `since`. Nothing is written when
 * the field holds a record (a newer block, or another gateway's restore) or a tombstone lifts
 * this block; a tombstone that does not parse lifts nothing (as the gateways read it).
 */
const RESTORE_BLOCK_SCRIPT = `
if redis.call('HEXISTS', KEYS[1], ARGV[1]) == 1 then return 0 end
local lifted = redis.call('HGET', KEYS[1], ARGV[2])
if lifted then
  local ok, record = pcall(cjson.decode, lifted)
  if ok and type(record) == 'table' and type(record.since) == 'number' and type(record['until']) == 'number' and record.since >= tonumber(ARGV[4]) then return 0 end
end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[3])
return 1
`
