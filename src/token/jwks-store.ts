/**
 * Signing keys found through OpenID discovery at the configured authority (CONTRACT.md §3),
 * never through a URL a token names. What get-jwks does not do and this store does
 * (ENTRA.md §3.3): keys kept one by one per JWKS URI and merged across fetches (Entra's front
 * ends return different subsets), kept `cacheTtlSec` after last seen, refreshed in the
 * background, lookup by `kid` or `x5t`, one shared rate-limited refetch for an unknown key,
 * last known good kept while the JWKS is down, signing-key `issuer`/`cloud_instance_name`
 * kept for the checks of ENTRA.md §2.3, and a fetch timeout that is real.
 *
 * Each key is parsed once, at fetch time, into a KeyObject and a fast-jwt verifier bound to
 * it: nothing is converted on the request path.
 */
import type { KeyObject } from 'node:crypto'
import { assertSameOrigin, fetchJson, parseJwk } from './jwks-fetch.js'

export { fetchJson } from './jwks-fetch.js'

export interface SigningKey {
  id: string
  x5t: string | undefined
  key: KeyObject
  /** The JWK's `issuer` (may hold `{tenantid}`), when published (v2 keys documents). */
  issuer: string | undefined
  cloudInstanceName: string | undefined
  /** fast-jwt verifier for this key: RS256 only, signature, crit, `exp` required, exp/nbf. */
  verify: (token: string) => unknown
  lastSeen: number
}

export interface KeySource {
  discoveryUrl: string
  /** The discovery document's `cloud_instance_name`, once fetched. */
  readonly cloudInstanceName: string | undefined
  readonly jwksUri: string | undefined
  /** Seconds since the key set last refreshed successfully, or undefined before the first. */
  ageSeconds (): number | undefined
  readonly fetchedOnce: boolean
  /** The key, refetching once (shared, rate-limited) when it is unknown. */
  getKey (id: string): Promise<SigningKey | undefined>
  readonly keyCount: number
  /** Why the last fetch failed, if it did. */
  readonly lastError: unknown
  refresh (): Promise<void>
}

export type FetchResult = 'ok' | 'error'
export type RefetchOutcome = 'done' | 'rate_limited'

export interface JwksStoreOptions {
  timeoutMs: number
  cacheTtlSec: number
  refreshIntervalSec: number
  minRefreshIntervalSec: number
  clockToleranceSec: number
  /** ms since the epoch: verify tokens' exp/nbf at this instant instead of now (`explain --at`). */
  verifyAt?: number
  now?: () => number
  fetchJson?: (url: string, timeoutMs: number) => Promise<unknown>
  onFetch?: (result: FetchResult, source: KeySource) => void
  onRefetch?: (outcome: RefetchOutcome) => void
  onError?: (err: unknown, source: KeySource) => void
}

export interface JwksStore {
  source (discoveryUrl: string): KeySource
  sources (): KeySource[]
  close (): void
}

const RETRY_FIRST_MS = 1000
const RETRY_MAX_MS = 30_000

