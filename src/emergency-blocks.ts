import type { Logger } from 'pino'
import { createBlockList, decodeBlocks, type Block, type BlockKind, type BlockList } from './domain/blocks.js'
import type { SharedStore } from './mappings/shared-store.js'
import type { Health } from './health.js'
import { failureReason } from './failure-reason.js'

/**
 * The gateway's copy of the emergency blocks (CONTRACT.md §13), kept equal to the shared store:
 * read at start, again on every change message and every time the subscription comes back
 * (a message missed while disconnected), and every few seconds besides. A failed read keeps the
 * blocks already known. Each block that appears or goes is logged with its reason.
 */
export interface EmergencyBlocks {
  readonly list: BlockList
  /** Reads the store now; resolves when that read (or the one under way) is done. */
  refresh (): Promise<void>
  /** Calls `listener` with the blocks newly in force after each read that found any (open sessions are closed by it). */
  onAdded (listener: (blocks: readonly Block[]) => void): void
  close (): void
}

/** How often blocks are read besides the change messages. */
export const BLOCKS_POLL_MS = 5000

export interface EmergencyBlockOptions {
  logger: Logger
  health: Health
  refused: (kind: BlockKind) => void
  pollMs?: number
}

export function watchBlocks (store: SharedStore, { logger, health, refused, pollMs = BLOCKS_POLL_MS }: EmergencyBlockOptions): EmergencyBlocks {
  const list = createBlockList({
    refused: (block) => { refused(block.kind) },
    expired: (block) => { logger.info(describe(block), 'block expired') }
  })
  const addedListeners: Array<(blocks: readonly Block[]) => void> = []
  const onAdded = (listener: (blocks: readonly Block[]) => void): void => { addedListeners.push(listener) }
  // The memory store keeps no blocks (the commands refuse): nothing to watch.
  if (store.kind === 'memory') return { list, async refresh () {}, onAdded, close () {} }

  // A gateway must know the blocks before it serves (readiness waits for one read).
  health.register('blocks')
  let reading: Promise<void> | undefined
  let again = false

  const read = async (): Promise<void> => {
    try {
      const { added, removed } = list.replace(decodeBlocks(await store.readBlocks()))
      for (const block of added) logger.warn(describe(block), 'block in force')
      if (added.length > 0) for (const listener of addedListeners) listener(added)
      for (const block of removed) logger.info(describe(block), 'block lifted')
      health.report('blocks', 'up', `${list.size} block${list.size === 1 ? '' : 's'} in force`)
    } catch (err) {
      health.report('blocks', 'down', `the shared cache could not be read; the ${list.size} block${list.size === 1 ? '' : 's'} already known stay in force (${failureReason(err)})`)
    }
  }
  const refresh = async (): Promise<void> => {
    if (reading !== undefined) {
      // A change announced during a read may not be in it: read once more after.
      again = true
      return await reading
    }
    reading = (async () => {
      do {
        again = false
        await read()
      } while (again)
    })().finally(() => { reading = undefined })
    return await reading
  }

  store.onBlocksChanged(() => { void refresh() })
  void refresh()
  const poll = setInterval(() => { void refresh() }, pollMs)
  poll.unref()
  return { list, refresh, onAdded, close () { clearInterval(poll) } }
}

function describe (block: Block): Record<string, unknown> {
  return { kind: block.kind, id: block.id, until: Number.isFinite(block.until) ? new Date(block.until).toISOString() : null, reason: block.reason }
}
