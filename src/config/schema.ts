/**
 * The whole configuration of CONTRACT.md §2 as one TypeBox schema (the backends' sections in
 * backend-schema.ts). Defaults live in the schema and only there; the `Config` type is derived
 * from it. Every object rejects unknown keys.
 */
import { Type, type Static } from '@sinclair/typebox'
import { PLATFORM_ROLES } from './platform-roles.js'
import { Guid, NonEmpty, oneOf, section, strict } from './schema-parts.js'
import { Cache, Mappings, RedisTls, TLS_MODES } from './backend-schema.js'

const Role = oneOf(PLATFORM_ROLES)

const Server = section({
  host: Type.String({ default: '0.0.0.0', minLength: 1 }),
  port: Type.Integer({ minimum: 0, maximum: 65535, default: 8080 }),
  adminPort: Type.Integer({ minimum: 0, maximum: 65535, default: 9090 }),
  trustProxy: Type.Union([Type.Boolean(), Type.Integer({ minimum: 0 }), Type.Array(NonEmpty, { minItems: 1 })], { default: false }),
  requestTimeoutMs: Type.Integer({ minimum: 1, default: 30000 }),
  bodyLimitBytes: Type.Integer({ minimum: 0, default: 10485760 }),
  shutdownGraceMs: Type.Integer({ minimum: 0, default: 10000 }),
  // Node's own default (16 KiB): a larger request head is answered 431 (CONTRACT.md §7).
  maxHeaderBytes: Type.Integer({ minimum: 1024, maximum: 1048576, default: 16384 }),
  // The client certificate the TLS-terminating ingress passes on, believed only from a trustProxy
  // peer (CONTRACT.md §15, RFC 8705); absent, no certificate is believed and bound tokens are refused.
  clientCertificate: Type.Optional(Type.Object({
    header: Type.String({ default: 'ssl-client-cert', minLength: 1, pattern: '^[A-Za-z0-9!#$%&\'*+.^_`|~-]+$' }),
    format: oneOf(['pem-urlencoded', 'xfcc'] as const)
  }, strict))
})

const Entra = section({
  authority: Type.String({ default: 'https://login.microsoftonline.com', minLength: 1 }),
  v2IssuerTemplate: Type.String({ default: '{authority}/{tenantid}/v2.0', minLength: 1 }),
  v1IssuerTemplate: Type.String({ default: 'https://sts.windows.net/{tenantid}/', minLength: 1 }),
  clockToleranceSec: Type.Integer({ minimum: 0, maximum: 600, default: 60 }),
  jwks: section({
    cacheTtlSec: Type.Integer({ minimum: 1, default: 86400 }),
    refreshIntervalSec: Type.Integer({ minimum: 1, default: 3600 }),
    minRefreshIntervalSec: Type.Integer({ minimum: 0, default: 300 }),
    timeoutMs: Type.Integer({ minimum: 1, default: 5000 })
  }),
  tokenCache: section({
    maxEntries: Type.Integer({ minimum: 0, default: 10000 }),
    ttlSec: Type.Integer({ minimum: 1, default: 300 })
  }),
  // A token whose groups did not fit (CONTRACT.md §13): refused, or its groups asked of Graph.
  groupsOverage: oneOf(['deny', 'graph'] as const, { default: 'deny' }),
  graph: Type.Optional(Type.Object({
    endpoint: Type.String({ minLength: 1, default: 'https://graph.microsoft.com' }),
    clientId: Guid,
    // Exactly one credential (cross-checks.ts; CONTRACT.md §15 "Graph without a secret"); with
    // none, $AZURE_FEDERATED_TOKEN_FILE stands for federatedTokenFile (load.ts). Files: read at
    // start and for every token request (groups-overage/graph-credentials.ts).
    clientSecret: Type.Optional(NonEmpty),
    clientSecretFile: Type.Optional(NonEmpty),
    clientCertificate: Type.Optional(Type.Object({ certFile: NonEmpty, keyFile: NonEmpty }, strict)),
    federatedTokenFile: Type.Optional(NonEmpty),
    cacheTtlSec: Type.Integer({ minimum: 1, default: 300 }),
    timeoutMs: Type.Integer({ minimum: 1, default: 2000 })
  }, strict))
})

