/**
 * The header set an upstream receives (CONTRACT.md §1.4, §6): a new map built from the inbound
 * headers, already stripped of the identity namespace, without every name the client's
 * `Connection` nominates and without the hop-by-hop headers, then the gateway's own. Written
 * last, nothing a client nominates can remove them (CVE-2022-31813 class).
 */
export type HeaderMap = Record<string, string | string[] | undefined>

/**
 * RFC 9110 §7.6.1 hop-by-hop fields, plus ones undici refuses to send (`expect`, `keep-alive`),
 * and `host`: the upstream's own comes from its origin, the client's goes in x-forwarded-host.
 */
const NOT_FORWARDED = new Set(['connection', 'keep-alive', 'proxy-connection', 'proxy-authorization', 'te', 'trailer',
  'transfer-encoding', 'upgrade', 'http2-settings', 'expect', 'host'])

export interface UpstreamHeaderInput {
  requestId: string
  forwarded: { for: string, proto: string, host: string }
  forwardAuthorization: boolean
  /** Pre-validated identity headers (names lower case, values free of control characters). */
  identity?: Readonly<Record<string, string>>
  /** The signed assertion (CONTRACT.md §11) when the request carries one, sent as `assertionHeader` (lower case). */
  assertion?: string | null
  assertionHeader?: string
  /** Keep `upgrade` for a WebSocket handshake. */
  upgrade?: boolean
}

export function buildUpstreamHeaders (inbound: Readonly<HeaderMap>, input: UpstreamHeaderInput): HeaderMap {
  const connection = inbound.connection
  const nominated = connection === undefined ? NONE : nominatedHeaders(Array.isArray(connection) ? connection.join(',') : connection)
  const headers: HeaderMap = {}
  for (const name in inbound) {
    if (NOT_FORWARDED.has(name) && !(name === 'upgrade' && input.upgrade) && !(name === 'te' && inbound.te === 'trailers')) continue
    if (nominated.has(name) || (name === 'authorization' && !input.forwardAuthorization)) continue
    headers[name] = inbound[name]
  }
  headers['x-forwarded-for'] = input.forwarded.for
  headers['x-forwarded-proto'] = input.forwarded.proto
  headers['x-forwarded-host'] = input.forwarded.host
  headers['x-request-id'] = input.requestId
  if (input.identity) {
    for (const name in input.identity) headers[name] = input.identity[name]
  }
  if (input.assertion && input.assertionHeader) headers[input.assertionHeader] = input.assertion
  return headers
}

const NONE: ReadonlySet<string> = new Set()

/** The field names a `Connection` value nominates as hop-by-hop (RFC 9110 §7.6.1), lower case. */
export function nominatedHeaders (connection: string): ReadonlySet<string> {
  const lower = connection.toLowerCase()
  // What nearly every client sends nominates nothing.
  if (lower === 'keep-alive' || lower === 'close') return NONE
  const names = new Set<string>()
  for (const token of lower.split(',')) {
    const name = token.trim()
    if (name !== '') names.add(name)
  }
  return names
}
