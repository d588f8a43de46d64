/**
 * The gateway's copy of the emergency blocks (CONTRACT.md §13), kept equal to the shared store:
 * read at start, again on every change message and every time the subscription comes back
 * (a message missed while disconnected), and every few seconds besides. A failed read keeps the
 * blocks already known. Each block that appears or goes is logged with its reason and who set it;
 * a lifted one also with who lifted it and why (`unblock --by --reason`, CONTRACT.md §14), from
 * the tombstone or the change message that lifted it.
 *
 * Only `unblock` or the expiry lifts a block: a known block missing from a read is lifted when a
 * tombstone beside the blocks, or the change message `unblock` published, covers it. Otherwise
 * Redis lost it (a flush, a restart without persistence, a failover to an empty replica): it
 * stays in force here, is logged as an error and counted, and is written back to the store
 * (never over a tombstone or a newer record), so `blocks` and gateways started later see it.
 */
import type { Logger } from 'pino'
import { createBlockList, type BlockList } from './block-list.js'
import { blockField, decodeBlocks, decodeChangeMessage, decodeLifted, encodeBlock, liftedField, type Block, type BlockKind, type LiftNotice } from './block-records.js'
import type { BlockStore } from './block-store.js'
import type { Health } from '../observability/health.js'
import { failureReason } from '../backends/failure-reason.js'

export interface EmergencyBlocks {
  readonly list: BlockList
  /** Reads the store now; resolves when that read (or the one under way) is done. */
  refresh (): Promise<void>
  /** Calls `listener` with the blocks newly in force after each read that found any (open sessions are closed by it). */
  onAdded (listener: (blocks: readonly Block[]) => void): void
  close (): void
}

/** How often blocks are read besides the change messages. */
const BLOCKS_POLL_MS = 5000

export interface EmergencyBlockOptions {
  logger: Logger
  health: Health
  refused: (kind: BlockKind) => void
  /** A block that disappeared from the store without an unblock (`bookme_gateway_blocks_lost_total`). */
  lost?: (kind: BlockKind) => void
  pollMs?: number
  /**
   * The blocks of the watcher this one replaces (a reload to another shared cache): in force at
   * once, and those the new store lacks are written to it without being counted or logged as
   * lost — the store changed, nothing vanished.
   */
  carried?: readonly Block[]
}

