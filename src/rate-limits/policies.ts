/**
 * The rate-limit policies of CONTRACT.md §12, compiled per route: which policies count a
 * request, under which key, at which allowance (a bank's override, or the policy's own), and the
 * IETF httpapi rate-limit fields (draft-ietf-httpapi-ratelimit-headers, RFC 9651 structured
 * fields) that describe the outcome. No I/O: the counting itself is the limiter's.
 */
import { gcraRule, type GcraOutcome, type GcraRule } from './gcra.js'

export type PartitionKind = 'bank' | 'client' | 'principal'

export interface PolicySettings {
  name: string
  routes?: readonly string[] | undefined
  key: PartitionKind
  limit: number
  windowSec: number
  burst?: number | undefined
}

export interface RateLimitSettings {
  policies: readonly PolicySettings[]
  overrides: Readonly<Record<string, Readonly<Record<string, { limit?: number | undefined, burst?: number | undefined }>>>>
  headers: boolean
  replicas: number
}

/** One policy at one allowance: the shared rule, and each pod's share of it while alone. */
export interface Allowance {
  readonly limit: number
  readonly windowSec: number
  readonly burst: number
  readonly rule: GcraRule
  readonly fallbackRule: GcraRule
  /** This policy's member of `RateLimit-Policy`: `"bank-api";q=600;w=60`. */
  readonly field: string
}

export interface CompiledPolicy {
  readonly name: string
  /** The routes it names; undefined: every authenticated route. */
  readonly routes: readonly string[] | undefined
  readonly key: PartitionKind
  readonly base: Allowance
  /** By BankId. */
  readonly overrides: ReadonlyMap<string, Allowance>
}

/** Who is counted: what the decision established (the limiter runs after it). */
export interface Principal {
  bankId: string
  tenantId: string
  clientId: string | undefined
  objectId: string | undefined
}

/** One request's counting: keys and rules in policy order, every key in the bank's cluster slot. */
export interface Count {
  readonly policies: readonly CompiledPolicy[]
  readonly allowances: readonly Allowance[]
  readonly keys: string[]
  readonly rules: GcraRule[]
  readonly fallbackRules: GcraRule[]
}

export interface Verdict {
  admitted: boolean
  /** Names of the policies that refused. */
  refusedBy: string[]
  /** Answer headers: the rate-limit fields (when configured) and, on refusal, `retry-after`. */
  headers: Record<string, string>
}

export interface PolicyDescription {
  policy: string
  key: PartitionKind
  partition: string
  limit: number
  windowSec: number
  burst: number
  override: boolean
}

export interface RoutePolicies {
  readonly policies: readonly CompiledPolicy[]
  /** `RateLimit-Policy` before the bank is known (the policies' own allowances), or undefined with `headers: false`. */
  readonly baseHeaders: Readonly<Record<string, string>> | undefined
  count (principal: Principal): Count
  /** What `explain` shows: each policy, its partition and the allowance that applies. */
  describe (principal: Principal): PolicyDescription[]
  verdict (count: Count, outcome: GcraOutcome): Verdict
}

export interface RateLimitPlan {
  /** The policies covering a route, or undefined when none does. */
  forRoute (route: string): RoutePolicies | undefined
  readonly policies: readonly CompiledPolicy[]
}

/** `limit / replicas`, rounded up, at least 1 (CONTRACT.md §12). */
export function share (value: number, replicas: number): number {
  return Math.max(1, Math.ceil(value / replicas))
}

function allowance (name: string, limit: number, windowSec: number, burst: number, replicas: number): Allowance {
  return {
    limit,
    windowSec,
    burst,
    rule: gcraRule(limit, windowSec, burst),
    fallbackRule: gcraRule(share(limit, replicas), windowSec, share(burst, replicas)),
    field: `"${name}";q=${limit};w=${windowSec}`
  }
}

