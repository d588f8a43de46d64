/**
 * Rules one JSON schema cannot say: references between sections and values that must parse.
 * Each problem is `path: message`, like the schema's. A config with none of them has the shape
 * of `Config` (schema.ts): the narrowing its unions describe is made here.
 */
import { isPlainPrefix } from '../http/index.js'
import type { SchemaConfig as Config } from './schema.js'
import { keyPath } from './validation.js'
import { FEDERATED_TOKEN_FILE_ENV, GRAPH_CREDENTIAL_KEYS } from '../groups-overage/index.js'

export function crossCheck (config: Config): string[] {
  const problems: string[] = []
  checkApis(config, problems)
  checkRoutes(config, problems)
  checkSources(config, problems)
  checkMappingRules(config, problems)
  checkAssertion(config, problems)
  checkRateLimits(config, problems)
  checkGroupsOverage(config, problems)
  return problems
}

function checkApis (config: Config, problems: string[]): void {
  for (const [name, api] of Object.entries(config.apis)) {
    const at = `apis.${name}`
    if (api.tenancy === 'single' && api.tenantId === undefined) problems.push(`${at}.tenantId: is required when tenancy is single`)
    if (api.tenancy === 'multi' && api.tenantId !== undefined) problems.push(`${at}.tenantId: only allowed when tenancy is single`)
    if (api.bankResolution === 'client' && !api.principals.every((p) => p === 'app')) {
      problems.push(`${at}.bankResolution: client resolution needs principals [app] (a user token must never act as a registered client)`)
    }
  }
}

function checkRoutes (config: Config, problems: string[]): void {
  const prefixes = new Map<string, number>()
  const names = new Map<string, number>()
  config.routes.forEach((route, i) => {
    const at = `routes[${i}]`
    const name = names.get(route.name)
    if (name !== undefined) problems.push(`${at}.name: duplicates routes[${name}].name "${route.name}"`)
    names.set(route.name, i)

    const prefixProblem = describePrefixProblem(route.prefix)
    if (prefixProblem) problems.push(`${at}.prefix: ${prefixProblem}`)
    // Matching is case-insensitive, so two prefixes differing only in case collide.
    const key = route.prefix.toLowerCase()
    const other = prefixes.get(key)
    if (other !== undefined) problems.push(`${at}.prefix: duplicates routes[${other}].prefix "${config.routes[other]?.prefix}"`)
    prefixes.set(key, i)

    if (route.rewritePrefix !== undefined) {
      const rewriteProblem = describePrefixProblem(route.rewritePrefix)
      if (rewriteProblem) problems.push(`${at}.rewritePrefix: ${rewriteProblem}`)
    }
    const upstreamProblem = describeUpstreamProblem(route.upstream)
    if (upstreamProblem) problems.push(`${at}.upstream: ${upstreamProblem}`)

    if (route.auth === 'required') {
      if (route.api === undefined) problems.push(`${at}.api: is required when auth is required`)
      else if (!Object.hasOwn(config.apis, route.api)) problems.push(`${at}.api: names no profile in apis ("${route.api}")`)
    } else {
      if (route.api !== undefined) problems.push(`${at}.api: must be omitted when auth is none`)
      if (route.roles.length > 0) problems.push(`${at}.roles: cannot be enforced when auth is none`)
      if (route.authContext !== undefined) problems.push(`${at}.authContext: cannot be enforced when auth is none`)
    }
  })
}

function describePrefixProblem (prefix: string): string | undefined {
  if (!prefix.startsWith('/')) return 'must start with /'
  if (prefix.length > 1 && prefix.endsWith('/')) return 'must not end with /'
  // Routing runs on the normalized path, which decodes escapes of unreserved characters and
  // keeps every other escape: a prefix of other characters would match some spellings of
  // itself and not others.
  if (!isPlainPrefix(prefix)) return 'must be a plain path: letters, digits, -, ., _, ~ and / only'
  if (prefix.includes('//')) return 'must not contain //'
  if (prefix.split('/').some((segment) => segment === '.' || segment === '..')) return 'must not contain . or .. segments'
  return undefined
}

