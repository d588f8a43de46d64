import t from 'tap'
import { startUpstream } from '../helpers/upstream.js'
import { startTestGateway } from '../helpers/gateway.js'
import { rawRequest } from '../helpers/raw-http.js'
import { MGMT_CLIENT, startIssuer } from '../helpers/issuer.js'

// One response path: the gateway's own headers (request id, the CORS answer for a listed
// origin) are built by one function and reach every kind of answer alike, the proxied ones
// the hop writes past Fastify's onSend included.
const UI = 'https://ui.bank.example'

t.test('proxied answers, refusals, /_gateway/me, preflights and WebSocket refusals carry the same gateway headers', async (t) => {
  const upstream = await startUpstream(t)
  const gw = await startTestGateway(t, {
    cors: { origins: [UI] },
    entra: { authority: (await startIssuer(t)).url },
    apis: { management: { clientId: MGMT_CLIENT } },
    routes: [
      { name: 'open', prefix: '/open', upstream: upstream.url, auth: 'none' },
      { name: 'locked', prefix: '/locked', upstream: upstream.url, api: 'management' },
      { name: 'live', prefix: '/live', upstream: upstream.url, api: 'management', websocket: true }
    ]
  })
  const request = (method: string, path: string, extra: string[] = []) => [`${method} ${path} HTTP/1.1`, 'Host: gateway.test', `Origin: ${UI}`, 'X-Request-Id: rid-1', ...extra, 'Connection: close', '', ''].join('\r\n')
  const answers = {
    proxied: await rawRequest(gw.proxyUrl, request('GET', '/open/x')),
    refusal: await rawRequest(gw.proxyUrl, request('GET', '/locked/x')),
    'not found': await rawRequest(gw.proxyUrl, request('GET', '/nowhere')),
    me: await rawRequest(gw.proxyUrl, request('GET', '/_gateway/me')),
    preflight: await rawRequest(gw.proxyUrl, request('OPTIONS', '/locked/x', ['Access-Control-Request-Method: PUT'])),
    'WebSocket refusal': await rawRequest(gw.proxyUrl, request('GET', '/live/feed', ['Upgrade: websocket', 'Sec-WebSocket-Version: 13', 'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==']).replace('Connection: close', 'Connection: Upgrade'))
  }
  t.same(Object.values(answers).map((res) => res.status), [200, 401, 404, 401, 204, 401])
  for (const [kind, res] of Object.entries(answers)) {
    t.match(res.headers, {
      'x-request-id': 'rid-1',
      'access-control-allow-origin': UI,
      'access-control-allow-credentials': 'true',
      'access-control-expose-headers': 'x-request-id, www-authenticate',
      vary: 'Origin'
    }, kind)
  }
  t.equal(answers.preflight.headers['access-control-allow-methods'], 'GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS')
  const other = await rawRequest(gw.proxyUrl, request('GET', '/open/x').replace(`Origin: ${UI}`, 'Origin: https://evil.example'))
  t.equal(other.headers['access-control-allow-origin'], undefined, 'an unlisted origin gets no CORS header')
  t.equal(other.headers['x-request-id'], 'rid-1')
})
