/**
 * `block`, `unblock`, `blocks` (CONTRACT.md §13): the emergency blocks in the shared cache,
 * announced to every gateway. `unblock` leaves a tombstone beside the blocks (blocks/block-list.ts),
 * so a gateway that missed the message still tells an unblock from a flush. Each write also
 * drops the records already past their expiry, so the store holds only what is in force.
 */
import { hostname, userInfo } from 'node:os'
import type { CacheConfig } from '../config/schema.js'
import { createSharedCache } from '../backends/shared-cache.js'
import { createBlockStore, NO_SHARED_BLOCKS, type BlockStore } from '../blocks/block-store.js'
import { GUID, UNPRINTABLE } from '../config/validation.js'
import { blockField, decodeBlocks, decodeLifted, encodeBlock, encodeChangeMessage, encodeLifted, liftedField, MAX_BLOCK_MS, type Block, type BlockKind, type Lifted } from '../blocks/block-records.js'
import { parseDuration, UsageError } from './usage.js'
import { parseInstant } from './instant.js'

export interface BlockTarget { tenant?: string | undefined, client?: string | undefined, user?: string | undefined }

export interface BlockRequest { kind: BlockKind, id: string, lifetimeMs: number, reason: string, by: string, issuedBefore?: number }
export interface UnblockRequest { kind: BlockKind, id: string, by: string, reason: string }

const DEFAULT_BLOCK = '24h'
/** `--for`: seconds too, for a drill that must end on its own. */
const BLOCK_UNITS = 'smhdw'
const MAX_REASON = 500
const MAX_BY = 200

/** Exactly one of --tenant, --client, --user, a GUID; → the block's kind and id (lower case). */
function blockTargetOf (command: string, target: BlockTarget): { kind: BlockKind, id: string } {
  const given = (['tenant', 'client', 'user'] as const).filter((kind) => target[kind] !== undefined)
  if (given.length !== 1) throw new UsageError(`${command} needs exactly one of --tenant GUID, --client GUID, --user OID`)
  const kind = given[0]!
  const id = target[kind]!
  if (!GUID.test(id)) throw new UsageError(`--${kind}: "${id}" is not a GUID`)
  return { kind, id: id.toLowerCase() }
}

/**
 * `--reason`, `--by`: one line of printable text (every gateway logs it, `blocks` prints it):
 * no control, format or line/paragraph separator character (config/validation.ts UNPRINTABLE).
 */
function textOption (flag: string, text: string, max: number): string {
  const bad = UNPRINTABLE.exec(text)
  if (bad !== null) throw new UsageError(`${flag} must be one line of printable text (it holds U+${bad[0].codePointAt(0)!.toString(16).toUpperCase().padStart(4, '0')})`)
  if (text.length > max) throw new UsageError(`${flag} is longer than ${max} characters`)
  return text.trim()
}

export function reasonOf (text: string | undefined): string {
  return text === undefined ? '' : textOption('--reason', text, MAX_REASON)
}

/** `--by`, by default `$USER@hostname` (made printable: it is not the operator's to fix). */
export function byOf (text: string | undefined, env: NodeJS.ProcessEnv = process.env): string {
  if (text !== undefined) {
    const by = textOption('--by', text, MAX_BY)
    if (by === '') throw new UsageError('--by must name who sets it')
    return by
  }
  return `${env.USER ?? env.LOGNAME ?? osUser()}@${hostname()}`.replace(new RegExp(UNPRINTABLE.source, 'gu'), '').slice(0, MAX_BY)
}

function osUser (): string {
  try {
    return userInfo().username
  } catch {
    // No passwd entry for the uid (a container's arbitrary user).
    return '?'
  }
}

/** `--for`: a duration up to 366 days (a longer one is a typo, and past the contract). */
function lifetimeOf (text: string | undefined): number {
  const ms = parseDuration('--for', text ?? DEFAULT_BLOCK, { units: BLOCK_UNITS })
  if (!(ms <= MAX_BLOCK_MS)) throw new UsageError(`--for is at most 366d (a block that must last longer is set again before it ends), not "${text}"`)
  return ms
}

