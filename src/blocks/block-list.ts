import { GatewayError } from '../errors.js'

/**
 * Emergency blocks (CONTRACT.md §13): a tenant, a client or a user refused at once, whatever
 * its token says, until the block's expiry. Entra access tokens cannot be revoked; this is the
 * switch that stands in for revocation. The list is held in memory and replaced whole from the
 * shared store, so a store outage leaves the known blocks in force (expiries still apply).
 */
export const BLOCK_KINDS = ['tenant', 'client', 'user'] as const
export type BlockKind = typeof BLOCK_KINDS[number]

export interface Block {
  kind: BlockKind
  /** The GUID, lower case: `tid`, `azp`/`appid`, or `oid`. */
  id: string
  /** ms since the epoch; Infinity for a record that could not be read (kept in force). */
  until: number
  reason: string
  /** ms since the epoch: when it was set. */
  since: number
  /** Who set it (`block --by`, by default `$USER@host`); '' on a record written before it was kept. */
  by: string
}

/**
 * What `unblock` leaves beside the blocks (a tombstone): the block of this principal set at or
 * before `since` was lifted deliberately. A gateway that still holds such a block, gone from the
 * store, lifts it on seeing this even if it missed the change message; a block that vanished
 * without one (a flush, a restart without persistence, a failover to an empty replica) stays in
 * force. Kept until `until`, the lifted block's own expiry: no block it covers outlives it.
 */
export interface Lifted {
  kind: BlockKind
  id: string
  since: number
  until: number
  by: string
  /** ms since the epoch: when `unblock` ran. */
  at: number
}

/** The longest block `block --for` sets (CONTRACT.md §13): 366 days. */
export const MAX_BLOCK_MS = 366 * 86_400_000

/** What the shared store holds: one field per block, `kind:id` → JSON `{until, reason, since, by}`. */
export function blockField (kind: BlockKind, id: string): string {
  return `${kind}:${id.toLowerCase()}`
}

/**
 * The tombstone's field, in the same hash as the blocks (one key, so one Redis Cluster slot: a
 * restore can check it and write the block in one atomic step). Its prefix names no block kind,
 * so a gateway of an earlier release, reading the same hash, skips it.
 */
export function liftedField (kind: BlockKind, id: string): string {
  return `lifted:${blockField(kind, id)}`
}

export function encodeBlock (block: Block): string {
  return JSON.stringify({ until: block.until, reason: block.reason, since: block.since, by: block.by })
}

export function encodeLifted (lifted: Lifted): string {
  return JSON.stringify({ since: lifted.since, until: lifted.until, by: lifted.by, at: lifted.at })
}

/**
 * A stored record back as a block. A field naming no kind is not a block (undefined). A value
 * that does not parse is kept as a block without expiry: a damaged record must not lift the
 * block it was (unblock removes it).
 */
export function decodeBlock (field: string, value: string): Block | undefined {
  const target = targetOf(field)
  if (target === undefined) return undefined
  const record = parseRecord(value)
  const until = typeof record?.until === 'number' ? record.until : Infinity
  return {
    ...target,
    until,
    reason: typeof record?.reason === 'string' ? printable(record.reason) : until === Infinity ? '(unreadable record)' : '',
    since: typeof record?.since === 'number' ? record.since : 0,
    by: typeof record?.by === 'string' ? printable(record.by) : ''
  }
}

/** Every readable block of the store's records. */
export function decodeBlocks (records: Readonly<Record<string, string>>): Block[] {
  return Object.entries(records).flatMap(([field, value]) => decodeBlock(field, value) ?? [])
}

/**
 * Every readable tombstone of the store's records. A damaged one lifts nothing: keeping a block
 * in force is the safe side, and `unblock` again writes it anew.
 */
export function decodeLifted (records: Readonly<Record<string, string>>): Lifted[] {
  return Object.entries(records).flatMap(([field, value]) => {
    if (!field.startsWith('lifted:')) return []
    const target = targetOf(field.slice('lifted:'.length))
    const record = parseRecord(value)
    if (target === undefined || typeof record?.since !== 'number' || typeof record.until !== 'number') return []
    return [{ ...target, since: record.since, until: record.until, by: typeof record.by === 'string' ? printable(record.by) : '', at: typeof record.at === 'number' ? record.at : 0 }]
  })
}

/**
 * The change message `unblock` publishes names what it lifted, so a gateway lifts it even if the
 * tombstone is gone by the time it reads (a flush right after). `block` publishes `changed`;
 * anything that is not this JSON names nothing (a gateway only reads again).
 */
export function encodeChangeMessage (lifted: readonly Lifted[]): string {
  return lifted.length === 0 ? 'changed' : JSON.stringify({ lifted: lifted.map((l) => ({ field: blockField(l.kind, l.id), since: l.since, until: l.until })) })
}

export function decodeChangeMessage (message: string): Array<{ field: string, since: number, until: number }> {
  if (!message.startsWith('{')) return []
  const parsed = parseRecord(message) as { lifted?: unknown } | undefined
  if (!Array.isArray(parsed?.lifted)) return []
  return parsed.lifted.flatMap((item: unknown) => {
    const { field, since, until } = (item ?? {}) as Record<string, unknown>
    return typeof field === 'string' && targetOf(field) !== undefined && typeof since === 'number' && typeof until === 'number' ? [{ field: field.toLowerCase(), since, until }] : []
  })
}

