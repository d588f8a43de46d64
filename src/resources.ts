import type { Logger } from 'pino'
import { Registry } from 'prom-client'
import type { Config } from './config/schema.js'
import { createLogger } from './observability/logger.js'
import { createMetrics, type GatewayMetrics } from './observability/metrics.js'
import { createHealth, type Health } from './observability/health.js'
import { classifyBackendFailure, type Backend } from './backends/backend-failure.js'
import { createInFlight, type InFlight } from './observability/in-flight.js'
import { createJwksStore, type JwksStore } from './token/jwks-store.js'
import { createAuthenticator, type Authenticator } from './token/authenticator.js'
import { createMappingSource } from './mappings/create.js'
import { createCachedMappings, type MappingLookup } from './mappings/cached-source.js'
import type { MappingSource } from './mappings/source.js'
import { createSharedCache, type SharedCache } from './backends/shared-cache.js'
import { createBlockStore, type BlockStore } from './blocks/block-store.js'
import { createCounterStore, type CounterStore } from './rate-limits/counter-store.js'
import { createClaimMapper } from './access/roles.js'
import { createDecider, type Decider } from './access/decision.js'
import { watchClientSecrets } from './mappings/secret-expiry.js'
import { failureReason } from './backends/failure-reason.js'
import { loadAssertionKeys } from './assertion/keys.js'
import { createAssertionSigner, type AssertionSigner } from './assertion/signer.js'
import { compilePolicies, type RateLimitPlan } from './rate-limits/policies.js'
import { createRateLimiter, type RateLimiter } from './rate-limits/limiter.js'
import { watchBlocks, type EmergencyBlocks } from './blocks/block-watcher.js'
import { createOverageGroups } from './groups-overage/resolver.js'
import { createWebSocketSessions, type WebSocketSessions } from './proxy/websocket-sessions.js'

/**
 * Everything with a lifetime longer than a request: built once per process by `server.ts`
 * (or once per test), handed to `buildApp`, closed on shutdown.
 */
export interface Resources {
  logger: Logger
  metrics: GatewayMetrics
  health: Health
  inFlight: InFlight
  jwks: JwksStore
  authenticator: Authenticator
  source: MappingSource
  sharedCache: SharedCache
  /** The emergency blocks and the rate-limit counters, beside the shared cache (on its connection). */
  blockStore: BlockStore
  counterStore: CounterStore
  mappings: MappingLookup
  /** The one access decision (access/decision.ts): token, blocks, mappings, roles, rate limits. */
  decider: Decider
  /** Signs the identity assertion (CONTRACT.md §11); undefined when no key is configured. */
  assertion: AssertionSigner | undefined
  /** The rate-limit policies by route (CONTRACT.md §12), and the limiter that counts them. */
  rateLimits: RateLimitPlan
  limiter: RateLimiter
  /** The emergency blocks (CONTRACT.md §13), kept equal to the shared cache's. */
  blocks: EmergencyBlocks
  /** Open WebSocket sessions by principal, ended at their token's expiry or by a block (§15). */
  sessions: WebSocketSessions
  close (): Promise<void>
}

export interface ResourceOptions {
  logger?: Logger
  registry?: Registry
  /** How discovery and JWKS documents are fetched (`explain --jwks FILE` reads a file). */
  fetchJson?: (url: string, timeoutMs: number) => Promise<unknown>
  /** ms since the epoch: judge token lifetimes at this instant instead of now (`explain --at`). */
  verifyAt?: number
}

/** How often readiness re-asks the mapping source / shared cache, for the /readyz body. */
const DEPENDENCY_PROBE_MS = 10_000
const CACHE_ERROR_LOG_INTERVAL_MS = 30_000