/** The whole command line of `block`, checked before anything is read or written. */
export function blockRequestOf (values: BlockTarget & { for?: string | undefined, reason?: string | undefined, by?: string | undefined, 'issued-before'?: string | undefined }, env: NodeJS.ProcessEnv = process.env): BlockRequest {
  const time = values['issued-before']
  return {
    ...blockTargetOf('block', values),
    lifetimeMs: lifetimeOf(values.for),
    reason: reasonOf(values.reason),
    by: byOf(values.by, env),
    ...(time === undefined ? {} : { issuedBefore: parseInstant('--issued-before', time) })
  }
}

/** The whole command line of `unblock` (a revocation's too: it is the same record), checked as `block`'s. */
export function unblockRequestOf (values: BlockTarget & { by?: string | undefined, reason?: string | undefined }, env: NodeJS.ProcessEnv = process.env): UnblockRequest {
  return { ...blockTargetOf('unblock', values), by: byOf(values.by, env), reason: reasonOf(values.reason) }
}

/** One line of `blocks`: kind, id, expiry, reason, by, when; a revocation's instant last. */
function blockLine (block: Block): string {
  const line = [block.kind, block.id, expiryOf(block), block.reason === '' ? '-' : block.reason, `by ${block.by || '?'}`, `since ${isoSeconds(block.since)}`]
  if (block.issuedBefore !== undefined) line.push(`tokens issued before ${isoMs(block.issuedBefore)}`)
  return line.join('  ')
}

/** What a block refuses, for the command's answer. */
function refusing (block: { issuedBefore?: number | undefined }): string {
  return block.issuedBefore === undefined ? 'every token' : `tokens issued before ${isoMs(block.issuedBefore)}`
}

/** An instant to the second, or to the millisecond when it has them (`--issued-before now`). */
function isoMs (ms: number): string {
  return new Date(ms).toISOString().replace(/\.000Z$/, 'Z')
}

function expiryOf (block: Block): string {
  return Number.isFinite(block.until) ? isoSeconds(block.until) : 'no-expiry'
}

function isoSeconds (ms: number): string {
  return new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z')
}

/**
 * One record per principal: a block replaces the one before, a revocation the revocation before
 * (its instant, expiry and reason). A revocation never replaces a full block in force: it would
 * let the principal's newer tokens in (a full block wins, CONTRACT.md §15).
 */
export async function runBlock (cache: Readonly<CacheConfig>, { kind, id, lifetimeMs, reason, by, issuedBefore }: BlockRequest, out: (line: string) => void): Promise<number> {
  return await withBlocks(cache, 'block', out, async (store, records) => {
    const now = Date.now()
    const field = blockField(kind, id)
    const was = decodeBlocks(records).find((block) => blockField(block.kind, block.id) === field && block.until > now)
    if (issuedBefore !== undefined && was !== undefined && was.issuedBefore === undefined) {
      out(`FAIL block: ${kind} ${id} is blocked until ${expiryOf(was)} (every token refused); a revocation would let its newer tokens in: unblock first if that is what you mean`)
      return 1
    }
    const block: Block = { kind, id, until: now + lifetimeMs, reason, since: now, by, ...(issuedBefore === undefined ? {} : { issuedBefore }) }
    // A tombstone of an earlier unblock goes: the store then says plainly that this block is in force.
    const set = { [field]: encodeBlock(block) }
    const gateways = await store.changeBlocks(set, [liftedField(kind, id), ...expiredFields(records, now, set)])
    const revocation = issuedBefore === undefined ? '' : ` ${refusing(block)}`
    const replaced = was === undefined || (was.issuedBefore === undefined && issuedBefore === undefined) ? '' : ` (replaces the block of ${refusing(was)})`
    out(`ok block ${kind} ${id}${revocation} until ${expiryOf(block)}${replaced}: ${notified(gateways)}`)
    warnIfNobody(gateways, 'block', out)
  })
}

