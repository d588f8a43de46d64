/**
 * The gateway's one access decision, every step in order (CONTRACT.md §3–§6, §12, §13):
 *
 *   1. token        signature and claims for the API profile (§3), from the token cache or not
 *   2. blocks       PRINCIPAL_BLOCKED (§13), on every request, cache hits included
 *   3. binding      TOKEN_BINDING_INVALID (§15): a certificate-bound token with its certificate only,
 *                   on every request, cache hits included (token-binding.ts)
 *   4. tenant       TENANT_NOT_MAPPED for multi-tenant profiles (§3)
 *   5. bank         the banks the principal may act for, and the active one (§4)
 *   6. roles        claims → roles, teams, business units (§5), groups overage (§13)
 *   7. route checks route-checks/list.ts, in order: the route's roles, its step-up context, …
 *   8. rate limit   counted last (§12), or only described (`explain` counts nothing)
 *
 * On a route in `mode: report` (§14) the refusals of steps 6 (groups overage), 7 and 8 are
 * kept in `reported` instead of thrown, and the request goes on; steps 1–5 refuse in both modes.
 * What each step learns of a verified principal is written to the request's `facts`, the
 * decision log's (decision-facts.ts), so a refusal's line says what was known when it came.
 * The decision carries the identity headers (§6) of the principal it let through.
 *
 * The proxy's route access, `/_gateway/me` and `explain` all ask it; what differs between them
 * is only the request they describe. The readiness gate (§8) is the HTTP layer's, before it.
 *
 * Each lookup answers from memory without a promise when it can (MaybePromise), and is awaited
 * only when it did not: a warm request costs the one promise of `decide` itself.
 */
import { GatewayError, isGatewayError } from '../errors.js'
import { requireMappedTenant, resolveBankOf, type BankContext, type BankLookups } from './bank-resolution.js'
import { peekAudience, type VerifiedToken } from '../token/index.js'
import type { MaybePromise } from '../maybe-promise.js'
import type { PlatformRole } from '../config/platform-roles.js'
import type { MappedIdentity } from './roles.js'
import type { RouteConfig } from '../config/schema.js'
import type { BlockedPrincipal } from '../blocks/index.js'
import { principalOf, type PolicyDescription, type RateLimitPlan, type Verdict } from '../rate-limits/index.js'
import type { RateLimiter } from '../rate-limits/index.js'
import { identityHeadersOf, isMapped, tokenIdentityOf } from './token-identity.js'
import { ROUTE_CHECKS } from './route-checks/list.js'
import { recordToken, type DecisionFacts } from './decision-facts.js'
import { checkTokenBinding } from './token-binding.js'
import type { ClientCertificate } from '../http/index.js'

export interface Decision {
  readonly api: string
  readonly token: VerifiedToken
  readonly bank: BankContext
  readonly mapped: MappedIdentity
  /** The identity headers to inject upstream (§6). */
  readonly headers: Readonly<Record<string, string>>
  /** Counted: the answer's rate-limit fields (§12); absent where no policy covers the route. */
  readonly rateLimitFields?: Readonly<Record<string, string>> | undefined
  /** Described: the policies that would count the request (`explain`). */
  readonly rateLimitPolicies?: readonly PolicyDescription[] | undefined
  /** `mode: report` (§14): the refusals the route would have answered, in the order found. */
  readonly reported?: readonly GatewayError[] | undefined
}

/** The principal as the steps up to the roles establish it: what route checks judge, and what an assertion states. */
export type Grant = Pick<Decision, 'api' | 'token' | 'bank' | 'mapped'>

/** The part of a route the decision reads. */
export type DecisionRoute = Pick<RouteConfig, 'name' | 'roles' | 'authContext'> & Partial<Pick<RouteConfig, 'mode'>>

