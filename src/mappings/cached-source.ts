/**
 * The source of truth behind two cache layers (CONTRACT.md §4): a per-process layer
 * (`localTtlSec`) and the shared cache (`ttlSec` for answers,
 * `negativeTtlSec` for "not mapped"). Concurrent misses for one key share one source query.
 * While the source fails, an expired answer is served for up to `staleIfErrorSec`; with
 * nothing cached the lookup fails closed with 503 MAPPING_UNAVAILABLE. A dead shared cache
 * is a miss, never an error: the request falls through to the source.
 */
import { GatewayError } from '../errors.js'
import type { MaybePromise } from '../maybe-promise.js'
import type { ClientMapping, MappingSource, TenantMapping } from './source.js'
import type { SharedCache } from '../backends/shared-cache.js'
import { createMapLayer, createSplitLayer, createTenantLayer, type LocalLayer } from './local-layer.js'

export type Layer = 'local' | 'shared'

export interface CacheEvents {
  lookup? (layer: Layer, result: 'hit' | 'miss'): void
  sourceQuery? (kind: 'tenant' | 'client', result: 'ok' | 'error'): void
  staleServed? (kind: 'tenant' | 'client'): void
  storeError? (err: unknown): void
  sourceError? (err: unknown): void
}

export interface CachedMappingsOptions {
  source: MappingSource
  store: SharedCache
  ttlSec: number
  negativeTtlSec: number
  localTtlSec: number
  staleIfErrorSec: number
  /** Which shared answers are this source's, read when used: a reload moves it (resources.ts). */
  epoch?: SourceEpoch
  /** Upper bound of the process layer per kind, the oldest going first; unmapped tenants have a tenth of it apart. */
  localMaxEntries?: number
  now?: () => number
  events?: CacheEvents
}

/**
 * Lookups answer from the process layer synchronously and return a promise only on a miss: a
 * cached tenant costs no promise (measured alone: about 1 % of the instructions of a request,
 * bench/README.md).
 */
export interface MappingLookup {
  tenant (tenantId: string): MaybePromise<TenantMapping | null>
  client (clientId: string): MaybePromise<ClientMapping | null>
  /** Drops `key` ('tenant:<guid>', 'client:<guid>' or '*') from this process's layer. */
  dropLocal (key: string): void
}

/**
 * A source's standing in the shared cache. `since` (epoch ms): answers stored before it came from
 * a source since replaced and are never fresh. `writes`: false once a newer source serves, so a
 * request still finishing under this one stores nothing the newer one would take for its own.
 */
export interface SourceEpoch { since: number, writes: boolean }

/** A shared-cache value: the answer (null = not mapped) and when the source gave it (epoch ms). */
export interface Stored<T> { v: T | null, at: number }
type Kind = 'tenant' | 'client'

/** The shared cache's key (and the purge message's): the kind, then the lower-case GUID. */
const sharedKey = (kind: Kind, id: string): string => `${kind}:${id.toLowerCase()}`
export function tenantKey (tenantId: string): string { return sharedKey('tenant', tenantId) }
export function clientKey (clientId: string): string { return sharedKey('client', clientId) }

