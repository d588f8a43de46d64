import t from 'tap'
import { startUpstream } from '../helpers/upstream.js'
import { startTestGateway } from '../helpers/gateway.js'

t.test('longest prefix wins, on segment boundaries, case-insensitively', async (t) => {
  const general = await startUpstream(t)
  const admin = await startUpstream(t)
  const gw = await startTestGateway(t, {
    routes: [
      { name: 'api', prefix: '/api', upstream: general.url, auth: 'none' },
      { name: 'api-admin', prefix: '/api/admin', upstream: admin.url, auth: 'none' }
    ]
  })

  const cases: Array<[string, string, string]> = [
    ['/api/admin', 'api-admin', '/api/admin'],
    ['/api/admin/users/7', 'api-admin', '/api/admin/users/7'],
    ['/api/adminx', 'api', '/api/adminx'],
    ['/api/other', 'api', '/api/other'],
    ['/api', 'api', '/api'],
    // The matched prefix is forwarded in its configured spelling; the rest as sent.
    ['/API/Admin/Users', 'api-admin', '/api/admin/Users'],
    // An escaped unreserved character is decoded before routing: the same route, the same path.
    ['/%61pi/%41dmin/x', 'api-admin', '/api/admin/x']
  ]
  for (const [path, route, forwarded] of cases) {
    const res = await fetch(gw.proxyUrl + path)
    t.equal(res.status, 200, `${path} answered`)
    const body = await res.json() as { url: string }
    t.equal(body.url, forwarded, `${path} forwarded unchanged`)
    const upstream = route === 'api-admin' ? admin : general
    t.equal(upstream.last().url, forwarded, `${path} reached ${route}`)
  }
})

t.test('unmatched paths answer 404 ROUTE_NOT_FOUND as problem+json with the request id', async (t) => {
  const upstream = await startUpstream(t)
  const gw = await startTestGateway(t, { routes: [{ name: 'api', prefix: '/api', upstream: upstream.url, auth: 'none' }] })
  const res = await fetch(`${gw.proxyUrl}/apix`, { headers: { 'x-request-id': 'req-404' } })
  t.equal(res.status, 404)
  t.match(res.headers.get('content-type'), /^application\/problem\+json/)
  t.equal(res.headers.get('x-request-id'), 'req-404')
  const body = await res.json()
  t.match(body, { status: 404, code: 'ROUTE_NOT_FOUND', title: 'Route not found', requestId: 'req-404' })
  t.type(body.type, 'string')
  t.type(body.detail, 'string')
  t.equal(upstream.requests.length, 0)
})

t.test('rewritePrefix replaces the matched prefix; query strings pass byte for byte', async (t) => {
  const upstream = await startUpstream(t)
  const gw = await startTestGateway(t, {
    routes: [
      { name: 'meetings', prefix: '/api/meetings', upstream: upstream.url, rewritePrefix: '/meetings', auth: 'none' },
      { name: 'root', prefix: '/flat', upstream: upstream.url, rewritePrefix: '/', auth: 'none' }
    ]
  })
  await fetch(`${gw.proxyUrl}/api/meetings/42?b=2&a=1&a=3&empty&enc=%2F%20x+y`)
  t.equal(upstream.last().url, '/meetings/42?b=2&a=1&a=3&empty&enc=%2F%20x+y')
  await fetch(`${gw.proxyUrl}/api/meetings`)
  t.equal(upstream.last().url, '/meetings')
  await fetch(`${gw.proxyUrl}/flat/x/y?q=1`)
  t.equal(upstream.last().url, '/x/y?q=1')
  await fetch(`${gw.proxyUrl}/flat`)
  t.equal(upstream.last().url, '/')
  await fetch(`${gw.proxyUrl}/api/meetings/`)
  t.equal(upstream.last().url, '/meetings/')
})

t.test('a route at the root and a WebSocket route (left to http-proxy for its upgrades) forward alike', async (t) => {
  const upstream = await startUpstream(t)
  const gw = await startTestGateway(t, {
    routes: [
      { name: 'root', prefix: '/', upstream: upstream.url, rewritePrefix: '/svc', auth: 'none' },
      { name: 'live', prefix: '/live', upstream: upstream.url, rewritePrefix: '/socket', auth: 'none', websocket: true }
    ]
  })
  const cases: Array<[string, string]> = [
    ['/x/y?q=1', '/svc/x/y?q=1'],
    ['/', '/svc/'],
    ['/LIVE/room?x=1', '/socket/room?x=1']
  ]
  for (const [path, forwarded] of cases) {
    const res = await fetch(gw.proxyUrl + path)
    t.equal(res.status, 200, `${path} answered`)
    t.equal(upstream.last().url, forwarded, `${path} forwarded as ${forwarded}`)
  }
})

t.test('method, status and response headers are preserved', async (t) => {
  const upstream = await startUpstream(t, (_req, res, seen) => {
    res.statusCode = 201
    res.setHeader('x-upstream', 'yes')
    res.end(seen.method)
  })
  const gw = await startTestGateway(t, { routes: [{ name: 'api', prefix: '/api', upstream: upstream.url, auth: 'none' }] })
  for (const method of ['GET', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS']) {
    const res = await fetch(`${gw.proxyUrl}/api/x`, { method, body: ['GET', 'OPTIONS'].includes(method) ? undefined : 'x' })
    t.equal(res.status, 201, method)
    t.equal(res.headers.get('x-upstream'), 'yes')
    t.equal(await res.text(), method)
  }
})
