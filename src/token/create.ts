/**
 * Token verification as the configuration asks for it (CONTRACT.md §3), in two stages a reload
 * replaces apart: the JWKS store with the key-set age gauge (`entra.jwks`), and one verifier per
 * API profile behind the token cache over it, with the signing keys' readiness per profile.
 */
import { Gauge } from 'prom-client'
import type { Config } from '../config/schema.js'
import type { CapabilityDeps } from '../observability/capability-deps.js'
import type { Health, OwnedHealth } from '../observability/health.js'
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

/** The JWKS store with the profiles each discovery URL serves (a fetch's outcome is their readiness). */
export interface SigningKeys {
  store: JwksStore
  /**
   * One per authenticator built over the store (the active revision's, and a reload's while it is
   * built): each reports its own profiles through its own health view, and leaves with its
   * revision, so a refused reload's profiles never take the active ones' place.
   */
  readonly reporters: Set<KeyReadinessReporter>
  /** Closes the store; a fetch still in flight then reports to no one. */
  close (): void
}

export interface KeyReadinessReporter {
  /** Discovery URL → the API profiles whose readiness its fetches report. */
  profilesBySource: ReadonlyMap<string, readonly string[]>
  health: Health
}

/**
 * The JWKS store as `entra.jwks` asks for it, and the key-set age gauge. Kept across reloads that
 * leave `entra.jwks` and the clock tolerance alone: the keys already fetched stay.
 */
export function createSigningKeys (config: Readonly<Config>, { logger, metrics }: CapabilityDeps, options: TokenVerificationOptions = {}): SigningKeys {
  const reporters = new Set<KeyReadinessReporter>()
  let closed = false
  const store = createJwksStore({
    ...config.entra.jwks,
    clockToleranceSec: config.entra.clockToleranceSec,
    ...(options.fetchJson ? { fetchJson: options.fetchJson } : {}),
    ...(options.verifyAt !== undefined ? { verifyAt: options.verifyAt } : {}),
    onFetch: (result, keySource) => {
      metrics.jwksFetches.inc({ result })
      // A fetch that ends after its store was replaced reports nothing.
      if (closed) return
      for (const { profilesBySource, health } of reporters) {
        for (const profile of profilesBySource.get(keySource.discoveryUrl) ?? []) {
          health.report(`keys:${profile}`, result === 'ok' ? 'up' : 'down', result === 'ok' ? undefined : failureReason(keySource.lastError))
        }
      }
    },
    onRefetch: (outcome) => metrics.unknownKidRefetches.inc({ outcome }),
    onError: (err, keySource) => logger.warn({ discoveryUrl: keySource.discoveryUrl, reason: failureReason(err) }, 'signing keys could not be fetched')
  })
  const name = `${METRIC_PREFIX}jwks_key_set_age_seconds`
  // A reload that replaces the store replaces its gauge: the registry holds one per name.
  metrics.registry.removeSingleMetric(name)
  new Gauge({ // eslint-disable-line no-new -- registered on the registry, read on scrape
    name,
    help: 'Seconds since the key set of each JWKS URI was last fetched successfully',
    labelNames: ['jwks_uri'],
    registers: [metrics.registry],
    collect () {
      this.reset()
      for (const source of store.sources()) {
        const age = source.ageSeconds()
        if (source.jwksUri && age !== undefined) this.set({ jwks_uri: source.jwksUri }, age)
      }
    }
  })
  return {
    store,
    reporters,
    close () {
      closed = true
      store.close()
    }
  }
}

/**
 * One verifier per API profile behind the token cache, over `keys`; each profile's key readiness
 * registered through `health`, an owned view its revision releases (a profile a reload removes
 * leaves `/readyz`).
 */
export function createTokenAuthenticator (config: Readonly<Config>, keys: SigningKeys, { metrics, health }: { metrics: CapabilityDeps['metrics'], health: OwnedHealth }): Authenticator & { close (): void } {
  const profiles = tokenProfilesOf(config)
  const authority = config.entra.authority.replace(/\/+$/, '')
  const profilesBySource = new Map<string, string[]>()
  const reporter: KeyReadinessReporter = { profilesBySource, health }
  keys.reporters.add(reporter)
  for (const [name, profile] of Object.entries(profiles)) {
    const url = discoveryUrl(authority, profile)
    profilesBySource.set(url, [...(profilesBySource.get(url) ?? []), name])
    health.register(`keys:${name}`)
    // Keys already fetched for this URL (a reload that kept the store) count at once.
    const known = keys.store.sources().find((source) => source.discoveryUrl === url)
    if (known?.fetchedOnce === true) health.report(`keys:${name}`, 'up')
  }
  // Tallies bound once: a token-cache lookup happens on every request.
  const lookups = { hit: metrics.tokenCache.tally({ result: 'hit' }), miss: metrics.tokenCache.tally({ result: 'miss' }) }
  const authenticator = createAuthenticator({
    profiles,
    authority: config.entra.authority,
    v2IssuerTemplate: config.entra.v2IssuerTemplate,
    v1IssuerTemplate: config.entra.v1IssuerTemplate,
    store: keys.store,
    tokenCache: config.entra.tokenCache,
    onCacheLookup: (result) => lookups[result].inc()
  })
  return Object.assign(authenticator, {
    /** Its revision is retired or refused: its profiles' readiness leaves with it. */
    close () {
      keys.reporters.delete(reporter)
      health.release()
    }
  })
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