const ApiProfile = Type.Object({
  clientId: Guid,
  appIdUri: Type.Optional(Type.Union([NonEmpty, Type.Array(NonEmpty, { minItems: 1, uniqueItems: true })])),
  tenancy: oneOf(['multi', 'single'] as const, { default: 'multi' }),
  tenantId: Type.Optional(Guid),
  principals: Type.Array(oneOf(['user', 'app'] as const), { minItems: 1, uniqueItems: true, default: ['user'] }),
  requiredRoles: Type.Array(Role, { uniqueItems: true, default: [] }),
  bankResolution: oneOf(['tenant', 'client'] as const, { default: 'tenant' }),
  /** A token without the `idtyp` optional claim is refused; user vs app rests on it alone (§15). */
  requireIdtyp: Type.Boolean({ default: false }),
  /** `application`: the API app's own signing keys, discovered with `?appid={clientId}` (§15). */
  signingKeys: oneOf(['tenant', 'application'] as const, { default: 'tenant' }),
  /** A token not bound to a client certificate (no `cnf.x5t#S256`) is refused (§15, RFC 8705). */
  requireBoundTokens: Type.Boolean({ default: false })
}, strict)

const TeamRule = Type.Object({ attribute: NonEmpty, value: NonEmpty, team: Type.Optional(NonEmpty) }, strict)
const BusinessUnitRule = Type.Object({ attribute: NonEmpty, value: NonEmpty, businessUnit: Type.Optional(NonEmpty) }, strict)

const RoleRule = Type.Object({ attribute: NonEmpty, value: NonEmpty, role: Type.Optional(Role) }, strict)

const Headers = section({
  prefix: Type.String({ default: 'x-bookme-', minLength: 2, pattern: '^[A-Za-z0-9!#$%&\'*+.^_`|~-]+$' }),
  bankSelection: Type.String({ default: 'x-bank-context', minLength: 1, pattern: '^[A-Za-z0-9!#$%&\'*+.^_`|~-]+$' }),
  forwardAuthorization: Type.Boolean({ default: true })
})

const Cors = section({
  origins: Type.Array(Type.String({ pattern: '^https?://[^/\\s]+$' }), { default: [], uniqueItems: true })
})

/** CONTRACT.md §11: on when keys are configured; the first key signs, all are published. */
const Assertion = section({
  issuer: Type.String({ default: 'https://bookme-gateway', minLength: 1 }),
  ttlSec: Type.Integer({ minimum: 10, maximum: 300, default: 60 }),
  keys: Type.Array(Type.Object({
    kid: Type.String({ minLength: 1, maxLength: 128, pattern: '^[A-Za-z0-9._:-]+$' }),
    privateKeyFile: NonEmpty
  }, strict), { default: [] })
})

/** CONTRACT.md §12: counted after every other check, in the cache store. */
const PolicyName = Type.String({ minLength: 1, maxLength: 64, pattern: '^[A-Za-z0-9._-]+$' })
/** CONTRACT.md §14: the decision log. Refusals are always logged; allowed lines may be sampled. */
const Log = section({
  allowedSampleRatio: Type.Number({ minimum: 0, maximum: 1, default: 1 })
})

/** CONTRACT.md §14: OpenTelemetry traces over OTLP/HTTP; off when absent. */
const Tracing = Type.Object({
  endpoint: Type.String({ pattern: '^https?://[^\\s]+$' }),
  sampleRatio: Type.Number({ minimum: 0, maximum: 1, default: 0.1 }),
  trustInboundTraceparent: Type.Boolean({ default: false }),
  serviceName: Type.String({ minLength: 1, default: 'bookme-gateway' })
}, strict)

const RateLimits = section({
  policies: Type.Array(Type.Object({
    name: PolicyName,
    // Default: every authenticated route.
    routes: Type.Optional(Type.Array(NonEmpty, { minItems: 1, uniqueItems: true })),
    key: oneOf(['bank', 'client', 'principal'] as const, { default: 'bank' }),
    limit: Type.Integer({ minimum: 1 }),
    windowSec: Type.Integer({ minimum: 1, maximum: 86400, default: 60 }),
    // Default: the limit.
    burst: Type.Optional(Type.Integer({ minimum: 1 }))
  }, strict), { default: [] }),
  // By BankId, then by policy name.
  overrides: Type.Record(Type.String({ minLength: 1, maxLength: 64, pattern: '^[^,\\s]+$' }), Type.Record(PolicyName, Type.Object({
    limit: Type.Optional(Type.Integer({ minimum: 1 })),
    burst: Type.Optional(Type.Integer({ minimum: 1 }))
  }, { ...strict, minProperties: 1 }), { additionalProperties: false }), { default: {}, additionalProperties: false }),
  headers: Type.Boolean({ default: true }),
  replicas: Type.Integer({ minimum: 1, default: 1 }),
  // With the Redis store: 0 counts every request in Redis; more, each pod counts from its own
  // view and reconciles every syncMs (rate-limits/synced-counters.ts states the over-admission bound).
  syncMs: Type.Integer({ minimum: 0, maximum: 10000, default: 0 })
})

