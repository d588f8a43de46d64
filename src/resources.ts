/**
 * Everything that outlives a request, built once per process (or test, or `check`/`explain`),
 * handed to `buildApp`, closed on shutdown. Each capability builds itself from the config and
 * `{ logger, metrics, health }`; this file only wires them in dependency order and closes them.
 *
 * A reload (CONTRACT.md §14) asks for the resources of the new config with `revise`: each part
 * is kept when the sections it reads and the parts it uses are the same, else built anew, so
 * the JWKS store, the MySQL pool and the Redis connections survive a reload that doesn't touch
 * them. What the new resources no longer use is closed by `retire`, once the requests that
 * started under the old ones are done.
 */
import { createHash } from 'node:crypto'
import { readFileSync } from 'node:fs'
import { isDeepStrictEqual } from 'node:util'
import type { Logger } from 'pino'
import { Registry } from 'prom-client'
import type { Config } from './config/schema.js'
import { createLogger } from './observability/logger.js'
import { createMetrics, type GatewayMetrics } from './observability/metrics.js'
import { createHealth, type Health } from './observability/health.js'
import { createInFlight, type InFlight } from './observability/in-flight.js'
import { watchBackendReadiness } from './observability/backend-readiness.js'
import { createSharedCache, type SharedCache } from './backends/shared-cache.js'
import { backendTlsFiles } from './backends/tls.js'
import { createSigningKeys, createTokenAuthenticator, type SigningKeys, type TokenVerification, type TokenVerificationOptions } from './token/create.js'
import type { Authenticator } from './token/authenticator.js'
import { createMappingLookups, followPurges, openMappingSource, type OpenMappingSource } from './mappings/create.js'
import type { MappingLookup, SourceEpoch } from './mappings/cached-source.js'
import type { MappingSource } from './mappings/source.js'
import { createBlocks, type Blocks } from './blocks/create.js'
import { createRateCounting, createRateLimits, type RateCounting, type RateLimits } from './rate-limits/create.js'
import { createOverageGroups } from './groups-overage/resolver.js'
import { createAccess } from './access/create.js'
import type { Decider } from './access/decision.js'
import { createAssertion } from './assertion/create.js'
import type { AssertionSigner } from './assertion/signer.js'
import { createWebSocketSessions, type WebSocketSessions } from './proxy/websocket-sessions.js'
import { createTracing, type Tracing } from './tracing/index.js'
import { ConfigError } from './config/validation.js'
import { failureReason } from './backends/failure-reason.js'

export interface Resources extends TokenVerification {
  logger: Logger
  metrics: GatewayMetrics
  health: Health
  /** Requests under these resources (each counted in `allInFlight` too). */
  inFlight: InFlight
  /** Requests under every revision of these resources: what shutdown waits for. */
  allInFlight: InFlight
  source: MappingSource
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
  /**
   * The resources of `next`, sharing every part whose sections did not change. Rejects (and
   * changes nothing) when a new part cannot be built or its backend cannot be reached.
   */
  revise (next: Readonly<Config>): Promise<Revision>
  /** Closes every part of these resources. */
  close (): Promise<void>
}

export interface Revision {
  resources: Resources
  /** Which parts were built anew, by name (logged). */
  rebuilt: string[]
  /** New requests use the new resources from now on: purges and WebSocket sessions follow them. */
  activate (): void
  /** Not taken after all: closes the parts built for it. */
  discard (): Promise<void>
  /** Closes the parts of the old resources the new ones do not use. */
  retire (): Promise<void>
}

export type ResourceOptions = TokenVerificationOptions & { logger?: Logger, registry?: Registry }

/** Process-wide: built once, shared by every revision. */
interface ProcessParts {
  logger: Logger
  metrics: GatewayMetrics
  health: Health
  inFlight: InFlight
  sessions: WebSocketSessions
  options: ResourceOptions
  /** The newest revision's parts: the ones purges and WebSocket sessions answer to. */
  latest: Parts
}

/** One part: what it is, what it was built from, how to close it. */
interface Part<T> {
  value: T
  reads: unknown
  uses: readonly unknown[]
  close (): Promise<void> | void
}

interface Parts {
  sharedCache: Part<SharedCache>
  tracing: Part<Tracing | undefined>
  assertion: Part<AssertionSigner | undefined>
  source: Part<MappingSource>
  lookups: Part<{ lookups: MappingLookup, epoch: SourceEpoch }>
  blocks: Part<Blocks>
  keys: Part<SigningKeys>
  authenticator: Part<Authenticator>
  counting: Part<RateCounting>
  rateLimits: Part<RateLimits>
  overageGroups: Part<ReturnType<typeof createOverageGroups>>
  readiness: Part<{ stop (): void }>
  decider: Part<Decider>
}

