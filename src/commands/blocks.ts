import type { Config } from '../config/schema.js'
import { createSharedStore } from '../mappings/create.js'
import { NO_SHARED_BLOCKS, type SharedStore } from '../mappings/shared-store.js'
import { GUID } from '../domain/entra-token.js'
import { blockField, decodeBlocks, encodeBlock, type Block, type BlockKind } from '../domain/blocks.js'
import { parseDuration, UsageError } from './usage.js'

/**
 * `block`, `unblock`, `blocks` (CONTRACT.md §13): the emergency blocks in the shared cache,
 * announced to every gateway. Each write also drops the records already past their expiry, so
 * the store holds only what is in force.
 */
export interface BlockTarget { tenant?: string | undefined, client?: string | undefined, user?: string | undefined }

const DEFAULT_BLOCK = '24h'
/** `--for`: seconds too, for a drill that must end on its own. */
export const BLOCK_UNITS = 'smhdw'
const MAX_REASON = 500

/** Exactly one of --tenant, --client, --user, a GUID; → the block's kind and id (lower case). */
export function blockTargetOf (command: string, target: BlockTarget): { kind: BlockKind, id: string } {
  const given = (['tenant', 'client', 'user'] as const).filter((kind) => target[kind] !== undefined)
  if (given.length !== 1) throw new UsageError(`${command} needs exactly one of --tenant GUID, --client GUID, --user OID`)
  const kind = given[0]!
  const id = target[kind]!
  if (!GUID.test(id)) throw new UsageError(`--${kind}: "${id}" is not a GUID`)
  return { kind, id: id.toLowerCase() }
}

/** `--reason`: printable text, at most 500 characters (it is logged by every gateway). */
export function reasonOf (text: string | undefined): string {
  if (text === undefined) return ''
  // eslint-disable-next-line no-control-regex
  if (/[\u0000-\u001f\u007f]/.test(text)) throw new UsageError('--reason must be one line of printable text')
  if (text.length > MAX_REASON) throw new UsageError(`--reason is longer than ${MAX_REASON} characters`)
  return text.trim()
}

export function blockLine (block: Block): string {
  return [block.kind, block.id, expiryOf(block), block.reason].filter(Boolean).join('  ')
}

function expiryOf (block: Block): string {
  return Number.isFinite(block.until) ? new Date(block.until).toISOString().replace(/\.\d{3}Z$/, 'Z') : 'no-expiry'
}

export async function runBlock (config: Readonly<Config>, request: BlockTarget & { for?: string | undefined, reason?: string | undefined }, out: (line: string) => void): Promise<number> {
  const { kind, id } = blockTargetOf('block', request)
  const lifetime = parseDuration('--for', request.for ?? DEFAULT_BLOCK, { units: BLOCK_UNITS })
  const reason = reasonOf(request.reason)
  return await withBlocks(config, 'block', out, async (store, known) => {
    const now = Date.now()
    const block: Block = { kind, id, until: now + lifetime, reason, since: now }
    const gateways = await store.changeBlocks({ [blockField(kind, id)]: encodeBlock(block) }, expiredFields(known, now))
    out(`ok block ${kind} ${id} until ${expiryOf(block)}: ${notified(gateways)}`)
    warnIfNobody(gateways, 'block', out)
  })
}

export async function runUnblock (config: Readonly<Config>, request: BlockTarget, out: (line: string) => void): Promise<number> {
  const { kind, id } = blockTargetOf('unblock', request)
  return await withBlocks(config, 'unblock', out, async (store, known) => {
    const field = blockField(kind, id)
    const was = known.get(field)
    const gateways = await store.changeBlocks({}, [field, ...expiredFields(known, Date.now())])
    out(`ok unblock ${kind} ${id}: ${was === undefined || was.until <= Date.now() ? 'was not blocked' : 'lifted'}, ${notified(gateways)}`)
    warnIfNobody(gateways, 'unblock', out)
  })
}

export async function runBlocks (config: Readonly<Config>, { json }: { json: boolean }, out: (line: string) => void): Promise<number> {
  return await withBlocks(config, 'blocks', out, async (_store, known) => {
    const now = Date.now()
    const blocks = [...known.values()].filter((block) => block.until > now).sort((a, b) => a.until - b.until || blockField(a.kind, a.id).localeCompare(blockField(b.kind, b.id)))
    if (json) {
      out(JSON.stringify(blocks.map((block) => ({ kind: block.kind, id: block.id, until: Number.isFinite(block.until) ? new Date(block.until).toISOString() : null, reason: block.reason, since: new Date(block.since).toISOString() })), null, 2))
      return
    }
    for (const block of blocks) out(blockLine(block))
  })
}

/** Opens the shared cache, reads the blocks, runs `act`; any failure is one FAIL line and exit 1. */
async function withBlocks (config: Readonly<Config>, command: string, out: (line: string) => void,
  act: (store: SharedStore, known: Map<string, Block>) => Promise<void>): Promise<number> {
  if (config.cache.store !== 'redis') {
    out(`FAIL ${command}: ${NO_SHARED_BLOCKS}`)
    return 1
  }
  const store = createSharedStore(config)
  try {
    await store.ready()
    const known = new Map(decodeBlocks(await store.readBlocks()).map((block) => [blockField(block.kind, block.id), block]))
    await act(store, known)
    return 0
  } catch (err) {
    out(`FAIL ${command}: ${(err as Error).message}${command === 'blocks' ? '' : '; run it again once Redis answers'}`)
    return 1
  } finally {
    await store.close()
  }
}

function expiredFields (known: Map<string, Block>, now: number): string[] {
  return [...known].filter(([, block]) => block.until <= now).map(([field]) => field)
}

function notified (gateways: number): string {
  return `${gateways} gateway${gateways === 1 ? '' : 's'} notified`
}

function warnIfNobody (gateways: number, command: string, out: (line: string) => void): void {
  // Not a failure: the record is stored, and every gateway reads it at start and every few seconds.
  if (gateways === 0) out(`warning ${command}: no running gateway received the message (none is connected to this Redis and key prefix); each reads the blocks when it starts`)
}
