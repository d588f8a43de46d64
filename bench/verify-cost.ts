/**
 * In-process cost of verification: a token-cache miss (every check and the RS256 signature)
 * against a hit, in CPU µs per call, beside the raw RSA-2048 verify. `node --import tsx bench/verify-cost.ts`
 */
import { startLocalIssuer } from '../src/demo/local-issuer.js'
import { createJwksStore } from '../src/token/jwks-store.js'
import { createAuthenticator } from '../src/token/authenticator.js'
import { verify as cverify } from 'node:crypto'
const issuer = await startLocalIssuer()
const store = createJwksStore({ timeoutMs: 10_000, cacheTtlSec: 86400, refreshIntervalSec: 3600, minRefreshIntervalSec: 300, clockToleranceSec: 60 })
const make = (max: number) => createAuthenticator({ profiles: { m: { clientId: '00000000-0000-0000-0000-000000000001', appIdUris: ['api://x'], tenancy: 'multi', tenantId: undefined, principals: ['user'] } }, authority: issuer.url, v2IssuerTemplate: '{authority}/{tenantid}/v2.0', v1IssuerTemplate: 'https://sts.windows.net/{tenantid}/', store, tokenCache: { maxEntries: max, ttlSec: 300 } })
const cold = make(0); const warm = make(100000)
const tokens = Array.from({ length: 2000 }, () => issuer.mint({ tenantId: '11111111-1111-4111-8111-111111111111' }))
await cold.verify('m', tokens[0]!)
for (const t of tokens) await warm.verify('m', t)
async function time (label: string, fn: (t: string) => unknown) {
  for (let r = 0; r < 3; r++) {
    const start = process.cpuUsage(); const s = performance.now()
    for (let i = 0; i < 5; i++) for (const t of tokens) await fn(t)
    const us = process.cpuUsage(start); const n = tokens.length * 5
    console.log(label, ((us.user + us.system) / n).toFixed(1), 'µs cpu/verify', ((performance.now() - s) * 1000 / n).toFixed(1), 'µs wall')
  }
}
await time('miss', (t) => cold.verify('m', t))
await time('hit ', (t) => warm.verify('m', t))
const key = issuer.keys[0]!.publicKey
const parts = tokens.map((t) => { const p = t.split('.'); return [Buffer.from(p[0] + '.' + p[1]), Buffer.from(p[2]!, 'base64url')] as const })
const s = process.cpuUsage(); for (let i = 0; i < 5; i++) for (const [d, sig] of parts) cverify('RSA-SHA256', d, key, sig)
const u = process.cpuUsage(s); console.log('raw RSA-2048 verify', ((u.user + u.system) / (parts.length * 5)).toFixed(1), 'µs')
await issuer.close(); store.close(); process.exit(0)