export async function createResources (config: Readonly<Config>, options: ResourceOptions = {}): Promise<Resources> {
  const logger = options.logger ?? createLogger()
  const inFlight = createInFlight()
  const health = createHealth()
  // Assigned once below, after the metrics it reports to; the gauge reads it lazily.
  let jwks: JwksStore | undefined // eslint-disable-line prefer-const
  const metrics = createMetrics(options.registry ?? new Registry(), {
    readInFlight: () => inFlight.count,
    readKeySetAges: () => (jwks?.sources() ?? []).flatMap((s) => { const age = s.ageSeconds(); return s.jwksUri && age !== undefined ? [[s.jwksUri, age] as [string, number]] : [] })
  })

  // Tallies bound once: these counters move on every request.
  const tokenLookups = { hit: metrics.tokenCache.tally({ result: 'hit' }), miss: metrics.tokenCache.tally({ result: 'miss' }) }
  const mappingLookups = {
    local: { hit: metrics.mappingCache.tally({ layer: 'local', result: 'hit' }), miss: metrics.mappingCache.tally({ layer: 'local', result: 'miss' }) },
    shared: { hit: metrics.mappingCache.tally({ layer: 'shared', result: 'hit' }), miss: metrics.mappingCache.tally({ layer: 'shared', result: 'miss' }) }
  }

  // Read first: a bad key file is a configuration error before any connection is opened.
  const assertionKeys = loadAssertionKeys(config.assertion)
  const source = createMappingSource(config)
  // ioredis reports every reconnect attempt while Redis is away: one line per interval is enough.
  let cacheErrorLoggedAt = -Infinity
  const sharedCache = createSharedCache(config.cache, (err) => {
    if (Date.now() - cacheErrorLoggedAt < CACHE_ERROR_LOG_INTERVAL_MS) return
    cacheErrorLoggedAt = Date.now()
    logger.warn({ reason: failureReason(err) }, 'shared cache error (repeats are not logged for 30 s)')
  })
  const mappings = createCachedMappings({
    source,
    store: sharedCache,
    ttlSec: config.cache.ttlSec,
    negativeTtlSec: config.cache.negativeTtlSec,
    localTtlSec: config.cache.localTtlSec,
    staleIfErrorSec: config.cache.staleIfErrorSec,
    events: {
      lookup: (layer, result) => mappingLookups[layer][result].inc(),
      sourceQuery: (kind, result) => {
        metrics.mappingSourceQueries.inc({ kind, result })
        health.report('mappings', result === 'ok' ? 'up' : 'down')
      },
      staleServed: (kind) => metrics.mappingStaleServed.inc({ kind }),
      storeError: () => metrics.cacheStoreErrors.inc(),
      sourceError: (err) => logger.warn({ reason: failureReason(err) }, 'mapping source query failed')
    }
  })
  sharedCache.onPurge((key) => {
    mappings.dropLocal(key)
    logger.info({ key }, 'cache purge received')
  })

  const blockStore = createBlockStore(sharedCache)
  const blocks = watchBlocks(blockStore, { logger, health, refused: (kind) => metrics.blockedRequests.inc({ kind }), lost: (kind) => metrics.blocksLost.inc({ kind }) })
  const sessions = createWebSocketSessions({ blockOf: (principal) => blocks.list.find(principal) })
  blocks.onAdded((added) => { sessions.endCovered(added) })

  const profilesBySource = new Map<string, string[]>()
  jwks = createJwksStore({
    ...config.entra.jwks,
    clockToleranceSec: config.entra.clockToleranceSec,
    ...(options.fetchJson ? { fetchJson: options.fetchJson } : {}),
    ...(options.verifyAt !== undefined ? { verifyAt: options.verifyAt } : {}),
    onFetch: (result, keySource) => {
      metrics.jwksFetches.inc({ result })
      for (const profile of profilesBySource.get(keySource.discoveryUrl) ?? []) {
        health.report(`keys:${profile}`, result === 'ok' ? 'up' : 'down', result === 'ok' ? undefined : failureReason(keySource.lastError))
      }
    },
    onRefetch: (outcome) => metrics.unknownKidRefetches.inc({ outcome }),
    onError: (err, keySource) => logger.warn({ discoveryUrl: keySource.discoveryUrl, reason: failureReason(err) }, 'signing keys could not be fetched')
  })
  const profiles = Object.fromEntries(Object.entries(config.apis).map(([name, api]) => [name, {
    clientId: api.clientId,
    appIdUris: api.appIdUri === undefined ? [`api://${api.clientId}`] : typeof api.appIdUri === 'string' ? [api.appIdUri] : api.appIdUri,
    tenancy: api.tenancy,
    tenantId: api.tenantId,
    principals: api.principals
  }]))
  for (const name of Object.keys(profiles)) health.register(`keys:${name}`)
  health.register('mappings')
  const authenticator = createAuthenticator({
    profiles,
    authority: config.entra.authority,
    v2IssuerTemplate: config.entra.v2IssuerTemplate,
    v1IssuerTemplate: config.entra.v1IssuerTemplate,
    store: jwks,
    tokenCache: config.entra.tokenCache,
    onCacheLookup: (result) => tokenLookups[result].inc()
  })
  for (const name of Object.keys(profiles)) {
    const url = authenticator.discoveryUrlOf(name)
    profilesBySource.set(url, [...(profilesBySource.get(url) ?? []), name])
    // The first fetch may have finished before the map knew this profile.
    if (jwks.source(url).fetchedOnce) health.report(`keys:${name}`, 'up')
  }

  // "The mapping source (or the shared cache) answered once" (CONTRACT.md §8), and neither
  // refuses the configuration (§10): each backend is probed, and its failure classified.
  const usesMysql = source.kind === 'mysql' && Object.keys(config.apis).length > 0
  if (usesMysql) health.register('source', 'verdict')
  if (sharedCache.kind === 'redis') health.register('cache', 'verdict')
  const probeMappings = async (): Promise<void> => {
    const [sourceAnswer, cacheAnswer] = await Promise.allSettled([source.ping(), sharedCache.ready().then(async () => await sharedCache.ping())])
    const up = sourceAnswer.status === 'fulfilled' || cacheAnswer.status === 'fulfilled'
    const why = (answer: PromiseSettledResult<string>): string => answer.status === 'rejected' ? failureReason(answer.reason) : 'answers'
    health.report('mappings', up ? 'up' : 'down', up ? undefined : `neither the mapping source (${why(sourceAnswer)}) nor the shared cache (${why(cacheAnswer)}) answers`)
    if (usesMysql) reportBackend('source', 'mysql', sourceAnswer)
    if (sharedCache.kind === 'redis') reportBackend('cache', 'redis', cacheAnswer)
  }
  const reportBackend = (name: string, backend: Backend, answer: PromiseSettledResult<string>): void => {
    if (answer.status === 'fulfilled') {
      health.report(name, 'up', answer.value)
      return
    }
    const failure = classifyBackendFailure(backend, answer.reason)
    health.report(name, 'down', failure.reason, failure)
    if (failure.misconfigured) logger.error({ backend, reason: failure.reason }, 'backend refuses the configuration')
  }
  void probeMappings()
  const probe = setInterval(() => { void probeMappings() }, DEPENDENCY_PROBE_MS)
  probe.unref()
  const secrets = watchClientSecrets(source, metrics.bankClientSecretExpiry, logger)
  const rateLimits = compilePolicies(config.rateLimits, config.routes.flatMap((route) => route.auth === 'none' ? [] : [route.name]))
  const counterStore = createCounterStore(sharedCache)
  const limiter = createRateLimiter(counterStore, {
    refused: (policy) => metrics.rateLimited.inc({ policy }),
    countedAlone: () => metrics.rateLimitFallback.inc(),
    sharedState: (alone, err) => {
      if (alone) logger.warn({ reason: failureReason(err), replicas: config.rateLimits.replicas }, 'rate limits: the shared store failed; this pod counts alone at limit / replicas')
      else logger.info('rate limits: the shared store answers again; counting is shared')
    }
  })

  return {
    logger,
    metrics,
    health,
    inFlight,
    jwks,
    authenticator,
    source,
    sharedCache,
    blockStore,
    counterStore,
    mappings,
    decider: createDecider({
      overageGroups: createOverageGroups(config, sharedCache, metrics, logger),
      verify: (api, token) => authenticator.verify(api, token),
      profileForAudience: (aud) => authenticator.profileForAudience(aud),
      blocks: blocks.list,
      lookups: mappings,
      profiles: config.apis,
      mapClaims: createClaimMapper({
        roles: config.roles.mappings.map((r) => ({ attribute: r.attribute, value: r.value, name: r.role })),
        teams: config.teams.map((r) => ({ attribute: r.attribute, value: r.value, name: r.team })),
        businessUnits: config.businessUnits.map((r) => ({ attribute: r.attribute, value: r.value, name: r.businessUnit }))
      }),
      headerPrefix: config.headers.prefix,
      authority: config.entra.authority,
      rateLimits: { plan: rateLimits, limiter }
    }),
    assertion: assertionKeys.length === 0 ? undefined : createAssertionSigner({ issuer: config.assertion.issuer, ttlSec: config.assertion.ttlSec, clockToleranceSec: config.entra.clockToleranceSec, keys: assertionKeys }),
    rateLimits,
    limiter,
    blocks,
    sessions,
    async close () {
      clearInterval(probe)
      blocks.close()
      secrets.stop()
      jwks?.close()
      await Promise.allSettled([source.close(), sharedCache.close()])
    }
  }
}
