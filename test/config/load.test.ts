import t from 'tap'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { ConfigError, loadConfigFile, parseConfig, resolveConfigPath } from '../../src/config/load.js'
import { loadMappingsFile } from '../../src/mappings/file-source.js'

const ROUTE = { name: 'r', prefix: '/r', upstream: 'http://127.0.0.1:1', auth: 'none' }
const GUID = '00000000-0000-0000-0000-000000000001'

function problemsOf (raw: unknown, env: NodeJS.ProcessEnv = {}): string[] {
  try {
    parseConfig(raw, { env })
  } catch (err) {
    if (err instanceof ConfigError) return err.problems
    throw err
  }
  return []
}

t.test('a minimal config gets every documented default, frozen', async (t) => {
  const config = parseConfig({ routes: [ROUTE] }, { env: {}, baseDir: '/etc/gw' })
  t.match(config.server, { host: '0.0.0.0', port: 8080, adminPort: 9090, trustProxy: false, requestTimeoutMs: 30000, bodyLimitBytes: 10485760, shutdownGraceMs: 10000 })
  t.match(config.entra, {
    authority: 'https://login.microsoftonline.com',
    v2IssuerTemplate: '{authority}/{tenantid}/v2.0',
    v1IssuerTemplate: 'https://sts.windows.net/{tenantid}/',
    clockToleranceSec: 60,
    jwks: { cacheTtlSec: 86400, refreshIntervalSec: 3600, minRefreshIntervalSec: 300, timeoutMs: 5000 },
    tokenCache: { maxEntries: 10000, ttlSec: 300 }
  })
  t.same(config.roles.mappings, [{ attribute: 'roles', value: '*' }])
  t.match(config.cache, { store: 'memory', ttlSec: 300, negativeTtlSec: 30, localTtlSec: 10, staleIfErrorSec: 3600 })
  t.match(config.headers, { prefix: 'x-bookme-', bankSelection: 'x-bank-context', forwardAuthorization: true })
  t.same(config.cors.origins, [])
  t.match(config.routes[0], { auth: 'none', websocket: false, timeoutMs: 30000, roles: [] })
  t.equal(config.mappings.file, '/etc/gw/mappings.yaml', 'relative to the config file folder')
  t.ok(Object.isFrozen(config) && Object.isFrozen(config.server) && Object.isFrozen(config.routes[0]))
})

t.test('the whole §2 example is accepted', async (t) => {
  const config = parseConfig({
    server: { host: '0.0.0.0', port: 8080, adminPort: 9090, trustProxy: ['10.0.0.0/8'], requestTimeoutMs: 30000, bodyLimitBytes: 10485760, shutdownGraceMs: 10000 },
    entra: { authority: 'https://login.microsoftonline.com', clockToleranceSec: 60, jwks: { cacheTtlSec: 86400, refreshIntervalSec: 3600, minRefreshIntervalSec: 300, timeoutMs: 5000 }, tokenCache: { maxEntries: 10000, ttlSec: 300 } },
    apis: {
      management: { clientId: GUID, appIdUri: `api://${GUID}`, tenancy: 'multi', principals: ['user'], bankResolution: 'tenant' },
      system: { clientId: '00000000-0000-0000-0000-000000000002', tenancy: 'single', tenantId: '00000000-0000-0000-0000-0000000000aa', principals: ['app'], requiredRoles: ['System'], bankResolution: 'client' }
    },
    roles: { mappings: [{ attribute: 'roles', value: '*' }, { attribute: 'groups', value: '5f1c', role: 'Manager' }] },
    teams: [{ attribute: 'groups', value: '*', team: 'x' }],
    businessUnits: [{ attribute: 'department', value: 'Retail', businessUnit: 'retail' }],
    mappings: { source: 'mysql', file: 'config/mappings.yaml', mysql: { host: '127.0.0.1', port: 3306, user: 'bookme_gw', password: '${MYSQL_PASSWORD}', database: 'bp_organizations_db', connectionLimit: 10 } },
    cache: { store: 'redis', redis: { url: 'redis://127.0.0.1:6379', keyPrefix: 'bookme:gw:' }, ttlSec: 300, negativeTtlSec: 30, localTtlSec: 10, staleIfErrorSec: 3600 },
    headers: { prefix: 'x-bookme-', bankSelection: 'x-bank-context', forwardAuthorization: true },
    cors: { origins: ['https://ui.bookme.test'] },
    routes: [{ name: 'meetings', prefix: '/api/meetings', upstream: 'http://meetings.bookme.svc:8080', rewritePrefix: '/meetings', api: 'management', auth: 'required', roles: ['Employee'], websocket: false, timeoutMs: 30000, forwardAuthorization: true }]
  }, { env: { MYSQL_PASSWORD: 's3cret' } })
  t.equal(config.mappings.mysql?.password, 's3cret', '${VAR} interpolated')
})

