/**
 * Groups overage as the configuration asks for it (CONTRACT.md §13): the resolver, with Graph's
 * answers kept in the shared cache, and what `check` asks Graph.
 */
import type { Logger } from 'pino'
import type { Config } from '../config/schema.js'
import type { GatewayMetrics } from '../observability/metrics.js'
import type { SharedCache } from '../backends/shared-cache.js'
import { createOverageResolver, groupRulesOf } from './overage.js'
import { createGraphClient, type GraphClient } from './graph-client.js'
import { createGroupMembership } from './group-membership.js'
import type { Rule } from '../access/index.js'
import { createLogThrottle } from '../observability/log-throttle.js'

/** One failure of a tenant is logged once per interval: every overage user of it would repeat it. */
const FAILURE_LOG_INTERVAL_MS = 30_000

/** Whether the configured role, team and business-unit rules read `groups`, and the ids they name. */
export function configuredGroupRules (config: Readonly<Config>): ReturnType<typeof groupRulesOf> {
  const rules: Rule[] = [...config.roles.mappings, ...config.teams, ...config.businessUnits]
  return groupRulesOf(rules)
}

/** The Graph client of `entra.graph`. */
export function graphClientOf (config: Readonly<Config>, graph: NonNullable<Config['entra']['graph']>): GraphClient {
  return createGraphClient({ authority: config.entra.authority, ...graph })
}

/**
 * Groups overage as configured (CONTRACT.md §13): nothing at all unless a role, team or
 * business-unit rule reads `groups` (the requests of every other configuration pay nothing);
 * else `deny`, or Graph behind the cache store.
 */
export function createOverageGroups (config: Readonly<Config>, store: SharedCache, metrics: GatewayMetrics, logger: Logger): ReturnType<typeof createOverageResolver> | undefined {
  const { readsGroups, groupIds } = configuredGroupRules(config)
  if (!readsGroups) return undefined
  const { graph } = config.entra
  if (config.entra.groupsOverage === 'deny' || graph === undefined) return createOverageResolver({ mode: 'deny' })

  const shouldLog = createLogThrottle(FAILURE_LOG_INTERVAL_MS)
  const memberGroups = createGroupMembership({
    graph: graphClientOf(config, graph),
    store,
    groupIds,
    cacheTtlSec: graph.cacheTtlSec,
    staleIfErrorSec: config.cache.staleIfErrorSec,
    timeoutMs: graph.timeoutMs,
    events: {
      lookup: (result) => metrics.groupsLookups.inc({ result }),
      failed: (tenantId, failure) => {
        if (!shouldLog(`${tenantId} ${failure.kind}`)) return
        logger.warn({ tenantId, kind: failure.kind, reason: failure.message }, 'groups overage: Microsoft Graph could not be asked (repeats for this tenant are not logged for 30 s)')
      }
    }
  })
  return createOverageResolver({ mode: 'graph', memberGroups })
}
