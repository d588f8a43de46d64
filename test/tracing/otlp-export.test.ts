import t from 'tap'
import { startUpstream } from '../helpers/upstream.js'
import { startTestGateway, openRoute } from '../helpers/gateway.js'
import { startOtlpReceiver, type OtlpReceiver, type ReceivedSpan } from '../helpers/otlp-receiver.js'
import { eventually } from '../helpers/eventually.js'
import type { TestGateway } from '../helpers/gateway.js'

const INBOUND_TRACE = '4bf92f3577b34da6a3ce929d0e0e4736'
const INBOUND_SPAN = '00f067aa0ba902b7'
const INBOUND = `00-${INBOUND_TRACE}-${INBOUND_SPAN}-01`
const SERVER = 2
const CLIENT = 3

/** Flushes until `count` spans have arrived: a span ends on the response's 'close', which may follow the client's read. */
async function exported (gw: TestGateway, receiver: OtlpReceiver, count: number): Promise<void> {
  await eventually(async () => { await gw.resources.tracing!.flush(); return receiver.spans.length }, (n) => n >= count, 5000)
}

function spansOf (receiver: OtlpReceiver): { server: ReceivedSpan, client: ReceivedSpan } {
  const server = receiver.spans.find((span) => span.kind === SERVER)
  const client = receiver.spans.find((span) => span.kind === CLIENT)
  if (server === undefined || client === undefined) throw new Error(`expected a server and a client span, got ${receiver.spans.map((span) => `${span.kind} ${span.name}`).join(', ')}`)
  return { server, client }
}

t.test('a server span and its client span reach the collector; an untrusted traceparent is only linked', async (t) => {
  const receiver = await startOtlpReceiver(t)
  const upstream = await startUpstream(t)
  const gw = await startTestGateway(t, { routes: [openRoute(upstream.url)], tracing: { endpoint: receiver.endpoint, sampleRatio: 1 } })
  const response = await fetch(`${gw.proxyUrl}/open/bookings?page=2&access_token=secret`, {
    headers: { traceparent: INBOUND, tracestate: 'vendor=client', 'user-agent': 'trace-test/1.0', 'x-request-id': 'trace-1' }
  })
  t.equal(response.status, 200)
  await response.arrayBuffer()
  await exported(gw, receiver, 2)

  t.same(receiver.posts.map((post) => post.path), ['/v1/traces'], 'one export to /v1/traces')
  t.equal(receiver.posts[0]!.contentType, 'application/x-protobuf')
  t.equal(receiver.spans.length, 2)
  const { server, client } = spansOf(receiver)
  t.equal(server.serviceName, 'bookme-gateway')
  t.equal(server.name, 'GET /open')
  t.not(server.traceId, INBOUND_TRACE, 'a new trace: the client does not choose it')
  t.equal(server.parentSpanId, '', 'the server span is a root')
  t.same(server.links, [{ traceId: INBOUND_TRACE, spanId: INBOUND_SPAN, flags: 0x301 }], 'the inbound trace is kept as a link (sampled, remote)')
  t.equal(server.scopeName, 'bookme-gateway')
  t.equal(server.flags, 0x101, 'sampled; a root, so no remote parent')
  t.equal(server.traceState, '')
  t.match(server.attributes, {
    'http.request.method': 'GET',
    'url.path': '/open/bookings',
    'url.scheme': 'http',
    'server.address': '127.0.0.1',
    'server.port': Number(new URL(gw.proxyUrl).port),
    'http.route': '/open',
    'http.response.status_code': 200,
    'client.address': '127.0.0.1',
    'user_agent.original': 'trace-test/1.0',
    'network.protocol.version': '1.1',
    'bookme.route': 'open',
    'bookme.decision': 'allow'
  })
  t.notOk(JSON.stringify(server.attributes).includes('secret'), 'no query value on the server span')

  t.equal(client.name, 'GET')
  t.equal(client.traceId, server.traceId)
  t.equal(client.parentSpanId, server.spanId, 'the client span is the server span\'s child')
  t.equal(client.flags, 0x101)
  const now = BigInt(Date.now()) * 1_000_000n
  t.ok(server.startTimeUnixNano > now - 60_000_000_000n && server.endTimeUnixNano <= now, 'unix nanoseconds, within the last minute')
  t.ok(server.startTimeUnixNano <= client.startTimeUnixNano && client.endTimeUnixNano <= server.endTimeUnixNano, 'the client span lies within the server span')
  t.match(client.attributes, {
    'http.request.method': 'GET',
    'server.address': '127.0.0.1',
    'server.port': upstream.port,
    'url.full': `${upstream.url}/open/bookings?page=REDACTED&access_token=REDACTED`,
    'http.response.status_code': 200
  })
  t.equal(upstream.last().headers.traceparent, `00-${client.traceId}-${client.spanId}-01`, 'the upstream sees the client span')
  t.equal(upstream.last().headers.tracestate, undefined, 'the client\'s tracestate belongs to its own trace')

  const line = gw.logs.find((entry) => entry.msg === 'request' && entry.requestId === 'trace-1')
  t.equal(line?.traceId, server.traceId, 'the log line names the exported trace')
})

