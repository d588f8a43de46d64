/**
 * `bookme_gateway_config_reloads_total{result}` (ok | invalid, both from 0) and
 * `bookme_gateway_config_info{sha256}` (1 for the active config), CONTRACT.md §14.
 */
import { Counter, Gauge, type Registry } from 'prom-client'
import { METRIC_PREFIX } from '../observability/metrics.js'

export interface ReloadMetrics {
  reloaded (result: 'ok' | 'invalid'): void
  active (sha256: string): void
}

export function createReloadMetrics (registry: Registry, sha256: string): ReloadMetrics {
  const reloads = new Counter({ name: `${METRIC_PREFIX}config_reloads_total`, help: 'Config reloads, by result', labelNames: ['result'], registers: [registry] })
  const info = new Gauge({ name: `${METRIC_PREFIX}config_info`, help: 'The active config, by the SHA-256 of its file', labelNames: ['sha256'], registers: [registry] })
  reloads.inc({ result: 'ok' }, 0)
  reloads.inc({ result: 'invalid' }, 0)
  info.set({ sha256 }, 1)
  return {
    reloaded (result) { reloads.inc({ result }) },
    active (next) {
      info.reset()
      info.set({ sha256: next }, 1)
    }
  }
}
