/**
 * The bank mappings as the configuration asks for them (CONTRACT.md §4): the source of truth
 * (`mappings.source`; a bad mappings file is a ConfigError) with the client-secret expiry gauge,
 * the process layer and the shared cache in front of it, purges from other gateways applied.
 * Each is built apart, so a reload replaces only what its change touches. A gateway with no
 * API profile authenticates nothing and reads no mappings.
 */
import type { Config } from '../config/schema.js'
import type { SharedCache } from '../backends/shared-cache.js'
import type { CapabilityDeps } from '../observability/capability-deps.js'
import { failureReason } from '../backends/failure-reason.js'
import { loadBackendTls, mysqlTlsMode } from '../backends/tls.js'
import { createFileSource } from './file-source.js'
import { createMysqlSource } from './mysql-source.js'
import { createCachedMappings, type MappingLookup, type SourceEpoch } from './cached-source.js'
import { watchClientSecrets } from './secret-expiry.js'
import type { MappingSource } from './source.js'

export interface OpenMappingSource {
  source: MappingSource
  /** Stops the client-secret expiry watch and closes the source's connections. */
  close (): Promise<void>
}

/** The source of truth with its client-secret expiry gauge: one per `mappings` section (and file content). */
export function openMappingSource (config: Readonly<Config>, { logger, metrics }: Omit<CapabilityDeps, 'health'>): OpenMappingSource {
  const source = createMappingSource(config)
  const secrets = watchClientSecrets(source, metrics.bankClientSecretExpiry, logger)
  return {
    source,
    async close () {
      secrets.stop()
      await source.close()
    }
  }
}

/**
 * The process layer and the shared cache in front of `source`; `epoch` says which shared answers
 * are this source's (cached-source.ts), when a reload replaced the one before it.
 */
export function createMappingLookups (config: Readonly<Config>, source: MappingSource, cache: SharedCache, { logger, metrics, health }: CapabilityDeps, epoch?: SourceEpoch): MappingLookup {
  // Tallies bound once: a mapping lookup happens on every request.
  const tally = (layer: 'local' | 'shared') => ({ hit: metrics.mappingCache.tally({ layer, result: 'hit' }), miss: metrics.mappingCache.tally({ layer, result: 'miss' }) })
  const layers = { local: tally('local'), shared: tally('shared') }
  return createCachedMappings({
    source,
    store: cache,
    ttlSec: config.cache.ttlSec,
    negativeTtlSec: config.cache.negativeTtlSec,
    localTtlSec: config.cache.localTtlSec,
    staleIfErrorSec: config.cache.staleIfErrorSec,
    ...(epoch === undefined ? {} : { epoch }),
    events: {
      lookup: (layer, result) => layers[layer][result].inc(),
      sourceQuery: (kind, result) => {
        metrics.mappingSourceQueries.inc({ kind, result })
        health.report('mappings', result === 'ok' ? 'up' : 'down')
      },
      staleServed: (kind) => metrics.mappingStaleServed.inc({ kind }),
      storeError: () => metrics.cacheStoreErrors.inc(),
      sourceError: (err) => logger.warn({ reason: failureReason(err) }, 'mapping source query failed')
    }
  })
}

/**
 * Purges announced by `cache purge` on any gateway: each drops the key from the process layer
 * `lookups()` names now (the one new requests use), and is logged with who purged and why.
 * Subscribed once per shared cache.
 */
export function followPurges (cache: SharedCache, logger: CapabilityDeps['logger'], lookups: () => MappingLookup): void {
  cache.onPurge((key) => {
    lookups().dropLocal(key)
    logger.info({ key }, 'cache purge received')
  })
  cache.onPurgeAudit(({ key, by, reason }) => { logger.info({ key, by, reason }, 'cache purge') })
}

export function createMappingSource (config: Readonly<Config>): MappingSource {
  if (Object.keys(config.apis).length === 0) return EMPTY_SOURCE
  if (config.mappings.source === 'mysql') {
    const { mysql } = config.mappings
    return createMysqlSource({ ...mysql, tls: loadBackendTls('mappings.mysql.tls', mysqlTlsMode(mysql.host, mysql.tls), mysql.tls) })
  }
  return createFileSource(config.mappings.file)
}

const EMPTY_SOURCE: MappingSource = {
  kind: 'file',
  async tenant () { return null },
  async client () { return null },
  async clients () { return [] },
  async ping () { return 'no API profile: no mappings read' },
  async close () {}
}
