/**
 * Certificate-bound tokens (CONTRACT.md §15, RFC 8705 §3): a token whose `cnf` carries
 * `x5t#S256` is the sender's only together with the certificate of that thumbprint, so it is
 * accepted only with it; a profile with `requireBoundTokens` accepts no other token. Checked on
 * every request, token-cache hits included: the cache remembers a token, never its certificate.
 */
import { GatewayError } from '../errors.js'
import type { ClientCertificate } from '../http/index.js'
import type { Claims } from '../token/index.js'

/** RFC 8705 §3.1: the confirmation method of an X.509-bound token. */
const X5T_S256 = 'x5t#S256'

/** Returns when the token may be used with this certificate (or none); throws TOKEN_BINDING_INVALID otherwise. */
export function checkTokenBinding (claims: Claims, certificate: ClientCertificate | undefined, requireBound: boolean): void {
  const cnf = claims.cnf
  const bound = typeof cnf === 'object' && cnf !== null && X5T_S256 in cnf ? (cnf as Record<string, unknown>)[X5T_S256] : undefined
  if (bound === undefined) {
    if (requireBound) throw refusal('This API accepts only tokens bound to a client certificate (cnf x5t#S256, RFC 8705)')
    return
  }
  if (typeof bound !== 'string' || bound === '') throw refusal('The token\'s certificate binding (cnf x5t#S256) is not a thumbprint')
  if (certificate === undefined) throw refusal('The token is bound to a client certificate, and none reached the gateway from a trusted ingress')
  if ('malformed' in certificate) throw refusal(`The token is bound to a client certificate, and the one passed on cannot be read: ${certificate.malformed}`)
  if (certificate.thumbprint !== bound) throw refusal('The token is bound to another client certificate than the one presented')
}

function refusal (detail: string): GatewayError {
  return new GatewayError('TOKEN_BINDING_INVALID', detail)
}
