/**
 * HAProxy's own JWT checks (2.5+: `jwt_header_query`, `jwt_payload_query`, `jwt_verify`) in
 * front of the origin: RS256 only, the audience, an issuer from the allowlist of mapped tenants
 * (the same list the Node peers derive), `exp` against `date()`, the signature against the
 * issuer's key as a PEM file; anything else is a 401. One header upstream, the token's `tid`.
 * It does less than the gateway and the Node peers: no bank lookup, no role check, no request
 * log. One thread, so it meets the one-core Node targets on even terms.
 */
export interface HaproxyJwtOptions {
  port: number
  upstream: string
  audience: string
  /** The issuer's RSA public key, PEM (SPKI). */
  publicKeyFile: string
  /** One accepted `iss` a line. */
  issuersFile: string
}

export function haproxyJwtConfig ({ port, upstream, audience, publicKeyFile, issuersFile }: HaproxyJwtOptions): string {
  const origin = new URL(upstream)
  // jwt_verify returns 1 for a good signature and 0 or a negative error code otherwise, so it
  // is matched as an integer, never used as a boolean (HAProxy configuration manual, jwt_verify).
  const valid = [
    '{ var(txn.alg) -m str RS256 }',
    `{ var(txn.aud) -m str ${audience} }`,
    `{ var(txn.iss) -m str -f ${issuersFile} }`,
    '{ var(txn.exp),sub(txn.now) -m int gt 0 }',
    `{ var(txn.bearer),jwt_verify("RS256","${publicKeyFile}") -m int 1 }`
  ]
  return [
    'global',
    '  nbthread 1',
    'defaults',
    '  mode http',
    '  timeout connect 5s',
    '  timeout client 30s',
    '  timeout server 30s',
    'frontend bench',
    `  bind 127.0.0.1:${port}`,
    '  http-request set-var(txn.bearer) http_auth_bearer',
    "  http-request set-var(txn.alg) var(txn.bearer),jwt_header_query('$.alg')",
    "  http-request set-var(txn.aud) var(txn.bearer),jwt_payload_query('$.aud')",
    "  http-request set-var(txn.iss) var(txn.bearer),jwt_payload_query('$.iss')",
    "  http-request set-var(txn.exp) var(txn.bearer),jwt_payload_query('$.exp','int')",
    '  http-request set-var(txn.now) date()',
    `  http-request return status 401 content-type application/json string '{"code":"TOKEN_INVALID"}' unless ${valid.join(' ')}`,
    "  http-request set-header x-bookme-tenant-id %[var(txn.bearer),jwt_payload_query('$.tid')]",
    '  default_backend origin',
    'backend origin',
    `  server origin ${origin.hostname}:${origin.port}`,
    ''
  ].join('\n')
}
