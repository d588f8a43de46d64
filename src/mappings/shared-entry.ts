/**
 * One answer of the shared cache read as the gateway stored it — the value and when the source
 * gave it — for `lookup`. Read only: a GET and nothing else, so asking never fills the shared
 * cache nor makes an answer look fresher than the gateways see it.
 */
import type { SharedCache } from '../backends/shared-cache.js'
import { clientKey, tenantKey, type Stored } from './cached-source.js'

export type MappingKind = 'tenant' | 'client'

/** The stored entry, or undefined when the shared cache holds none (an unreadable one counts as none). */
export async function readSharedEntry<T> (store: SharedCache, kind: MappingKind, id: string): Promise<Stored<T> | undefined> {
  const text = await store.get(kind === 'tenant' ? tenantKey(id) : clientKey(id))
  if (text === null) return undefined
  try {
    const stored = JSON.parse(text) as Stored<T>
    return typeof stored === 'object' && stored !== null && typeof stored.at === 'number' && 'v' in stored ? stored : undefined
  } catch {
    return undefined
  }
}
