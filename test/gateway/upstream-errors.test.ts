import t from 'tap'
import { createServer } from 'node:net'
import type { AddressInfo } from 'node:net'
import { startUpstream } from '../helpers/upstream.js'
import { startTestGateway, openRoute } from '../helpers/gateway.js'

async function closedPort (): Promise<number> {
  const server = createServer()
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as AddressInfo
  await new Promise((resolve) => server.close(resolve))
  return port
}

t.test('refused connection → 502 UPSTREAM_UNAVAILABLE, counted as refused', async (t) => {
  const port = await closedPort()
  const gw = await startTestGateway(t, { routes: [openRoute(`http://127.0.0.1:${port}`)] })
  const res = await fetch(`${gw.proxyUrl}/open/x`, { headers: { 'x-request-id': 'r-502' } })
  t.equal(res.status, 502)
  t.match(await res.json(), { code: 'UPSTREAM_UNAVAILABLE', status: 502, requestId: 'r-502' })
  const metrics = await gw.resources.metrics.registry.metrics()
  t.match(metrics, /bookme_gateway_upstream_errors_total\{route="open",kind="refused"\} 1/)
})

t.test('connection reset before an answer → 502 UPSTREAM_UNAVAILABLE', async (t) => {
  const server = createServer((socket) => { socket.once('data', () => socket.resetAndDestroy()) })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  t.teardown(() => new Promise((resolve) => server.close(resolve)))
  const { port } = server.address() as AddressInfo
  const gw = await startTestGateway(t, { routes: [openRoute(`http://127.0.0.1:${port}`)] })
  const res = await fetch(`${gw.proxyUrl}/open/x`)
  t.equal(res.status, 502)
  t.equal((await res.json()).code, 'UPSTREAM_UNAVAILABLE')
})

t.test('an upstream slower than timeoutMs → 504 UPSTREAM_TIMEOUT', async (t) => {
  const upstream = await startUpstream(t, (_req, res) => { setTimeout(() => res.end('late'), 1500) })
  const gw = await startTestGateway(t, { routes: [openRoute(upstream.url, { timeoutMs: 200 })] })
  const res = await fetch(`${gw.proxyUrl}/open/slow`)
  t.equal(res.status, 504)
  t.equal((await res.json()).code, 'UPSTREAM_TIMEOUT')
  const metrics = await gw.resources.metrics.registry.metrics()
  t.match(metrics, /bookme_gateway_upstream_errors_total\{route="open",kind="timeout"\} 1/)
})

t.test('upstream 5xx answers are passed through untouched, not retried', async (t) => {
  const upstream = await startUpstream(t, (_req, res) => { res.statusCode = 503; res.end('busy') })
  const gw = await startTestGateway(t, { routes: [openRoute(upstream.url)] })
  const res = await fetch(`${gw.proxyUrl}/open/x`)
  t.equal(res.status, 503)
  t.equal(await res.text(), 'busy')
  t.equal(upstream.requests.length, 1, 'one attempt only')
})
