import t from 'tap'
import type { Test } from 'tap'
import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import { startUpstream } from '../helpers/upstream.js'
import { openRoute, startTestGateway } from '../helpers/gateway.js'
import { rawGet, rawRequest } from '../helpers/raw-http.js'

// A request head over server.maxHeaderBytes (default 16384) is refused with 431
// REQUEST_HEADERS_TOO_LARGE as problem+json (CONTRACT.md §7; RFC 6585 §5), counted and logged
// like any refusal, and never echoes a header: an oversized one may well be a token.
const SECRET = 'eyJhbGciOiJSUzI1NiJ9.c2VjcmV0.c2ln'

/** A request whose head, with one padded header line carrying a token, is `bytes` long. */
function headOf (bytes: number): string {
  const empty = rawGet('/open/x', ['X-Pad: ']).length
  return rawGet('/open/x', [`X-Pad: ${SECRET}${'a'.repeat(bytes - empty - SECRET.length)}`])
}

t.test('a head over the default 16 KiB: 431 REQUEST_HEADERS_TOO_LARGE, nothing echoed', async (t) => {
  const upstream = await startUpstream(t)
  const gw = await startTestGateway(t, { cors: { origins: ['https://ui.bank.example'] }, routes: [openRoute(upstream.url)] })
  const request = headOf(20 * 1024)
  t.equal(request.length, 20 * 1024)
  const res = await rawRequest(gw.proxyUrl, request)
  t.equal(res.status, 431)
  t.equal(res.headers['content-type'], 'application/problem+json; charset=utf-8')
  t.equal(res.headers.vary, 'Origin', 'with CORS configured, like every answer of the proxy port')
  const body = JSON.parse(res.body) as Record<string, unknown>
  t.match(body, { status: 431, code: 'REQUEST_HEADERS_TOO_LARGE', title: 'Request header fields too large', requestId: res.headers['x-request-id'] })
  t.notOk(res.body.includes(SECRET) || res.body.includes('X-Pad') || res.body.includes('/open'), 'nothing of the request is echoed')
  t.equal(upstream.requests.length, 0)
  t.notOk(gw.rawLog().includes(SECRET), 'nor logged')
  t.match(gw.logs.find((line) => line.msg === 'request'), { status: 431 }, 'one request line')
  const metrics = await (await fetch(`${gw.adminUrl}/metrics`)).text()
  t.match(metrics, /bookme_gateway_requests_total\{route="_invalid",status_class="4xx"\} 1/, 'counted with the refusals Node\'s parser makes')

  const fits = await rawRequest(gw.proxyUrl, headOf(15 * 1024))
  t.equal(fits.status, 200, 'a 15 KiB head passes')
  t.equal(upstream.last().headers['x-pad']?.length, 15 * 1024 - rawGet('/open/x', ['X-Pad: ']).length)
})

/** An upstream taking heads up to 1 MiB, that answers with the length of `x-pad`. */
async function startRoomyUpstream (t: Test): Promise<string> {
  const server = createServer({ maxHeaderSize: 1024 * 1024 }, (req, res) => res.end(String(req.headers['x-pad']?.length)))
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  t.teardown(() => new Promise<void>((resolve) => {
    server.closeAllConnections()
    server.close(() => resolve())
  }))
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`
}

t.test('server.maxHeaderBytes sets the limit', async (t) => {
  const upstream = await startRoomyUpstream(t)
  const code = (res: { body: string }) => (JSON.parse(res.body) as { code: string }).code
  const small = await startTestGateway(t, { server: { maxHeaderBytes: 4096 }, routes: [openRoute(upstream)] })
  t.equal((await rawRequest(small.proxyUrl, headOf(3 * 1024))).status, 200)
  const refused = await rawRequest(small.proxyUrl, headOf(6 * 1024))
  t.same([refused.status, code(refused)], [431, 'REQUEST_HEADERS_TOO_LARGE'])
  const large = await startTestGateway(t, { server: { maxHeaderBytes: 65536 }, routes: [openRoute(upstream)] })
  const passed = await rawRequest(large.proxyUrl, headOf(48 * 1024))
  t.same([passed.status, passed.body], [200, String(48 * 1024 - rawGet('/open/x', ['X-Pad: ']).length)], 'a 48 KiB head reaches the upstream')
  const over = await rawRequest(large.proxyUrl, headOf(80 * 1024))
  t.same([over.status, code(over)], [431, 'REQUEST_HEADERS_TOO_LARGE'])
})
