import t from 'tap'
import { connect, createServer, type AddressInfo } from 'node:net'
import { Agent, request, type IncomingMessage } from 'node:http'
import { once } from 'node:events'
import { startUpstream } from '../helpers/upstream.js'
import { startTestGateway, openRoute } from '../helpers/gateway.js'
import { rawRequest } from '../helpers/raw-http.js'

/** One request through node:http, which shows every header line as sent (rawHeaders). */
async function get (url: string, method = 'GET', headers: Record<string, string> = {}): Promise<{ status: number, rawHeaders: string[], body: string }> {
  const client = request(url, { method, headers: { connection: 'close', ...headers } })
  client.end()
  const [res] = await once(client, 'response') as [IncomingMessage]
  let body = ''
  for await (const chunk of res) body += String(chunk)
  return { status: res.statusCode!, rawHeaders: res.rawHeaders, body }
}

function headerValues (rawHeaders: string[], name: string): string[] {
  const values: string[] = []
  for (let i = 0; i < rawHeaders.length; i += 2) if (rawHeaders[i]!.toLowerCase() === name) values.push(rawHeaders[i + 1]!)
  return values
}

t.test('response hop-by-hop headers and the names an upstream nominates stay behind; repeated fields pass', async (t) => {
  const upstream = await startUpstream(t, (_req, res) => {
    res.setHeader('connection', 'keep-alive, x-hop-secret')
    res.setHeader('keep-alive', 'timeout=5')
    res.setHeader('x-hop-secret', 'only-for-the-gateway')
    res.setHeader('set-cookie', ['a=1; Path=/', 'b=2; Path=/'])
    res.setHeader('x-request-id', 'chosen-by-upstream')
    res.setHeader('x-kept', 'yes')
    res.end('ok')
  })
  const gw = await startTestGateway(t, { routes: [openRoute(upstream.url)] })
  const res = await get(`${gw.proxyUrl}/open/x`, 'GET', { 'x-request-id': 'from-client' })
  t.equal(res.status, 200)
  t.same(headerValues(res.rawHeaders, 'x-hop-secret'), [], 'a nominated header is not passed on')
  t.same(headerValues(res.rawHeaders, 'keep-alive'), [])
  t.same(headerValues(res.rawHeaders, 'connection'), ['close'], "the gateway's own connection handling")
  t.same(headerValues(res.rawHeaders, 'x-kept'), ['yes'])
  t.same(headerValues(res.rawHeaders, 'set-cookie'), ['a=1; Path=/', 'b=2; Path=/'], 'both cookies arrive, unmerged')
  t.same(headerValues(res.rawHeaders, 'x-request-id'), ['from-client'], "the gateway's request id wins over the upstream's")
  t.equal(res.body, 'ok')
})

t.test('a Location under rewritePrefix is told in the client\'s terms; absolute and foreign ones are kept', async (t) => {
  const upstream = await startUpstream(t, (req, res) => {
    res.statusCode = 302
    res.setHeader('location', decodeURIComponent(req.url!.split('?to=')[1]!))
    res.end()
  })
  const gw = await startTestGateway(t, {
    routes: [{ name: 'meetings', prefix: '/api/meetings', upstream: upstream.url, rewritePrefix: '/meetings', auth: 'none' }]
  })
  const cases: Array<[string, string]> = [
    ['/meetings/42', '/api/meetings/42'],
    ['/meetings', '/api/meetings'],
    ['/meetings?page=2', '/api/meetings?page=2'],
    ['/meetingsroom', '/meetingsroom'],
    ['/other/meetings/1', '/other/meetings/1'],
    ['https://login.example/meetings/1', 'https://login.example/meetings/1']
  ]
  for (const [sent, expected] of cases) {
    const res = await fetch(`${gw.proxyUrl}/api/meetings/go?to=${encodeURIComponent(sent)}`, { redirect: 'manual' })
    t.equal(res.headers.get('location'), expected, sent)
  }
})

t.test('HEAD keeps the upstream Content-Length and sends no body', async (t) => {
  const upstream = await startUpstream(t, (_req, res) => {
    res.setHeader('content-length', '12345')
    res.end()
  })
  const gw = await startTestGateway(t, { routes: [openRoute(upstream.url)] })
  const res = await get(`${gw.proxyUrl}/open/x`, 'HEAD')
  t.equal(res.status, 200)
  t.same(headerValues(res.rawHeaders, 'content-length'), ['12345'])
  t.equal(res.body, '')
  t.equal(upstream.last().method, 'HEAD')
})