const Route = Type.Object({
  name: Type.String({ minLength: 1, pattern: '^[A-Za-z0-9._-]+$' }),
  prefix: Type.String({ minLength: 1 }),
  upstream: NonEmpty,
  rewritePrefix: Type.Optional(Type.String({ minLength: 1 })),
  api: Type.Optional(NonEmpty),
  auth: oneOf(['required', 'none'] as const, { default: 'required' }),
  roles: Type.Array(Role, { uniqueItems: true, default: [] }),
  websocket: Type.Boolean({ default: false }),
  // One WebSocket message, either direction (CONTRACT.md §15); ws's own default is 100 MiB.
  websocketMaxMessageBytes: Type.Integer({ minimum: 1, maximum: 104857600, default: 1048576 }),
  timeoutMs: Type.Integer({ minimum: 1, default: 30000 }),
  forwardAuthorization: Type.Optional(Type.Boolean()),
  // A Conditional Access authentication context id (Entra allows c1 to c99), CONTRACT.md §13.
  authContext: Type.Optional(Type.String({ pattern: '^c([1-9]|[1-9][0-9])$' })),
  // The signed assertion's audience (default: the route's name); false omits the assertion.
  assertion: Type.Optional(Type.Union([Type.Literal(false), Type.Object({ audience: NonEmpty }, strict)])),
  // CONTRACT.md §14: `report` logs and counts the route's roles, authContext, groups-overage and
  // rate-limit refusals and forwards the request; token, tenant, bank and block refusals hold.
  mode: oneOf(['enforce', 'report'] as const, { default: 'enforce' })
}, strict)

export const ConfigSchema = Type.Object({
  server: Server,
  entra: Entra,
  apis: Type.Record(Type.String({ pattern: '^[A-Za-z0-9._-]+$' }), ApiProfile, { default: {}, additionalProperties: false }),
  roles: section({
    mappings: Type.Array(RoleRule, { default: [{ attribute: 'roles', value: '*' }] })
  }),
  teams: Type.Array(TeamRule, { default: [] }),
  businessUnits: Type.Array(BusinessUnitRule, { default: [] }),
  mappings: Mappings,
  cache: Cache,
  headers: Headers,
  cors: Cors,
  assertion: Assertion,
  rateLimits: RateLimits,
  log: Log,
  tracing: Type.Optional(Tracing),
  routes: Type.Array(Route, { minItems: 1 })
}, strict)

/** What the schema alone guarantees; `crossCheck` (cross-checks.ts) then narrows it to `Config`. */
export type SchemaConfig = Static<typeof ConfigSchema>

type SchemaRoute = SchemaConfig['routes'][number]
type SchemaMappings = SchemaConfig['mappings']
type SchemaCache = SchemaConfig['cache']
type MysqlConfig = NonNullable<SchemaMappings['mysql']>
type RedisConfig = NonNullable<SchemaCache['redis']>

/**
 * The schema's types as the cross-checks leave them (CONTRACT.md §2): a route that needs
 * authentication names its API profile and an open one names none; the MySQL source has its
 * settings; the Redis store has its URL. Unions on the field that decides, so code reading the
 * config narrows by checking it, with no non-null assertion. Derived from the schema's own
 * types, not written twice.
 */
export type RouteConfig = Omit<SchemaRoute, 'auth' | 'api'> & ({ auth: 'required', api: string } | { auth: 'none', api?: undefined })
export type MappingsConfig = Omit<SchemaMappings, 'source' | 'mysql'> & ({ source: 'file', mysql?: MysqlConfig } | { source: 'mysql', mysql: MysqlConfig })
export type CacheConfig = Omit<SchemaCache, 'store' | 'redis'> & ({ store: 'memory', redis?: RedisConfig } | { store: 'redis', redis: RedisConfig })
export type Config = Omit<SchemaConfig, 'routes' | 'mappings' | 'cache'> & { routes: RouteConfig[], mappings: MappingsConfig, cache: CacheConfig }
export type ApiProfileConfig = Config['apis'][string]
export type { MysqlConfig, RedisConfig }
export type TlsConfig = Static<typeof RedisTls>
export type TlsMode = typeof TLS_MODES[number]
