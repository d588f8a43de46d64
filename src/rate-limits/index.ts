/** The rate-limits capability's public surface: what other capabilities may import. */
export type { RateLimiter } from './limiter.js'
export { principalOf } from './policies.js'
export type { PolicyDescription, RateLimitPlan, Verdict } from './policies.js'
