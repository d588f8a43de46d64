import { createLocalCounters, type GcraOutcome, type GcraRule } from '../rate-limits/gcra.js'
import type { MaybePromise } from '../maybe-promise.js'

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
  /**
   * Counts one request against GCRA counters (CONTRACT.md §12), every key in one Redis Cluster
   * slot: one atomic operation, admitted by all rules or counted by none.
   */
  admit (keys: readonly string[], rules: readonly GcraRule[]): MaybePromise<GcraOutcome>
  /** The emergency blocks (CONTRACT.md §13): every record, blocks and tombstones, field → value (domain/blocks.ts). */
  readBlocks (): Promise<Record<string, string>>
  /**
   * Writes (`set`) and removes (`remove`) block records in one atomic step, then publishes
   * `message` to every gateway sharing the store; resolves to how many received it. The memory
   * store keeps no blocks: rejects.
   */
  changeBlocks (set: Readonly<Record<string, string>>, remove: readonly string[], message?: string): Promise<number>
  /**
   * Writes each block back that the store lost, from a gateway's memory: only where neither the
   * block's field nor a tombstone lifting it (`since` at least the block's) is there, checked
   * and written in one atomic step, so a restore never undoes an unblock nor overwrites a newer
   * block. Resolves to which were written.
   */
  restoreBlocks (blocks: ReadonlyArray<{ field: string, value: string, liftedField: string, since: number }>): Promise<boolean[]>
  /**
   * `listener` runs with the message when blocks change, and without one each time the
   * subscription is (re)established.
   */
  onBlocksChanged (listener: (message?: string) => void): void
  /** Readies counting (Redis: the script loaded on every primary); resolves to what `check` prints. */
  prepareCounting (): Promise<string>
  /** Resolves to what answered (`check`): `redis sentinel mymaster → 10.0.3.7:6379 (primary), TLS verified`. */
  ping (): Promise<string>
  /**
   * Resolves once connected (at once for memory); rejects after `timeoutMs`, by default the
   * store's own allowance for a first connection (three connect timeouts: a sentinel or a seed
   * node, the topology it names, the nodes themselves).
   */
  ready (timeoutMs?: number): Promise<void>
  close (): Promise<void>
}

/** Why blocks cannot be kept without Redis: each process would hold blocks nobody else sees. */
export const NO_SHARED_BLOCKS = 'blocks are kept in the shared cache, which every gateway reads; cache.store is memory, so there is none (set cache.store: redis)'

export function createMemoryStore (now: () => number = Date.now): SharedStore {
  const entries = new Map<string, { value: string, until: number }>()
  const listeners: Array<(key: string) => void> = []
  const counters = createLocalCounters()
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
    async readBlocks () { return {} },
    async changeBlocks () { throw new Error(NO_SHARED_BLOCKS) },
    async restoreBlocks () { throw new Error(NO_SHARED_BLOCKS) },
    onBlocksChanged () {},
    admit (keys, rules) { return counters.decide(keys, rules) },
    async prepareCounting () { return 'counted in this process' },
    async ping () { return 'memory' },
    async ready () {},
    async close () { entries.clear() }
  }
}
