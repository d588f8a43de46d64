import t from 'tap'
import { failureReason } from '../../src/backends/failure-reason.js'

const withCode = (message: string, code: string): Error => Object.assign(new Error(message), { code })

t.test('the first error that says something, never undici\'s bare "fetch failed"', async (t) => {
  // The shapes undici and net give: TypeError('fetch failed') with the socket error as cause.
  t.equal(failureReason(new TypeError('fetch failed', { cause: withCode('getaddrinfo ENOTFOUND login.microsoftonline.com', 'ENOTFOUND') })), 'getaddrinfo ENOTFOUND login.microsoftonline.com')
  t.equal(failureReason(new TypeError('fetch failed', { cause: new AggregateError([withCode('connect ECONNREFUSED ::1:9', 'ECONNREFUSED'), withCode('connect ECONNREFUSED 127.0.0.1:9', 'ECONNREFUSED')]) })), 'connect ECONNREFUSED ::1:9')
  t.equal(failureReason(new TypeError('fetch failed', { cause: withCode('self-signed certificate in certificate chain', 'SELF_SIGNED_CERT_IN_CHAIN') })), 'self-signed certificate in certificate chain (SELF_SIGNED_CERT_IN_CHAIN)')
  t.equal(failureReason(new DOMException('The operation was aborted due to timeout', 'TimeoutError'), 2000), 'timeout after 2000 ms')
  t.equal(failureReason(new TypeError('fetch failed', { cause: withCode('Connect Timeout Error', 'UND_ERR_CONNECT_TIMEOUT') }), 500), 'timeout after 500 ms')
  t.equal(failureReason(new Error('GET https://x/keys: HTTP 503', { cause: new Error('inner') })), 'GET https://x/keys: HTTP 503', 'a message that says something is kept whole')
  t.equal(failureReason('plain'), 'plain')
})