t.test('${VAR}: every unset variable is a problem, not an empty string', async (t) => {
  const problems = problemsOf({ cache: { store: 'redis', redis: { url: 'redis://:${REDIS_PW}@h:6379' } }, routes: [{ ...ROUTE, upstream: 'http://${HOST}:80' }] }, {})
  t.same(problems, ['cache.redis.url: environment variable REDIS_PW is not set', 'routes[0].upstream: environment variable HOST is not set'])
})

t.test('unknown keys, wrong types and bad enums are all reported at once as path: message', async (t) => {
  const problems = problemsOf({
    server: { port: 'eighty', colour: 'blue' },
    sever: {},
    apis: { m: { clientId: 'not-a-guid', tenancy: 'several' } },
    routes: [{ ...ROUTE, auth: 'maybe', roles: ['Boss'] }]
  })
  t.same(problems.sort(), [
    'apis.m.clientId: must match pattern "^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$"',
    'apis.m.tenancy: must be one of multi, single',
    'routes[0].auth: must be one of required, none',
    'routes[0].roles[0]: must be one of Admin, Configurator, Manager, Employee, Customer, CreditEvaluator, System',
    'server.colour: unknown key',
    'server.port: must be integer',
    'sever: unknown key'
  ].sort())
})

t.test('cross-field rules', async (t) => {
  const single = { clientId: GUID, tenancy: 'single' }
  const problems = problemsOf({
    apis: { s: single, m: { clientId: GUID, tenantId: GUID }, c: { clientId: GUID, bankResolution: 'client', principals: ['user'] } },
    mappings: { source: 'mysql' },
    cache: { store: 'redis' },
    routes: [
      { name: 'a', prefix: 'api', upstream: 'http://x' },
      { name: 'a', prefix: '/API', upstream: 'ftp://x', api: 'nope' },
      { name: 'c', prefix: '/api', upstream: 'not a url', auth: 'none', api: 's', roles: ['Admin'] },
      { name: 'd', prefix: '/d/', upstream: 'http://u:p@x' },
      { name: 'e', prefix: '/e/../f', upstream: 'http://x/path', api: 's' }
    ]
  })
  t.same(problems.sort(), [
    'apis.c.bankResolution: client resolution needs principals [app] (a user token must never act as a registered client)',
    'apis.m.tenantId: only allowed when tenancy is single',
    'apis.s.tenantId: is required when tenancy is single',
    'cache.redis: is required when store is redis',
    'mappings.mysql: is required when source is mysql',
    'routes[0].api: is required when auth is required',
    'routes[0].prefix: must start with /',
    'routes[1].api: names no profile in apis ("nope")',
    'routes[1].name: duplicates routes[0].name "a"',
    'routes[1].upstream: must be an http or https URL',
    'routes[2].api: must be omitted when auth is none',
    'routes[2].prefix: duplicates routes[1].prefix "/API"',
    'routes[2].roles: cannot be enforced when auth is none',
    'routes[2].upstream: must be an absolute http(s) URL',
    'routes[3].api: is required when auth is required',
    'routes[3].prefix: must not end with /',
    'routes[3].upstream: must not carry credentials',
    'routes[4].prefix: must not contain . or .. segments',
    'routes[4].upstream: must be an origin (scheme://host:port); use rewritePrefix for a path'
  ].sort())
})