export async function createResources (config: Readonly<Config>, options: ResourceOptions = {}): Promise<Resources> {
  const logger = options.logger ?? createLogger()
  const inFlight = createInFlight()
  const shared = { logger, inFlight, health: createHealth(), metrics: createMetrics(options.registry ?? new Registry(), { readInFlight: () => inFlight.count }), options } as ProcessParts
  shared.sessions = createWebSocketSessions({ blockOf: (principal) => shared.latest.blocks.value.watcher.list.find(principal) })
  const parts = buildParts(config, shared, undefined, shared.health)
  shared.latest = parts
  return resourcesOf(parts, shared)
}

/**
 * The parts of `config`, each kept from `previous` when it reads the same sections and uses
 * the same parts, in dependency order. Throws (closing what it built) when one cannot be built.
 */
function buildParts (config: Readonly<Config>, shared: ProcessParts, previous: Parts | undefined, health: Health): Parts {
  const deps = { logger: shared.logger, metrics: shared.metrics, health }
  const built: Array<Part<unknown>> = []
  const part = <T>(name: keyof Parts, reads: unknown, uses: readonly unknown[], build: () => { value: T, close?: () => Promise<void> | void }, force = false): Part<T> => {
    const kept = previous?.[name] as Part<T> | undefined
    if (!force && kept !== undefined && isDeepStrictEqual(kept.reads, reads) && kept.uses.length === uses.length && kept.uses.every((use, i) => use === uses[i])) return kept
    const made = build()
    const fresh: Part<T> = { value: made.value, reads, uses, close: made.close ?? (() => {}) }
    built.push(fresh as Part<unknown>)
    return fresh
  }
  try {
    const hasApis = Object.keys(config.apis).length > 0
    // The TLS files' contents too: a rotated certificate or CA is a new connection's.
    const tls = backendTlsFiles(config)
    const sharedCache = part('sharedCache', [config.cache, tls.redis.map(contentHash)], [], () => {
      const cache = createSharedCache(config.cache, shared.logger)
      followPurges(cache, shared.logger, () => shared.latest.lookups.value.lookups)
      return { value: cache, close: async () => { await cache.close() } }
    })
    const tracing = part('tracing', config.tracing, [], () => {
      const value = createTracing(config, deps)
      return { value, close: async () => { await value?.close() } }
    })
    // The key files' contents too: a Secret updated in place (same path, same kid) is a new key.
    const assertion = part('assertion', [config.assertion, config.entra.clockToleranceSec, config.assertion.keys.map((key) => contentHash(key.privateKeyFile))], [], () => ({ value: createAssertion(config) }))
    // The mappings file's content too: an edit of it is a new source.
    const mappingsFile = config.mappings.source === 'file' && hasApis ? contentHash(config.mappings.file) : undefined
    const source = part('source', [config.mappings, hasApis, mappingsFile, hasApis ? tls.mysql.map(contentHash) : []], [], () => {
      const opened: OpenMappingSource = openMappingSource(config, deps)
      return { value: opened.source, close: opened.close }
    })
    const lookups = part('lookups', [config.cache], [source.value, sharedCache.value], () => {
      // A replaced source's answers in the shared cache are not this one's (moved again at activation).
      const epoch: SourceEpoch = { since: previous !== undefined && source !== previous.source ? Date.now() : -Infinity, writes: true }
      return { value: { lookups: createMappingLookups(config, source.value, sharedCache.value, deps, epoch), epoch } }
    })
    const blocks = part('blocks', null, [sharedCache.value], () => {
      // Blocks known to the replaced watcher stay in force: missing from a new cache, they are written to it.
      const value = createBlocks(sharedCache.value, deps, previous?.blocks.value.watcher.list.list() ?? [])
      value.watcher.onAdded((added) => { shared.sessions.endCovered(added) })
      return { value, close: () => { value.watcher.close() } }
    })
    const keys = part('keys', [config.entra.jwks, config.entra.clockToleranceSec], [], () => {
      const value = createSigningKeys(config, deps, shared.options)
      return { value, close: () => { value.close() } }
    })
    const authenticator = part('authenticator', [config.apis, config.entra.authority, config.entra.v1IssuerTemplate, config.entra.v2IssuerTemplate, config.entra.tokenCache], [keys.value], () => {
      const value = createTokenAuthenticator(config, keys.value, { metrics: deps.metrics, health: deps.health.owned() })
      return { value, close: () => { value.close() } }
    })
    const authRoutes = config.routes.flatMap((route) => route.auth === 'none' ? [] : [route.name])
    const counting = part('counting', [config.rateLimits.syncMs, config.rateLimits.replicas], [sharedCache.value], () => ({ value: createRateCounting(config, sharedCache.value, deps) }))
    const rateLimits = part('rateLimits', [config.rateLimits, authRoutes], [counting.value], () => ({ value: createRateLimits(config, sharedCache.value, deps, counting.value) }))
    const overageGroups = part('overageGroups', [config.entra, config.roles, config.teams, config.businessUnits, config.cache.staleIfErrorSec], [sharedCache.value], () => ({ value: createOverageGroups(config, sharedCache.value, deps.metrics, deps.logger) }))
    const readiness = part('readiness', hasApis, [source.value, sharedCache.value], () => {
      const value = watchBackendReadiness({ health: deps.health, logger: deps.logger, source: source.value, cache: sharedCache.value, usesMysql: source.value.kind === 'mysql' && hasApis })
      return { value, close: () => { value.stop() } }
    })
    // Built for every revision: it reads most sections and holds nothing to close.
    const decider = part('decider', undefined, [], () => ({
      value: createAccess(config, {
        verify: (api, token) => authenticator.value.verify(api, token),
        profileForAudience: (aud) => authenticator.value.profileForAudience(aud),
        blocks: blocks.value.watcher.list,
        lookups: lookups.value.lookups,
        overageGroups: overageGroups.value,
        rateLimits: rateLimits.value
      })
    }), true)
    return { sharedCache, tracing, assertion, source, lookups, blocks, keys, authenticator, counting, rateLimits, overageGroups, readiness, decider }
  } catch (err) {
    void closeParts(built)
    throw err
  }
}