t.test('a trusted traceparent is continued', async (t) => {
  const receiver = await startOtlpReceiver(t)
  const upstream = await startUpstream(t)
  const gw = await startTestGateway(t, {
    routes: [openRoute(upstream.url)],
    tracing: { endpoint: `${receiver.endpoint}/`, sampleRatio: 0, trustInboundTraceparent: true, serviceName: 'edge' }
  })
  const response = await fetch(`${gw.proxyUrl}/open/x`, { method: 'POST', body: 'hello', headers: { traceparent: INBOUND, tracestate: 'vendor=client,bad key=x' } })
  await response.arrayBuffer()
  await exported(gw, receiver, 2)
  const { server, client } = spansOf(receiver)
  t.equal(server.serviceName, 'edge')
  t.equal(server.name, 'POST /open')
  t.equal(server.traceId, INBOUND_TRACE, 'the inbound trace goes on')
  t.equal(server.parentSpanId, INBOUND_SPAN, 'sampled by its parent even at sampleRatio 0')
  t.same(server.links, [])
  t.equal(server.flags, 0x301, 'sampled, with a remote parent')
  t.equal(server.traceState, 'vendor=client', 'the trace\'s tracestate, its invalid member dropped')
  t.equal(client.parentSpanId, server.spanId)
  t.equal(client.flags, 0x101)
  t.equal(client.traceState, 'vendor=client')
  t.equal(upstream.last().headers.traceparent, `00-${INBOUND_TRACE}-${client.spanId}-01`)
  t.equal(upstream.last().headers.tracestate, 'vendor=client')
})

t.test('sampleRatio 0: nothing exported, the upstream still gets the gateway\'s unsampled context', async (t) => {
  const receiver = await startOtlpReceiver(t)
  const upstream = await startUpstream(t)
  const gw = await startTestGateway(t, { routes: [openRoute(upstream.url)], tracing: { endpoint: receiver.endpoint, sampleRatio: 0 } })
  const response = await fetch(`${gw.proxyUrl}/open/x`, { headers: { traceparent: INBOUND, tracestate: 'vendor=client', 'x-request-id': 'unsampled' } })
  await response.arrayBuffer()
  // Its line is written once the response has finished, so its spans have ended too.
  await eventually(() => gw.logs.some((entry) => entry.requestId === 'unsampled'), Boolean, 5000)
  await gw.resources.tracing!.flush()
  t.same(receiver.spans, [], 'no span exported')
  const sent = String(upstream.last().headers.traceparent)
  t.match(sent, /^00-[0-9a-f]{32}-[0-9a-f]{16}-00$/, 'a not-sampled context of the gateway\'s own')
  t.not(sent.slice(3, 35), INBOUND_TRACE)
  t.equal(upstream.last().headers.tracestate, undefined, 'the client\'s tracestate belongs to its own trace')
  const line = gw.logs.find((entry) => entry.msg === 'request' && entry.requestId === 'unsampled')
  t.equal(line?.traceId, sent.slice(3, 35), 'the log line names the trace the upstream was given')
})

