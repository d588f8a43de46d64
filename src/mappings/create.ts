/**
 * The bank mappings as the configuration asks for them (CONTRACT.md §4): the source of truth
 * (`mappings.source`; a bad mappings file is a ConfigError) behind the process layer and the
 * shared cache, purges from other gateways applied, and the client-secret expiry gauge. A
 * gateway with no API profile authenticates nothing and reads no mappings.
 */
import type { Config } from '../config/schema.js'
import type { SharedCache } from '../backends/shared-cache.js'
import type { CapabilityDeps } from '../observability/capability-deps.js'
import { failureReason } from '../backends/failure-reason.js'
import { loadBackendTls, mysqlTlsMode } from '../backends/tls.js'
import { createFileSource } from './file-source.js'
import { createMysqlSource } from './mysql-source.js'
import { createCachedMappings, type MappingLookup } from './cached-source.js'
import { watchClientSecrets } from './secret-expiry.js'
import type { MappingSource } from './source.js'

export interface Mappings {
  source: MappingSource
  lookups: MappingLookup
  close (): Promise<void>
}

export function createMappings (config: Readonly<Config>, cache: SharedCache, { logger, metrics, health }: CapabilityDeps): Mappings {
  const source = createMappingSource(config)
  // Tallies bound once: a mapping lookup happens on every request.
  const tally = (layer: 'local' | 'shared') => ({ hit: metrics.mappingCache.tally({ layer, result: 'hit' }), miss: metrics.mappingCache.tally({ layer, result: 'miss' }) })
  const layers = { local: tally('local'), shared: tally('shared') }
  const lookups = createCachedMappings({
    source,
    store: cache,
    ttlSec: config.cache.ttlSec,
    negativeTtlSec: config.cache.negativeTtlSec,
    localTtlSec: config.cache.localTtlSec,
    staleIfErrorSec: config.cache.staleIfErrorSec,
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
  cache.onPurge((key) => {
    lookups.dropLocal(key)
    logger.info({ key }, 'cache purge received')
  })
  cache.onPurgeAudit(({ key, by, reason }) => { logger.info({ key, by, reason }, 'cache purge') })
  const secrets = watchClientSecrets(source, metrics.bankClientSecretExpiry, logger)
  return {
    source,
    lookups,
    async close () {
      secrets.stop()
      await source.close()
    }
  }
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
