import t from 'tap'
import { startUpstream } from '../helpers/upstream.js'
import { readiness, startTestGateway, untilReady, type Readiness } from '../helpers/gateway.js'
import { eventually } from '../helpers/eventually.js'
import { authConfig, BANK_TENANT, DEFAULT_MAPPINGS, MGMT_CLIENT, startIssuer } from '../helpers/issuer.js'

/** The dependency has answered once, up or down. */
const settled = (name: string) => (ready: Readiness): boolean => {
  const state = ready.body.dependencies?.[name]?.state
  return state !== undefined && state !== 'pending'
}

async function status (url: string, token: string): Promise<{ status: number, code?: string }> {
  const res = await fetch(url, { headers: { authorization: `Bearer ${token}` } })
  return { status: res.status, code: (await res.json() as { code?: string }).code }
}

t.test('a flood of 500 random kids causes at most one JWKS fetch per interval', async (t) => {
  const issuer = await startIssuer(t)
  const upstream = await startUpstream(t)
  const gw = await startTestGateway(t, authConfig(issuer, upstream.url, { entra: { jwks: { minRefreshIntervalSec: 2 } } }), { mappings: DEFAULT_MAPPINGS })
  // No wait after start-up: its fetch did not use the allowance.
  await untilReady(gw)
  const token = issuer.mint({ tenantId: BANK_TENANT, audience: MGMT_CLIENT })
  const [h, p, s] = token.split('.')
  const before = issuer.jwksFetches()
  const started = Date.now()
  const results = await Promise.all(Array.from({ length: 500 }, async (_, i) => {
    const header = { ...JSON.parse(Buffer.from(h!, 'base64url').toString()), kid: `random-${i}` }
    return await status(`${gw.proxyUrl}/api/meetings`, `${Buffer.from(JSON.stringify(header)).toString('base64url')}.${p}.${s}`)
  }))
  t.ok(results.every((r) => r.status === 401 && r.code === 'SIGNING_KEY_NOT_FOUND'), 'every random kid: 401 SIGNING_KEY_NOT_FOUND')
  // One refetch per 2 s interval the flood spans: one on an idle machine, more only if the
  // machine is so loaded that the 500 requests take longer than the interval.
  const intervals = 1 + Math.floor((Date.now() - started) / 2000)
  const refetches = issuer.jwksFetches() - before
  t.ok(refetches >= 1 && refetches <= intervals, `one refetch per interval the flood spans (${refetches} in ${intervals})`)
  const metrics = await (await fetch(`${gw.adminUrl}/metrics`)).text()
  t.match(metrics, new RegExp(`bookme_gateway_jwks_unknown_kid_refetches_total\\{outcome="done"\\} ${refetches}\\b`))
  t.match(metrics, /bookme_gateway_jwks_unknown_kid_refetches_total\{outcome="rate_limited"\} \d+/)
})

t.test('start-up and scheduled fetches leave the unknown-kid allowance unused', async (t) => {
  const issuer = await startIssuer(t)
  const upstream = await startUpstream(t)
  // Long enough that a spent allowance could not come back during the test.
  const gw = await startTestGateway(t, authConfig(issuer, upstream.url, { entra: { jwks: { minRefreshIntervalSec: 300 } } }), { mappings: DEFAULT_MAPPINGS })
  await untilReady(gw)
  // Another front end answers with a key the start-up answer did not have.
  const added = issuer.addKey()
  const before = issuer.jwksFetches()
  t.same(await status(`${gw.proxyUrl}/api/meetings`, issuer.mint({ tenantId: BANK_TENANT, audience: MGMT_CLIENT, key: added })), { status: 200, code: undefined },
    'a key missing from the start-up answer is fetched at once')
  t.equal(issuer.jwksFetches() - before, 1, 'by one unknown-kid refetch')
  const later = issuer.addKey()
  t.same(await status(`${gw.proxyUrl}/api/meetings`, issuer.mint({ tenantId: BANK_TENANT, audience: MGMT_CLIENT, key: later })), { status: 401, code: 'SIGNING_KEY_NOT_FOUND' },
    'the allowance is one refetch per minRefreshIntervalSec')
  t.equal(issuer.jwksFetches() - before, 1, 'no second refetch within the interval')
})

