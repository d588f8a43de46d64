/**
 * Emergency blocks as the configuration allows them (CONTRACT.md §13): the block store beside
 * the shared cache (none with the memory cache) and the gateway's copy of its blocks, kept
 * equal to it, refusals and lost blocks counted.
 */
import type { SharedCache } from '../backends/shared-cache.js'
import type { CapabilityDeps } from '../observability/capability-deps.js'
import { createBlockStore, type BlockStore } from './block-store.js'
import { watchBlocks, type EmergencyBlocks } from './block-watcher.js'
import type { Block } from './block-records.js'

export interface Blocks {
  store: BlockStore
  watcher: EmergencyBlocks
}

/** `carried`: the blocks of the watcher this one replaces (block-watcher.ts). */
export function createBlocks (cache: SharedCache, { logger, metrics, health }: CapabilityDeps, carried: readonly Block[] = []): Blocks {
  const store = createBlockStore(cache)
  const watcher = watchBlocks(store, {
    logger,
    health,
    carried,
    refused: (kind) => metrics.blockedRequests.inc({ kind }),
    lost: (kind) => metrics.blocksLost.inc({ kind })
  })
  return { store, watcher }
}
