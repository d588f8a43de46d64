/**
 * The shared cache on Redis. Every answer is one key, so no command touches two slots;
 * `purge('*')` scans every primary of a cluster; purge messages are plain pub/sub, which a
 * cluster carries to every node.
 */
import { BLOCKS_KEY, openRedis } from './redis-backend.js'
import type { RedisConnection, RedisSettings } from './redis-client.js'
import type { SharedCache } from './shared-cache.js'
import { printable } from '../config/validation.js'

export function createRedisCache (settings: RedisSettings, onError?: (err: Error) => void): SharedCache {
  const { backend, ping, ready, close } = openRedis(settings, onError)
  const { client, keyPrefix } = backend
  const channel = `${keyPrefix}purge`
  const auditChannel = `${keyPrefix}purge:audit`
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
    async publishPurge (key, audit) {
      // The bare key stays on its channel, so gateways of an earlier version still drop it.
      const receivers = await backend.publish(channel, key)
      if (audit !== undefined) await backend.publish(auditChannel, JSON.stringify({ key, by: audit.by, reason: audit.reason }))
      return receivers
    },
    onPurge (listener) { backend.subscribe(channel, listener) },
    onPurgeAudit (listener) {
      backend.subscribe(auditChannel, (message) => {
        const audit = parseAudit(message)
        if (audit !== undefined) listener(audit)
      })
    },
    ping,
    ready,
    async close () { close() }
  }
}

function escapeGlob (text: string): string {
  return text.replace(/[*?[\]\\]/g, (c) => `\\${c}`)
}

/** An audit message back as fields; anything else (a hand-written message) is not one. */
function parseAudit (message: string): { key: string, by: string, reason: string } | undefined {
  try {
    const parsed = JSON.parse(message) as { key?: unknown, by?: unknown, reason?: unknown }
    if (typeof parsed.key !== 'string') return undefined
    return { key: parsed.key, by: printable(String(parsed.by ?? '')), reason: printable(String(parsed.reason ?? '')) }
  } catch {
    return undefined
  }
}
