import t from 'tap'
import { startUpstream } from '../helpers/upstream.js'
import { startTestGateway, openRoute } from '../helpers/gateway.js'

t.test('healthz answers 200; readyz reports state as JSON', async (t) => {
  const upstream = await startUpstream(t)
  const gw = await startTestGateway(t, { routes: [openRoute(upstream.url)] })
  const health = await fetch(`${gw.adminUrl}/healthz`)
  t.equal(health.status, 200)
  const ready = await fetch(`${gw.adminUrl}/readyz`)
  t.equal(ready.status, 200)
  t.match(await ready.json(), { ready: true, draining: false, dependencies: {} })
})

t.test('readyz is 503 until every registered dependency answered once, and stays 200 through a later outage', async (t) => {
  const upstream = await startUpstream(t)
  const gw = await startTestGateway(t, { routes: [openRoute(upstream.url)] }, { ready: false })
  gw.resources.health.register('example')
  let res = await fetch(`${gw.adminUrl}/readyz`)
  t.equal(res.status, 503)
  t.match(await res.json(), { ready: false, dependencies: { example: { state: 'pending' } } })
  gw.resources.health.report('example', 'up')
  t.equal((await fetch(`${gw.adminUrl}/readyz`)).status, 200)
  gw.resources.health.report('example', 'down', 'connection refused')
  res = await fetch(`${gw.adminUrl}/readyz`)
  t.equal(res.status, 200, 'a later outage does not take the pod out')
  t.match(await res.json(), { dependencies: { example: { state: 'down', detail: 'connection refused' } } })
})

t.test('metrics: prefixed names, requests by route and status class, latency, in-flight, runtime defaults', async (t) => {
  const upstream = await startUpstream(t)
  const gw = await startTestGateway(t, { routes: [openRoute(upstream.url)] })
  await fetch(`${gw.proxyUrl}/open/a`)
  await fetch(`${gw.proxyUrl}/open/b`)
  await fetch(`${gw.proxyUrl}/nowhere`)
  const res = await fetch(`${gw.adminUrl}/metrics`)
  t.equal(res.status, 200)
  t.match(res.headers.get('content-type'), /^text\/plain/)
  const text = await res.text()
  t.match(text, /bookme_gateway_requests_total\{route="open",status_class="2xx"\} 2/)
  t.match(text, /bookme_gateway_requests_total\{route="_unmatched",status_class="4xx"\} 1/)
  t.match(text, /bookme_gateway_request_duration_seconds_count\{route="open",status_class="2xx"\} 2/)
  t.match(text, /bookme_gateway_requests_in_flight 0/)
  t.match(text, /bookme_gateway_process_cpu_seconds_total/)
  const names = [...text.matchAll(/^# TYPE (\S+)/gm)].map((m) => m[1]!)
  t.ok(names.length > 10)
  t.same(names.filter((name) => !name.startsWith('bookme_gateway_')), [], 'every metric is prefixed')
})
