/**
 * Memory of the verified-token cache at its default bound: 10,000 distinct user tokens, each
 * verified and authorized once (so the entry carries what a real request memoizes: mapped
 * roles and identity headers), then the heap after a full GC.
 * `node --expose-gc --import tsx bench/token-memory.ts [count]`
 */
import { randomUUID } from 'node:crypto'
import { startLocalIssuer } from '../src/demo/local-issuer.js'
import { createJwksStore } from '../src/token/jwks-store.js'
import { createAuthenticator } from '../src/token/authenticator.js'
import { identityHeadersOf, tokenIdentityOf } from '../src/access/token-identity.js'
import { createClaimMapper } from '../src/access/roles.js'

const lookups: Record<string, number> = {}
const COUNT = Number(process.argv[2] ?? 10_000)
const CLIENT_ID = '00000000-0000-0000-0000-000000000001'
const issuer = await startLocalIssuer()
const store = createJwksStore({ timeoutMs: 10_000, cacheTtlSec: 86400, refreshIntervalSec: 3600, minRefreshIntervalSec: 300, clockToleranceSec: 60, onError: (err) => console.error('jwks', err) })
const authenticator = createAuthenticator({
  profiles: { m: { clientId: CLIENT_ID, appIdUris: ['api://x'], tenancy: 'multi', tenantId: undefined, principals: ['user'] } },
  authority: issuer.url,
  v2IssuerTemplate: '{authority}/{tenantid}/v2.0',
  v1IssuerTemplate: 'https://sts.windows.net/{tenantid}/',
  store,
  tokenCache: { maxEntries: COUNT, ttlSec: 3600 },
  onCacheLookup: (r: string) => { lookups[r] = (lookups[r] ?? 0) + 1 }
})
const mapClaims = createClaimMapper({ roles: [{ attribute: 'roles', value: '*' }], teams: [], businessUnits: [] })
const tokens = Array.from({ length: COUNT }, () => issuer.mint({ tenantId: randomUUID(), audience: CLIENT_ID }))
await authenticator.verify('m', tokens[0]!) // keys fetched before the baseline

const gc = (globalThis as { gc?: () => void }).gc ?? (() => { throw new Error('run with --expose-gc') })
const heap = (): number => { gc(); return process.memoryUsage().heapUsed }
const before = heap()
for (const token of tokens) {
  // A fresh copy, as each request's header is: the cache must keep its own key, not share ours.
  const verified = await authenticator.verify('m', (' ' + token).slice(1))
  identityHeadersOf(tokenIdentityOf(verified, mapClaims), verified, 'm', 'x-bookme-', { activeBankId: '1001', bankIds: ['1001'] })
}
const after = heap()
lookups.hit = 0
// Used after the measurement, so the cache is not collected before it (and it did hold them all).
for (const token of tokens.slice(0, 100)) await authenticator.verify('m', token)
process.stdout.write(`${COUNT} verified tokens cached (with mapped roles and identity headers): heap +${((after - before) / 1048576).toFixed(1)} MB, ${((after - before) / COUNT / 1024).toFixed(2)} KB per token (cache hits afterwards: ${lookups.hit ?? 0}/100)\n`)
await issuer.close()
store.close()
process.exit(0)
