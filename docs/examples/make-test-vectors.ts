// Writes docs/assertion-test-vectors.json: a JWKS, assertions made by the gateway's own signer,
// and the verdict a correct verifier must reach for each (test/docs/test-vectors.test.ts checks
// them with jose). Run: node --import tsx docs/examples/make-test-vectors.ts
import { generateKeyPairSync } from 'node:crypto'
import { writeFileSync } from 'node:fs'
import { createAssertionSigner } from '../../src/domain/assertion.js'
import { VerifiedEntraToken } from '../../src/domain/verified-token.js'
import type { Decision } from '../../src/domain/decision.js'

const AT = Date.UTC(2026, 11, 1, 12, 0, 0)
const ISSUER = 'https://bookme-gateway'
const key = { kid: 'vectors-1', privateKey: generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey }
const stranger = { kid: 'vectors-1', privateKey: generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey }
const claims = { oid: 'a1b2c3d4-0000-4000-8000-000000000001', tid: '11111111-1111-4111-8111-111111111111', preferred_username: 'zoe@bank.example', scp: 'Bookings.Read' }
const token = (): VerifiedEntraToken => new VerifiedEntraToken('e30.e30.', claims, { tenantId: claims.tid, version: 2, principalType: 'user', clientId: '00000000-0000-0000-0000-0000000000c1', expiresAt: AT + 3600_000 })
const decision = (): Decision => ({ api: 'management', token: token(), bank: { activeBankId: '1001', bankIds: ['1001', '1002'] }, mapped: { roles: ['Manager'], effectiveRoles: ['Manager', 'Employee'], teams: ['Team One'], businessUnits: [] }, headers: {} })
const signer = createAssertionSigner({ issuer: ISSUER, ttlSec: 60, keys: [key], now: () => AT })
const good = signer.assertionFor(decision(), 'meetings')
const foreign = createAssertionSigner({ issuer: ISSUER, ttlSec: 60, keys: [stranger], now: () => AT }).assertionFor(decision(), 'meetings')
const [h, p] = good.split('.') as [string, string, string]
const unsigned = `${Buffer.from(JSON.stringify({ alg: 'none', typ: 'JWT' })).toString('base64url')}.${p}.`
const at = (ms: number): string => new Date(ms).toISOString()
const expect = { issuer: ISSUER, audience: 'meetings', algorithms: ['ES256'] }
const vectors = {
  description: 'BookMe gateway identity assertion (CONTRACT.md §11) test vectors. Verify each assertion against jwks with the given issuer, audience and algorithms, at the given time; a correct verifier reaches the stated verdict.',
  jwks: signer.jwks,
  cases: [
    { name: 'valid', assertion: good, ...expect, at: at(AT + 1000), verdict: 'valid' },
    { name: 'another route\'s audience', assertion: good, ...expect, audience: 'system', at: at(AT + 1000), verdict: 'invalid', reason: 'aud' },
    { name: 'another issuer expected', assertion: good, ...expect, issuer: 'https://other-gateway', at: at(AT + 1000), verdict: 'invalid', reason: 'iss' },
    { name: 'expired', assertion: good, ...expect, at: at(AT + 61_000), verdict: 'invalid', reason: 'exp' },
    { name: 'signed by a key with the same kid that is not in the JWKS', assertion: foreign, ...expect, at: at(AT + 1000), verdict: 'invalid', reason: 'signature' },
    { name: 'payload altered', assertion: `${h}.${Buffer.from(JSON.stringify({ ...JSON.parse(Buffer.from(p, 'base64url').toString()), bank_id: '1002' })).toString('base64url')}.${good.split('.')[2]}`, ...expect, at: at(AT + 1000), verdict: 'invalid', reason: 'signature' },
    { name: 'alg none', assertion: unsigned, ...expect, at: at(AT + 1000), verdict: 'invalid', reason: 'alg' }
  ],
  claims_of_valid: JSON.parse(Buffer.from(p, 'base64url').toString()) as unknown
}
writeFileSync(new URL('../assertion-test-vectors.json', import.meta.url), JSON.stringify(vectors, null, 2) + '\n')