t.test('a route prefix is a plain path: letters, digits, -, ., _, ~ and / (the router sees decoded, normalized paths)', async (t) => {
  for (const prefix of ['/odd!', '/bänk', '/a(b)', '/a;b', '/a%20b', '/a b', '/a:b', '/a*', '/a@b', '/a+b']) {
    t.same(problemsOf({ routes: [{ ...ROUTE, prefix }] }), ['routes[0].prefix: must be a plain path: letters, digits, -, ., _, ~ and / only'], prefix)
  }
  for (const prefix of ['/', '/api', '/api/v1.2/x_y-z~', '/.well-known']) t.same(problemsOf({ routes: [{ ...ROUTE, prefix }] }), [], prefix)
})

t.test('routes are required; a role rule needs a role unless it passes values through', async (t) => {
  t.same(problemsOf({}), ['routes: is required'])
  t.same(problemsOf({ routes: [ROUTE], roles: { mappings: [{ attribute: 'groups', value: 'abc' }] } }), ['roles.mappings[0].role: is required unless value is "*"'])
})

t.test('config file: YAML errors and duplicate keys are problems; path resolution order', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'bookme-config-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  writeFileSync(join(dir, 'dup.yaml'), 'routes: []\nroutes: []\n')
  t.throws(() => loadConfigFile(join(dir, 'dup.yaml'), {}), ConfigError)
  const missing = (() => { try { loadConfigFile(join(dir, 'missing.yaml'), {}) } catch (err) { return err } })()
  t.match(missing, { problems: [/cannot read/] }, 'a missing file is a problem, not a crash')
  t.equal(resolveConfigPath('/a.yaml', { BOOKME_GATEWAY_CONFIG: '/b.yaml' }), '/a.yaml', '--config first')
  t.equal(resolveConfigPath(undefined, { BOOKME_GATEWAY_CONFIG: '/b.yaml' }), '/b.yaml', 'then the environment')
  t.match(resolveConfigPath(undefined, {}), /config\/gateway\.yaml$/, 'then config/gateway.yaml')
})

t.test('the shipped config/gateway.yaml and the mappings file it names load as they are', async (t) => {
  const config = loadConfigFile(fileURLToPath(new URL('../../config/gateway.yaml', import.meta.url)), {})
  t.match(config.mappings.file, /config\/mappings\.yaml$/)
  t.doesNotThrow(() => loadMappingsFile(config.mappings.file), 'config/mappings.yaml is shipped and valid')
})

t.test('a YAML syntax error names the file, line and column', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'bookme-yaml-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  writeFileSync(join(dir, 'bad.yaml'), 'server:\n  port: 1\n  port: 2\n')
  const err = (() => { try { loadConfigFile(join(dir, 'bad.yaml'), {}) } catch (e) { return e } })()
  t.match(err, { problems: [`(file): ${join(dir, 'bad.yaml')}:3:3: Map keys must be unique`] })
})