/**
 * Characters refused in `--reason` and `--by` (CONTRACT.md §13): control (Cc), format (Cf:
 * bidirectional overrides such as U+202E, zero-width characters), line and paragraph
 * separators (U+2028, U+2029), and lone surrogates. They reorder or break the lines of
 * `blocks` and of log viewers; C1 controls such as U+009B start terminal escape sequences.
 */
export const UNPRINTABLE = /[\p{Cc}\p{Cf}\p{Zl}\p{Zp}\p{Cs}]/u

/** Text read back from the store, made printable: a record written by hand cannot smuggle them into logs or output. */
export function printable (text: string): string {
  return text.replace(new RegExp(UNPRINTABLE.source, 'gu'), (c) => `\\u{${c.codePointAt(0)!.toString(16)}}`)
}

function targetOf (field: string): { kind: BlockKind, id: string } | undefined {
  const colon = field.indexOf(':')
  const kind = field.slice(0, colon) as BlockKind
  const id = field.slice(colon + 1).toLowerCase()
  if (colon === -1 || !BLOCK_KINDS.includes(kind) || id === '') return undefined
  return { kind, id }
}

function parseRecord (value: string): Record<string, unknown> | undefined {
  try {
    const parsed: unknown = JSON.parse(value)
    return parsed !== null && typeof parsed === 'object' ? parsed as Record<string, unknown> : undefined
  } catch {
    return undefined
  }
}

export interface BlockedPrincipal {
  tenantId: string
  clientId: string | undefined
  objectId: string | undefined
}

export interface BlockList {
  /** How many blocks are known (expired ones included until next looked at). */
  readonly size: number
  /**
   * Replaces the list with the blocks in force among `blocks`, the store's records. A known block
   * missing from them is lifted only when `lifted` (block field → the `since` a tombstone or a
   * change message lifted up to) covers it; otherwise it disappeared without an unblock and stays
   * in force until its expiry. Says which are new, which were lifted, and which are newly lost.
   */
  replace (blocks: readonly Block[], lifted?: ReadonlyMap<string, number>): { added: Block[], removed: Block[], lost: Block[] }
  /** The block that refuses this principal, if one is in force (tenant, then client, then user). */
  find (principal: BlockedPrincipal): Block | undefined
  /** PRINCIPAL_BLOCKED when a block is in force; nothing otherwise. */
  refuse (principal: BlockedPrincipal): void
  list (): Block[]
  /** The blocks in force that the store no longer holds (kept from memory). */
  lost (): Block[]
}

export interface BlockListOptions {
  now?: () => number
  /** A request refused by a block. */
  refused?: (block: Block) => void
  /** A block found past its expiry and dropped. */
  expired?: (block: Block) => void
}

const DETAIL: Record<BlockKind, string> = {
  tenant: 'Access from this tenant is blocked by the operators of this service',
  client: 'Access by this client application is blocked by the operators of this service',
  user: 'Access by this user is blocked by the operators of this service'
}

export function createBlockList (options: BlockListOptions = {}): BlockList {
  const now = options.now ?? Date.now
  let blocks = new Map<string, Block>()
  let lost = new Set<string>()

  const inForce = (field: string): Block | undefined => {
    const block = blocks.get(field)
    if (block === undefined) return undefined
    if (block.until > now()) return block
    blocks.delete(field)
    lost.delete(field)
    options.expired?.(block)
    return undefined
  }

  const list: BlockList = {
    get size () { return blocks.size },
    replace (next, lifted = new Map()) {
      // A record past its expiry stays in the store until a command clears it: it is no block,
      // and a block that reached its expiry meanwhile expired (it was not lifted).
      const at = now()
      const replaced = new Map(next.filter((block) => block.until > at).map((block) => [blockField(block.kind, block.id), block]))
      const added = [...replaced].filter(([field, block]) => !sameBlock(blocks.get(field), block)).map(([, block]) => block)
      const removed: Block[] = []
      const newlyLost: Block[] = []
      const stillLost = new Set<string>()
      for (const [field, block] of blocks) {
        if (replaced.has(field)) continue
        if (block.until <= at) {
          options.expired?.(block)
          continue
        }
        const liftedUpTo = lifted.get(field)
        if (liftedUpTo !== undefined && liftedUpTo >= block.since) {
          removed.push(block)
          continue
        }
        // Gone without an unblock (CONTRACT.md §13): only unblock or its expiry lifts it.
        replaced.set(field, block)
        stillLost.add(field)
        if (!lost.has(field)) newlyLost.push(block)
      }
      blocks = replaced
      lost = stillLost
      return { added, removed, lost: newlyLost }
    },
    find (principal) {
      // The fast path: with no block at all, nothing to look up.
      if (blocks.size === 0) return undefined
      return inForce(`tenant:${principal.tenantId}`) ??
        (principal.clientId === undefined ? undefined : inForce(`client:${principal.clientId}`)) ??
        (principal.objectId === undefined ? undefined : inForce(`user:${principal.objectId.toLowerCase()}`))
    },
    refuse (principal) {
      if (blocks.size === 0) return
      const block = list.find(principal)
      if (block === undefined) return
      options.refused?.(block)
      throw new GatewayError('PRINCIPAL_BLOCKED', DETAIL[block.kind])
    },
    list () {
      return [...blocks.keys()].flatMap((field) => inForce(field) ?? [])
    },
    lost () {
      return [...lost].flatMap((field) => inForce(field) ?? [])
    }
  }
  return list
}

function sameBlock (a: Block | undefined, b: Block): boolean {
  return a !== undefined && a.until === b.until && a.reason === b.reason && a.since === b.since && a.by === b.by
}
