/** Every metric name carries this prefix (CONTRACT.md §8), runtime defaults included. */
import { Counter, Gauge, Registry, collectDefaultMetrics } from 'prom-client'
import { TalliedHistogram, talliedCounter, type CounterTally, type TalliedCounter } from './metrics-tally.js'
import { BankDecisions } from './bank-decisions.js'

export const METRIC_PREFIX = 'bookme_gateway_'

export type StatusClass = '1xx' | '2xx' | '3xx' | '4xx' | '5xx'
export type UpstreamErrorKind = 'refused' | 'reset' | 'timeout' | 'tls' | 'other'

export interface GatewayMetrics {
  registry: Registry
  requests: TalliedCounter<'route' | 'status_class'>
  requestDuration: TalliedHistogram
  upstreamErrors: Counter<'route' | 'kind'>
  inFlight: Gauge
  authFailures: Counter<'code'>
  jwksFetches: Counter<'result'>
  unknownKidRefetches: Counter<'outcome'>
  tokenCache: TalliedCounter<'result'>
  mappingCache: TalliedCounter<'layer' | 'result'>
  mappingSourceQueries: Counter<'kind' | 'result'>
  mappingStaleServed: Counter<'kind'>
  cacheStoreErrors: Counter
  bankClientSecretExpiry: Gauge<'client_id' | 'bank_id'>
  rateLimited: Counter<'policy'>
  rateLimitFallback: Counter
  blockedRequests: Counter<'kind'>
  groupsLookups: Counter<'result'>
  blocksLost: Counter<'kind'>
  websocketSessions: Gauge<'route'>
  websocketClosed: Counter<'reason'>
  decisions: BankDecisions
  reportOnly: Counter<'route' | 'code'>
}

/** Metrics live on an injected registry, so two gateways in one process (tests) never collide. */
export function createMetrics (registry: Registry, { defaults = true, readInFlight = () => 0 }: { defaults?: boolean, readInFlight?: () => number } = {}): GatewayMetrics {
  if (defaults) collectDefaultMetrics({ register: registry, prefix: METRIC_PREFIX })
  return {
    registry,
    requests: tallied('requests_total', 'Requests answered, by route and status class', ['route', 'status_class']),
    requestDuration: new TalliedHistogram(registry, `${METRIC_PREFIX}request_duration_seconds`, 'Time from request received to response finished',
      [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30]),
    upstreamErrors: new Counter({
      name: `${METRIC_PREFIX}upstream_errors_total`,
      help: 'Upstream failures answered by the gateway, by route and kind',
      labelNames: ['route', 'kind'],
      registers: [registry]
    }),
    inFlight: new Gauge({
      name: `${METRIC_PREFIX}requests_in_flight`,
      help: 'Requests received and not yet answered',
      registers: [registry],
      collect () { this.set(readInFlight()) }
    }),
    authFailures: counter('auth_failures_total', 'Requests refused by token, bank or role checks, by error code', ['code']),
    jwksFetches: counter('jwks_fetches_total', 'Discovery + JWKS fetches, by result', ['result']),
    unknownKidRefetches: counter('jwks_unknown_kid_refetches_total', 'Unknown signing key: refetch done or refused by the rate limit', ['outcome']),
    tokenCache: tallied('token_cache_lookups_total', 'Verified-token cache lookups, by result (hit, miss)', ['result']),
    mappingCache: tallied('mapping_cache_lookups_total', 'Bank mapping cache lookups, by layer (local, shared) and result', ['layer', 'result']),
    mappingSourceQueries: counter('mapping_source_queries_total', 'Queries to the mapping source, by kind and result', ['kind', 'result']),
    mappingStaleServed: counter('mapping_stale_served_total', 'Expired mapping answers served while the source failed', ['kind']),
    cacheStoreErrors: counter('cache_store_errors_total', 'Shared cache (Redis) commands that failed and fell through', []),
    bankClientSecretExpiry: new Gauge({
      name: `${METRIC_PREFIX}bank_client_secret_expiry_timestamp_seconds`,
      help: 'When each registered bank client\'s secret expires (unix seconds)',
      labelNames: ['client_id', 'bank_id'],
      registers: [registry]
    }),
    rateLimited: counter('rate_limited_total', 'Requests refused with 429 RATE_LIMITED, by the policy that refused', ['policy']),
    rateLimitFallback: counter('rate_limit_fallback_total', 'Requests counted by this pod alone (limit / replicas) while the shared store failed', []),
    blockedRequests: counter('blocked_requests_total', 'Requests refused with 403 PRINCIPAL_BLOCKED, by the kind of block (tenant, client, user)', ['kind']),
    groupsLookups: counter('groups_lookups_total', 'Group lookups of groups-overage tokens: cached, graph (asked), stale (served while Graph failed), failed', ['result']),
    blocksLost: counter('blocks_lost_total', 'Blocks that disappeared from the shared store without an unblock, kept in force here until their expiry', ['kind']),
    websocketSessions: new Gauge({ name: `${METRIC_PREFIX}websocket_sessions`, help: 'Open WebSocket sessions, by route', labelNames: ['route'], registers: [registry] }),
    decisions: new BankDecisions(registry, `${METRIC_PREFIX}decisions_total`, 'Requests by the active BankId (none when unresolved; _other past the bound of banks with series), decision (allow, deny, report) and problem code (empty when allowed)'),
    reportOnly: counter('report_only_total', 'Refusals of routes in mode report, logged and forwarded instead of answered, by route and code', ['route', 'code']),
    websocketClosed: counter('websocket_closed_total', 'WebSocket sessions ended, by reason: token_expired, principal_blocked, token_revoked, message_too_large (closed by the gateway), peer (closed by the client or the upstream)', ['reason'])
  }

  function counter<L extends string> (name: string, help: string, labelNames: L[]): Counter<L> {
    return new Counter({ name: `${METRIC_PREFIX}${name}`, help, labelNames, registers: [registry] })
  }

  /** A counter moved on every request: see metrics-tally.ts. */
  function tallied<L extends string> (name: string, help: string, labelNames: L[]): TalliedCounter<L> {
    return talliedCounter(registry, `${METRIC_PREFIX}${name}`, help, labelNames)
  }
}

/**
 * Per-request recording, with the tallies of each (route, status class) bound on first use and
 * found by the route's own name, then the class: no key string is built per request.
 */
export type RequestRecorder = (route: string, status: number, seconds: number) => void

export function createRequestRecorder (metrics: GatewayMetrics): RequestRecorder {
  const byRoute = new Map<string, Partial<Record<StatusClass, { count: CounterTally, observe: (seconds: number) => void }>>>()
  return function recordRequest (route, status, seconds) {
    const klass = statusClass(status)
    let byClass = byRoute.get(route)
    if (byClass === undefined) {
      byClass = {}
      byRoute.set(route, byClass)
    }
    let child = byClass[klass]
    if (child === undefined) {
      const labels = { route, status_class: klass }
      child = { count: metrics.requests.tally(labels), observe: metrics.requestDuration.observer(labels) }
      byClass[klass] = child
    }
    child.count.inc()
    child.observe(seconds)
  }
}

function statusClass (status: number): StatusClass {
  if (status >= 500) return '5xx'
  if (status >= 400) return '4xx'
  if (status >= 300) return '3xx'
  if (status >= 200) return '2xx'
  return '1xx'
}