export function watchBlocks (store: BlockStore, { logger, health: all, refused, lost, pollMs = BLOCKS_POLL_MS, carried = [] }: EmergencyBlockOptions): EmergencyBlocks {
  const list = createBlockList({
    refused: (block) => { refused(block.kind) },
    expired: (block) => { logger.info(describe(block), 'block expired') }
  })
  const addedListeners: Array<(blocks: readonly Block[]) => void> = []
  const onAdded = (listener: (blocks: readonly Block[]) => void): void => { addedListeners.push(listener) }
  // The memory block store keeps none (the commands refuse): nothing to watch.
  list.replace(carried)
  if (store.kind === 'memory') return { list, async refresh () {}, onAdded, close () {} }
  // Until the first read of the new store, which takes them over.
  let carriedOver: ReadonlySet<string> = new Set(carried.map((block) => blockField(block.kind, block.id)))

  // A gateway must know the blocks before it serves (readiness waits for one read). The entry
  // leaves `/readyz` with this watcher (a reload to a memory store).
  const health = all.owned()
  health.register('blocks')
  let reading: Promise<void> | undefined
  let again = false

  // What change messages said was lifted: field → the `since` lifted up to, until that block's
  // expiry, who lifted it and why, and which message said so (numbered in arrival order).
  const announced = new Map<string, LiftNotice & { message: number }>()
  let messages = 0
  const remember = (message: string | undefined): void => {
    messages++
    for (const notice of decodeChangeMessage(message ?? '')) {
      const known = announced.get(notice.field)
      if (known === undefined || known.since <= notice.since) announced.set(notice.field, { ...notice, message: messages })
    }
  }
  // Field → the unblock that lifted the latest: its `since`, `by` and `reason`.
  const unblocks = (records: Record<string, string>): Map<string, Unblock> => {
    const now = Date.now()
    const lifted = new Map<string, Unblock>()
    const note = (field: string, unblock: Unblock): void => {
      if (unblock.since > (lifted.get(field)?.since ?? -Infinity)) lifted.set(field, { since: unblock.since, by: unblock.by, reason: unblock.reason })
    }
    for (const tombstone of decodeLifted(records)) note(blockField(tombstone.kind, tombstone.id), tombstone)
    for (const [field, notice] of announced) {
      if (notice.until <= now) announced.delete(field)
      else note(field, notice)
    }
    return lifted
  }

  const read = async (): Promise<void> => {
    try {
      const before = messages
      const records = await store.readBlocks()
      const stored = decodeBlocks(records)
      const lifted = unblocks(records)
      const { added, removed, lost: vanished } = list.replace(stored, new Map([...lifted].map(([field, { since }]) => [field, since])))
      // A block this read found was set after every unblock announced before the read began (each
      // is published once its change is made): those announcements lift it no more.
      for (const block of stored) {
        const field = blockField(block.kind, block.id)
        if ((announced.get(field)?.message ?? Infinity) <= before) announced.delete(field)
      }
      for (const block of added) logger.warn(describe(block), 'block in force')
      if (added.length > 0) for (const listener of addedListeners) listener(added)
      for (const block of removed) logger.info(describeLifted(block, lifted.get(blockField(block.kind, block.id))), 'block lifted')
      const carriedNow = carriedOver
      carriedOver = new Set()
      for (const block of vanished) {
        if (carriedNow.has(blockField(block.kind, block.id))) continue
        logger.error(describe(block), 'block disappeared from the shared cache without an unblock; kept in force until its expiry')
        lost?.(block.kind)
      }
      const kept = list.lost()
      const gone = kept.filter((block) => !carriedNow.has(blockField(block.kind, block.id))).length
      health.report('blocks', 'up', `${list.size} block${list.size === 1 ? '' : 's'} in force${gone > 0 ? ` (${gone} kept from memory: gone from the shared cache without an unblock)` : ''}`)
      if (kept.length > 0) await restore(kept, carriedNow)
    } catch (err) {
      health.report('blocks', 'down', `the shared cache could not be read; the ${list.size} block${list.size === 1 ? '' : 's'} already known stay in force (${failureReason(err)})`)
    }
  }
  let restoreFailure: string | undefined
  /** Writes `kept` to the store; `carried` names those of the replaced cache (not lost: carried over). */
  const restore = async (kept: Block[], carried: ReadonlySet<string>): Promise<void> => {
    try {
      const written = await store.restoreBlocks(kept.map((block) => ({ field: blockField(block.kind, block.id), value: encodeBlock(block), liftedField: liftedField(block.kind, block.id), since: block.since })))
      restoreFailure = undefined
      kept.forEach((block, i) => {
        if (written[i] !== true) return
        if (carried.has(blockField(block.kind, block.id))) logger.info(describe(block), 'block carried over from the replaced shared cache, written to this one')
        else logger.warn(describe(block), 'lost block written back to the shared cache')
      })
    } catch (err) {
      // Tried again after each read (an ACL without scripting refuses it every time: said once);
      // the block is in force here meanwhile.
      const reason = failureReason(err)
      if (reason !== restoreFailure) logger.warn({ reason }, 'lost blocks could not be written back to the shared cache')
      restoreFailure = reason
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

  store.onBlocksChanged((message) => {
    remember(message)
    void refresh()
  })
  void refresh()
  const poll = setInterval(() => { void refresh() }, pollMs)
  poll.unref()
  return {
    list,
    refresh,
    onAdded,
    close () {
      clearInterval(poll)
      health.release()
    }
  }
}

/** Who lifted a block and why (`unblock --by --reason`), and the `since` it lifted up to. */
interface Unblock { since: number, by: string, reason: string }

/** A lifted block: `by` and `reason` are the unblock's, as on every audit line; the block's own are `blockedBy` and `blockReason`. */
function describeLifted (block: Block, unblock: Unblock | undefined): Record<string, unknown> {
  return { ...describe(block), by: unblock?.by ?? '', reason: unblock?.reason ?? '', blockedBy: block.by, blockReason: block.reason }
}

function describe (block: Block): Record<string, unknown> {
  return { kind: block.kind, id: block.id, until: Number.isFinite(block.until) ? new Date(block.until).toISOString() : null, reason: block.reason, by: block.by, since: new Date(block.since).toISOString(), ...(block.issuedBefore === undefined ? {} : { issuedBefore: new Date(block.issuedBefore).toISOString() }) }
}
