/**
 * The contract's error table (CONTRACT.md §7): every code the gateway answers with, its HTTP
 * status and title. Domain code throws `GatewayError`; the problem-errors plugin renders it as
 * application/problem+json. Match on `code`, never on a message.
 */
export const ERRORS = {
  TOKEN_MISSING: { status: 401, title: 'Bearer token missing' },
  TOKEN_MALFORMED: { status: 401, title: 'Token malformed' },
  TOKEN_EXPIRED: { status: 401, title: 'Token expired' },
  TOKEN_NOT_YET_VALID: { status: 401, title: 'Token not yet valid' },
  TOKEN_SIGNATURE_INVALID: { status: 401, title: 'Token signature invalid' },
  TOKEN_ALGORITHM_NOT_ALLOWED: { status: 401, title: 'Token algorithm not allowed' },
  TOKEN_ISSUER_INVALID: { status: 401, title: 'Token issuer invalid' },
  TOKEN_AUDIENCE_INVALID: { status: 401, title: 'Token audience invalid' },
  SIGNING_KEY_NOT_FOUND: { status: 401, title: 'Signing key not found' },
  AUTH_CONTEXT_REQUIRED: { status: 401, title: 'Authentication context required' },
  TOKEN_REVOKED: { status: 401, title: 'Token revoked' },
  TOKEN_BINDING_INVALID: { status: 401, title: 'Token binding invalid' },
  PRINCIPAL_TYPE_NOT_ALLOWED: { status: 403, title: 'Principal type not allowed' },
  TENANT_NOT_MAPPED: { status: 403, title: 'Tenant not mapped' },
  CLIENT_NOT_REGISTERED: { status: 403, title: 'Client not registered' },
  BANK_NOT_ALLOWED: { status: 403, title: 'Bank not allowed' },
  BANK_DISABLED: { status: 403, title: 'Bank disabled' },
  ROLE_CLAIM_MISSING: { status: 403, title: 'Role claim missing' },
  NO_ROLE: { status: 403, title: 'No role' },
  ROLE_REQUIRED: { status: 403, title: 'Role required' },
  GROUPS_OVERAGE: { status: 403, title: 'Groups overage' },
  PRINCIPAL_BLOCKED: { status: 403, title: 'Principal blocked' },
  BANK_CONTEXT_REQUIRED: { status: 400, title: 'Bank context required' },
  REQUEST_INVALID: { status: 400, title: 'Request invalid' },
  ROUTE_NOT_FOUND: { status: 404, title: 'Route not found' },
  PAYLOAD_TOO_LARGE: { status: 413, title: 'Payload too large' },
  RATE_LIMITED: { status: 429, title: 'Rate limited' },
  REQUEST_HEADERS_TOO_LARGE: { status: 431, title: 'Request header fields too large' },
  UPSTREAM_UNAVAILABLE: { status: 502, title: 'Upstream unavailable' },
  MAPPING_UNAVAILABLE: { status: 503, title: 'Mapping unavailable' },
  GROUPS_UNAVAILABLE: { status: 503, title: 'Groups unavailable' },
  SHUTTING_DOWN: { status: 503, title: 'Shutting down' },
  GATEWAY_NOT_READY: { status: 503, title: 'Gateway not ready' },
  UPSTREAM_TIMEOUT: { status: 504, title: 'Upstream timeout' }
} as const satisfies Record<string, { status: number, title: string }>

export type ErrorCode = keyof typeof ERRORS

/**
 * Not a contract code: the answer to a bug in the gateway itself. Kept out of ERRORS so the
 * table stays equal to §7; still problem+json, and still a denial.
 */
export const INTERNAL_ERROR = { code: 'INTERNAL_ERROR', status: 500, title: 'Internal gateway error' } as const

export class GatewayError extends Error {
  readonly code: ErrorCode
  readonly statusCode: number
  readonly detail: string
  /** Extra members of the problem body (e.g. `availableBankIds`). */
  readonly extensions: Record<string, unknown> | undefined
  /** Value for `WWW-Authenticate: Bearer error="…"`, when the code calls for one. */
  readonly bearerError: 'invalid_token' | 'insufficient_scope' | 'insufficient_claims' | undefined
  /** The whole `WWW-Authenticate` value, where the code's challenge is not the generic one (§13's claims challenge). */
  readonly challenge: string | undefined
  /** `Retry-After` of the answer, in seconds, when the refusal says when to come back. */
  readonly retryAfterSec: number | undefined
  /** Further header fields of the answer that belong to this refusal (a 429's RateLimit fields and Retry-After, §12). */
  readonly headers: Readonly<Record<string, string>> | undefined

  constructor (code: ErrorCode, detail: string, options: { extensions?: Record<string, unknown>, cause?: unknown, challenge?: string, retryAfterSec?: number, headers?: Readonly<Record<string, string>> } = {}) {
    super(detail, { cause: options.cause })
    this.name = 'GatewayError'
    this.code = code
    this.statusCode = ERRORS[code].status
    this.detail = detail
    this.extensions = options.extensions
    this.bearerError = bearerErrorFor(code)
    this.challenge = options.challenge
    this.retryAfterSec = options.retryAfterSec
    this.headers = options.headers
  }
}

/** 404 ROUTE_NOT_FOUND (CONTRACT.md §1.2): the router's, a route's own and `explain`'s alike. */
export function routeNotFound (): GatewayError {
  return new GatewayError('ROUTE_NOT_FOUND', 'No route matches this path')
}

function bearerErrorFor (code: ErrorCode): GatewayError['bearerError'] {
  if (code === 'ROLE_REQUIRED') return 'insufficient_scope'
  if (code === 'AUTH_CONTEXT_REQUIRED') return 'insufficient_claims'
  if (ERRORS[code].status === 401 && code !== 'TOKEN_MISSING') return 'invalid_token'
  return undefined
}

/**
 * A refusal of the caller's identity or access (token, tenant, client, bank, roles): the
 * `auth_failures_total` metric counts these, not routing, size or upstream answers.
 */
export function isAccessRefusal (err: GatewayError): boolean {
  return err.statusCode === 401 || err.statusCode === 403 || err.code === 'BANK_CONTEXT_REQUIRED'
}

const REALM = 'bookme-gateway'

/** `WWW-Authenticate` per RFC 6750 §3; the description never carries claim or token text. */
export function wwwAuthenticate (err: GatewayError): string | undefined {
  if (err.code === 'TOKEN_MISSING') return `Bearer realm="${REALM}"`
  if (err.challenge !== undefined) return err.challenge
  if (!err.bearerError) return undefined
  return `Bearer realm="${REALM}", error="${err.bearerError}", error_description="${quotedString(err.detail)}"`
}

function quotedString (text: string): string {
  return text.replace(/[^\x20-\x7e]/g, '').replace(/["\\]/g, '')
}

export function isGatewayError (err: unknown): err is GatewayError {
  return err instanceof GatewayError
}
