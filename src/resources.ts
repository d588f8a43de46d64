/**
 * Everything that outlives a request, built once per process (or test, or `check`/`explain`),
 * handed to `buildApp`, closed on shutdown. Each capability builds itself from the config and
 * `{ logger, metrics, health }`; this file only wires them in dependency order and closes them.
 */
import type { Logger } from 'pino'
import { Registry } from 'prom-client'
import type { Config } from './config/schema.js'
import { createLogger } from './observability/logger.js'
import { createMetrics, type GatewayMetrics } from './observability/metrics.js'
import { createHealth, type Health } from './observability/health.js'
import { createInFlight, type InFlight } from './observability/in-flight.js'
import { watchBackendReadiness } from './observability/backend-readiness.js'
import { createSharedCache, type SharedCache } from './backends/shared-cache.js'
import { createTokenVerification, type TokenVerification, type TokenVerificationOptions } from './token/create.js'
import { createMappings, type Mappings } from './mappings/create.js'
import { createBlocks, type Blocks } from './blocks/create.js'
import { createRateLimits, type RateLimits } from './rate-limits/create.js'
import { createOverageGroups } from './groups-overage/resolver.js'
import { createAccess } from './access/create.js'
import type { Decider } from './access/decision.js'
import { createAssertion } from './assertion/create.js'
import type { AssertionSigner } from './assertion/signer.js'
import { createWebSocketSessions, type WebSocketSessions } from './proxy/websocket-sessions.js'
import { createTracing, type Tracing } from './tracing/index.js'

export interface Resources extends TokenVerification {
  logger: Logger
  metrics: GatewayMetrics
  health: Health
  inFlight: InFlight
  source: Mappings['source']
  sharedCache: SharedCache
  blockStore: Blocks['store']
  counterStore: RateLimits['counterStore']
  /** The one access decision: token, blocks, mappings, roles, route checks, rate limits. */
  decider: Decider
  /** Undefined when no assertion key is configured (CONTRACT.md §11). */
  assertion: AssertionSigner | undefined
  rateLimits: RateLimits['plan']
  /** The emergency blocks (CONTRACT.md §13), kept equal to the shared cache's. */
  blocks: Blocks['watcher']
  /** Open WebSocket sessions by principal, ended at their token's expiry or by a block (§15). */
  sessions: WebSocketSessions
  /** Spans exported over OTLP/HTTP (CONTRACT.md §14); undefined when `tracing` is not configured. */
  tracing: Tracing | undefined
  close (): Promise<void>
}

export type ResourceOptions = TokenVerificationOptions & { logger?: Logger, registry?: Registry }

export async function createResources (config: Readonly<Config>, options: ResourceOptions = {}): Promise<Resources> {
  const logger = options.logger ?? createLogger()
  const inFlight = createInFlight()
  const health = createHealth()
  const metrics = createMetrics(options.registry ?? new Registry(), { readInFlight: () => inFlight.count })
  const deps = { logger, metrics, health }

  const assertion = createAssertion(config)
  const tracing = createTracing(config, deps)
  const sharedCache = createSharedCache(config.cache, logger)
  const mappings = createMappings(config, sharedCache, deps)
  const blocks = createBlocks(sharedCache, deps)
  const sessions = createWebSocketSessions({ blockOf: (principal) => blocks.watcher.list.find(principal) })
  blocks.watcher.onAdded((added) => { sessions.endCovered(added) })
  const { jwks, authenticator } = createTokenVerification(config, deps, options)
  const readiness = watchBackendReadiness({ health, logger, source: mappings.source, cache: sharedCache, usesMysql: mappings.source.kind === 'mysql' && Object.keys(config.apis).length > 0 })
  const rateLimits = createRateLimits(config, sharedCache, deps)
  const decider = createAccess(config, {
    verify: (api, token) => authenticator.verify(api, token),
    profileForAudience: (aud) => authenticator.profileForAudience(aud),
    blocks: blocks.watcher.list,
    lookups: mappings.lookups,
    overageGroups: createOverageGroups(config, sharedCache, metrics, logger),
    rateLimits
  })

  return {
    ...deps,
    inFlight,
    jwks,
    authenticator,
    source: mappings.source,
    sharedCache,
    decider,
    assertion,
    sessions,
    tracing,
    blockStore: blocks.store,
    blocks: blocks.watcher,
    counterStore: rateLimits.counterStore,
    rateLimits: rateLimits.plan,
    async close () {
      readiness.stop()
      blocks.watcher.close()
      jwks.close()
      await Promise.allSettled([mappings.close(), sharedCache.close(), tracing?.close()])
    }
  }
}