export interface DecisionRequest {
  /** The API profile the token must be valid for. */
  api: string
  /** The bearer token's text. */
  token: string
  /** The bank-selection header as received. */
  selection: string | undefined
  method: string
  /** The normalized path, the one forwarded; undefined for `explain` without a path. */
  path: string | undefined
  /** The route the path matched; undefined for `/_gateway/me` and `explain` without a path. */
  route: DecisionRoute | undefined
  /** A user of several banks without a default must have chosen one (not for `/_gateway/me`). */
  requireActiveBank: boolean
  /** Whether the rate-limit step counts the request (the proxy) or only describes it (`explain`). */
  rateLimit: 'count' | 'describe'
  /** The client certificate a trusted ingress passed on (§15), read or malformed; undefined when none is believed. */
  clientCertificate?: ClientCertificate | undefined
  /** Filled in as the steps learn them, for the decision log (§14). */
  facts?: DecisionFacts | undefined
}

/** What the decision reads of an API profile. */
export interface AccessProfile {
  tenancy: 'multi' | 'single'
  bankResolution: 'tenant' | 'client'
  requiredRoles: readonly PlatformRole[]
  /** Only certificate-bound tokens (§15). */
  requireBoundTokens?: boolean | undefined
}

export interface DeciderOptions {
  /** The token step: the verified token, from the token cache synchronously when it is there. */
  verify: (api: string, token: string) => MaybePromise<VerifiedToken>
  /** The profile an unverified token's audience names. */
  profileForAudience: (aud: unknown) => string | undefined
  /** The emergency blocks (§13): throws PRINCIPAL_BLOCKED for a principal a block covers. */
  blocks: { refuse (principal: BlockedPrincipal): void }
  lookups: BankLookups
  profiles: Readonly<Record<string, AccessProfile>>
  mapClaims: (payload: Readonly<Record<string, unknown>>) => MappedIdentity
  headerPrefix: string
  /** `entra.authority`, named in the claims challenge of AUTH_CONTEXT_REQUIRED (§13). */
  authority?: string | undefined
  /**
   * Only when a rule reads `groups`: what the mapping reads as a token's groups (§13) —
   * undefined for a token that carries its own, GROUPS_OVERAGE or Graph's answer otherwise.
   */
  overageGroups?: ((token: VerifiedToken) => MaybePromise<readonly string[]> | undefined) | undefined
  /** The rate-limit policies by route and the limiter that counts them (§12). */
  rateLimits?: { plan: RateLimitPlan, limiter: RateLimiter } | undefined
}

export interface Decider {
  decide (request: DecisionRequest): Promise<Decision>
  /** The profile whose audience the token names, or TOKEN_AUDIENCE_INVALID. */
  profileFor (token: string): string
}

type Draft = { -readonly [K in keyof Decision]: Decision[K] }

