import t from 'tap'
import { startUpstream } from '../helpers/upstream.js'
import { startTestGateway, openRoute } from '../helpers/gateway.js'

t.test('one JSON line per request with route, status, duration and requestId; no secrets', async (t) => {
  const upstream = await startUpstream(t)
  const gw = await startTestGateway(t, { routes: [openRoute(upstream.url)] })
  const secret = 'eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJzZWNyZXQifQ.c2lnbmF0dXJl'
  await fetch(`${gw.proxyUrl}/open/x?access_token=${secret}`, {
    headers: { authorization: `Bearer ${secret}`, cookie: `session=${secret}`, 'x-request-id': 'log-1' }
  })
  await fetch(`${gw.proxyUrl}/missing`, { headers: { authorization: `Bearer ${secret}`, 'x-request-id': 'log-2' } })
  const lines = gw.logs.filter((line) => line.msg === 'request')
  t.equal(lines.length, 2, 'one line per request')
  t.match(lines[0], { requestId: 'log-1', route: 'open', status: 200, method: 'GET', path: '/open/x' })
  t.type(lines[0]!.durationMs, 'number')
  t.match(lines[1], { requestId: 'log-2', route: '_unmatched', status: 404 })
  t.notMatch(gw.rawLog(), secret, 'the token appears nowhere in the log')
  t.same(gw.logs.filter((line) => line.requestId !== undefined).map((line) => line.msg), ['request', 'request'], 'no other line is written per request')
})