t.test('a trusted, unsampled traceparent: the trace goes on unsampled, with its tracestate, and nothing is exported', async (t) => {
  const receiver = await startOtlpReceiver(t)
  const upstream = await startUpstream(t)
  const gw = await startTestGateway(t, { routes: [openRoute(upstream.url)], tracing: { endpoint: receiver.endpoint, sampleRatio: 1, trustInboundTraceparent: true } })
  const response = await fetch(`${gw.proxyUrl}/open/x`, {
    headers: { traceparent: `00-${INBOUND_TRACE}-${INBOUND_SPAN}-00`, tracestate: 'vendor=client', 'x-request-id': 'continued-unsampled' }
  })
  await response.arrayBuffer()
  await eventually(() => gw.logs.some((entry) => entry.requestId === 'continued-unsampled'), Boolean, 5000)
  await gw.resources.tracing!.flush()
  t.same(receiver.spans, [], 'not sampled even at sampleRatio 1: the parent decided')
  const sent = String(upstream.last().headers.traceparent)
  t.match(sent, new RegExp(`^00-${INBOUND_TRACE}-[0-9a-f]{16}-00$`))
  t.not(sent.slice(36, 52), INBOUND_SPAN, 'a span id of the gateway\'s own')
  t.equal(upstream.last().headers.tracestate, 'vendor=client', 'the trace\'s tracestate goes on with it')
  const line = gw.logs.find((entry) => entry.msg === 'request' && entry.requestId === 'continued-unsampled')
  t.equal(line?.traceId, INBOUND_TRACE)
})

t.test('an unreachable upstream: client span error.type, server span status error; unmatched is named by its method', async (t) => {
  const receiver = await startOtlpReceiver(t)
  const gw = await startTestGateway(t, { routes: [openRoute('http://127.0.0.1:1')], tracing: { endpoint: receiver.endpoint, sampleRatio: 1 } })
  const failed = await fetch(`${gw.proxyUrl}/open/x`)
  t.equal(failed.status, 502)
  await failed.arrayBuffer()
  const missing = await fetch(`${gw.proxyUrl}/nowhere`, { method: 'DELETE' })
  t.equal(missing.status, 404)
  await missing.arrayBuffer()
  await exported(gw, receiver, 3)
  const { client } = spansOf(receiver)
  // The refused request's, whichever of the two server spans ended first.
  const server = receiver.spans.find((span) => span.kind === SERVER && span.spanId === client.parentSpanId)!
  t.equal(client.attributes['error.type'], 'ECONNREFUSED')
  t.equal(client.status.code, 2, 'client span status error')
  t.equal(server.attributes['http.response.status_code'], 502)
  t.equal(server.attributes['bookme.decision'], 'deny')
  t.equal(server.attributes['bookme.code'], 'UPSTREAM_UNAVAILABLE')
  t.equal(server.status.code, 2, 'server span status error on a 5xx')
  const unmatched = receiver.spans.find((span) => span.kind === SERVER && span.attributes['http.response.status_code'] === 404)
  t.equal(unmatched?.name, 'DELETE')
  t.equal(unmatched?.attributes['http.route'], undefined)
  t.equal(unmatched?.status.code ?? 0, 0, 'a 4xx is not a server error')
})

