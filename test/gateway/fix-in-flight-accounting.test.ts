import t from 'tap'
import { connect } from 'node:net'
import { startUpstream } from '../helpers/upstream.js'
import { startTestGateway } from '../helpers/gateway.js'
import { eventually } from '../helpers/eventually.js'
import { MGMT_CLIENT, startIssuer } from '../helpers/issuer.js'

// A request answered before its body arrived, whose client then leaves, must be counted as
// finished: a leaked in-flight count holds every later SIGTERM for the whole grace period.
async function inFlight (adminUrl: string): Promise<number> {
  const text = await (await fetch(`${adminUrl}/metrics`)).text()
  return Number(/^bookme_gateway_requests_in_flight (\d+)/m.exec(text)?.[1])
}

async function answeredThenAbandoned (proxyUrl: string): Promise<string> {
  const { hostname, port } = new URL(proxyUrl)
  const socket = connect(Number(port), hostname)
  let head = ''
  await new Promise<void>((resolve, reject) => {
    socket.on('error', reject)
    socket.on('data', (chunk: Buffer) => {
      head += chunk.toString('latin1')
      if (head.includes('\r\n\r\n')) resolve()
    })
    // A declared body, most of it never sent: the token check answers first.
    socket.write('POST /api/meetings/x HTTP/1.1\r\nHost: gateway.test\r\nContent-Type: application/json\r\nContent-Length: 100000\r\n\r\n{"partial":')
  })
  socket.destroy()
  return head.split('\r\n')[0]!
}

t.test('requests answered before their body and then abandoned leave nothing in flight', async (t) => {
  const upstream = await startUpstream(t)
  const gw = await startTestGateway(t, {
    server: { shutdownGraceMs: 60_000 },
    entra: { authority: (await startIssuer(t)).url },
    apis: { management: { clientId: MGMT_CLIENT } },
    routes: [{ name: 'meetings', prefix: '/api/meetings', upstream: upstream.url, api: 'management' }]
  })
  for (let i = 0; i < 5; i++) t.equal(await answeredThenAbandoned(gw.proxyUrl), 'HTTP/1.1 401 Unauthorized')
  const settled = await eventually(() => inFlight(gw.adminUrl), (count) => count === 0)
  t.equal(settled, 0, 'requests_in_flight is back to 0')
  const started = Date.now()
  await gw.shutdown()
  // The grace period is a minute: a leaked count would hold the drain for all of it.
  t.ok(Date.now() - started < 10_000, `the drain did not wait for the grace period (${Date.now() - started} ms)`)
  const drainLine = gw.logs.find((line) => line.msg === 'draining')
  t.equal(drainLine?.inFlight, 0, 'nothing in flight when the drain started')
})
