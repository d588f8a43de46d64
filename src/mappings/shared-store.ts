import { Redis, type RedisOptions } from 'ioredis'
import { failureReason } from '../failure-reason.js'

/**
 * The shared cache behind the per-process layer (`cache.store`). Values are JSON text with a
 * physical lifetime; freshness is decided by the caller from the stored timestamp, so an
 * expired answer can still be served while the source is down (`staleIfErrorSec`).
 */
export interface SharedStore {
  readonly kind: 'memory' | 'redis'
  get (key: string): Promise<string | null>
  set (key: string, value: string, lifetimeSec: number): Promise<void>
  /** Deletes `key`, or every key of this gateway when `key` is '*'. */
  purge (key: string): Promise<number>
  /**
   * Tells every gateway sharing the store to drop `key` ('*' = all) from its process layer;
   * resolves to how many received it.
   */
  publishPurge (key: string): Promise<number>
  onPurge (listener: (key: string) => void): void
  ping (): Promise<void>
  /** Resolves once connected (at once for memory); rejects after `timeoutMs`. */
  ready (timeoutMs: number): Promise<void>
  close (): Promise<void>
}

export function createMemoryStore (now: () => number = Date.now): SharedStore {
  const entries = new Map<string, { value: string, until: number }>()
  const listeners: Array<(key: string) => void> = []
  return {
    kind: 'memory',
    async get (key) {
      const entry = entries.get(key)
      if (!entry) return null
      if (entry.until <= now()) { entries.delete(key); return null }
      return entry.value
    },
    async set (key, value, lifetimeSec) { entries.set(key, { value, until: now() + lifetimeSec * 1000 }) },
    async purge (key) {
      if (key !== '*') return entries.delete(key) ? 1 : 0
      const n = entries.size
      entries.clear()
      return n
    },
    async publishPurge (key) {
      for (const listener of listeners) listener(key)
      return listeners.length
    },
    onPurge (listener) { listeners.push(listener) },
    async ping () {},
    async ready () {},
    async close () { entries.clear() }
  }
}

export interface RedisStoreOptions {
  url: string
  keyPrefix: string
  commandTimeoutMs: number
  connectTimeoutMs: number
  onError?: (err: Error) => void
}

/**
 * ioredis set to fail fast (STYLE.md): no offline queue and no per-command retries, so while
 * Redis is away a command fails at once and the request falls through to the source; a short
 * command timeout bounds a hung server. Reconnects go on in the background, capped at 2 s.
 */
export function redisOptions (options: RedisStoreOptions): RedisOptions {
  return {
    enableOfflineQueue: false,
    maxRetriesPerRequest: 0,
    commandTimeout: options.commandTimeoutMs,
    connectTimeout: options.connectTimeoutMs,
    retryStrategy: (attempt: number) => Math.min(attempt * 100, 2000),
    enableReadyCheck: true,
    lazyConnect: false
  }
}

export function createRedisStore (options: RedisStoreOptions): SharedStore {
  const client = new Redis(options.url, redisOptions(options))
  let subscriber: Redis | undefined
  const channel = `${options.keyPrefix}purge`
  let lastError: Error | undefined
  const report = (err: Error): void => options.onError?.(err)
  client.on('error', (err: Error) => { lastError = err; report(err) })

  return {
    kind: 'redis',
    async get (key) { return await client.get(options.keyPrefix + key) },
    async set (key, value, lifetimeSec) { await client.set(options.keyPrefix + key, value, 'EX', Math.max(1, Math.ceil(lifetimeSec))) },
    async purge (key) {
      if (key !== '*') return await client.del(options.keyPrefix + key)
      let removed = 0
      let cursor = '0'
      do {
        const [next, keys] = await client.scan(cursor, 'MATCH', `${escapeGlob(options.keyPrefix)}*`, 'COUNT', 500)
        cursor = next
        const data = keys.filter((k) => k !== channel)
        if (data.length > 0) removed += await client.del(...data)
      } while (cursor !== '0')
      return removed
    },
    async publishPurge (key) { return await client.publish(channel, key) },
    onPurge (listener) {
      subscriber ??= new Redis(options.url, { ...redisOptions(options), enableOfflineQueue: true, commandTimeout: undefined })
      subscriber.on('error', report)
      void subscriber.subscribe(channel).catch(report)
      subscriber.on('message', (from: string, key: string) => { if (from === channel) listener(key) })
    },
    async ping () { await client.ping() },
    ready (timeoutMs) {
      if (client.status === 'ready') return Promise.resolve()
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => {
          client.off('ready', onReady)
          const why = lastError === undefined ? `no answer within ${timeoutMs} ms` : failureReason(lastError)
          reject(new Error(`Redis ${redisAddress(options.url)}: ${why}`))
        }, timeoutMs)
        const onReady = (): void => { clearTimeout(timer); resolve() }
        client.once('ready', onReady)
      })
    },
    async close () {
      client.disconnect()
      subscriber?.disconnect()
    }
  }
}

/** host:port of a Redis URL, never its credentials. */
export function redisAddress (url: string): string {
  try {
    const parsed = new URL(url)
    return `${parsed.protocol}//${parsed.host}`
  } catch {
    return 'at the configured URL'
  }
}

function escapeGlob (text: string): string {
  return text.replace(/[*?[\]\\]/g, (c) => `\\${c}`)
}
