/**
 * `check` (CONTRACT.md §9): one line per check, `ok <check>` or `FAIL <check>: <why>`; exit 1
 * on any failure. Builds the same resources `start` builds, opens no port.
 */
import { Registry } from 'prom-client'
import type { Config } from '../config/schema.js'
import { ConfigError } from '../config/validation.js'
import { createLogger } from '../observability/logger.js'
import { createResources } from '../resources.js'
import { failureReason } from '../backends/failure-reason.js'
import { classifyBackendFailure } from '../backends/backend-failure.js'
import { configuredGroupRules, graphClientOf } from '../groups-overage/resolver.js'
import { decodeBlocks } from '../blocks/block-records.js'

export async function runCheck (loadConfig: () => Readonly<Config>, out: (line: string) => void): Promise<number> {
  const configFailed = (err: unknown): number => {
    if (!(err instanceof ConfigError)) throw err
    for (const problem of err.problems) out(`FAIL config: ${problem}`)
    return 1
  }
  let config: Readonly<Config>
  try {
    config = loadConfig()
  } catch (err) {
    return configFailed(err)
  }
  let failed = false
  // A backend's ok line says what answered (`ok cache: redis sentinel m → 10.0.3.7:6379 (primary), TLS verified`).
  const report = (ok: boolean, name: string, why: string, { backend = false } = {}): void => {
    out(ok ? `ok ${name}${why ? (backend ? `: ${why}` : ` (${why})`) : ''}` : `FAIL ${name}: ${why}`)
    if (!ok) failed = true
  }

  let resources
  try {
    resources = await createResources(config, { logger: createLogger({ level: 'silent' }), registry: new Registry() })
  } catch (err) {
    // A bad mappings file surfaces here, as a config problem too: `ok config` waits for it.
    return configFailed(err)
  }
  out('ok config')
  try {
    for (const api of Object.keys(config.apis)) {
      const url = resources.authenticator.discoveryUrlOf(api)
      const source = resources.jwks.source(url)
      await source.refresh()
      // The app's own keys come from another document than the tenant's: the line names it.
      const whose = config.apis[api]?.signingKeys === 'application' ? ` of the app's own, from ${url}` : ''
      const why = source.lastError === undefined ? `${source.keyCount} signing keys${whose}` : failureReason(source.lastError)
      report(source.fetchedOnce && source.lastError === undefined && source.keyCount > 0, `discovery and JWKS for ${api}`, source.keyCount === 0 && source.lastError === undefined ? 'no RSA signing keys published' : why)
    }
    // One line per backend: what answered and its TLS state, or the classified failure (§10).
    if (Object.keys(config.apis).length > 0) {
      const answer = await resources.source.ping().then((what) => ({ ok: true, why: what }), (err: unknown) => ({ ok: false, why: classifyBackendFailure('mysql', err).reason }))
      report(answer.ok, 'mapping source', answer.why, { backend: true })
    }
    const cache = await resources.sharedCache.ready().then(async () => await resources.sharedCache.ping())
      .then((what) => ({ ok: true, why: what }), (err: unknown) => ({ ok: false, why: classifyBackendFailure('redis', err).reason }))
    report(cache.ok, 'cache', cache.why, { backend: true })
    // With the cache unreachable, what ioredis says of a later command is only that it queues
    // none ("Stream isn't writeable…"): those lines give the cache's cause instead.
    const redisWhy = (err: unknown): string => cache.ok ? classifyBackendFailure('redis', err).reason : cache.why
    if (resources.blockStore.kind === 'redis') {
      const blocks = await resources.blockStore.readBlocks().then((records) => {
        const count = decodeBlocks(records).length
        return { ok: true, why: `${count} block record${count === 1 ? '' : 's'} in the shared cache` }
      }, (err: unknown) => ({ ok: false, why: redisWhy(err) }))
      report(blocks.ok, 'blocks', blocks.why, { backend: true })
    }
    const overage = await checkGroupsOverage(config)
    if (overage !== undefined) report(overage.ok, 'groups overage', overage.why, { backend: true })
    if (resources.rateLimits.policies.length > 0) {
      // The policies as compiled, and (Redis) the counting script loaded: an ACL without EVALSHA fails here, not on traffic.
      const policies = resources.rateLimits.policies.map(({ name, routes, key, base }) => `${name} on ${routes?.join(', ') ?? 'every authenticated route'} (${key}, ${base.limit} per ${base.windowSec} s, burst ${base.burst})`).join('; ')
      const counting = await resources.counterStore.prepareCounting().then((what) => ({ ok: true, why: what }), (err: unknown) => ({ ok: false, why: redisWhy(err) }))
      report(counting.ok, 'rate limits', counting.ok ? `${policies}; ${counting.why}` : `${counting.why} (policies: ${policies})`, { backend: true })
    }
    if (resources.assertion !== undefined) {
      const [signing, ...others] = config.assertion.keys
      report(true, 'assertion', `ES256, kid ${signing?.kid ?? '?'} signs${others.length > 0 ? `, ${others.map((k) => k.kid).join(', ')} published too` : ''}`, { backend: true })
    }
  } finally {
    await resources.close()
  }
  return failed ? 1 : 0
}

/**
 * Groups overage, where a rule reads `groups`: `deny` says so; `graph` proves the credentials by
 * obtaining a token in BookMe's home tenant (the single-tenant profile's), where the app lives.
 */
async function checkGroupsOverage (config: Readonly<Config>): Promise<{ ok: boolean, why: string } | undefined> {
  const { readsGroups, groupIds } = configuredGroupRules(config)
  if (!readsGroups) return undefined
  const { graph } = config.entra
  if (config.entra.groupsOverage === 'deny' || graph === undefined) return { ok: true, why: 'deny (an overage token is refused with GROUPS_OVERAGE)' }
  const home = Object.values(config.apis).find((api) => api.tenancy === 'single')?.tenantId
  const asked = `graph, ${groupIds.length} group id${groupIds.length === 1 ? '' : 's'} named by rules`
  if (home === undefined) return { ok: true, why: `${asked}; credentials not proven: no single-tenant API profile names the home tenant` }
  const client = graphClientOf(config, graph)
  return await client.tokenFor(home).then(() => ({ ok: true, why: `${asked}; ${client.credentials.description} accepted: a Graph token obtained in the home tenant ${home}` }),
    (err: unknown) => ({ ok: false, why: `no Graph token in the home tenant ${home} with the ${client.credentials.description}: ${(err as Error).message}` }))
}