export function createJwksStore (options: JwksStoreOptions): JwksStore {
  const now = options.now ?? Date.now
  const fetchJsonFrom = options.fetchJson ?? fetchJson
  const byUrl = new Map<string, KeySource>()
  // What close() stops: each source's refresh interval and pending retry.
  const cancels: Array<() => void> = []
  let closed = false

  function createSource (discoveryUrl: string): KeySource {
    const keys = new Map<string, SigningKey>()
    let jwksUri: string | undefined
    let cloudInstanceName: string | undefined
    let lastSuccess: number | undefined
    // The unknown-kid allowance is spent only by unknown-kid refetches: a start-up or scheduled
    // fetch must not use it, since the key missing from one front end's answer may be in the
    // next (ENTRA.md §3.3).
    let lastUnknownKidRefetch = -Infinity
    let inFlight: Promise<void> | undefined
    let lastError: unknown
    let retryDelayMs = RETRY_FIRST_MS
    let retryTimer: NodeJS.Timeout | undefined

    async function fetchOnce (): Promise<void> {
      try {
        const discovery = await fetchJsonFrom(discoveryUrl, options.timeoutMs) as { jwks_uri?: unknown, cloud_instance_name?: unknown }
        if (typeof discovery?.jwks_uri !== 'string') throw new Error(`${discoveryUrl}: no jwks_uri`)
        assertSameOrigin(discoveryUrl, discovery.jwks_uri)
        const document = await fetchJsonFrom(discovery.jwks_uri, options.timeoutMs) as { keys?: unknown }
        if (!Array.isArray(document?.keys)) throw new Error(`${discovery.jwks_uri}: no keys array`)
        jwksUri = discovery.jwks_uri
        lastError = undefined
        cloudInstanceName = typeof discovery.cloud_instance_name === 'string' ? discovery.cloud_instance_name : undefined
        merge(document.keys)
        lastSuccess = now()
        retryDelayMs = RETRY_FIRST_MS
        options.onFetch?.('ok', source)
      } catch (err) {
        lastError = err
        options.onFetch?.('error', source)
        options.onError?.(err, source)
        scheduleRetry()
      }
    }

    /**
     * A failed fetch is tried again after 1 s, doubling to 30 s, until one succeeds: a gateway
     * started during a short authority outage becomes ready as soon as the authority answers,
     * not at the next `refreshIntervalSec`.
     */
    function scheduleRetry (): void {
      if (retryTimer !== undefined || closed) return
      retryTimer = setTimeout(() => {
        retryTimer = undefined
        void refresh()
      }, retryDelayMs)
      retryTimer.unref()
      retryDelayMs = Math.min(retryDelayMs * 2, RETRY_MAX_MS)
    }
    cancels.push(() => { clearTimeout(retryTimer); retryTimer = undefined })

    function merge (jwks: unknown[]): void {
      const seenAt = now()
      for (const jwk of jwks) {
        const parsed = parseJwk(jwk, seenAt, options.clockToleranceSec, options.verifyAt)
        if (!parsed) continue
        const known = keys.get(parsed.id)
        // Same kid, same material: only refresh lastSeen (keeps the built verifier).
        if (known && known.key.equals(parsed.key)) known.lastSeen = seenAt
        else keys.set(parsed.id, parsed)
      }
      expire()
    }

    const isExpired = (key: SigningKey): boolean => key.lastSeen < now() - options.cacheTtlSec * 1000

    function expire (): void {
      for (const [id, key] of keys) if (isExpired(key)) keys.delete(id)
    }

    function refresh (): Promise<void> {
      inFlight ??= fetchOnce().finally(() => { inFlight = undefined })
      return inFlight
    }

    function lookup (id: string): SigningKey | undefined {
      const key = keys.get(id) ?? findByX5t(id)
      if (key && isExpired(key)) {
        keys.delete(key.id)
        return undefined
      }
      return key
    }

    function findByX5t (x5t: string): SigningKey | undefined {
      for (const key of keys.values()) if (key.x5t === x5t) return key
      return undefined
    }

    const source: KeySource = {
      discoveryUrl,
      get cloudInstanceName () { return cloudInstanceName },
      get jwksUri () { return jwksUri },
      get fetchedOnce () { return lastSuccess !== undefined },
      get keyCount () { return keys.size },
      get lastError () { return lastError },
      ageSeconds () { return lastSuccess === undefined ? undefined : (now() - lastSuccess) / 1000 },
      async getKey (id) {
        const known = lookup(id)
        if (known) return known
        // A fetch already under way (start-up, scheduled, a retry or another refetch) may bring it.
        if (inFlight !== undefined) {
          await inFlight
          const fetched = lookup(id)
          if (fetched) return fetched
        }
        // Unknown key: one refetch shared by every waiting request, at most once per interval
        // (a flood of random kids must not become a flood of JWKS downloads, ENTRA.md §4.11).
        if (inFlight === undefined && now() - lastUnknownKidRefetch < options.minRefreshIntervalSec * 1000) {
          options.onRefetch?.('rate_limited')
          return undefined
        }
        if (inFlight === undefined) {
          lastUnknownKidRefetch = now()
          options.onRefetch?.('done')
        }
        await refresh()
        return lookup(id)
      },
      refresh
    }
    return source
  }

  return {
    source (discoveryUrl) {
      let source = byUrl.get(discoveryUrl)
      if (!source) {
        source = createSource(discoveryUrl)
        byUrl.set(discoveryUrl, source)
        const refreshing = source
        void refreshing.refresh()
        const timer = setInterval(() => { void refreshing.refresh() }, options.refreshIntervalSec * 1000)
        timer.unref()
        cancels.push(() => clearInterval(timer))
      }
      return source
    },
    sources () { return [...byUrl.values()] },
    close () {
      closed = true
      for (const cancel of cancels) cancel()
    }
  }
}
