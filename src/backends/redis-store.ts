import { Cluster } from 'ioredis'
import { failureReason, isTimeout } from './failure-reason.js'
import { closeRedisConnection, createRedisConnection, describeRedis, describeRedisAddress, type RedisConnection, type RedisSettings, type RedisTopology } from './redis-client.js'
import { diagnoseTls } from './tls.js'
import type { SharedStore } from './shared-store.js'
import { GCRA_SCRIPT } from '../rate-limits/counting-script.js'
import { createCountingBatches, hashTagOf } from '../rate-limits/counting-batches.js'

export interface RedisStoreOptions extends RedisSettings {
  onError?: (err: Error) => void
}

/**
 * The shared cache on Redis, in any of its shapes (redis-client.ts). Every answer is one key,
 * so no command touches two slots; `purge('*')` scans every primary of a cluster; purge
 * messages are plain pub/sub, which a cluster carries to every node.
 */
export function createRedisStore (options: RedisStoreOptions): SharedStore {
  const client = createRedisConnection(options)
  let subscriber: RedisConnection | undefined
  const channels = new Map<string, (message: string) => void>()
  const channel = `${options.keyPrefix}purge`
  // One hash: every block in one slot, read whole by one HGETALL.
  const blocksKey = `${options.keyPrefix}blocks`
  const blocksChannel = `${options.keyPrefix}blocks:changed`
  let lastError: Error | undefined
  const report = (err: Error): void => options.onError?.(err)
  client.on('error', (err: Error) => { lastError = err; report(err) })
  // A cluster reports a node's failure as `node error`, its own as `error`.
  client.on('node error', (err: Error) => { lastError = err; report(err) })
  client.on('ready', () => { lastError = undefined })
  // ioredis sends the script itself (EVAL, which loads it) once per connection, EVALSHA after that,
  // and EVAL again if a server answers NOSCRIPT (restarted, or a new primary).
  client.defineCommand('gcraAdmit', { lua: GCRA_SCRIPT })
  client.defineCommand('restoreBlock', { numberOfKeys: 1, lua: RESTORE_BLOCK_SCRIPT })
  const restoreBlock = (client as unknown as { restoreBlock: (key: string, field: string, liftedField: string, value: string, since: number) => Promise<number> }).restoreBlock.bind(client)
  const gcraAdmit = (client as unknown as { gcraAdmit: (...args: Array<string | number | Array<string | number>>) => Promise<number[]> }).gcraAdmit.bind(client)
  // A cluster's script may only touch one slot: batches per hash tag there, one batch elsewhere.
  // ioredis flattens array arguments: the batch's arrays go as they are.
  const admitBatched = createCountingBatches(async (keys, requests, args) => await gcraAdmit(keys.length, keys, requests, args),
    client instanceof Cluster ? hashTagOf : () => '')
  const notConnected = (): Error => new Error(`Redis ${describeRedisAddress(options.topology)}: ${lastError === undefined ? 'not connected' : failureReason(lastError)}`, { cause: lastError })

  /** One subscriber connection for every channel; SUBSCRIBE waits in its offline queue until connected. */
  function subscribe (name: string, listener: (message: string) => void): RedisConnection {
    if (subscriber === undefined) {
      subscriber = createRedisConnection(options, { subscriber: true })
      subscriber.on('error', report)
      subscriber.on('message', (from: string, message: string) => { channels.get(from)?.(message) })
    }
    channels.set(name, listener)
    void subscriber.subscribe(name).catch(report)
    return subscriber
  }

  /** A cluster's PUBLISH counts only the receiving node's subscribers: ask every node. */
  async function countReceivers (name: string, received: number): Promise<number> {
    if (!(client instanceof Cluster)) return received
    const counts = await Promise.all(client.nodes('all').map(async (node) => {
      const [, n] = await node.pubsub('NUMSUB', name) as [string, number]
      return Number(n)
    }))
    return counts.reduce((a, b) => a + b, 0)
  }

  async function scanAndDelete (node: RedisConnection): Promise<number> {
    let removed = 0
    let cursor = '0'
    do {
      const [next, keys] = await node.scan(cursor, 'MATCH', `${escapeGlob(options.keyPrefix)}*`, 'COUNT', 500)
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
    async get (key) { return await client.get(options.keyPrefix + key) },
    async set (key, value, lifetimeSec) { await client.set(options.keyPrefix + key, value, 'EX', Math.max(1, Math.ceil(lifetimeSec))) },
    async purge (key) {
      if (key !== '*') return await client.del(options.keyPrefix + key)
      const nodes = client instanceof Cluster ? client.nodes('master') : [client]
      const counts = await Promise.all(nodes.map(scanAndDelete))
      return counts.reduce((a, b) => a + b, 0)
    },
    async publishPurge (key) { return await countReceivers(channel, await client.publish(channel, key)) },
    onPurge (listener) { subscribe(channel, listener) },
    async readBlocks () {
      // Not connected, ioredis says only that its offline queue is off: name the cause instead.
      if (client.status !== 'ready') throw notConnected()
      return await client.hgetall(blocksKey)
    },
    async changeBlocks (set, remove, message = 'changed') {
      if (client.status !== 'ready') throw notConnected()
      // One key, so one slot: MULTI holds in a cluster too. A restore (below) sees all of it or none.
      const transaction = client.multi()
      if (Object.keys(set).length > 0) transaction.hset(blocksKey, set)
      if (remove.length > 0) transaction.hdel(blocksKey, ...remove)
      const results = await transaction.exec()
      const failed = results?.find(([err]) => err !== null)?.[0]
      if (failed) throw failed
      return await countReceivers(blocksChannel, await client.publish(blocksChannel, message))
    },
    async restoreBlocks (blocks) {
      if (client.status !== 'ready') throw notConnected()
      const written = await Promise.all(blocks.map(async (block) => await restoreBlock(blocksKey, block.field, block.liftedField, block.value, block.since) === 1))
      // Gateways started since the loss learn it now rather than at their next poll.
      if (written.includes(true)) await client.publish(blocksChannel, 'changed')
      return written
    },
    onBlocksChanged (listener) {
      // After a reconnect a message may have been missed: read again whenever the subscription is
      // back, and whenever the connection that reads is (it may come back after the subscriber).
      subscribe(blocksChannel, (message) => { listener(message) }).on('ready', () => { listener() })
      client.on('ready', () => { listener() })
    },
    admit (keys, rules) {
      const prefixed: string[] = []
      for (const key of keys) prefixed.push(options.keyPrefix + key)
      return admitBatched(prefixed, rules)
    },
    async prepareCounting () {
      const nodes = client instanceof Cluster ? client.nodes('master') : [client]
      const shas = await Promise.all(nodes.map(async (node) => await node.script('LOAD', GCRA_SCRIPT) as string))
      return `counting script loaded on ${shas.length === 1 ? 'the primary' : `${shas.length} primaries`} (sha1 ${shas[0]?.slice(0, 12) ?? '?'})`
    },
    async ping () {
      if (client.status !== 'ready') throw notConnected()
      return await describeRedis(client, options)
    },
    async ready (timeoutMs = options.connectTimeoutMs * 3) {
      if (client.status === 'ready') return
      const came = await new Promise<boolean>((resolve) => {
        const timer = setTimeout(() => { client.off('ready', onReady); resolve(false) }, timeoutMs)
        const onReady = (): void => { clearTimeout(timer); resolve(true) }
        client.once('ready', onReady)
      })
      if (came) {
        // A cluster is ready once its slots are known; give its primaries the rest of the allowance to connect.
        if (client instanceof Cluster) await primariesConnected(client, timeoutMs)
        return
      }
      // A TLS connection that only timed out: ask the first node why, handshake alone.
      if (options.tls.mode !== 'disabled' && (lastError === undefined || isTimeout(lastError))) {
        const { host, port } = firstNode(options.topology)
        const why = await diagnoseTls(host, port, options.tls, timeoutMs)
        if (why !== undefined) lastError = why
      }
      if (lastError === undefined) throw new Error(`Redis ${describeRedisAddress(options.topology)}: no answer within ${timeoutMs} ms`)
      throw notConnected()
    },
    async close () {
      closeRedisConnection(client)
      if (subscriber !== undefined) closeRedisConnection(subscriber)
    }
  }
}

/**
 * A lost block written back (SharedStore.restoreBlocks): KEYS[1] the blocks hash; ARGV the
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

async function primariesConnected (cluster: Cluster, timeoutMs: number): Promise<void> {
  const waiting = cluster.nodes('master').filter((node) => node.status !== 'ready')
  if (waiting.length === 0) return
  let timer: NodeJS.Timeout | undefined
  await Promise.race([
    Promise.all(waiting.map(async (node) => { await new Promise((resolve) => node.once('ready', resolve)) })),
    new Promise((resolve) => { timer = setTimeout(resolve, timeoutMs) })
  ])
  clearTimeout(timer)
}

function firstNode (topology: RedisTopology): { host: string, port: number } {
  if (topology.kind !== 'standalone') return topology.nodes[0]!
  const url = new URL(topology.url)
  return { host: url.hostname.replace(/^\[|\]$/g, ''), port: Number(url.port || 6379) }
}

function escapeGlob (text: string): string {
  return text.replace(/[*?[\]\\]/g, (c) => `\\${c}`)
}
