import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client'

/** Every metric name carries this prefix (CONTRACT.md §8), runtime defaults included. */
export const METRIC_PREFIX = 'bookme_gateway_'

export type StatusClass = '1xx' | '2xx' | '3xx' | '4xx' | '5xx'
export type UpstreamErrorKind = 'refused' | 'reset' | 'timeout' | 'tls' | 'other'

export interface GatewayMetrics {
  registry: Registry
  requests: Counter<'route' | 'status_class'>
  requestDuration: Histogram<'route' | 'status_class'>
  upstreamErrors: Counter<'route' | 'kind'>
  inFlight: Gauge
}

/** Metrics live on an injected registry, so two gateways in one process (tests) never collide. */
export function createMetrics (registry: Registry, { defaults = true, readInFlight = () => 0 }: { defaults?: boolean, readInFlight?: () => number } = {}): GatewayMetrics {
  if (defaults) collectDefaultMetrics({ register: registry, prefix: METRIC_PREFIX })
  return {
    registry,
    requests: new Counter({
      name: `${METRIC_PREFIX}requests_total`,
      help: 'Requests answered, by route and status class',
      labelNames: ['route', 'status_class'],
      registers: [registry]
    }),
    requestDuration: new Histogram({
      name: `${METRIC_PREFIX}request_duration_seconds`,
      help: 'Time from request received to response finished',
      labelNames: ['route', 'status_class'],
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
      registers: [registry]
    }),
    upstreamErrors: new Counter({
      name: `${METRIC_PREFIX}upstream_errors_total`,
      help: 'Upstream failures answered by the gateway, by route and kind',
      labelNames: ['route', 'kind'],
      registers: [registry]
    }),
    inFlight: new Gauge({
      name: `${METRIC_PREFIX}requests_in_flight`,
      help: 'Requests received and not yet answered',
      registers: [registry],
      collect () { this.set(readInFlight()) }
    })
  }
}

export function statusClass (status: number): StatusClass {
  if (status >= 500) return '5xx'
  if (status >= 400) return '4xx'
  if (status >= 300) return '3xx'
  if (status >= 200) return '2xx'
  return '1xx'
}