export async function runUnblock (cache: Readonly<CacheConfig>, { kind, id, by, reason }: UnblockRequest, out: (line: string) => void): Promise<number> {
  return await withBlocks(cache, 'unblock', out, async (store, records) => {
    const now = Date.now()
    const field = blockField(kind, id)
    const was = decodeBlocks(records).find((block) => blockField(block.kind, block.id) === field)
    // The stored block's own `since` (no clock of this machine involved); with none stored (Redis
    // lost it), everything set until now. Kept as long as that block could last.
    const lifted: Lifted = {
      kind,
      id,
      since: was?.since ?? now,
      until: was !== undefined && Number.isFinite(was.until) ? was.until : now + MAX_BLOCK_MS,
      by,
      reason,
      at: now
    }
    const set = { [liftedField(kind, id)]: encodeLifted(lifted) }
    const gateways = await store.changeBlocks(set, [field, ...expiredFields(records, now, set)], encodeChangeMessage([lifted]))
    const what = was === undefined ? 'not in the shared cache (a gateway still holding it lifts it)' : was.until <= now ? 'had expired' : 'lifted'
    out(`ok unblock ${kind} ${id}: ${what}, ${notified(gateways)}`)
    warnIfNobody(gateways, 'unblock', out)
  })
}

export async function runBlocks (cache: Readonly<CacheConfig>, { json }: { json: boolean }, out: (line: string) => void): Promise<number> {
  return await withBlocks(cache, 'blocks', out, async (_store, records) => {
    const now = Date.now()
    const blocks = decodeBlocks(records).filter((block) => block.until > now).sort((a, b) => a.until - b.until || blockField(a.kind, a.id).localeCompare(blockField(b.kind, b.id)))
    if (json) {
      out(JSON.stringify(blocks.map((block) => ({ kind: block.kind, id: block.id, until: Number.isFinite(block.until) ? new Date(block.until).toISOString() : null, reason: block.reason, by: block.by, since: new Date(block.since).toISOString(), issuedBefore: block.issuedBefore === undefined ? null : new Date(block.issuedBefore).toISOString() })), null, 2))
      return
    }
    if (blocks.length === 0) out('no blocks in force')
    for (const block of blocks) out(blockLine(block))
  })
}

/** Opens the shared cache, reads the block records, runs `act`; any failure is one FAIL line and exit 1. */
async function withBlocks (cache: Readonly<CacheConfig>, command: string, out: (line: string) => void,
  act: (store: BlockStore, records: Record<string, string>) => Promise<number | void>): Promise<number> {
  if (cache.store !== 'redis') {
    out(`FAIL ${command}: ${NO_SHARED_BLOCKS}`)
    return 1
  }
  const shared = createSharedCache(cache)
  const store = createBlockStore(shared)
  try {
    await shared.ready()
    return (await act(store, await store.readBlocks())) ?? 0
  } catch (err) {
    out(`FAIL ${command}: ${(err as Error).message}${command === 'blocks' ? '' : '; run it again once Redis answers'}`)
    return 1
  } finally {
    await shared.close()
  }
}

/** Blocks and tombstones past their expiry (not those `set` writes anew). */
function expiredFields (records: Record<string, string>, now: number, set: Record<string, string>): string[] {
  return [
    ...decodeBlocks(records).filter((block) => block.until <= now).map((block) => blockField(block.kind, block.id)),
    ...decodeLifted(records).filter((lifted) => lifted.until <= now).map((lifted) => liftedField(lifted.kind, lifted.id))
  ].filter((field) => !Object.hasOwn(set, field))
}

function notified (gateways: number): string {
  return `${gateways} gateway${gateways === 1 ? '' : 's'} notified`
}

function warnIfNobody (gateways: number, command: string, out: (line: string) => void): void {
  // Not a failure: the record is stored, and every gateway reads it at start and every few seconds.
  if (gateways === 0) out(`warning ${command}: no running gateway received the message (none is connected to this Redis and key prefix); each reads the blocks when it starts`)
}
