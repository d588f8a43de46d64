/**
 * Whether a MySQL or Redis failure is the configuration's (CONTRACT.md §10): the server refused
 * the credentials or the ACL, or TLS could not be set up as configured. Such a failure will not
 * pass by waiting, so readiness stays 503 and `check` names what to change. Anything else (a
 * refused or timed-out connection, a restart) is an outage the caches ride out.
 */
import { causeChain, causeCodes, failureReason } from './failure-reason.js'

export interface BackendFailure {
  misconfigured: boolean
  /** One line for an operator: what failed, and for a configuration failure the key to change. */
  reason: string
}

export type Backend = 'mysql' | 'redis'

const MYSQL_AUTH_CODES = new Set(['ER_ACCESS_DENIED_ERROR', 'ER_DBACCESS_DENIED_ERROR', 'ER_ACCESS_DENIED_NO_PASSWORD_ERROR',
  'ER_NOT_SUPPORTED_AUTH_MODE', 'ER_TABLEACCESS_DENIED_ERROR', 'ER_BAD_DB_ERROR', 'ER_NO_SUCH_TABLE'])
const REDIS_AUTH = /^(WRONGPASS|NOAUTH|NOPERM)\b|^ERR (AUTH|Client sent AUTH)|^ERR .*without any password configured/

/** Certificate problems as Node and OpenSSL report them, with the words an operator searches for. */
const CERTIFICATE_PROBLEMS: Array<[RegExp, string]> = [
  [/CERT_HAS_EXPIRED|certificate has expired/i, 'the server\'s certificate has expired'],
  [/CERT_NOT_YET_VALID|certificate is not yet valid/i, 'the server\'s certificate is not valid yet'],
  [/ERR_TLS_CERT_ALTNAME_INVALID|does not match certificate's altnames|Hostname\/IP does not match/i, 'host-name mismatch: the server\'s certificate does not name this host'],
  [/DEPTH_ZERO_SELF_SIGNED_CERT|SELF_SIGNED_CERT_IN_CHAIN|UNABLE_TO_VERIFY_LEAF_SIGNATURE|UNABLE_TO_GET_ISSUER_CERT|self[- ]signed certificate|unable to (verify|get) (the first|local issuer)/i, 'unknown CA: no trusted CA signed the server\'s certificate'],
  [/HANDSHAKE_NO_SSL_SUPPORT|TLS_HANDSHAKE_UNANSWERED|does not support secure connection|wrong version number|WRONG_VERSION_NUMBER|packet length too long|http request/i, 'the server does not speak TLS'],
  [/ER_SECURE_TRANSPORT_REQUIRED|insecure transport|require.*secure transport/i, 'the server requires TLS']
]

export function classifyBackendFailure (backend: Backend, err: unknown): BackendFailure {
  const reason = failureReason(err)
  const codes = causeCodes(err)
  const text = `${codes.join(' ')} ${messagesOf(err).join(' ')}`
  const at = backend === 'mysql' ? 'mappings.mysql' : 'cache.redis'
  for (const [pattern, problem] of CERTIFICATE_PROBLEMS) {
    if (!pattern.test(text)) continue
    const fix = problem.startsWith('the server requires TLS')
      ? `set ${at}.tls.mode to verify-full`
      : problem.startsWith('host-name mismatch')
        ? `connect by a name the certificate carries, ${backend === 'redis' ? `set ${at}.tls.servername, ` : ''}or ${at}.tls.mode: verify-ca`
        : problem.startsWith('the server does not speak TLS')
          ? `check ${at}'s port, or ${at}.tls.mode`
          : `check ${at}.tls.caFile or the server's certificate`
    return { misconfigured: true, reason: `TLS: ${problem} (${reason}); ${fix}` }
  }
  if (backend === 'mysql' && codes.some((code) => MYSQL_AUTH_CODES.has(code))) {
    return { misconfigured: true, reason: `${reason}; check ${at}.user, password, database and the user's grants` }
  }
  if (backend === 'redis' && messagesOf(err).some((message) => REDIS_AUTH.test(message))) {
    return { misconfigured: true, reason: `${reason}; check ${at}.username and password (and the ACL user's permissions)` }
  }
  return { misconfigured: false, reason }
}

function messagesOf (err: unknown): string[] {
  return causeChain(err, 6).flatMap((e) => e instanceof Error ? [e.message] : [String(e)])
}
