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
  /** ms since the epoch. */
  since: number
}

/** What the shared store holds: one field per block, `kind:id` → JSON `{until, reason, since}`. */
export function blockField (kind: BlockKind, id: string): string {
  return `${kind}:${id.toLowerCase()}`
}

export function encodeBlock (block: Block): string {
  return JSON.stringify({ until: block.until, reason: block.reason, since: block.since })
}

/**
 * A stored record back as a block. A field naming no kind is not a block (undefined). A value
 * that does not parse is kept as a block without expiry: a damaged record must not lift the
 * block it was (unblock removes it).
 */
export function decodeBlock (field: string, value: string): Block | undefined {
  const colon = field.indexOf(':')
  const kind = field.slice(0, colon) as BlockKind
  const id = field.slice(colon + 1).toLowerCase()
  if (colon === -1 || !BLOCK_KINDS.includes(kind) || id === '') return undefined
  const record = parseRecord(value)
  const until = typeof record?.until === 'number' ? record.until : Infinity
  return {
    kind,
    id,
    until,
    reason: typeof record?.reason === 'string' ? record.reason : until === Infinity ? '(unreadable record)' : '',
    since: typeof record?.since === 'number' ? record.since : 0
  }
}

/** Every readable block of the store's records. */
export function decodeBlocks (records: Readonly<Record<string, string>>): Block[] {
  return Object.entries(records).flatMap(([field, value]) => decodeBlock(field, value) ?? [])
}

function parseRecord (value: string): { until?: unknown, reason?: unknown, since?: unknown } | undefined {
  try {
    const parsed: unknown = JSON.parse(value)
    return parsed !== null && typeof parsed === 'object' ? parsed : undefined
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
  /** Replaces the list with the blocks in force among `blocks`; says which are new and which were lifted. */
  replace (blocks: readonly Block[]): { added: Block[], removed: Block[] }
  /** The block that refuses this principal, if one is in force (tenant, then client, then user). */
  find (principal: BlockedPrincipal): Block | undefined
  /** PRINCIPAL_BLOCKED when a block is in force; nothing otherwise. */
  refuse (principal: BlockedPrincipal): void
  list (): Block[]
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

  const inForce = (field: string): Block | undefined => {
    const block = blocks.get(field)
    if (block === undefined) return undefined
    if (block.until > now()) return block
    blocks.delete(field)
    options.expired?.(block)
    return undefined
  }

  const list: BlockList = {
    get size () { return blocks.size },
    replace (next) {
      // A record past its expiry stays in the store until a command clears it: it is no block,
      // and a block that reached its expiry meanwhile expired (it was not lifted).
      const at = now()
      const replaced = new Map(next.filter((block) => block.until > at).map((block) => [blockField(block.kind, block.id), block]))
      const added = [...replaced].filter(([field, block]) => !sameBlock(blocks.get(field), block)).map(([, block]) => block)
      const removed: Block[] = []
      for (const [field, block] of blocks) {
        if (replaced.has(field)) continue
        if (block.until > at) removed.push(block)
        else options.expired?.(block)
      }
      blocks = replaced
      return { added, removed }
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
    }
  }
  return list
}

function sameBlock (a: Block | undefined, b: Block): boolean {
  return a !== undefined && a.until === b.until && a.reason === b.reason && a.since === b.since
}
