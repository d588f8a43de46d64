import t from 'tap'
import { connect } from 'node:net'
import { startUpstream } from '../helpers/upstream.js'
import { openRoute, startTestGateway } from '../helpers/gateway.js'

// One connection must not freeze the gateway: a listener added per request to the socket, which
// a keep-alive connection shares with every request it carries, outlives its request; tens of
// thousands of them made the socket's close O(n²) and stalled both ports.
const REQUESTS = 50_000

async function sendOnOneConnection (url: string): Promise<() => void> {
  const { hostname, port } = new URL(url)
  const socket = connect(Number(port), hostname)
  await new Promise<void>((resolve, reject) => { socket.once('connect', resolve).once('error', reject) })
  let answered = 0
  let tail = ''
  let wake: (() => void) | undefined
  socket.on('data', (chunk: Buffer) => {
    const text = tail + chunk.toString('latin1')
    answered += text.split('HTTP/1.1 404 ').length - 1
    tail = text.slice(-16)
    wake?.()
  })
  const request = (i: number): string => `GET /nothing/${i} HTTP/1.1\r\nHost: gateway.test\r\nConnection: keep-alive, Upgrade\r\nUpgrade: ${i % 2 === 0 ? 'websocket' : 'h2c'}\r\n\r\n`
  // One at a time: Node reads nothing pipelined behind a request that names an upgrade.
  for (let sent = 1; sent <= REQUESTS; sent++) {
    socket.write(request(sent))
    await new Promise<void>((resolve) => {
      wake = () => { if (answered >= sent) resolve() }
      wake()
    })
  }
  return () => socket.destroy()
}

t.test(`${REQUESTS} requests naming Upgrade on one connection, then its close, leave both ports answering`, async (t) => {
  const upstream = await startUpstream(t)
  const gw = await startTestGateway(t, { routes: [openRoute(upstream.url)] })
  const close = await sendOnOneConnection(gw.proxyUrl)
  close()
  // Probes for a while after the close: the stall, if any, comes as the server handles it.
  const latencies: number[] = []
  const until = Date.now() + 300
  while (Date.now() < until) {
    const started = performance.now()
    const res = await fetch(`${gw.adminUrl}/healthz`)
    await res.arrayBuffer()
    latencies.push(performance.now() - started)
  }
  const slowest = Math.max(...latencies)
  // The leak stalled both ports: 50,000 listeners removed one by one, each removal a scan of the
  // rest (quadratic). A healthy probe beside the suite's other heavy files on two cores was seen
  // at up to 79 ms; a quadratic stall over 50,000 is far beyond the bound.
  t.ok(slowest < 500, `the admin port answered every probe within 500 ms (slowest ${slowest.toFixed(1)} ms of ${latencies.length})`)
  const proxied = await fetch(`${gw.proxyUrl}/open`)
  t.equal(proxied.status, 200, 'the proxy port still serves')
})
