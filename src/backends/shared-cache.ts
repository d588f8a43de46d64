/**
 * The shared cache behind the per-process layer (`cache.store`): the mapping answers and Graph's
 * group memberships, each one key. Values are JSON text with a physical lifetime; freshness is
 * decided by the caller from the stored timestamp, so an expired answer can still be served while
 * the source is down (`staleIfErrorSec`). On Redis it owns the connections (redis-backend.ts),
 * which the blocks and the rate-limit counters use too.
 */
import type { CacheConfig } from '../config/schema.js'
import { redisSettingsFrom } from './redis-client.js'
import type { RedisBackend } from './redis-backend.js'
import { createRedisCache } from './redis-cache.js'
import type { Logger } from 'pino'
import { createLogThrottle } from '../observability/log-throttle.js'
import { failureReason } from './failure-reason.js'

export interface PurgeAudit { by: string, reason: string }

export interface CacheOperations {
  get (key: string): Promise<string | null>
  set (key: string, value: string, lifetimeSec: number): Promise<void>
  /** Deletes `key`, or every key of this gateway when `key` is '*'. */
  purge (key: string): Promise<number>
  /**
   * Tells every gateway sharing the cache to drop `key` ('*' = all) from its process layer;
   * resolves to how many received it.
   */
  publishPurge (key: string, audit?: PurgeAudit): Promise<number>
  onPurge (listener: (key: string) => void): void
  /** Who purged and why (`cache purge --by --reason`), announced beside the key for every gateway's log. */
  onPurgeAudit (listener: (audit: PurgeAudit & { key: string }) => void): void
  /** Resolves to what answered (`check`): `redis sentinel mymaster → 10.0.3.7:6379 (primary), TLS verified`. */
  ping (): Promise<string>
  /**
   * Resolves once connected (at once for memory); rejects after `timeoutMs`, by default the
   * cache's own allowance for a first connection (three connect timeouts: a sentinel or a seed
   * node, the topology it names, the nodes themselves).
   */
  ready (timeoutMs?: number): Promise<void>
  close (): Promise<void>
}

/** In memory (this process alone), or on Redis with the connection other stores run over. */
export type SharedCache = CacheOperations & ({ readonly kind: 'memory' } | { readonly kind: 'redis', readonly backend: RedisBackend })

/** The configured shared cache; `onError` hears every connection error (reconnect attempts too). */
/** ioredis reports every reconnect attempt while Redis is away: one line per interval is enough. */
const ERROR_LOG_MS = 30_000

/** The configured cache; with a logger, Redis's connection errors are logged (at most every 30 s). */
export function createSharedCache (cache: Readonly<CacheConfig>, logger?: Pick<Logger, 'warn'>): SharedCache {
  if (cache.store !== 'redis') return createMemoryCache()
  const shouldLog = createLogThrottle(ERROR_LOG_MS)
  return createRedisCache(redisSettingsFrom(cache.redis), logger === undefined
    ? undefined
    : (err) => { if (shouldLog()) logger.warn({ reason: failureReason(err) }, 'shared cache error (repeats are not logged for 30 s)') })
}

export function createMemoryCache (now: () => number = Date.now): SharedCache {
  const entries = new Map<string, { value: string, until: number }>()
  const listeners: Array<(key: string) => void> = []
  const auditListeners: Array<(audit: PurgeAudit & { key: string }) => void> = []
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
    async publishPurge (key, audit) {
      for (const listener of listeners) listener(key)
      if (audit !== undefined) for (const listener of auditListeners) listener({ key, ...audit })
      return listeners.length
    },
    onPurge (listener) { listeners.push(listener) },
    onPurgeAudit (listener) { auditListeners.push(listener) },
    async ping () { return 'memory' },
    async ready () {},
    async close () { entries.clear() }
  }
}