function describeUpstreamProblem (upstream: string): string | undefined {
  let url: URL
  try {
    url = new URL(upstream)
  } catch {
    return 'must be an absolute http(s) URL'
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') return 'must be an http or https URL'
  if (url.username || url.password) return 'must not carry credentials'
  if (url.search || url.hash) return 'must not carry a query or fragment'
  if (url.pathname !== '/' && url.pathname !== '') return 'must be an origin (scheme://host:port); use rewritePrefix for a path'
  return undefined
}

function checkSources (config: Config, problems: string[]): void {
  if (config.mappings.source === 'mysql' && config.mappings.mysql === undefined) {
    problems.push('mappings.mysql: is required when source is mysql')
  }
  if (config.cache.store === 'redis' && config.cache.redis === undefined) problems.push('cache.redis: is required when store is redis')
  if (config.mappings.mysql) {
    checkTls('mappings.mysql.tls', config.mappings.mysql.tls, problems)
    checkPasswordFile('mappings.mysql', config.mappings.mysql.password !== '', config.mappings.mysql.passwordFile, problems)
  }
  if (config.cache.redis) checkRedis(config.cache.redis, problems)
  try {
    const authority = new URL(config.entra.authority)
    if (authority.protocol !== 'https:' && authority.protocol !== 'http:') problems.push('entra.authority: must be an http(s) URL')
  } catch {
    problems.push('entra.authority: must be an absolute URL')
  }
  if (!config.entra.v2IssuerTemplate.includes('{tenantid}')) problems.push('entra.v2IssuerTemplate: must contain {tenantid}')
  if (!config.entra.v1IssuerTemplate.includes('{tenantid}')) problems.push('entra.v1IssuerTemplate: must contain {tenantid}')
}

type RedisConfig = NonNullable<Config['cache']['redis']>

function checkRedis (redis: RedisConfig, problems: string[]): void {
  const topologies = (['url', 'sentinel', 'cluster'] as const).filter((key) => redis[key] !== undefined)
  if (topologies.length !== 1) problems.push(`cache.redis: needs exactly one of url, sentinel, cluster${topologies.length > 1 ? ` (has ${topologies.join(', ')})` : ''}`)
  if (redis.url !== undefined) {
    let url: URL | undefined
    try { url = new URL(redis.url) } catch { /* reported below */ }
    if (url === undefined || (url.protocol !== 'redis:' && url.protocol !== 'rediss:')) problems.push('cache.redis.url: must be a redis:// or rediss:// URL')
    else {
      if (url.protocol === 'rediss:' && redis.tls?.mode === 'disabled') problems.push('cache.redis.tls.mode: disabled contradicts the rediss:// URL (TLS); use redis:// for plaintext')
      if (url.password !== '' && redis.password !== undefined) problems.push('cache.redis.password: the URL carries a password too; give it once')
      if (url.username !== '' && redis.username !== undefined) problems.push('cache.redis.username: the URL carries a user name too; give it once')
    }
  }
  for (const [at, nodes] of [['cache.redis.sentinel.nodes', redis.sentinel?.nodes], ['cache.redis.cluster.nodes', redis.cluster?.nodes]] as const) {
    nodes?.forEach((node, i) => {
      const port = Number(node.slice(node.lastIndexOf(':') + 1))
      if (port < 1 || port > 65535) problems.push(`${at}[${i}]: port must be 1–65535`)
    })
  }
  checkTls('cache.redis.tls', redis.tls, problems)
  let urlPassword = false
  try { urlPassword = redis.url !== undefined && new URL(redis.url).password !== '' } catch { /* reported above */ }
  checkPasswordFile('cache.redis', redis.password !== undefined || urlPassword, redis.passwordFile, problems)
  if (redis.sentinel) checkPasswordFile('cache.redis.sentinel', redis.sentinel.password !== undefined, redis.sentinel.passwordFile, problems)
}

/** `passwordFile` instead of the inline password (CONTRACT.md §14), never beside it: which one wins would be a rule nobody reads. */
function checkPasswordFile (at: string, inline: boolean, file: string | undefined, problems: string[]): void {
  if (inline && file !== undefined) problems.push(`${at}.passwordFile: instead of ${at}.password (or a password in the URL), not beside it; give one`)
}

function checkTls (at: string, tls: { mode?: string, caFile?: string, certFile?: string, keyFile?: string } | undefined, problems: string[]): void {
  if (tls === undefined) return
  if ((tls.certFile === undefined) !== (tls.keyFile === undefined)) problems.push(`${at}: certFile and keyFile go together (a client certificate and its key)`)
  if (tls.mode === 'disabled' && (tls.caFile ?? tls.certFile ?? tls.keyFile) !== undefined) problems.push(`${at}.mode: disabled, yet certificate files are given; remove them or choose a TLS mode`)
}

function checkAssertion (config: Config, problems: string[]): void {
  const kids = new Map<string, number>()
  config.assertion.keys.forEach((key, i) => {
    const other = kids.get(key.kid)
    if (other !== undefined) problems.push(`assertion.keys[${i}].kid: duplicates assertion.keys[${other}].kid "${key.kid}"`)
    kids.set(key.kid, i)
  })
  config.routes.forEach((route, i) => {
    if (route.auth === 'none' && typeof route.assertion === 'object') problems.push(`routes[${i}].assertion: an open route has no identity to assert (auth is none)`)
  })
}

function checkMappingRules (config: Config, problems: string[]): void {
  config.roles.mappings.forEach((rule, i) => {
    if (rule.value !== '*' && rule.role === undefined) problems.push(`roles.mappings[${i}].role: is required unless value is "*"`)
  })
  config.teams.forEach((rule, i) => {
    if (rule.value !== '*' && rule.team === undefined) problems.push(`teams[${i}].team: is required unless value is "*"`)
  })
  config.businessUnits.forEach((rule, i) => {
    if (rule.value !== '*' && rule.businessUnit === undefined) problems.push(`businessUnits[${i}].businessUnit: is required unless value is "*"`)
  })
}

function checkRateLimits (config: Config, problems: string[]): void {
  const names = new Map<string, number>()
  const routes = new Map(config.routes.map((route) => [route.name, route]))
  config.rateLimits.policies.forEach((policy, i) => {
    const at = `rateLimits.policies[${i}]`
    const other = names.get(policy.name)
    if (other !== undefined) problems.push(`${at}.name: duplicates rateLimits.policies[${other}].name "${policy.name}"`)
    names.set(policy.name, i)
    policy.routes?.forEach((name, j) => {
      const route = routes.get(name)
      if (route === undefined) problems.push(`${at}.routes[${j}]: names no route ("${name}")`)
      // An open route has no bank, client or principal to count.
      else if (route.auth === 'none') problems.push(`${at}.routes[${j}]: "${name}" has auth none, so there is no bank, client or principal to count`)
    })
  })
  for (const [bankId, byPolicy] of Object.entries(config.rateLimits.overrides)) {
    for (const name of Object.keys(byPolicy)) {
      if (!names.has(name)) problems.push(`${keyPath(keyPath('rateLimits.overrides', bankId), name)}: names no policy in rateLimits.policies`)
    }
  }
}

/** `groupsOverage: graph` needs Graph's credentials, and rules Graph can answer: named group ids. */
function checkGroupsOverage (config: Config, problems: string[]): void {
  const { graph } = config.entra
  if (graph !== undefined) {
    // Exactly one credential (CONTRACT.md §15): two would leave which one is used to a rule nobody reads.
    const given = GRAPH_CREDENTIAL_KEYS.filter((key) => graph[key] !== undefined)
    if (given.length === 0) problems.push(`entra.graph: needs one credential: ${GRAPH_CREDENTIAL_KEYS.join(', ')} (or ${FEDERATED_TOKEN_FILE_ENV} in the environment, as Azure Workload Identity sets it)`)
    if (given.length > 1) problems.push(`entra.graph: takes exactly one credential of ${GRAPH_CREDENTIAL_KEYS.join(', ')} (has ${given.join(', ')})`)
    try {
      const url = new URL(graph.endpoint)
      if (url.protocol !== 'https:' && url.protocol !== 'http:') problems.push('entra.graph.endpoint: must be an http(s) URL')
      else if (url.pathname !== '/' || url.search !== '' || url.username !== '' || url.password !== '') problems.push('entra.graph.endpoint: must be an origin (https://graph.microsoft.com)')
    } catch {
      problems.push('entra.graph.endpoint: must be an absolute URL')
    }
  }
  if (config.entra.groupsOverage !== 'graph') return
  if (graph === undefined) problems.push('entra.graph: is required when groupsOverage is graph (clientId and one credential of an app with GroupMember.Read.All)')
  const sections = [['roles.mappings', config.roles.mappings], ['teams', config.teams], ['businessUnits', config.businessUnits]] as const
  for (const [at, rules] of sections) {
    rules.forEach((rule, i) => {
      if (rule.attribute === 'groups' && rule.value === '*') {
        problems.push(`${at}[${i}].value: "*" on groups cannot be answered by Graph's checkMemberGroups under groupsOverage: graph; name the group ids`)
      }
    })
  }
}
