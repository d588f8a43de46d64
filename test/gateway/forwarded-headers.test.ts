import t from 'tap'
import { startUpstream } from '../helpers/upstream.js'
import { startTestGateway, openRoute } from '../helpers/gateway.js'
import { rawGet, rawRequest } from '../helpers/raw-http.js'

t.test('X-Forwarded-For is the client alone when trustProxy is off', async (t) => {
  const upstream = await startUpstream(t)
  const gw = await startTestGateway(t, { routes: [openRoute(upstream.url)] })
  await rawRequest(gw.proxyUrl, rawGet('/open', ['X-Forwarded-For: 10.9.9.9, 6.6.6.6']))
  t.equal(upstream.last().headers['x-forwarded-for'], '127.0.0.1')
})

t.test('with trusted proxies, the trusted chain is kept and the rest dropped', async (t) => {
  const upstream = await startUpstream(t)
  const byCidr = await startTestGateway(t, { server: { trustProxy: ['127.0.0.0/8', '10.0.0.0/8'] }, routes: [openRoute(upstream.url)] })
  await rawRequest(byCidr.proxyUrl, rawGet('/open', ['X-Forwarded-For: 6.6.6.6, 203.0.113.7, 10.1.2.3', 'X-Forwarded-Proto: https', 'X-Forwarded-Host: app.bookme.test']))
  let seen = upstream.last()
  t.equal(seen.headers['x-forwarded-for'], '203.0.113.7, 10.1.2.3, 127.0.0.1', 'chain up to the first untrusted hop')
  t.equal(seen.headers['x-forwarded-proto'], 'https')
  t.equal(seen.headers['x-forwarded-host'], 'app.bookme.test')

  const byHops = await startTestGateway(t, { server: { trustProxy: 1 }, routes: [openRoute(upstream.url)] })
  await rawRequest(byHops.proxyUrl, rawGet('/open', ['X-Forwarded-For: 6.6.6.6, 203.0.113.7']))
  seen = upstream.last()
  t.equal(seen.headers['x-forwarded-for'], '203.0.113.7, 127.0.0.1', 'one trusted hop')
})

t.test('x-request-id is kept when valid, replaced otherwise, and returned', async (t) => {
  const upstream = await startUpstream(t)
  const gw = await startTestGateway(t, { routes: [openRoute(upstream.url)] })
  let res = await fetch(`${gw.proxyUrl}/open`, { headers: { 'x-request-id': 'abc.DEF_123-x' } })
  t.equal(res.headers.get('x-request-id'), 'abc.DEF_123-x')
  t.equal(upstream.last().headers['x-request-id'], 'abc.DEF_123-x')
  for (const bad of ['has space', 'x'.repeat(129), 'semi;colon', '']) {
    res = await fetch(`${gw.proxyUrl}/open`, { headers: { 'x-request-id': bad } })
    const id = res.headers.get('x-request-id') ?? ''
    t.not(id, bad, `"${bad.slice(0, 20)}" replaced`)
    t.match(id, /^[0-9a-f-]{36}$/)
    t.equal(upstream.last().headers['x-request-id'], id, 'the upstream sees the same new id')
  }
})

t.test('traceparent passes; Authorization follows forwardAuthorization (global and per route)', async (t) => {
  const upstream = await startUpstream(t)
  const gw = await startTestGateway(t, {
    headers: { forwardAuthorization: false },
    routes: [openRoute(upstream.url), { name: 'keep', prefix: '/keep', upstream: upstream.url, auth: 'none', forwardAuthorization: true }]
  })
  const traceparent = '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01'
  await fetch(`${gw.proxyUrl}/open`, { headers: { traceparent, authorization: 'Bearer abc' } })
  t.equal(upstream.last().headers.traceparent, traceparent)
  t.equal(upstream.last().headers.authorization, undefined, 'dropped when forwardAuthorization is false')
  await fetch(`${gw.proxyUrl}/keep`, { headers: { authorization: 'Bearer abc' } })
  t.equal(upstream.last().headers.authorization, 'Bearer abc', 'the route override forwards it')
})
