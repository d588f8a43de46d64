/**
 * The header set an upstream receives (CONTRACT.md §1.4, §6). It starts from a copy of the inbound
 * headers, already stripped of the identity namespace, removes every name the client's
 * `Connection` nominates and the hop-by-hop headers, then writes the gateway's own. Written last,
 * nothing a client nominates can remove them (CVE-2022-31813 class).
 */
export type HeaderMap = Record<string, string | string[] | undefined>

/** RFC 9110 §7.6.1 hop-by-hop fields, plus ones undici refuses to send (`expect`, `keep-alive`). */
const HOP_BY_HOP = ['connection', 'keep-alive', 'proxy-connection', 'proxy-authorization', 'te', 'trailer',
  'transfer-encoding', 'upgrade', 'http2-settings', 'expect']

export interface UpstreamHeaderInput {
  requestId: string
  forwarded: { for: string, proto: string, host: string }
  forwardAuthorization: boolean
  /** Pre-validated identity headers (names lower case, values free of control characters). */
  identity?: Readonly<Record<string, string>>
  /** Keep `upgrade` for a WebSocket handshake. */
  upgrade?: boolean
}

export function buildUpstreamHeaders (headers: HeaderMap, input: UpstreamHeaderInput): HeaderMap {
  const connection = headers.connection
  if (connection !== undefined) {
    for (const name of nominatedHeaders(Array.isArray(connection) ? connection.join(',') : connection)) delete headers[name]
  }
  // The upstream's own host comes from its origin; the client's is in x-forwarded-host.
  delete headers.host
  for (const name of HOP_BY_HOP) {
    if (name === 'upgrade' && input.upgrade) continue
    if (name === 'te' && headers.te === 'trailers') continue
    if (headers[name] !== undefined) delete headers[name]
  }
  if (!input.forwardAuthorization) delete headers.authorization
  headers['x-forwarded-for'] = input.forwarded.for
  headers['x-forwarded-proto'] = input.forwarded.proto
  headers['x-forwarded-host'] = input.forwarded.host
  headers['x-request-id'] = input.requestId
  if (input.identity) {
    for (const name in input.identity) headers[name] = input.identity[name]
  }
  return headers
}

/** The field names a `Connection` value nominates as hop-by-hop (RFC 9110 §7.6.1), lower case. */
export function nominatedHeaders (connection: string): Set<string> {
  const names = new Set<string>()
  for (const token of connection.toLowerCase().split(',')) {
    const name = token.trim()
    if (name !== '') names.add(name)
  }
  return names
}