export function createDecider (options: DeciderOptions): Decider {
  const { verify, blocks, lookups, profiles, mapClaims, headerPrefix, overageGroups, rateLimits } = options
  const routeChecks = ROUTE_CHECKS.map((create) => create(options))

  /** Step 8, last: only a request every other step let through uses allowance (§12). */
  function limitRate (request: DecisionRequest, decision: Draft): MaybePromise<Decision> {
    if (rateLimits === undefined || request.route === undefined) return decision
    const policies = rateLimits.plan.forRoute(request.route.name)
    if (policies === undefined) return decision
    const { bank, token } = decision
    if (request.rateLimit === 'describe') {
      if (bank.activeBankId !== null) decision.rateLimitPolicies = policies.describe(principalOf(bank.activeBankId, token))
      return decision
    }
    // A proxied route always has an active bank (requireActiveBank).
    const counting = rateLimits.limiter.admit(policies, principalOf(bank.activeBankId ?? '', token))
    const report = request.route.mode === 'report'
    return counting instanceof Promise ? counting.then((verdict) => admitted(decision, verdict, report)) : admitted(decision, counting, report)
  }

  /** Step 6's groups on a report route: GROUPS_OVERAGE is reported, and the token's own claims are mapped. */
  async function reportedOverageOf (token: VerifiedToken, reported: GatewayError[]): Promise<readonly string[] | undefined> {
    try {
      return await overageGroups?.(token)
    } catch (err) {
      if (!isGatewayError(err) || err.code !== 'GROUPS_OVERAGE') throw err
      reported.push(err)
      return undefined
    }
  }

  return {
    async decide (request) {
      const { api, facts } = request
      const profile = profiles[api]
      if (profile === undefined) throw new Error(`no API profile "${api}"`)
      if (facts !== undefined) facts.api = api
      // 1. The token.
      const verifying = verify(api, request.token)
      const token = verifying instanceof Promise ? await verifying : verifying
      if (facts !== undefined) recordToken(facts, token, request.token, verifying instanceof Promise ? 'miss' : 'hit')
      // 2. Blocks: before anything is looked up for the principal, so they hold with the mapping source down.
      blocks.refuse(token)
      // 3. The binding: the cache keeps the token, never the certificate it came with.
      checkTokenBinding(token.claims, request.clientCertificate, profile.requireBoundTokens === true)
      // 4. The tenant, only for a token whose signature holds: the answer must not leak to forgers.
      if (profile.tenancy === 'multi') {
        const mapped = requireMappedTenant(lookups, token)
        if (mapped instanceof Promise) await mapped
      }
      // 5. The bank.
      const resolving = resolveBankOf(lookups, profile.bankResolution, token, request.selection, request.requireActiveBank)
      const bank = resolving instanceof Promise ? await resolving : resolving
      if (facts !== undefined && bank.activeBankId !== null) facts.bankId = bank.activeBankId
      const report = request.route?.mode === 'report'
      const reported: GatewayError[] = []
      // 6. The roles; Graph's groups are asked once per token, whose mapping is kept with it.
      const pending = overageGroups === undefined || isMapped(token, mapClaims) ? undefined : report ? reportedOverageOf(token, reported) : overageGroups(token)
      const identity = tokenIdentityOf(token, mapClaims, pending instanceof Promise ? await pending : pending)
      // 7. The route checks, then the identity headers of the principal they let through.
      const decision: Draft = { api, token, bank, mapped: identity.mapped, headers: NO_HEADERS, rateLimitFields: undefined, rateLimitPolicies: undefined, reported: undefined }
      for (let i = 0; i < routeChecks.length; i++) {
        if (!report) {
          routeChecks[i]!(request, decision, profile)
          continue
        }
        try {
          routeChecks[i]!(request, decision, profile)
        } catch (err) {
          if (!isGatewayError(err)) throw err
          reported.push(err)
        }
      }
      if (reported.length > 0) decision.reported = reported
      decision.headers = identityHeadersOf(identity, token, api, headerPrefix, bank)
      // 8. The rate limit.
      return limitRate(request, decision)
    },
    profileFor (token) {
      const api = options.profileForAudience(peekAudience(token))
      if (api === undefined) throw new GatewayError('TOKEN_AUDIENCE_INVALID', 'The token\'s audience names none of the API profiles of this gateway')
      return api
    }
  }
}

/** The limiter's verdict: the answer's fields, or RATE_LIMITED stating them (Retry-After included); on a report route, reported. */
function admitted (decision: Draft, verdict: Verdict, report: boolean): Decision {
  if (!verdict.admitted) {
    const policies = verdict.refusedBy.map((name) => `"${name}"`).join(', ')
    const refusal = new GatewayError('RATE_LIMITED', `Over the rate limit of ${policies}; retry after ${verdict.headers['retry-after'] ?? '1'} s`, { headers: verdict.headers })
    if (!report) throw refusal
    decision.reported = [...(decision.reported ?? []), refusal]
  }
  decision.rateLimitFields = verdict.headers
  return decision
}

const NO_HEADERS: Readonly<Record<string, string>> = Object.freeze({})

/**
 * `Authorization: Bearer <jwt>` (scheme case-insensitive, RFC 7235 §2.1) → the raw token;
 * no header, another scheme or an empty value → TOKEN_MISSING.
 */
export function bearerTokenOf (header: string | string[] | undefined): string {
  if (typeof header !== 'string') throw new GatewayError('TOKEN_MISSING', 'A bearer token is required')
  const space = header.indexOf(' ')
  const scheme = space === -1 ? header : header.slice(0, space)
  const token = space === -1 ? '' : header.slice(space + 1).trim()
  if (scheme.toLowerCase() !== 'bearer' || token === '') throw new GatewayError('TOKEN_MISSING', 'A bearer token is required')
  return token
}
