/**
 * Where the emergency blocks are kept (CONTRACT.md §13): beside the shared cache, on its Redis
 * connection (redis-block-store.ts), which every gateway reads. The memory cache has no such
 * place: it keeps no blocks and refuses to change any.
 */
import type { SharedCache } from '../backends/shared-cache.js'
import { createRedisBlockStore } from './redis-block-store.js'

/** A block written back (`restoreBlocks`): its field and record, its tombstone's field, its `since`. */
export interface BlockRestore { field: string, value: string, liftedField: string, since: number }

export interface BlockStore {
  readonly kind: 'memory' | 'redis'
  /** Every record, blocks and tombstones, field → value (block-list.ts). */
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
  restoreBlocks (blocks: readonly BlockRestore[]): Promise<boolean[]>
  /**
   * `listener` runs with the message when blocks change, and without one each time the
   * subscription is (re)established.
   */
  onBlocksChanged (listener: (message?: string) => void): void
}

/** Why blocks cannot be kept without Redis: each process would hold blocks nobody else sees. */
export const NO_SHARED_BLOCKS = 'blocks are kept in the shared cache, which every gateway reads; cache.store is memory, so there is none (set cache.store: redis)'

/** The blocks beside `cache`, over its connection. */
export function createBlockStore (cache: SharedCache): BlockStore {
  return cache.kind === 'redis' ? createRedisBlockStore(cache.backend) : MEMORY_BLOCK_STORE
}

const MEMORY_BLOCK_STORE: BlockStore = {
  kind: 'memory',
  async readBlocks () { return {} },
  async changeBlocks () { throw new Error(NO_SHARED_BLOCKS) },
  async restoreBlocks () { throw new Error(NO_SHARED_BLOCKS) },
  onBlocksChanged () {}
}
