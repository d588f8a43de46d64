import t from 'tap'
import { startUpstream } from '../helpers/upstream.js'
import { startTestGateway, openRoute } from '../helpers/gateway.js'
import { rawGet, rawRequest } from '../helpers/raw-http.js'

// Regression for the hop-by-hop `Connection` class (ADVISORIES.md: httpd CVE-2022-31813, Traefik
// CVE-2021-32813 / CVE-2024-45410 / CVE-2026-29054, Fabio CVE-2025-48865, reply-from PR #450):
// a client naming the gateway's own headers in `Connection` must not remove them.
t.test('headers the gateway injects survive being nominated in Connection', async (t) => {
  const upstream = await startUpstream(t)
  const gw = await startTestGateway(t, { routes: [openRoute(upstream.url)] })
  for (const connection of [
    'close, X-Forwarded-For, X-Forwarded-Proto, X-Forwarded-Host, X-Request-Id',
    'x-forwarded-for,x-request-id,close',
    'CLOSE, X-FORWARDED-FOR, x-bookme-bank-id'
  ]) {
    const res = await rawRequest(gw.proxyUrl, rawGet('/open/x', [`Connection: ${connection}`, 'X-Request-Id: keep-me', 'X-Bookme-Bank-Id: 666']))
    t.equal(res.status, 200, connection)
    const seen = upstream.last()
    t.equal(seen.headers['x-forwarded-for'], '127.0.0.1', 'x-forwarded-for kept')
    t.equal(seen.headers['x-forwarded-proto'], 'http', 'x-forwarded-proto kept')
    t.equal(seen.headers['x-forwarded-host'], 'gateway.test', 'x-forwarded-host kept')
    t.equal(seen.headers['x-request-id'], 'keep-me', 'x-request-id kept')
    t.equal(seen.headers['x-bookme-bank-id'], undefined, 'a spoofed identity header is still stripped')
    t.notMatch(String(seen.headers.connection ?? ''), /x-/i, 'the nomination list is not forwarded')
  }
})

t.test('client hop-by-hop headers are not forwarded, and do not break the request', async (t) => {
  const upstream = await startUpstream(t)
  const gw = await startTestGateway(t, { routes: [openRoute(upstream.url)] })
  const res = await rawRequest(gw.proxyUrl, rawGet('/open/x', [
    'Keep-Alive: timeout=5', 'Proxy-Connection: keep-alive', 'Proxy-Authorization: Basic c2VjcmV0', 'TE: gzip', 'Trailer: x-foo', 'Connection: keep-alive, X-Custom', 'X-Custom: nominated'
  ]))
  t.equal(res.status, 200)
  const seen = upstream.last()
  for (const name of ['keep-alive', 'proxy-connection', 'proxy-authorization', 'te', 'trailer', 'x-custom']) {
    t.equal(seen.headers[name], undefined, `${name} not forwarded`)
  }
})