t.test('a client that goes away mid-answer makes the gateway drop the upstream request', async (t) => {
  let upstreamClosed!: Promise<unknown>
  const upstream = await startUpstream(t, (_req, res) => {
    upstreamClosed = once(res, 'close')
    res.setHeader('content-type', 'text/plain')
    const tick = setInterval(() => res.write('tick\n'), 5)
    res.once('close', () => clearInterval(tick))
  })
  const gw = await startTestGateway(t, { routes: [openRoute(upstream.url)] })
  const client = request(`${gw.proxyUrl}/open/stream`)
  client.end()
  const [res] = await once(client, 'response')
  await once(res, 'data')
  client.destroy()
  await upstreamClosed
  t.equal(upstream.requests.length, 1)
  const metrics = await gw.resources.metrics.registry.metrics()
  t.notMatch(metrics, /upstream_errors_total\{/, 'a client leaving is not an upstream error')
})

t.test('an upstream that breaks off mid-answer cuts the client connection and is counted', async (t) => {
  const server = createServer((socket) => {
    socket.once('data', () => {
      socket.write('HTTP/1.1 200 OK\r\ncontent-length: 1000\r\ncontent-type: text/plain\r\n\r\npartial')
      setTimeout(() => socket.resetAndDestroy(), 20)
    })
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  t.teardown(() => new Promise((resolve) => server.close(resolve)))
  const gw = await startTestGateway(t, { routes: [openRoute(`http://127.0.0.1:${(server.address() as AddressInfo).port}`)] })
  // The head may or may not have left before the break: either way no complete answer arrives.
  await t.rejects(fetch(`${gw.proxyUrl}/open/x`).then(async (res) => await res.text()), 'the client sees a cut connection, not a complete answer')
  const metrics = await gw.resources.metrics.registry.metrics()
  t.match(metrics, /bookme_gateway_upstream_errors_total\{route="open",kind="reset"\} 1/)
})

t.test('a client that goes away before the answer leaves no upstream error and no answer behind', async (t) => {
  let upstreamClosed!: Promise<unknown>
  const upstream = await startUpstream(t, (_req, res) => { upstreamClosed = once(res, 'close') })
  const gw = await startTestGateway(t, { routes: [openRoute(upstream.url)] })
  const client = request(`${gw.proxyUrl}/open/slow`)
  client.on('error', () => {})
  client.end()
  while (upstream.requests.length === 0) await new Promise((resolve) => setTimeout(resolve, 5))
  client.destroy()
  await upstreamClosed
  const metrics = await gw.resources.metrics.registry.metrics()
  t.notMatch(metrics, /upstream_errors_total\{/)
})

t.test('keep-alive clients keep their connection; one whose body the upstream left unread is closed', async (t) => {
  const upstream = await startUpstream(t)
  // Answers as soon as the request head arrives, without reading the body.
  const early = createServer((socket) => {
    socket.once('data', () => socket.write('HTTP/1.1 200 OK\r\ncontent-length: 5\r\n\r\nearly'))
    socket.on('error', () => {})
  })
  await new Promise<void>((resolve) => early.listen(0, '127.0.0.1', resolve))
  t.teardown(() => new Promise((resolve) => { early.close(resolve) }))
  const gw = await startTestGateway(t, { routes: [openRoute(upstream.url), { name: 'early', prefix: '/early', upstream: `http://127.0.0.1:${(early.address() as AddressInfo).port}`, auth: 'none' }] })
  const agent = new Agent({ keepAlive: true, maxSockets: 1 })
  t.teardown(() => agent.destroy())
  const send = async (path: string): Promise<{ connection: string | undefined, reused: boolean }> => {
    const client = request(`${gw.proxyUrl}${path}`, { agent })
    client.end()
    const [res] = await once(client, 'response') as [IncomingMessage]
    res.resume()
    await once(res, 'end')
    return { connection: res.headers.connection, reused: client.reusedSocket }
  }
  t.same(await send('/open/a'), { connection: 'keep-alive', reused: false })
  t.same(await send('/open/b'), { connection: 'keep-alive', reused: true }, 'the second request rode the same connection')

  // Half a declared body sent, then the upstream answers: the rest would be read as a request.
  const socket = connect(Number(new URL(gw.proxyUrl).port), '127.0.0.1')
  socket.write('POST /early/x HTTP/1.1\r\nhost: gw\r\ncontent-length: 100000\r\n\r\n' + 'x'.repeat(1000))
  let head = ''
  for await (const chunk of socket) {
    head += String(chunk)
    if (head.includes('\r\n\r\n')) break
  }
  socket.destroy()
  t.match(head, /^HTTP\/1\.1 200/)
  t.match(head.toLowerCase(), /\r\nconnection: close\r\n/, 'the connection is not offered for reuse')
})

t.test('request bodies pass for every method, declared or chunked, with or without a content type', async (t) => {
  const upstream = await startUpstream(t)
  const gw = await startTestGateway(t, { routes: [openRoute(upstream.url)] })
  for (const method of ['POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS']) {
    const res = await rawRequest(gw.proxyUrl, `${method} /open/x HTTP/1.1\r\nhost: gw\r\ncontent-length: 5\r\nconnection: close\r\n\r\nhello`)
    t.equal(res.status, 200, method)
    t.equal(upstream.last().bodyBytes, 5, `${method}: the body arrived`)
  }
  const chunked = await rawRequest(gw.proxyUrl, 'POST /open/x HTTP/1.1\r\nhost: gw\r\ntransfer-encoding: chunked\r\ncontent-type: text/plain\r\nconnection: close\r\n\r\n5\r\nhello\r\n0\r\n\r\n')
  t.equal(chunked.status, 200)
  t.equal(upstream.last().bodyBytes, 5, 'a chunked body arrives whole')
})