t.test('rate limits: §12\'s example is accepted with its defaults; every reference is checked', async (t) => {
  const apis = { management: { clientId: GUID } }
  const routes = [{ name: 'meetings', prefix: '/api/meetings', upstream: 'http://127.0.0.1:1', api: 'management' }, ROUTE]
  const config = parseConfig({
    apis,
    routes,
    rateLimits: {
      policies: [{ name: 'bank-api', routes: ['meetings'], key: 'bank', limit: 600, windowSec: 60, burst: 100 }, { name: 'per-user', key: 'principal', limit: 10 }],
      overrides: { 1001: { 'bank-api': { limit: 1200 } } },
      headers: true,
      replicas: 2
    }
  }, { env: {} })
  t.match(config.rateLimits.policies[1], { key: 'principal', windowSec: 60 })
  t.equal(config.rateLimits.policies[1]?.burst, undefined, 'burst: the limit, at compile time')
  t.match(parseConfig({ routes: [ROUTE] }, { env: {} }).rateLimits, { policies: [], overrides: {}, headers: true, replicas: 1 }, 'no policies by default')

  const problems = problemsOf({
    apis,
    routes,
    rateLimits: {
      policies: [
        { name: 'a', routes: ['meetings', 'nope', 'r'], limit: 5 },
        { name: 'a', limit: 0, key: 'tenant' },
        { name: 'with space', limit: 1 }
      ],
      overrides: { 1001: { b: { limit: 3 }, a: {} }, 'bad id': { a: { limit: 1 } } },
      replicas: 0
    }
  })
  t.same(problems.sort(), [
    'rateLimits.overrides[1001].a: must not be empty',
    'rateLimits.overrides.bad id: unknown key',
    'rateLimits.policies[1].key: must be one of bank, client, principal',
    'rateLimits.policies[1].limit: must be >= 1',
    'rateLimits.policies[2].name: must match pattern "^[A-Za-z0-9._-]+$"',
    'rateLimits.replicas: must be >= 1'
  ].sort())
  t.same(problemsOf({ apis, routes, rateLimits: { policies: [{ name: 'a', routes: ['meetings', 'nope', 'r'], limit: 5 }, { name: 'a', limit: 1 }], overrides: { 1001: { b: { limit: 3 } } } } }).sort(), [
    'rateLimits.overrides[1001].b: names no policy in rateLimits.policies',
    'rateLimits.policies[0].routes[1]: names no route ("nope")',
    'rateLimits.policies[0].routes[2]: "r" has auth none, so there is no bank, client or principal to count',
    'rateLimits.policies[1].name: duplicates rateLimits.policies[0].name "a"'
  ])
})

t.test('§13: §13\'s graph example with its defaults; authContext ids; groupsOverage: graph needs credentials and named groups', async (t) => {
  const apis = { management: { clientId: GUID } }
  const route = { name: 'pay', prefix: '/pay', upstream: 'http://127.0.0.1:1', api: 'management', authContext: 'c1' }
  const config = parseConfig({
    apis,
    routes: [route],
    entra: { groupsOverage: 'graph', graph: { clientId: GUID, clientSecret: '${GRAPH_SECRET}' } },
    roles: { mappings: [{ attribute: 'groups', value: '5f1c0000-0000-4000-8000-000000000001', role: 'Manager' }] }
  }, { env: { GRAPH_SECRET: 's3cret' } })
  t.match(config.entra.graph, { endpoint: 'https://graph.microsoft.com', clientId: GUID, clientSecret: 's3cret', cacheTtlSec: 300, timeoutMs: 2000 })
  t.equal(config.routes[0]?.authContext, 'c1')
  t.equal(parseConfig({ routes: [ROUTE] }, { env: {} }).entra.groupsOverage, 'deny', 'deny by default')

  t.same(problemsOf({ apis, routes: [{ ...route, authContext: 'c100' }] }), ['routes[0].authContext: must match pattern "^c([1-9]|[1-9][0-9])$"'])
  t.same(problemsOf({ apis, routes: [route, { ...ROUTE, authContext: 'c2' }] }), ['routes[1].authContext: cannot be enforced when auth is none'])
  t.same(problemsOf({
    apis,
    routes: [route],
    entra: { groupsOverage: 'graph' },
    teams: [{ attribute: 'groups', value: '*' }]
  }).sort(), [
    'entra.graph: is required when groupsOverage is graph (clientId and one credential of an app with GroupMember.Read.All)',
    'teams[0].value: "*" on groups cannot be answered by Graph\'s checkMemberGroups under groupsOverage: graph; name the group ids'
  ])
  t.same(problemsOf({ apis, routes: [route], entra: { graph: { clientId: 'x', clientSecret: '' } } }).sort(), [
    'entra.graph.clientId: must match pattern "^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$"',
    'entra.graph.clientSecret: must NOT have fewer than 1 characters'
  ])
  t.same(problemsOf({ apis, routes: [route], entra: { graph: { clientId: GUID, clientSecret: 's', endpoint: 'https://graph.microsoft.com/v1.0' } } }), ['entra.graph.endpoint: must be an origin (https://graph.microsoft.com)'])
})
