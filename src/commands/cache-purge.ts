/**
 * `cache purge --tenant GUID | --client GUID | --all` (CONTRACT.md §9): delete the answers in
 * the shared cache, then publish the purge so every running gateway drops its process layer.
 */
import type { CacheConfig } from '../config/schema.js'
import { clientKey, tenantKey } from '../mappings/cached-source.js'
import { createSharedCache, type PurgeAudit } from '../backends/shared-cache.js'
import { GUID } from '../config/validation.js'
import { UsageError } from './usage.js'

export type PurgeTarget = { tenant?: string | undefined, client?: string | undefined, all?: boolean | undefined }

/** Exactly one of --tenant, --client, --all → the shared-cache key to drop ('*' = all); checked before the config is read. */
export function purgeKeyOf (target: PurgeTarget): string {
  const chosen = [target.tenant !== undefined, target.client !== undefined, target.all === true].filter(Boolean).length
  if (chosen !== 1) throw new UsageError('cache purge needs exactly one of --tenant GUID, --client GUID, --all')
  const id = target.tenant ?? target.client
  if (id !== undefined && !GUID.test(id)) throw new UsageError(`"${id}" is not a GUID`)
  return target.tenant !== undefined ? tenantKey(target.tenant) : target.client !== undefined ? clientKey(target.client) : '*'
}

export async function runCachePurge (cache: Readonly<CacheConfig>, target: PurgeTarget, audit: PurgeAudit, out: (line: string) => void): Promise<number> {
  const key = purgeKeyOf(target)
  if (cache.store !== 'redis') {
    out('FAIL cache purge: cache.store is memory; each gateway process holds its own cache (restart them, or wait cache.ttlSec)')
    return 1
  }
  const store = createSharedCache(cache)
  try {
    await store.ready()
    const removed = await store.purge(key)
    const gateways = await store.publishPurge(key, audit)
    out(`ok cache purge ${key === '*' ? 'all' : key}: ${removed} shared entr${removed === 1 ? 'y' : 'ies'} removed, ${gateways} gateway${gateways === 1 ? '' : 's'} notified`)
    // Not a failure (the shared entries are gone), but nobody dropped a process layer.
    if (gateways === 0) out('warning cache purge: no running gateway received the message (none is connected to this Redis and key prefix)')
    return 0
  } catch (err) {
    out(`FAIL cache purge: ${(err as Error).message}`)
    return 1
  } finally {
    await store.close()
  }
}
