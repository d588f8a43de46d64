import t from 'tap'
import { startUpstream } from '../helpers/upstream.js'
import { openRoute, startTestGateway } from '../helpers/gateway.js'
import { rawGet, rawRequest } from '../helpers/raw-http.js'
import { createRouteMatcher } from '../../src/http/route-match.js'
import { normalizeRequestTarget } from '../../src/http/paths.js'

// `explain` answers with the route the proxy port would use: its matcher is the same router,
// over the same patterns. Compared here over a whole route table with the route the running
// gateway logged for each request.
for (const withRoot of [true, false]) {
  t.test(`explain's route match equals the running gateway's, over the whole route table (${withRoot ? 'with' : 'without'} a root route)`, async (t) => {
    const upstream = await startUpstream(t)
    const routes = [
      ...(withRoot ? [openRoute(upstream.url, { name: 'root', prefix: '/' })] : []),
      openRoute(upstream.url, { name: 'api', prefix: '/api' }),
      openRoute(upstream.url, { name: 'meetings', prefix: '/api/meetings', rewritePrefix: '/m' }),
      openRoute(upstream.url, { name: 'admin', prefix: '/api/meetings/admin' }),
      openRoute(upstream.url, { name: 'versioned', prefix: '/v1.2/x_y-z~' }),
      openRoute(upstream.url, { name: 'live', prefix: '/live', websocket: true })
    ]
    const gw = await startTestGateway(t, { routes })
    const matcher = createRouteMatcher(gw.config.routes)
    const paths = ['/nothing', '/', '/x']
    for (const { prefix } of routes) {
      const p = String(prefix)
      paths.push(p, `${p}/`, `${p}/x`, `${p}/x/y`, `${p}x`, p.toUpperCase(), `${p.toUpperCase()}/X`, `${p}/%41`, `${p}/../api/meetings/admin/x`, `${p}//admin`)
    }
    let compared = 0
    for (const target of paths) {
      const before = gw.logs.filter((line) => line.msg === 'request').length
      const res = await rawRequest(gw.proxyUrl, rawGet(target))
      const lines = gw.logs.filter((line) => line.msg === 'request')
      t.equal(lines.length, before + 1, `${target}: one request line`)
      const logged = lines[lines.length - 1]!.route
      const normalized = normalizeRequestTarget(target)!
      const explained = matcher('GET', normalized.path)?.name ?? '_unmatched'
      t.equal(explained, logged, `${target} (${res.status}): explain says ${explained}, the gateway routed ${String(logged)}`)
      compared++
    }
    t.ok(compared > 50, `${compared} paths compared`)
  })
}
