/**
 * Rate limits as the configuration asks for them (CONTRACT.md §12): the policies by route, the
 * counter store beside the shared cache, and the limiter with its per-pod fallback, logged and
 * counted.
 */
import type { Config } from '../config/schema.js'
import type { SharedCache } from '../backends/shared-cache.js'
import type { CapabilityDeps } from '../observability/capability-deps.js'
import { failureReason } from '../backends/failure-reason.js'
import { compilePolicies, type RateLimitPlan } from './policies.js'
import { createCounterStore, type CounterStore } from './counter-store.js'
import { createRateLimiter, type RateLimiter } from './limiter.js'

export interface RateLimits {
  plan: RateLimitPlan
  limiter: RateLimiter
  counterStore: CounterStore
}

/**
 * The policies over `counting`: a reload that changes only the policies (or the routes they
 * name) keeps the counters, so nobody gets a fresh quota from it.
 */
export function createRateLimits (config: Readonly<Config>, cache: SharedCache, deps: Omit<CapabilityDeps, 'health'>, counting: RateCounting = createRateCounting(config, cache, deps)): RateLimits {
  const plan = compilePolicies(config.rateLimits, config.routes.flatMap((route) => route.auth === 'none' ? [] : [route.name]))
  return { plan, ...counting }
}

export type RateCounting = Pick<RateLimits, 'limiter' | 'counterStore'>

/** Where and how admissions are counted: the counter store beside the shared cache and the limiter with its per-pod fallback. */
export function createRateCounting (config: Readonly<Config>, cache: SharedCache, { logger, metrics }: Omit<CapabilityDeps, 'health'>): RateCounting {
  const counterStore = createCounterStore(cache, config.rateLimits.syncMs)
  const limiter = createRateLimiter(counterStore, {
    refused: (policy) => metrics.rateLimited.inc({ policy }),
    countedAlone: () => metrics.rateLimitFallback.inc(),
    sharedState: (alone, err) => {
      if (alone) logger.warn({ reason: failureReason(err), replicas: config.rateLimits.replicas }, 'rate limits: the shared store failed; this pod counts alone at limit / replicas')
      else logger.info('rate limits: the shared store answers again; counting is shared')
    }
  })
  return { limiter, counterStore }
}
