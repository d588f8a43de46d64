import t from 'tap'
import { startUpstream } from '../helpers/upstream.js'
import { openRoute, startTestGateway } from '../helpers/gateway.js'
import { rawGet, rawRequest } from '../helpers/raw-http.js'

// Every answer is the gateway's: what Fastify or Node's parser refuse is answered like any
// other refusal (problem+json REQUEST_INVALID, an x-request-id, a log line, the request
// metrics), and never echoes the request target, whose query may carry a token.
const SECRET = 'eyJhbGciOiJSUzI1NiJ9.c2VjcmV0.c2ln'

async function requestsTotal (adminUrl: string, route: string): Promise<number> {
  const text = await (await fetch(`${adminUrl}/metrics`)).text()
  return Number(new RegExp(`bookme_gateway_requests_total\\{route="${route}",status_class="4xx"\\} (\\d+)`).exec(text)?.[1] ?? 0)
}

t.test('invalid escapes, invalid UTF-8, parser errors and unknown methods: 400 REQUEST_INVALID problem+json', async (t) => {
  const upstream = await startUpstream(t)
  const gw = await startTestGateway(t, { routes: [openRoute(upstream.url, { prefix: '/' })] })
  const requests = [
    ['an overlong UTF-8 dot', rawGet(`/open/%c0%ae%c0%ae/x?access_token=${SECRET}`)],
    ['a lone continuation byte', rawGet(`/open/%80?access_token=${SECRET}`)],
    ['an encoded surrogate', rawGet(`/open/%ed%a0%80?access_token=${SECRET}`)],
    ['a truncated sequence', rawGet(`/open/%e2%82?access_token=${SECRET}`)],
    ['raw invalid UTF-8', rawGet(`/open/\xff\xfe?access_token=${SECRET}`)],
    ['an unknown method', `QUERY /open/x?access_token=${SECRET} HTTP/1.1\r\nHost: gateway.test\r\nConnection: close\r\n\r\n`],
    ['TRACE', `TRACE /open/x?access_token=${SECRET} HTTP/1.1\r\nHost: gateway.test\r\nConnection: close\r\n\r\n`],
    ['a header name with a space', rawGet(`/open/x?access_token=${SECRET}`, ['Bad Header: y'])],
    ['a broken chunk', `POST /open/x?access_token=${SECRET} HTTP/1.1\r\nHost: gateway.test\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\nzz\r\n`]
  ] as const
  for (const [what, request] of requests) {
    const res = await rawRequest(gw.proxyUrl, request)
    t.equal(res.status, 400, what)
    t.equal(res.headers['content-type'], 'application/problem+json; charset=utf-8', `${what}: problem+json`)
    const body = JSON.parse(res.body) as { code: string, requestId: string }
    t.equal(body.code, 'REQUEST_INVALID', what)
    t.equal(res.headers['x-request-id'], body.requestId, `${what}: the request id is in the header and the body`)
    t.notOk(res.body.includes(SECRET) || res.body.includes('access_token') || res.body.includes('/open'), `${what}: nothing of the target is echoed`)
  }
  t.equal(upstream.requests.length, 0, 'nothing was forwarded')
  const lines = gw.logs.filter((line) => line.msg === 'request')
  t.equal(lines.length, requests.length, 'one request line each')
  t.ok(lines.every((line) => line.status === 400), 'each logged with its status')
  t.notOk(gw.rawLog().includes(SECRET), 'no token in the log')
  t.notOk(gw.logs.some((line) => Number(line.level) >= 50), 'nothing logged as an error')
  // Node's parser itself refuses the header name with a space, the broken chunk and raw bytes
  // above 0x7f in the target.
  t.equal(await requestsTotal(gw.adminUrl, '_invalid'), 3, 'parser refusals counted under route _invalid')
})

t.test('a POST naming an upgrade keeps its body on a gateway with WebSocket routes', async (t) => {
  const upstream = await startUpstream(t)
  const gw = await startTestGateway(t, {
    routes: [openRoute(upstream.url), { name: 'ws', prefix: '/ws', upstream: upstream.url, auth: 'none', websocket: true }]
  })
  const res = await rawRequest(gw.proxyUrl, 'POST /open/x HTTP/1.1\r\nHost: gateway.test\r\nConnection: Upgrade, close\r\nUpgrade: h2c\r\nContent-Type: text/plain\r\nContent-Length: 5\r\n\r\nhello')
  t.equal(res.status, 200)
  const seen = upstream.last()
  t.equal(seen.bodyBytes, 5, 'the upstream received the body')
  t.equal(seen.headers['content-length'], '5')
  t.equal(seen.headers.upgrade, undefined, 'the upgrade request itself is not forwarded')
})
