import type { Logger } from 'pino'
import { Registry } from 'prom-client'
import type { Config } from './config/schema.js'
import { createLogger } from './logger.js'
import { createMetrics, type GatewayMetrics } from './metrics.js'
import { createHealth, type Health } from './health.js'
import { createInFlight, type InFlight } from './in-flight.js'

/**
 * Everything with a lifetime longer than a request: built once per process by `server.ts`
 * (or once per test), handed to `buildApp`, closed on shutdown.
 */
export interface Resources {
  logger: Logger
  metrics: GatewayMetrics
  health: Health
  inFlight: InFlight
  close (): Promise<void>
}

export interface ResourceOptions {
  logger?: Logger
  registry?: Registry
}

export async function createResources (config: Readonly<Config>, options: ResourceOptions = {}): Promise<Resources> {
  void config
  const logger = options.logger ?? createLogger()
  const inFlight = createInFlight()
  const metrics = createMetrics(options.registry ?? new Registry(), { readInFlight: () => inFlight.count })
  const health = createHealth()

  return {
    logger,
    metrics,
    health,
    inFlight,
    async close () {}
  }
}
