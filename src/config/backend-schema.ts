/**
 * The backends' part of the config schema (CONTRACT.md §4, §5, §10): the mapping source (file or
 * MySQL), the shared cache (memory or Redis: standalone, Sentinel, Cluster), and TLS to each.
 */
import { Type } from '@sinclair/typebox'
import { NonEmpty, oneOf, section, strict } from './schema-parts.js'

/**
 * TLS to a backend (CONTRACT.md §10). `mode` has no schema default: when absent it depends on
 * the host (backends/tls.ts). Files are PEM, read at start.
 */
export const TLS_MODES = ['verify-full', 'verify-ca', 'required', 'disabled'] as const
const TlsFields = {
  mode: Type.Optional(oneOf(TLS_MODES)),
  caFile: Type.Optional(NonEmpty),
  certFile: Type.Optional(NonEmpty),
  keyFile: Type.Optional(NonEmpty)
}
const Tls = Type.Object(TlsFields, strict)
export const RedisTls = Type.Object({ ...TlsFields, servername: Type.Optional(NonEmpty) }, strict)
/** `host:port`, as sentinels and cluster seeds are listed. */
const HostPort = Type.String({ pattern: '^(\\[[0-9A-Fa-f:.]+\\]|[^\\s:/\\[\\]]+):[0-9]{1,5}$' })

export const Mappings = section({
  source: oneOf(['file', 'mysql'] as const, { default: 'file' }),
  file: Type.String({ default: 'mappings.yaml', minLength: 1 }),
  mysql: Type.Optional(Type.Object({
    host: Type.String({ default: '127.0.0.1', minLength: 1 }),
    port: Type.Integer({ minimum: 1, maximum: 65535, default: 3306 }),
    user: NonEmpty,
    password: Type.String({ default: '' }),
    // Instead of `password`: read at start and for every new connection (CONTRACT.md §14).
    passwordFile: Type.Optional(NonEmpty),
    database: Type.String({ default: 'bp_organizations_db', minLength: 1 }),
    connectionLimit: Type.Integer({ minimum: 1, default: 10 }),
    connectTimeoutMs: Type.Integer({ minimum: 1, default: 2000 }),
    queryTimeoutMs: Type.Integer({ minimum: 1, default: 2000 }),
    tls: Type.Optional(Tls)
  }, strict))
})

export const Cache = section({
  store: oneOf(['memory', 'redis'] as const, { default: 'memory' }),
  redis: Type.Optional(Type.Object({
    // Exactly one of url | sentinel | cluster (cross-checks.ts).
    url: Type.Optional(NonEmpty),
    sentinel: Type.Optional(Type.Object({
      masterName: NonEmpty,
      nodes: Type.Array(HostPort, { minItems: 1, uniqueItems: true }),
      username: Type.Optional(NonEmpty),
      password: Type.Optional(Type.String()),
      passwordFile: Type.Optional(NonEmpty)
    }, strict)),
    cluster: Type.Optional(Type.Object({
      nodes: Type.Array(HostPort, { minItems: 1, uniqueItems: true })
    }, strict)),
    username: Type.Optional(NonEmpty),
    password: Type.Optional(Type.String()),
    passwordFile: Type.Optional(NonEmpty),
    tls: Type.Optional(RedisTls),
    keyPrefix: Type.String({ default: 'bookme:gw:' }),
    commandTimeoutMs: Type.Integer({ minimum: 1, default: 200 }),
    connectTimeoutMs: Type.Integer({ minimum: 1, default: 1000 })
  }, strict)),
  ttlSec: Type.Integer({ minimum: 1, default: 300 }),
  negativeTtlSec: Type.Integer({ minimum: 0, default: 30 }),
  localTtlSec: Type.Integer({ minimum: 0, default: 10 }),
  staleIfErrorSec: Type.Integer({ minimum: 0, default: 3600 })
})
