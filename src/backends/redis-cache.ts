/**
 * The shared cache on Redis. Every answer is one key, so no command touches two slots;
 * `purge('*')` scans every primary of a cluster; purge messages are plain pub/sub, which a
 * cluster carries to every node.
 */
import { BLOCKS_KEY, openRedis } from './redis-backend.js'
import type { RedisConnection, RedisSettings } from './redis-client.js'
import type { SharedCache } from './shared-cache.js'

export function createRedisCache (settings: RedisSettings, onError?: (err: Error) => void): SharedCache {
  const { backend, ping, ready, close } = openRedis(settings, onError)
  const { client, keyPrefix } = backend
  const channel = `${keyPrefix}purge`
  const blocksKey = keyPrefix + BLOCKS_KEY

  async function scanAndDelete (node: RedisConnection): Promise<number> {
    let removed = 0
    let cursor = '0'
    do {
      const [next, keys] = await node.scan(cursor, 'MATCH', `${escapeGlob(keyPrefix)}*`, 'COUNT', 500)
      cursor = next
      // Blocks are not cached answers: a purge never lifts one.
      const data = keys.filter((k) => k !== channel && k !== blocksKey)
      // One DEL per key: in a cluster the keys of one page may sit in different slots.
      const counts = await Promise.all(data.map(async (key) => await client.del(key)))
      removed += counts.reduce((a, b) => a + b, 0)
    } while (cursor !== '0')
    return removed
  }

  return {
    kind: 'redis',
    backend,
    async get (key) { return await client.get(keyPrefix + key) },
    async set (key, value, lifetimeSec) { await client.set(keyPrefix + key, value, 'EX', Math.max(1, Math.ceil(lifetimeSec))) },
    async purge (key) {
      if (key !== '*') return await client.del(keyPrefix + key)
      const counts = await Promise.all(backend.primaries().map(scanAndDelete))
      return counts.reduce((a, b) => a + b, 0)
    },
    async publishPurge (key) { return await backend.publish(channel, key) },
    onPurge (listener) { backend.subscribe(channel, listener) },
    ping,
    ready,
    async close () { close() }
  }
}

function escapeGlob (text: string): string {
  return text.replace(/[*?[\]\\]/g, (c) => `\\${c}`)
}