t.test('tracing off: the client\'s traceparent passes through as before and the log has no traceId', async (t) => {
  const upstream = await startUpstream(t)
  const gw = await startTestGateway(t, { routes: [openRoute(upstream.url)] })
  const response = await fetch(`${gw.proxyUrl}/open/x`, { headers: { traceparent: INBOUND, tracestate: 'vendor=client', 'x-request-id': 'off' } })
  await response.arrayBuffer()
  t.equal(gw.resources.tracing, undefined)
  t.equal(upstream.last().headers.traceparent, INBOUND)
  t.equal(upstream.last().headers.tracestate, 'vendor=client')
  const line = gw.logs.find((entry) => entry.msg === 'request' && entry.requestId === 'off')
  t.equal(line?.traceId, undefined)
})

t.test('a collector that refuses the export: one warning naming the endpoint, requests unaffected', async (t) => {
  const receiver = await startOtlpReceiver(t)
  const upstream = await startUpstream(t)
  const gw = await startTestGateway(t, { routes: [openRoute(upstream.url)], tracing: { endpoint: `${receiver.endpoint}/elsewhere`, sampleRatio: 1 } })
  const response = await fetch(`${gw.proxyUrl}/open/x`)
  t.equal(response.status, 200)
  await response.arrayBuffer()
  const warnings = await eventually(async () => {
    await gw.resources.tracing!.flush()
    return gw.logs.filter((entry) => entry.msg === 'traces could not be exported')
  }, (lines) => lines.length > 0, 5000)
  t.match(warnings, [{ level: 40, url: `${receiver.endpoint}/elsewhere/v1/traces` }])
  t.same(receiver.spans, [])
})

t.test('the client span of a bodiless answer ends at its head', async (t) => {
  const receiver = await startOtlpReceiver(t)
  const upstream = await startUpstream(t, (_req, res) => {
    res.writeHead(200, { 'content-length': '12345' })
    res.end()
  })
  const gw = await startTestGateway(t, { routes: [openRoute(upstream.url)], tracing: { endpoint: receiver.endpoint, sampleRatio: 1 } })
  const head = await fetch(`${gw.proxyUrl}/open/x`, { method: 'HEAD' })
  t.equal(head.status, 200)
  await exported(gw, receiver, 2)
  const { client } = spansOf(receiver)
  t.equal(client.attributes['http.request.method'], 'HEAD')
  t.equal(client.attributes['http.response.status_code'], 200, 'ended though no body came')
  t.equal(client.attributes['error.type'], undefined)
})

t.test('a client that aborts a proxied request: the client span ends, as client_closed, no later than its server span', async (t) => {
  const receiver = await startOtlpReceiver(t)
  // /silent: nothing at all; /started: the head and a first chunk, which the gateway holds back. Neither ends.
  const upstream = await startUpstream(t, (req, res) => {
    if (req.url === '/open/started') {
      res.writeHead(200, { 'content-type': 'text/plain' })
      res.write('partial')
    }
  })
  const gw = await startTestGateway(t, { routes: [openRoute(upstream.url)], tracing: { endpoint: receiver.endpoint, sampleRatio: 1 } })

  for (const path of ['/open/silent', '/open/started']) {
    receiver.spans.length = 0
    const controller = new AbortController()
    const aborted = fetch(`${gw.proxyUrl}${path}`, { signal: controller.signal })
    await eventually(() => upstream.requests.some((seen) => seen.url === path), Boolean, 5000)
    controller.abort()
    await t.rejects(aborted, { name: 'AbortError' })
    await exported(gw, receiver, 2)
    const { server, client } = spansOf(receiver)
    t.equal(client.parentSpanId, server.spanId, `${path}: one request's spans`)
    t.ok(client.endTimeUnixNano <= server.endTimeUnixNano, `${path}: the client span ends no later than its parent`,
      { clientEnd: String(client.endTimeUnixNano), serverEnd: String(server.endTimeUnixNano) })
    t.equal(client.attributes['error.type'], 'client_closed', `${path}: the client span says why it ended`)
    t.equal(client.status.code, 2, `${path}: client span status error`)
    t.equal(server.attributes['error.type'], 'client_closed', `${path}: so does the server span`)
  }
})
