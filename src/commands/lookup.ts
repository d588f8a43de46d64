/**
 * `lookup --tenant GUID | --client GUID [--json]` (CONTRACT.md §14): how the gateway resolves it
 * now, and where the answer comes from. The layers are asked in the gateway's order, except the
 * process layer, which lives in each running gateway and not in this process: the shared cache
 * (Redis; a fresh entry is the answer, with its age), else the source (file or MySQL).
 *
 * Read only, by decision: the shared cache is only read (readSharedEntry), never filled with the
 * source's answer, so asking changes nothing the gateways see — an entry's age stays the age of
 * what they serve. Secrets (passwords, Redis URLs with credentials) are never printed.
 */
import type { Config } from '../config/schema.js'
import { GUID } from '../config/validation.js'
import { createSharedCache } from '../backends/shared-cache.js'
import { failureReason } from '../backends/failure-reason.js'
import { createMappingSource } from '../mappings/create.js'
import { readSharedEntry, type MappingKind } from '../mappings/shared-entry.js'
import type { Stored } from '../mappings/cached-source.js'
import type { ClientListing, ClientMapping, MappingSource, TenantMapping } from '../mappings/source.js'
import { resolveClientBank, resolveTenantBank } from '../access/bank-resolution.js'
import { GatewayError } from '../errors.js'
import { UsageError } from './usage.js'

export interface LookupTarget { kind: MappingKind, id: string }

/** Exactly one of --tenant, --client, a GUID; checked before the config is read. */
export function lookupTargetOf (values: { tenant?: string | undefined, client?: string | undefined }): LookupTarget {
  if ((values.tenant === undefined) === (values.client === undefined)) throw new UsageError('lookup needs exactly one of --tenant GUID, --client GUID')
  const kind: MappingKind = values.tenant !== undefined ? 'tenant' : 'client'
  const id = (values.tenant ?? values.client)!
  if (!GUID.test(id)) throw new UsageError(`--${kind} takes a GUID, not "${id}"`)
  return { kind, id: id.toLowerCase() }
}

/** What each layer said: the process layer is never one this process can ask. */
interface Asked { processLayer: string, sharedCache: string, source: string }
interface Answer<T> { value: T | null, from: 'shared cache' | 'source', ageSec: number, stale: boolean }

export async function runLookup (config: Readonly<Config>, target: LookupTarget, { json }: { json: boolean }, out: (line: string) => void): Promise<number> {
  // Built first: a bad mappings file or TLS file is a configuration error (78) before any connection.
  const source = createMappingSource(config)
  try {
    const asked: Asked = {
      processLayer: `none in this process (a running gateway may answer from its own copy, up to cache.localTtlSec = ${config.cache.localTtlSec} s old)`,
      sharedCache: 'memory: each gateway process holds its own, nothing shared to read',
      source: 'not asked'
    }
    const shared = config.cache.store === 'redis' ? await readShared(config, target, asked) : undefined
    const answer = await resolveAnswer(config, source, target, shared, asked)
    if (answer === undefined) {
      if (json) out(JSON.stringify({ kind: target.kind, id: target.id, resolves: false, outcome: 'MAPPING_UNAVAILABLE', asked }, null, 2))
      else [`FAIL lookup ${target.kind} ${target.id}: the mapping source failed and nothing is cached (the gateway answers 503 MAPPING_UNAVAILABLE)`, ...askedLines(asked)].forEach((line) => out(line))
      return 1
    }
    const facts = target.kind === 'tenant'
      ? tenantFacts(answer.value as TenantMapping | null, config.headers.bankSelection)
      : await clientFacts(answer.value as ClientMapping | null, source, asked)
    const origin = { from: answer.from, sourceKind: source.kind, ageSec: answer.ageSec, stale: answer.stale }
    if (json) out(JSON.stringify({ kind: target.kind, id: target.id, ...facts.json, ...origin, asked }, null, 2))
    else {
      const from = answer.from === 'source' ? `source (${source.kind})` : `shared cache${answer.stale ? ' (stale: served because the source failed)' : ''}`
      for (const line of [`${target.kind} ${target.id}`, ...facts.lines, `from: ${from}, age ${answer.ageSec} s`, ...askedLines(asked)]) out(line)
    }
    return facts.json.resolves ? 0 : 1
  } finally {
    await source.close()
  }
}

function askedLines (asked: Asked): string[] {
  return [`asked process layer: ${asked.processLayer}`, `asked shared cache: ${asked.sharedCache}`, `asked source: ${asked.source}`]
}

async function readShared (config: Readonly<Config>, target: LookupTarget, asked: Asked): Promise<Stored<unknown> | undefined> {
  const store = createSharedCache(config.cache)
  try {
    await store.ready()
    const entry = await readSharedEntry(store, target.kind, target.id)
    asked.sharedCache = entry === undefined ? 'redis: no entry' : 'redis: entry found'
    return entry
  } catch (err) {
    asked.sharedCache = `redis: unreachable (${failureReason(err)}); the gateway would fall through to the source`
    return undefined
  } finally {
    await store.close()
  }
}

