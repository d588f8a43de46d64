/**
 * In-process cost of the identity assertion: a cold request (one ES256 signature for a token,
 * bank context and audience not seen yet) against a warm one (the kept assertion), in CPU µs
 * per call, beside the raw ES256 sign. `node --import tsx bench/assertion-cost.ts`
 */
import { generateKeyPairSync, sign } from 'node:crypto'
import { createAssertionSigner } from '../src/assertion/signer.js'
import { VerifiedEntraToken } from '../src/token/verified-token.js'
import type { Decision } from '../src/access/decision.js'

const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' })
const signer = createAssertionSigner({ issuer: 'https://bookme-gateway', ttlSec: 60, clockToleranceSec: 60, keys: [{ kid: 'k', privateKey }] })
const claims = { oid: 'a1b2c3d4-0000-4000-8000-000000000001', preferred_username: 'zoe@bank.example', scp: 'Bookings.Read Bookings.Write' }
const decisionFor = (): Decision => ({
  api: 'management',
  token: new VerifiedEntraToken('e30.e30.', claims, { tenantId: '11111111-1111-4111-8111-111111111111', version: 2, principalType: 'user', clientId: '00000000-0000-0000-0000-0000000000c1', expiresAt: Date.now() + 3600_000 }),
  bank: { activeBankId: '1001', bankIds: ['1001', '1002'] },
  mapped: { roles: ['Manager'], effectiveRoles: ['Manager', 'Employee'], teams: ['Team One', 'Team Two'], businessUnits: ['Retail'] },
  headers: {}
})
const N = 5000
function time (label: string, make: () => Decision[]): void {
  for (let round = 0; round < 3; round++) {
    const decisions = make()
    const start = process.cpuUsage()
    for (const decision of decisions) signer.assertionFor(decision, 'meetings')
    const used = process.cpuUsage(start)
    console.log(label, ((used.user + used.system) / decisions.length).toFixed(2), 'µs cpu a request')
  }
}
time('cold (a new token each: one ES256 signature)', () => Array.from({ length: N }, decisionFor))
const warm = decisionFor()
time('warm (the kept assertion)                  ', () => Array.from({ length: N }, () => warm))
const data = Buffer.alloc(600, 1)
const start = process.cpuUsage()
for (let i = 0; i < N; i++) sign('sha256', data, { key: privateKey, dsaEncoding: 'ieee-p1363' })
const used = process.cpuUsage(start)
console.log('raw ES256 sign', ((used.user + used.system) / N).toFixed(2), 'µs')
