import t from 'tap'
import { Counter, Histogram, Registry } from 'prom-client'
import { TalliedHistogram, talliedCounter } from '../../src/observability/metrics-tally.js'
import { createMetrics, createRequestRecorder } from '../../src/observability/metrics.js'

const BUCKETS = [0.001, 0.01, 0.1, 1]
const OBSERVED: Array<[string, string, number]> = [
  ['api', '2xx', 0.0004], ['api', '2xx', 0.001], ['api', '2xx', 0.05], ['api', '5xx', 2.5],
  ['me', '4xx', 0.2], ['api', '2xx', 30], ['api', '2xx', 0]
]

t.test('the tallies expose exactly what prom-client\'s own counter and histogram do', async (t) => {
  const reference = new Registry()
  const referenceCount = new Counter({ name: 'requests_total', help: 'h', labelNames: ['route', 'status_class'], registers: [reference] })
  const referenceDuration = new Histogram({ name: 'duration_seconds', help: 'd', labelNames: ['route', 'status_class'], buckets: BUCKETS, registers: [reference] })
  const tallied = new Registry()
  const count = talliedCounter(tallied, 'requests_total', 'h', ['route', 'status_class'])
  const duration = new TalliedHistogram(tallied, 'duration_seconds', 'd', BUCKETS)
  const bound = new Map<string, { inc: () => void, observe: (v: number) => void }>()
  for (const [route, klass, seconds] of OBSERVED) {
    referenceCount.inc({ route, status_class: klass })
    referenceDuration.observe({ route, status_class: klass }, seconds)
    const key = route + klass
    if (!bound.has(key)) bound.set(key, { inc: count.tally({ route, status_class: klass }).inc, observe: duration.observer({ route, status_class: klass }) })
    bound.get(key)!.inc()
    bound.get(key)!.observe(seconds)
  }
  t.equal(await tallied.metrics(), await reference.metrics())
  // prom-client adds `exemplar: null` to each line of its own; the lines are otherwise the same.
  const withoutExemplars = (json: unknown): unknown => JSON.parse(JSON.stringify(json, (key, value: unknown) => key === 'exemplar' ? undefined : value))
  t.same(withoutExemplars(await tallied.getMetricsAsJSON()), withoutExemplars(await reference.getMetricsAsJSON()), 'the JSON form too')

  // A second scrape adds only what came since: tallies are handed over once.
  referenceCount.inc({ route: 'api', status_class: '2xx' })
  bound.get('api2xx')!.inc()
  t.equal(await tallied.metrics(), await reference.metrics(), 'counts handed over once, not twice')
})

t.test('the gateway\'s recorder feeds requests_total and the duration histogram per route and status class', async (t) => {
  const metrics = createMetrics(new Registry(), { defaults: false })
  const record = createRequestRecorder(metrics)
  record('api', 204, 0.003)
  record('api', 200, 0.02)
  record('api', 503, 0.5)
  const text = await metrics.registry.metrics()
  t.match(text, /bookme_gateway_requests_total\{route="api",status_class="2xx"\} 2\n/)
  t.match(text, /bookme_gateway_requests_total\{route="api",status_class="5xx"\} 1\n/)
  t.match(text, /bookme_gateway_request_duration_seconds_bucket\{le="0.005",route="api",status_class="2xx"\} 1\n/)
  t.match(text, /bookme_gateway_request_duration_seconds_bucket\{le="\+Inf",route="api",status_class="2xx"\} 2\n/)
  t.match(text, /bookme_gateway_request_duration_seconds_sum\{route="api",status_class="2xx"\} 0.023\n/)
  t.match(text, /bookme_gateway_request_duration_seconds_count\{route="api",status_class="5xx"\} 1\n/)
})