export function createCachedMappings (options: CachedMappingsOptions): MappingLookup {
  const { source, store, events = {} } = options
  const now = options.now ?? Date.now
  const localMax = options.localMaxEntries ?? 200_000
  // Keyed by the lower-case GUID alone; the shared cache's key carries the kind.
  const layers = {
    // Unmapped tenants get a tenth of the bound, in a layer of their own.
    tenant: createSplitLayer(createTenantLayer(localMax), createTenantLayer(Math.max(1, Math.floor(localMax / 10)))),
    client: createMapLayer<ClientMapping>(localMax)
  }
  // In front of the in-process memory cache a second copy would only double the memory: the
  // process layer is then the whole cache, fresh for ttlSec.
  const hasSharedLayer = store.kind !== 'memory'
  const pending = new Map<string, Promise<unknown>>()

  const freshFor = (stored: Stored<unknown>): number => (stored.v === null ? options.negativeTtlSec : options.ttlSec) * 1000
  const epoch = options.epoch ?? { since: -Infinity, writes: true }
  const isFresh = (stored: Stored<unknown>): boolean => stored.at >= epoch.since && now() - stored.at < freshFor(stored)
  const isServableStale = (stored: Stored<unknown>): boolean => now() - stored.at < freshFor(stored) + options.staleIfErrorSec * 1000

  function remember<T> (layer: LocalLayer<T>, id: string, stored: Stored<T>): void {
    // Never fresher than the shared answer: a change is visible after ttlSec at the latest.
    const freshUntil = stored.at + freshFor(stored)
    layer.set(id, { v: stored.v, at: stored.at, until: hasSharedLayer ? Math.min(now() + options.localTtlSec * 1000, freshUntil) : freshUntil })
  }

  async function readShared<T> (key: string): Promise<Stored<T> | undefined> {
    if (!hasSharedLayer) return undefined
    try {
      const text = await store.get(key)
      return text === null ? undefined : JSON.parse(text) as Stored<T>
    } catch (err) {
      events.storeError?.(err)
      return undefined
    }
  }

  function lookup<T> (kind: Kind, layer: LocalLayer<T>, id: string, query: () => Promise<T | null>): MaybePromise<T | null> {
    const cached = layer.get(id)
    if (cached && now() < cached.until) {
      events.lookup?.('local', 'hit')
      return cached.v
    }
    events.lookup?.('local', 'miss')
    const key = sharedKey(kind, id)
    let inFlight = pending.get(key) as Promise<T | null> | undefined
    if (!inFlight) {
      inFlight = resolveMiss(kind, layer, id, key, query, cached).finally(() => pending.delete(key))
      pending.set(key, inFlight)
    }
    return inFlight
  }

  async function resolveMiss<T> (kind: Kind, layer: LocalLayer<T>, id: string, key: string, query: () => Promise<T | null>, localStale: Stored<T> | undefined): Promise<T | null> {
    const fromShared = await readShared<T>(key)
    if (fromShared && isFresh(fromShared)) {
      events.lookup?.('shared', 'hit')
      remember(layer, id, fromShared)
      return fromShared.v
    }
    if (hasSharedLayer) events.lookup?.('shared', 'miss')
    let value: T | null
    try {
      value = await query()
      events.sourceQuery?.(kind, 'ok')
    } catch (err) {
      events.sourceQuery?.(kind, 'error')
      events.sourceError?.(err)
      const stale = [fromShared, localStale].filter((s): s is Stored<T> => s !== undefined && isServableStale(s))
        .sort((a, b) => b.at - a.at)[0]
      if (stale) {
        events.staleServed?.(kind)
        return stale.v
      }
      throw new GatewayError('MAPPING_UNAVAILABLE', 'The bank mappings cannot be read right now', { cause: err })
    }
    const stored: Stored<T> = { v: value, at: now() }
    remember(layer, id, stored)
    // Kept past freshness so it can be served stale while the source is down.
    if (hasSharedLayer && epoch.writes) store.set(key, JSON.stringify(stored), (freshFor(stored) / 1000) + options.staleIfErrorSec).catch((err: unknown) => events.storeError?.(err))
    return value
  }

  const api: MappingLookup = {
    tenant (tenantId) {
      const id = tenantId.toLowerCase()
      return lookup('tenant', layers.tenant, id, () => source.tenant(id))
    },
    client (clientId) {
      const id = clientId.toLowerCase()
      return lookup('client', layers.client, id, () => source.client(id))
    },
    dropLocal (key) {
      if (key === '*') {
        layers.tenant.clear()
        layers.client.clear()
        return
      }
      const [kind, id] = key.split(':', 2)
      if ((kind === 'tenant' || kind === 'client') && id !== undefined) layers[kind].delete(id)
    }
  }
  return api
}
