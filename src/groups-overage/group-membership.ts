/**
 * A groups-overage user's memberships among the group ids the rules name (CONTRACT.md §13):
 * from the cache store (Redis: shared by every replica) while fresh, else from Microsoft Graph,
 * one lookup at a time per (tid, oid). Graph failing: the last answer while it is within
 * `staleIfErrorSec`, else GROUPS_UNAVAILABLE — never a guess. Graph throttling a tenant: it is
 * not asked again for that tenant before its `Retry-After` (a wait that fits the lookup's time
 * allowance is waited out once).
 */
import { createHash } from 'node:crypto'
import { GatewayError } from '../errors.js'
import type { SharedCache } from '../backends/shared-cache.js'
import { GraphFailure, type GraphClient } from './graph-client.js'

export interface GroupMembershipOptions {
  graph: GraphClient
  store: SharedCache
  /** The group ids the rules name (lower case). */
  groupIds: readonly string[]
  cacheTtlSec: number
  staleIfErrorSec: number
  /** The lookup's time allowance: a throttled call is retried once if its wait fits within it. */
  timeoutMs: number
  now?: () => number
  events?: {
    lookup?: (result: 'cached' | 'graph' | 'stale' | 'failed') => void
    failed?: (tenantId: string, failure: GraphFailure) => void
  }
}

interface Stored { m: string[], at: number }

export function createGroupMembership (options: GroupMembershipOptions): (tenantId: string, objectId: string) => Promise<readonly string[]> {
  const now = options.now ?? Date.now
  const { graph, store, groupIds, events } = options
  const freshMs = options.cacheTtlSec * 1000
  const keptSec = options.cacheTtlSec + options.staleIfErrorSec
  // The rules' group set is part of the key: a changed rule set never reads another set's answer.
  const setTag = createHash('sha256').update([...groupIds].sort().join(',')).digest('base64url').slice(0, 12)
  const pending = new Map<string, Promise<readonly string[]>>()
  const throttledUntil = new Map<string, number>()

  const keyOf = (tenantId: string, objectId: string): string => `groups:${setTag}:${tenantId}:${objectId.toLowerCase()}`

  async function read (key: string): Promise<Stored | undefined> {
    try {
      const text = await store.get(key)
      if (text === null) return undefined
      const stored = JSON.parse(text) as Stored
      return Array.isArray(stored.m) && typeof stored.at === 'number' ? stored : undefined
    } catch {
      return undefined // an unreadable cache is a miss; Graph is asked
    }
  }

  async function askGraph (tenantId: string, objectId: string): Promise<string[]> {
    const started = now()
    for (let attempt = 0; ; attempt++) {
      const waitMs = (throttledUntil.get(tenantId) ?? 0) - now()
      if (waitMs > 0) {
        if (attempt > 1 || now() + waitMs > started + options.timeoutMs) {
          throw new GraphFailure('throttled', 'Microsoft Graph is throttling this tenant', Math.ceil(waitMs / 1000))
        }
        await new Promise((resolve) => setTimeout(resolve, waitMs))
      }
      try {
        return await graph.checkMemberGroups(tenantId, objectId, groupIds)
      } catch (err) {
        if (!(err instanceof GraphFailure) || err.kind !== 'throttled') throw err
        throttledUntil.set(tenantId, now() + (err.retryAfterSec ?? 1) * 1000)
        if (attempt > 0) throw err
      }
    }
  }

  async function lookUp (tenantId: string, objectId: string, key: string): Promise<readonly string[]> {
    const cached = await read(key)
    if (cached !== undefined && cached.at + freshMs > now()) {
      events?.lookup?.('cached')
      return cached.m
    }
    try {
      const members = groupIds.length === 0 ? [] : await askGraph(tenantId, objectId)
      events?.lookup?.('graph')
      await store.set(key, JSON.stringify({ m: members, at: now() } satisfies Stored), keptSec).catch(() => {})
      return members
    } catch (err) {
      const failure = err instanceof GraphFailure ? err : new GraphFailure('refused', (err as Error).message)
      events?.failed?.(tenantId, failure)
      if (cached !== undefined) {
        events?.lookup?.('stale')
        return cached.m
      }
      events?.lookup?.('failed')
      throw new GatewayError('GROUPS_UNAVAILABLE', `The user is in more groups than fit in a token, and Microsoft Graph could not be asked which: ${failure.message}`, {
        ...(failure.retryAfterSec === undefined ? {} : { retryAfterSec: failure.retryAfterSec })
      })
    }
  }

  return async function memberGroups (tenantId, objectId) {
    const key = keyOf(tenantId, objectId)
    const known = pending.get(key)
    if (known !== undefined) return await known
    const lookup = lookUp(tenantId, objectId, key).finally(() => pending.delete(key))
    pending.set(key, lookup)
    return await lookup
  }
}
