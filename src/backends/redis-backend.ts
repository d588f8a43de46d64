/**
 * The shared cache's Redis connections, in any of its shapes (redis-client.ts): one connection
 * for commands and one for subscriptions, opened once by the shared cache (redis-cache.ts) and
 * lent to the stores that keep their data beside it (blocks, rate-limit counters), so none of
 * them opens a connection of its own.
 */
import { Cluster } from 'ioredis'
import { failureReason, isTimeout } from './failure-reason.js'
import { closeRedisConnection, createRedisConnection, describeRedis, describeRedisAddress, type RedisConnection, type RedisSettings, type RedisTopology } from './redis-client.js'
import { diagnoseTls } from './tls.js'

/** What a store keeping its data in the shared cache's Redis is given. */
export interface RedisBackend {
  /** The connection for commands; its 'ready' event says it is (again) connected. */
  readonly client: RedisConnection
  /** Put before every key and channel name (`cache.redis.keyPrefix`). */
  readonly keyPrefix: string
  /** The connections holding the keys: every primary of a cluster, else the one server. */
  primaries (): RedisConnection[]
  /**
   * `listener` receives the messages of `channel`, on the one subscriber connection, which is
   * returned: its 'ready' event says the subscriptions are back after a reconnect.
   */
  subscribe (channel: string, listener: (message: string) => void): RedisConnection
  /** Publishes `message`; resolves to how many subscribers received it, on every node of a cluster. */
  publish (channel: string, message: string): Promise<number>
  /** Throws why Redis is not connected unless it is: ioredis would say only that its offline queue is off. */
  assertConnected (): void
}

/** The backend and what only its owner, the shared cache, does with it. */
export interface RedisConnections {
  backend: RedisBackend
  ping (): Promise<string>
  ready (timeoutMs?: number): Promise<void>
  close (): void
}

/**
 * The hash of the emergency blocks (blocks/redis-block-store.ts) under the key prefix: one key,
 * so every block is in one slot and read whole by one HGETALL. Not a cached answer: a purge
 * keeps it.
 */
export const BLOCKS_KEY = 'blocks'

export function openRedis (settings: RedisSettings, onError?: (err: Error) => void): RedisConnections {
  const client = createRedisConnection(settings)
  let subscriber: RedisConnection | undefined
  const channels = new Map<string, (message: string) => void>()
  let lastError: Error | undefined
  const report = (err: Error): void => onError?.(err)
  client.on('error', (err: Error) => { lastError = err; report(err) })
  // A cluster reports a node's failure as `node error`, its own as `error`.
  client.on('node error', (err: Error) => { lastError = err; report(err) })
  client.on('ready', () => { lastError = undefined })
  const notConnected = (): Error => new Error(`Redis ${describeRedisAddress(settings.topology)}: ${lastError === undefined ? 'not connected' : failureReason(lastError)}`, { cause: lastError })

  /** A cluster's PUBLISH counts only the receiving node's subscribers: ask every node. */
  async function countReceivers (channel: string, received: number): Promise<number> {
    if (!(client instanceof Cluster)) return received
    const counts = await Promise.all(client.nodes('all').map(async (node) => {
      const [, n] = await node.pubsub('NUMSUB', channel) as [string, number]
      return Number(n)
    }))
    return counts.reduce((a, b) => a + b, 0)
  }

  const backend: RedisBackend = {
    client,
    keyPrefix: settings.keyPrefix,
    primaries: () => client instanceof Cluster ? client.nodes('master') : [client],
    /** One subscriber connection for every channel; SUBSCRIBE waits in its offline queue until connected. */
    subscribe (channel, listener) {
      if (subscriber === undefined) {
        subscriber = createRedisConnection(settings, { subscriber: true })
        subscriber.on('error', report)
        subscriber.on('message', (from: string, message: string) => { channels.get(from)?.(message) })
      }
      channels.set(channel, listener)
      void subscriber.subscribe(channel).catch(report)
      return subscriber
    },
    async publish (channel, message) { return await countReceivers(channel, await client.publish(channel, message)) },
    assertConnected () { if (client.status !== 'ready') throw notConnected() }
  }

  return {
    backend,
    async ping () {
      backend.assertConnected()
      return await describeRedis(client, settings)
    },
    async ready (timeoutMs = settings.connectTimeoutMs * 3) {
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
      if (settings.tls.mode !== 'disabled' && (lastError === undefined || isTimeout(lastError))) {
        const { host, port } = firstNode(settings.topology)
        const why = await diagnoseTls(host, port, settings.tls, timeoutMs)
        if (why !== undefined) lastError = why
      }
      if (lastError === undefined) throw new Error(`Redis ${describeRedisAddress(settings.topology)}: no answer within ${timeoutMs} ms`)
      throw notConnected()
    },
    close () {
      closeRedisConnection(client)
      if (subscriber !== undefined) closeRedisConnection(subscriber)
    }
  }
}

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