export function compilePolicies (settings: RateLimitSettings, authenticatedRoutes: readonly string[]): RateLimitPlan {
  const policies = settings.policies.map((policy): CompiledPolicy => {
    const burst = policy.burst ?? policy.limit
    const overrides = new Map<string, Allowance>()
    for (const [bankId, byPolicy] of Object.entries(settings.overrides)) {
      const override = byPolicy[policy.name]
      if (override === undefined) continue
      const limit = override.limit ?? policy.limit
      // An override's burst follows its limit in the policy's proportion, unless it sets one.
      const scaled = override.burst ?? Math.max(1, Math.ceil(burst * limit / policy.limit))
      overrides.set(bankId, allowance(policy.name, limit, policy.windowSec, scaled, settings.replicas))
    }
    return { name: policy.name, routes: policy.routes, key: policy.key, base: allowance(policy.name, policy.limit, policy.windowSec, burst, settings.replicas), overrides }
  })
  const byRoute = new Map<string, RoutePolicies>()
  for (const route of authenticatedRoutes) {
    const covering = policies.filter((p) => p.routes?.includes(route) ?? true)
    if (covering.length > 0) byRoute.set(route, routePolicies(covering, settings.headers))
  }
  return { forRoute: (route) => byRoute.get(route), policies }
}

function routePolicies (policies: readonly CompiledPolicy[], headers: boolean): RoutePolicies {
  const baseHeaders = headers ? { 'ratelimit-policy': policies.map((p) => p.base.field).join(', ') } : undefined
  const count = (principal: Principal): Count => {
    const allowances = policies.map((p) => p.overrides.get(principal.bankId) ?? p.base)
    return {
      policies,
      allowances,
      keys: policies.map((p) => counterKey(p, principal)),
      rules: allowances.map((a) => a.rule),
      fallbackRules: allowances.map((a) => a.fallbackRule)
    }
  }
  return {
    policies,
    baseHeaders,
    count,
    describe (principal) {
      const { allowances, keys } = count(principal)
      return policies.map((p, i) => {
        const { limit, windowSec, burst } = allowances[i]!
        return { policy: p.name, key: p.key, partition: keys[i]!, limit, windowSec, burst, override: allowances[i] !== p.base }
      })
    },
    verdict (count, outcome) {
      const refusedBy: string[] = []
      let waitUs = 0
      let fields = ''
      count.policies.forEach((policy, i) => {
        const remaining = outcome.remaining[i]!
        const wait = outcome.waitUs[i]!
        if (!outcome.admitted && remaining === 0) {
          refusedBy.push(policy.name)
          waitUs = Math.max(waitUs, wait)
        }
        if (headers) fields += `${i === 0 ? '' : ', '}"${policy.name}";r=${remaining};t=${remaining > 0 ? 0 : Math.ceil(wait / 1_000_000)}`
      })
      const answer: Record<string, string> = headers ? { 'ratelimit-policy': count.allowances.map((a) => a.field).join(', '), ratelimit: fields } : {}
      // Whole seconds, at least 1 (RFC 9110 §10.2.3): a client that waits this long is admitted.
      if (!outcome.admitted) answer['retry-after'] = String(Math.max(1, Math.ceil(waitUs / 1_000_000)))
      return { admitted: outcome.admitted, refusedBy, headers: answer }
    }
  }
}

/**
 * `rl:{bank}:policy:partition`. The braces are a Redis Cluster hash tag: every key one request
 * counts sits in its bank's slot, so one script can count them all atomically. A principal is
 * therefore counted per bank it acts for. A token without the claim a key needs shares one
 * partition with every such token of its tenant: stricter, never unlimited.
 */
function counterKey (policy: CompiledPolicy, principal: Principal): string {
  const tag = `rl:{${principal.bankId}}:${policy.name}`
  if (policy.key === 'bank') return tag
  if (policy.key === 'client') return `${tag}:c:${principal.clientId ?? `?${principal.tenantId}`}`
  return `${tag}:p:${principal.tenantId}:${principal.objectId ?? '?'}`
}

/** What a decision says of the principal a policy counts. */
export function principalOf (bankId: string, token: { tenantId: string, clientId: string | undefined, objectId: string | undefined }): Principal {
  return { bankId, tenantId: token.tenantId, clientId: token.clientId, objectId: token.objectId }
}