/** The gateway's order: a fresh shared entry, else the source, else a stale entry still servable; undefined = 503. */
async function resolveAnswer (config: Readonly<Config>, source: MappingSource, target: LookupTarget, shared: Stored<unknown> | undefined, asked: Asked): Promise<Answer<unknown> | undefined> {
  const now = Date.now()
  const ageOf = (stored: Stored<unknown>): number => Math.max(0, Math.floor((now - stored.at) / 1000))
  const freshSec = (stored: Stored<unknown>): number => stored.v === null ? config.cache.negativeTtlSec : config.cache.ttlSec
  if (shared !== undefined) {
    const age = ageOf(shared)
    const fresh = age < freshSec(shared)
    asked.sharedCache = `redis: ${fresh ? 'fresh' : 'expired'} entry, ${age} s old (fresh for ${freshSec(shared)} s)`
    if (fresh) return { value: shared.v, from: 'shared cache', ageSec: age, stale: false }
  }
  try {
    const value = target.kind === 'tenant' ? await source.tenant(target.id) : await source.client(target.id)
    asked.source = `${source.kind}: answered (this answer is not written into the shared cache)`
    return { value, from: 'source', ageSec: 0, stale: false }
  } catch (err) {
    asked.source = `${source.kind}: failed (${failureReason(err)})`
    if (shared !== undefined && ageOf(shared) < freshSec(shared) + config.cache.staleIfErrorSec) return { value: shared.v, from: 'shared cache', ageSec: ageOf(shared), stale: true }
    return undefined
  }
}

interface Facts { lines: string[], json: { resolves: boolean, outcome: string } & Record<string, unknown> }

/** What resolution makes of it, by the gateway's own rule (bank-resolution.ts): `ok` or the contract code. */
function outcomeOf (resolve: () => unknown): string {
  try {
    resolve()
    return 'ok'
  } catch (err) {
    if (err instanceof GatewayError) return err.code
    throw err
  }
}

function tenantFacts (mapping: TenantMapping | null, header: string): Facts {
  const outcome = outcomeOf(() => resolveTenantBank(mapping, undefined, { requireActive: false }))
  const banks = (mapping?.banks ?? []).map((bank) => ({ bankId: bank.bankId, enabled: bank.enabled, default: bank.isDefault }))
  const defaultBank = banks.find((bank) => bank.default)?.bankId ?? null
  const resolves = outcome === 'ok'
  const active = resolves ? resolveTenantBank(mapping, undefined, { requireActive: false }) : undefined
  const json = { resolves, outcome, banks, default: defaultBank, bankWithoutSelection: active?.activeBankId ?? null }
  if (banks.length === 0) return { json, lines: ['not mapped: no bank is mapped to this tenant (the gateway answers 403 TENANT_NOT_MAPPED)'] }
  const lines = banks.map((bank) => `bank ${bank.bankId}: ${bank.enabled ? 'enabled' : 'disabled'}${bank.default ? ', default' : ''}`)
  lines.push(`default: ${defaultBank ?? 'none'}`)
  if (!resolves) lines.push(`does not resolve: every bank of this tenant is disabled (the gateway answers 403 ${outcome})`)
  else {
    const withHeader = `${header} may name ${active!.bankIds.join(', ')}`
    lines.push(active!.activeBankId === null
      ? `resolves: only with ${header} (without it: 400 BANK_CONTEXT_REQUIRED); ${withHeader}`
      : `resolves: to bank ${active!.activeBankId} without ${header}; ${withHeader}`)
  }
  return { json, lines }
}

async function clientFacts (mapping: ClientMapping | null, source: MappingSource, asked: Asked): Promise<Facts> {
  const outcome = outcomeOf(() => resolveClientBank(mapping))
  const resolves = outcome === 'ok'
  if (mapping === null) {
    return { json: { resolves, outcome, bankId: null }, lines: ['not registered: no BankClients row for this client (the gateway answers 403 CLIENT_NOT_REGISTERED)'] }
  }
  // Description and secret expiry are not part of the cached answer: the source's listing holds them.
  let listing: ClientListing | undefined
  let detailsWhy = ''
  try {
    listing = (await source.clients()).find((client) => client.clientId.toLowerCase() === mapping.clientId.toLowerCase())
    if (listing === undefined) detailsWhy = 'no longer in the source'
  } catch (err) {
    detailsWhy = `source failed (${failureReason(err)})`
    if (asked.source === 'not asked') asked.source = `${source.kind}: failed for the client's details (${detailsWhy})`
  }
  if (listing !== undefined && asked.source === 'not asked') asked.source = `${source.kind}: asked for the client's description and secret expiry only`
  const json = {
    resolves,
    outcome,
    bankId: mapping.bankId,
    bankName: listing?.bankName ?? null,
    enabled: mapping.enabled,
    bankEnabled: mapping.bankEnabled,
    description: listing?.description ?? null,
    secretExpiresAt: listing?.secretExpiresAt ?? null
  }
  const unknown = `unknown: ${detailsWhy}`
  const lines = [
    `bank: ${mapping.bankId}${json.bankName !== null ? ` (${json.bankName})` : ''}, ${mapping.bankEnabled ? 'enabled' : 'disabled'}`,
    `enabled: ${mapping.enabled ? 'yes' : 'no'}`,
    `description: ${listing === undefined ? unknown : json.description ?? 'none'}`,
    `secret expires: ${listing === undefined ? unknown : json.secretExpiresAt ?? 'no expiry recorded'}`,
    resolves ? `resolves: to bank ${mapping.bankId}` : `does not resolve: ${mapping.enabled ? 'its bank is disabled' : 'the client is disabled'} (the gateway answers 403 ${outcome})`
  ]
  return { json, lines }
}
