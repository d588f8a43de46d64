import t from 'tap'
import type { Test } from 'tap'
import type { Config } from '../../src/config/schema.js'
import { createTracing, UnsampledTrace, type Tracing } from '../../src/tracing/create.js'

const INBOUND_TRACE = '4bf92f3577b34da6a3ce929d0e0e4736'
const INBOUND_SPAN = '00f067aa0ba902b7'

type Headers = Record<string, string | string[] | undefined>

function tracingWith (t: Test, settings: { sampleRatio: number, trustInboundTraceparent: boolean }): Tracing {
  const config = { tracing: { endpoint: 'http://127.0.0.1:1', serviceName: 'svc', ...settings } } as unknown as Config
  const tracing = createTracing(config, { logger: { warn () {} } } as never)!
  t.teardown(() => tracing.close())
  return tracing
}

/** `headers`, counting how often its `traceparent` is read: each read is a parse. */
function counted (headers: Headers): { headers: Headers, reads: () => number } {
  let reads = 0
  const proxy = new Proxy(headers, {
    get (target, key, receiver) {
      if (key === 'traceparent') reads++
      return Reflect.get(target, key, receiver)
    }
  })
  return { headers: proxy, reads: () => reads }
}

t.test('a trusted, sampled traceparent is read once and continued', async (t) => {
  const tracing = tracingWith(t, { sampleRatio: 0, trustInboundTraceparent: true })
  const inbound = counted({ traceparent: `00-${INBOUND_TRACE}-${INBOUND_SPAN}-01`, tracestate: 'vendor=client,bad key=x' })
  const start = tracing.sample(inbound.headers)
  if (start instanceof UnsampledTrace) throw new Error('sampled by its parent, even at sampleRatio 0')
  t.match(start, { traceId: INBOUND_TRACE, parentSpanId: INBOUND_SPAN, remoteParent: true, traceState: 'vendor=client' })
  const span = tracing.startServerSpan('GET', start, {})
  t.equal(span.traceId, INBOUND_TRACE)
  t.equal(inbound.reads(), 1, 'read once for the decision and the span')
})

t.test('a trusted, unsampled traceparent: read once, the trace and its tracestate go on upstream', async (t) => {
  const tracing = tracingWith(t, { sampleRatio: 1, trustInboundTraceparent: true })
  const header = `00-${INBOUND_TRACE}-${INBOUND_SPAN}-00`
  const inbound = counted({ traceparent: header, tracestate: 'vendor=client' })
  const trace = tracing.sample(inbound.headers)
  t.same(trace, new UnsampledTrace(INBOUND_TRACE, true))
  // The upstream call's headers are a copy of the inbound ones.
  const upstream = counted({ traceparent: header, tracestate: 'vendor=client' })
  tracing.propagateUnsampled(trace as UnsampledTrace, upstream.headers)
  t.equal(inbound.reads() + upstream.reads(), 1, 'read once, for the decision')
  t.match(upstream.headers.traceparent, new RegExp(`^00-${INBOUND_TRACE}-[0-9a-f]{16}-00$`))
  t.equal(upstream.headers.tracestate, 'vendor=client')
})

t.test('trusted, but no valid traceparent: a trace of the gateway\'s own, the client\'s tracestate dropped', async (t) => {
  const tracing = tracingWith(t, { sampleRatio: 0, trustInboundTraceparent: true })
  const inbound: Headers = { traceparent: `00-${INBOUND_TRACE}-${INBOUND_SPAN}-01-extra`, tracestate: 'vendor=client' }
  const trace = tracing.sample(inbound)
  if (!(trace instanceof UnsampledTrace)) throw new Error('not sampled at sampleRatio 0')
  t.not(trace.traceId, INBOUND_TRACE)
  t.equal(trace.continued, false)
  const upstream: Headers = { ...inbound }
  tracing.propagateUnsampled(trace, upstream)
  t.match(upstream.traceparent, new RegExp(`^00-${trace.traceId}-[0-9a-f]{16}-00$`))
  t.equal(upstream.tracestate, undefined)
})

t.test('an untrusted traceparent is read only by a sampled request, to link it', async (t) => {
  const inbound = counted({ traceparent: `00-${INBOUND_TRACE}-${INBOUND_SPAN}-01` })
  const unsampled = tracingWith(t, { sampleRatio: 0, trustInboundTraceparent: false }).sample(inbound.headers)
  t.ok(unsampled instanceof UnsampledTrace)
  t.equal(inbound.reads(), 0, 'not read for a request not sampled')

  const start = tracingWith(t, { sampleRatio: 1, trustInboundTraceparent: false }).sample(inbound.headers)
  if (start instanceof UnsampledTrace) throw new Error('sampled at sampleRatio 1')
  t.not(start.traceId, INBOUND_TRACE, 'the client does not choose the trace')
  t.equal(start.parentSpanId, '')
  t.same(start.link, { traceId: INBOUND_TRACE, spanId: INBOUND_SPAN, sampled: true })
  t.equal(inbound.reads(), 1)
})
