/**
 * What every capability's `create*(config, deps)` receives: where it logs, counts and reports
 * its readiness. Nothing else is shared between capabilities through `resources.ts`.
 */
import type { Logger } from 'pino'
import type { GatewayMetrics } from './metrics.js'
import type { Health } from './health.js'

export interface CapabilityDeps {
  logger: Logger
  metrics: GatewayMetrics
  health: Health
}
