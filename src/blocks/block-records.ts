/**
 * How emergency blocks are kept in the shared store (CONTRACT.md §13): one hash field per block,
 * a tombstone per unblock, the change message naming what was lifted, and the printable-text
 * rule for what an operator writes into them.
 */
import { printable } from '../config/validation.js'
const BLOCK_KINDS = ['tenant', 'client', 'user'] as const
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
  /**
   * A revocation (`block --issued-before`, CONTRACT.md §15): ms since the epoch; only tokens
   * whose `iat` is before it are refused. Absent: a full block, every token refused. It lives in
   * the same field and record as a full block, so a gateway of an earlier release, which does not
   * know it, reads the record as a full block: it refuses more, never less.
   */
  issuedBefore?: number
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
  /** Who lifted it (`unblock --by`) and why (`unblock --reason`; '' for none, and on a tombstone written before it was kept). */
  by: string
  reason: string
  /** ms since the epoch: when `unblock` ran. */
  at: number
}

/** What a change message says `unblock` lifted: the block's field, the tombstone's `since`, `until`, `by` and `reason`. */
export interface LiftNotice { field: string, since: number, until: number, by: string, reason: string }

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
  return JSON.stringify({ until: block.until, reason: block.reason, since: block.since, by: block.by, ...issuedBeforeOf(block) })
}

/** `{ issuedBefore }` for a revocation, nothing for a full block. */
export function issuedBeforeOf (block: { issuedBefore?: number | undefined }): { issuedBefore?: number } {
  return block.issuedBefore === undefined ? {} : { issuedBefore: block.issuedBefore }
}

export function encodeLifted (lifted: Lifted): string {
  return JSON.stringify({ since: lifted.since, until: lifted.until, by: lifted.by, reason: lifted.reason, at: lifted.at })
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
    by: typeof record?.by === 'string' ? printable(record.by) : '',
    // A revocation whose instant does not read as a number is a full block: the safe side.
    ...(typeof record?.issuedBefore === 'number' && Number.isFinite(record.issuedBefore) ? { issuedBefore: record.issuedBefore } : {})
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
    return [{ ...target, since: record.since, until: record.until, ...auditOf(record), at: typeof record.at === 'number' ? record.at : 0 }]
  })
}

/**
 * The change message `unblock` publishes names what it lifted, and who lifted it and why, so a
 * gateway lifts it and logs it even if the tombstone is gone by the time it reads (a flush right
 * after). `block` publishes `changed`; anything that is not this JSON names nothing (a gateway
 * only reads again). A gateway of an earlier release reads `field`, `since` and `until` alone.
 */
export function encodeChangeMessage (lifted: readonly Lifted[]): string {
  return lifted.length === 0 ? 'changed' : JSON.stringify({ lifted: lifted.map((l) => ({ field: blockField(l.kind, l.id), since: l.since, until: l.until, by: l.by, reason: l.reason })) })
}

/** What a change message names as lifted; `by` and `reason` are '' in one from an earlier release. */
export function decodeChangeMessage (message: string): LiftNotice[] {
  if (!message.startsWith('{')) return []
  const parsed = parseRecord(message) as { lifted?: unknown } | undefined
  if (!Array.isArray(parsed?.lifted)) return []
  return parsed.lifted.flatMap((item: unknown) => {
    const record = (item ?? {}) as Record<string, unknown>
    const { field, since, until } = record
    return typeof field === 'string' && targetOf(field) !== undefined && typeof since === 'number' && typeof until === 'number' ? [{ field: field.toLowerCase(), since, until, ...auditOf(record) }] : []
  })
}

/** `by` and `reason` of a tombstone or a change message, made printable; '' where absent. */
function auditOf (record: Record<string, unknown>): { by: string, reason: string } {
  return { by: typeof record.by === 'string' ? printable(record.by) : '', reason: typeof record.reason === 'string' ? printable(record.reason) : '' }
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