t.test('key rotation: a new key is accepted after one refetch; keys merge across fetches; JWKS down keeps cached keys', async (t) => {
  const issuer = await startIssuer(t)
  const upstream = await startUpstream(t)
  const gw = await startTestGateway(t, authConfig(issuer, upstream.url), { mappings: DEFAULT_MAPPINGS })
  const first = issuer.keys[0]!
  t.same(await status(`${gw.proxyUrl}/api/meetings`, issuer.mint({ tenantId: BANK_TENANT, audience: MGMT_CLIENT })), { status: 200, code: undefined })
  // Rotate: the front end now serves only the new key.
  const rotated = issuer.addKey()
  issuer.removeKey(first.kid)
  const before = issuer.jwksFetches()
  t.same(await status(`${gw.proxyUrl}/api/meetings`, issuer.mint({ tenantId: BANK_TENANT, audience: MGMT_CLIENT, key: rotated })), { status: 200, code: undefined }, 'new kid accepted')
  t.equal(issuer.jwksFetches() - before, 1, 'after exactly one refetch')
  t.same(await status(`${gw.proxyUrl}/api/meetings`, issuer.mint({ tenantId: BANK_TENANT, audience: MGMT_CLIENT, key: first })), { status: 200, code: undefined }, 'the old key is merged, not replaced (kept cacheTtlSec)')
  issuer.down = true
  const third = issuer.addKey({ publish: false })
  t.same(await status(`${gw.proxyUrl}/api/meetings`, issuer.mint({ tenantId: BANK_TENANT, audience: MGMT_CLIENT, key: rotated, claims: { uti: 'x' } })), { status: 200, code: undefined }, 'JWKS down: cached keys keep working')
  t.same(await status(`${gw.proxyUrl}/api/meetings`, issuer.mint({ tenantId: BANK_TENANT, audience: MGMT_CLIENT, key: third })), { status: 401, code: 'SIGNING_KEY_NOT_FOUND' })
  const metrics = await (await fetch(`${gw.adminUrl}/metrics`)).text()
  t.match(metrics, /bookme_gateway_jwks_fetches_total\{result="error"\} [1-9]/)
  t.match(metrics, /bookme_gateway_jwks_key_set_age_seconds\{jwks_uri="http:\/\/127\.0\.0\.1:\d+\/common\/discovery\/v2\.0\/keys"\} \d/)
})

t.test('keys expire cacheTtlSec after they were last seen (real time)', async (t) => {
  const issuer = await startIssuer(t)
  const upstream = await startUpstream(t)
  const gw = await startTestGateway(t, authConfig(issuer, upstream.url, { entra: { jwks: { cacheTtlSec: 1, minRefreshIntervalSec: 0 }, tokenCache: { maxEntries: 0 } } }), { mappings: DEFAULT_MAPPINGS })
  const first = issuer.keys[0]!
  const token = issuer.mint({ tenantId: BANK_TENANT, audience: MGMT_CLIENT })
  t.equal((await status(`${gw.proxyUrl}/api/meetings`, token)).status, 200)
  issuer.removeKey(first.kid)
  issuer.addKey()
  // Real time, asked until it happens (the exact lifetime on a moved clock: test/domain/jwks-store.test.ts).
  const refused = await eventually(() => status(`${gw.proxyUrl}/api/meetings`, token), (res) => res.status !== 200, 10_000)
  t.same(refused, { status: 401, code: 'SIGNING_KEY_NOT_FOUND' }, 'a removed (revoked) key stops working (jwkset CVE-2025-22149 class)')
})

t.test('readiness waits for every profile\'s keys, and a failed fetch is retried until the authority answers', async (t) => {
  const issuer = await startIssuer(t)
  issuer.down = true
  const upstream = await startUpstream(t)
  // The default refreshIntervalSec (an hour): only the retry with backoff can make it ready.
  const gw = await startTestGateway(t, authConfig(issuer, upstream.url), { ready: false, mappings: DEFAULT_MAPPINGS })
  const down = await eventually(() => readiness(gw), (r) => settled('keys:management')(r) && settled('keys:system')(r))
  t.equal(down.status, 503)
  t.match(down.body, { dependencies: { 'keys:management': { state: 'down', detail: /HTTP 503/ }, 'keys:system': { state: 'down' } } }, 'the body says why')
  issuer.down = false
  await t.resolves(untilReady(gw, 8000), 'ready once a retry reaches the authority, not an hour later')
  t.match((await readiness(gw)).body, { dependencies: { 'keys:management': { state: 'up' }, 'keys:system': { state: 'up' } } })
})

t.test('a JWKS endpoint that never answers is given up after timeoutMs and reported down', async (t) => {
  const { createServer } = await import('node:http')
  const hung = createServer(() => { /* never answers */ })
  await new Promise<void>((resolve) => hung.listen(0, '127.0.0.1', resolve))
  t.teardown(() => new Promise<void>((resolve) => { hung.closeAllConnections(); hung.close(() => resolve()) }))
  const authority = `http://127.0.0.1:${(hung.address() as { port: number }).port}`
  const upstream = await startUpstream(t)
  const gw = await startTestGateway(t, {
    entra: { authority, jwks: { timeoutMs: 300 } },
    apis: { management: { clientId: MGMT_CLIENT } },
    routes: [{ name: 'm', prefix: '/m', upstream: upstream.url, api: 'management' }]
  }, { ready: false, mappings: DEFAULT_MAPPINGS })
  const ready = await eventually(() => readiness(gw), settled('keys:management'))
  t.equal(ready.status, 503)
  t.match(ready.body, { dependencies: { 'keys:management': { state: 'down', detail: /^GET http:\/\/127\.0\.0\.1:\d+\/common\/v2\.0\/\.well-known\/openid-configuration: timeout after 300 ms$/ } } }, 'reported down with the bound, not left pending')
  const metrics = await (await fetch(`${gw.adminUrl}/metrics`)).text()
  t.match(metrics, /bookme_gateway_jwks_fetches_total\{result="error"\} [1-9]\b/)
})
