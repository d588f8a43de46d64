/**
 * Emergency blocks (CONTRACT.md §13): a tenant, a client or a user refused at once, whatever
 * its token says, until the block's expiry. Entra access tokens cannot be revoked; this is the
 * switch that stands in for revocation. A block with an instant (`block --issued-before`,
 * CONTRACT.md §15) refuses only the tokens issued before it, with 401 TOKEN_REVOKED, so the
 * client gets a new token. The list is held in memory and replaced whole from the shared store,
 * so a store outage leaves the known blocks in force (expiries still apply).
 */
import { GatewayError } from '../errors.js'
import { type Block, type BlockKind, blockField } from './block-records.js'

export interface BlockedPrincipal {
  tenantId: string
  clientId: string | undefined
  objectId: string | undefined
  /** The token's `iat`, ms since the epoch: what a revocation (§15) judges. None: revoked by any. */
  issuedAt?: number | undefined
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
  /**
   * The block that refuses this principal, if one is in force: a full block first (tenant, then
   * client, then user), whatever revocation also covers it; else, of the revocations of its
   * tenant, client and user, the one with the latest instant, when the token was issued before it.
   */
  find (principal: BlockedPrincipal): Block | undefined
  /** PRINCIPAL_BLOCKED when a full block is in force, TOKEN_REVOKED when a revocation covers the token; nothing otherwise. */
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
  // The same blocks by kind and id, so a token check looks its principal up without building
  // a field string a request: the token's ids keep their hash, a new string is hashed afresh.
  let byId = indexById(blocks)

  const inForce = (field: string): Block | undefined => {
    const block = blocks.get(field)
    return block === undefined ? undefined : unlessExpired(field, block)
  }
  const inForceById = (kind: BlockKind, id: string): Block | undefined => {
    const block = byId[kind].get(id)
    return block === undefined ? undefined : unlessExpired(`${kind}:${id}`, block)
  }
  const unlessExpired = (field: string, block: Block): Block | undefined => {
    if (block.until > now()) return block
    blocks.delete(field)
    byId[block.kind].delete(field.slice(block.kind.length + 1))
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
      byId = indexById(replaced)
      lost = stillLost
      return { added, removed, lost: newlyLost }
    },
    find (principal) {
      // The fast path: with no block at all, nothing to look up.
      if (blocks.size === 0) return undefined
      const tenant = inForceById('tenant', principal.tenantId)
      const client = principal.clientId === undefined ? undefined : inForceById('client', principal.clientId)
      const user = principal.objectId === undefined || byId.user.size === 0 ? undefined : inForceById('user', principal.objectId.toLowerCase())
      // A block list that does not name this principal (the common case): no arrays to build.
      if (tenant === undefined && client === undefined && user === undefined) return undefined
      const found = [tenant, client, user].filter((block) => block !== undefined)
      const full = found.find((block) => block.issuedBefore === undefined)
      if (full !== undefined) return full
      // The latest instant: if any revocation covers the token, that one does.
      const latest = found.reduce<Block | undefined>((a, b) => a === undefined || b.issuedBefore! > a.issuedBefore! ? b : a, undefined)
      return latest !== undefined && revokes(latest, principal) ? latest : undefined
    },
    refuse (principal) {
      if (blocks.size === 0) return
      const block = list.find(principal)
      if (block === undefined) return
      options.refused?.(block)
      if (block.issuedBefore !== undefined) throw new GatewayError('TOKEN_REVOKED', revokedDetail(block.kind, block.issuedBefore))
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

/** `blocks` (field → block) by kind, then by the field's id part (what `find` looks up). */
function indexById (blocks: ReadonlyMap<string, Block>): Record<BlockKind, Map<string, Block>> {
  const index: Record<BlockKind, Map<string, Block>> = { tenant: new Map(), client: new Map(), user: new Map() }
  for (const [field, block] of blocks) index[block.kind].set(field.slice(block.kind.length + 1), block)
  return index
}

function sameBlock (a: Block | undefined, b: Block): boolean {
  return a !== undefined && a.until === b.until && a.reason === b.reason && a.since === b.since && a.by === b.by && a.issuedBefore === b.issuedBefore
}

/**
 * Whether `block` refuses this principal's token: every token for a full block; for a
 * revocation, a token issued before its instant, or one without `iat` (nothing shows it newer).
 */
export function revokes (block: Block, principal: BlockedPrincipal): boolean {
  if (block.issuedBefore === undefined) return true
  return principal.issuedAt === undefined || principal.issuedAt < block.issuedBefore
}

const WHOSE: Record<BlockKind, string> = { tenant: 'this tenant', client: 'this client application', user: 'this user' }

/** Names the instant, so the client knows a token issued since then passes (§15). */
function revokedDetail (kind: BlockKind, issuedBefore: number): string {
  return `Tokens of ${WHOSE[kind]} issued before ${new Date(issuedBefore).toISOString()} are revoked by the operators of this service; get a new token`
}