function resourcesOf (parts: Parts, shared: ProcessParts): Resources {
  const { logger, metrics, health, sessions } = shared
  const inFlight = createInFlight(shared.inFlight)
  return {
    logger,
    metrics,
    health,
    inFlight,
    allInFlight: shared.inFlight,
    sessions,
    jwks: parts.keys.value.store,
    authenticator: parts.authenticator.value,
    source: parts.source.value,
    sharedCache: parts.sharedCache.value,
    decider: parts.decider.value,
    assertion: parts.assertion.value,
    tracing: parts.tracing.value,
    blockStore: parts.blocks.value.store,
    blocks: parts.blocks.value.watcher,
    counterStore: parts.rateLimits.value.counterStore,
    rateLimits: parts.rateLimits.value.plan,
    async revise (next) {
      // Its parts' probes and first reads stay out of /readyz until it is taken.
      const stage = shared.health.staged()
      const nextParts = buildParts(next, shared, parts, stage.health)
      const fresh = Object.entries(nextParts).filter(([name, part]) => parts[name as keyof Parts] !== part)
      const discard = async (): Promise<void> => { await closeParts(fresh.map(([, part]) => part as Part<unknown>)) }
      try {
        // A new shared cache must answer before requests depend on it (its blocks read once).
        if (nextParts.sharedCache !== parts.sharedCache) {
          await nextParts.sharedCache.value.ready()
          await nextParts.blocks.value.watcher.refresh()
        }
        // So must a new MySQL pool (another server, credentials or TLS files): the old one is closed once it is retired.
        if (nextParts.source !== parts.source && nextParts.source.value.kind === 'mysql' && Object.keys(next.apis).length > 0) {
          await nextParts.source.value.ping().catch((err: unknown) => { throw new ConfigError([`mappings.mysql: the new connection does not answer (${failureReason(err)})`]) })
        }
      } catch (err) {
        await discard()
        throw err
      }
      const kept = new Set<Part<unknown>>(Object.values(nextParts))
      return {
        resources: resourcesOf(nextParts, shared),
        rebuilt: fresh.map(([name]) => name).filter((name) => name !== 'decider'),
        activate () {
          shared.latest = nextParts
          stage.activate()
          if (nextParts.lookups === parts.lookups) return
          // From now on only the new source's answers go into the shared cache, and only those stored from now count.
          parts.lookups.value.epoch.writes = false
          if (nextParts.source !== parts.source) nextParts.lookups.value.epoch.since = Date.now()
        },
        discard,
        async retire () { await closeParts(Object.values(parts).filter((part) => !kept.has(part))) }
      }
    },
    async close () {
      await closeParts(Object.values(parts))
    }
  }
}

/** A file's SHA-256, or why it cannot be read (then building the part says so). */
function contentHash (path: string): string {
  try {
    return createHash('sha256').update(readFileSync(path)).digest('hex')
  } catch (err) {
    return String(err)
  }
}

/** Dependents first (the order of `Parts` reversed): a watcher stops before its cache closes. */
async function closeParts (parts: ReadonlyArray<Part<unknown>>): Promise<void> {
  for (const part of [...parts].reverse()) {
    try { await part.close() } catch { /* closing: nothing left to do with it */ }
  }
}
