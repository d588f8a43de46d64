/**
 * Token verification as the configuration asks for it (CONTRACT.md §3): the JWKS store over
 * the configured authority, one verifier per API profile behind the token cache, the signing
 * keys' readiness per profile and the key-set age gauge.
 */
import { Gauge } from 'prom-client'
import type { Config } from '../config/schema.js'
import type { CapabilityDeps } from '../observability/capability-deps.js'
import { METRIC_PREFIX } from '../observability/metrics.js'
import { failureReason } from '../backends/failure-reason.js'
import { createJwksStore, type JwksStore } from './jwks-store.js'
import { createAuthenticator, discoveryUrl, type Authenticator } from './authenticator.js'
import type { TokenProfile } from './entra-token.js'

export interface TokenVerification {
  jwks: JwksStore
  authenticator: Authenticator
}

export interface TokenVerificationOptions {
  /** How discovery and JWKS documents are fetched (`explain --jwks FILE` reads a file). */
  fetchJson?: ((url: string, timeoutMs: number) => Promise<unknown>) | undefined
  /** ms since the epoch: judge token lifetimes at this instant instead of now (`explain --at`). */
  verifyAt?: number | undefined
}

export function createTokenVerification (config: Readonly<Config>, { logger, metrics, health }: CapabilityDeps, options: TokenVerificationOptions = {}): TokenVerification {
  const profiles = tokenProfilesOf(config)
  // Which profiles each discovery URL serves: a fetch's outcome is their readiness.
  const authority = config.entra.authority.replace(/\/+$/, '')
  const profilesBySource = new Map<string, string[]>()
  for (const [name, profile] of Object.entries(profiles)) {
    const url = discoveryUrl(authority, profile)
    profilesBySource.set(url, [...(profilesBySource.get(url) ?? []), name])
    health.register(`keys:${name}`)
  }
  const jwks = createJwksStore({
    ...config.entra.jwks,
    clockToleranceSec: config.entra.clockToleranceSec,
    ...(options.fetchJson ? { fetchJson: options.fetchJson } : {}),
    ...(options.verifyAt !== undefined ? { verifyAt: options.verifyAt } : {}),
    onFetch: (result, keySource) => {
      metrics.jwksFetches.inc({ result })
      for (const profile of profilesBySource.get(keySource.discoveryUrl) ?? []) {
        health.report(`keys:${profile}`, result === 'ok' ? 'up' : 'down', result === 'ok' ? undefined : failureReason(keySource.lastError))
      }
    },
    onRefetch: (outcome) => metrics.unknownKidRefetches.inc({ outcome }),
    onError: (err, keySource) => logger.warn({ discoveryUrl: keySource.discoveryUrl, reason: failureReason(err) }, 'signing keys could not be fetched')
  })
  // Tallies bound once: a token-cache lookup happens on every request.
  const lookups = { hit: metrics.tokenCache.tally({ result: 'hit' }), miss: metrics.tokenCache.tally({ result: 'miss' }) }
  const authenticator = createAuthenticator({
    profiles,
    authority: config.entra.authority,
    v2IssuerTemplate: config.entra.v2IssuerTemplate,
    v1IssuerTemplate: config.entra.v1IssuerTemplate,
    store: jwks,
    tokenCache: config.entra.tokenCache,
    onCacheLookup: (result) => lookups[result].inc()
  })
  new Gauge({ // eslint-disable-line no-new -- registered on the registry, read on scrape
    name: `${METRIC_PREFIX}jwks_key_set_age_seconds`,
    help: 'Seconds since the key set of each JWKS URI was last fetched successfully',
    labelNames: ['jwks_uri'],
    registers: [metrics.registry],
    collect () {
      this.reset()
      for (const source of jwks.sources()) {
        const age = source.ageSeconds()
        if (source.jwksUri && age !== undefined) this.set({ jwks_uri: source.jwksUri }, age)
      }
    }
  })
  return { jwks, authenticator }
}

/** The API profiles as the token verifier reads them (a v1 audience list, never undefined). */
function tokenProfilesOf (config: Readonly<Config>): Record<string, Omit<TokenProfile, 'name'>> {
  return Object.fromEntries(Object.entries(config.apis).map(([name, api]) => [name, {
    clientId: api.clientId,
    appIdUris: api.appIdUri === undefined ? [`api://${api.clientId}`] : typeof api.appIdUri === 'string' ? [api.appIdUri] : api.appIdUri,
    tenancy: api.tenancy,
    tenantId: api.tenantId,
    principals: api.principals,
    requireIdtyp: api.requireIdtyp,
    signingKeys: api.signingKeys
  }]))
}
