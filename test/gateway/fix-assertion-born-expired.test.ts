import t, { type Test } from 'tap'
import { generateKeyPairSync } from 'node:crypto'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createLocalJWKSet, decodeJwt, jwtVerify } from 'jose'
import { createAssertionVerifier } from '../../docs/examples/verify-assertion.js'
import { createAssertionSigner } from '../../src/assertion/signer.js'
import { VerifiedEntraToken } from '../../src/token/verified-token.js'
import type { Decision } from '../../src/access/decision.js'
import { startUpstream } from '../helpers/upstream.js'
import { startTestGateway } from '../helpers/gateway.js'
import { authConfig, BANK_TENANT, DEFAULT_MAPPINGS, MGMT_CLIENT, startIssuer } from '../helpers/issuer.js'

// CONTRACT.md §11: exp = min(iat + ttlSec, token exp + entra.clockToleranceSec), and always after
// iat. A token admitted inside the clock tolerance is already past its own exp; capping the
// assertion at that exp gave it an exp before its iat, which every JOSE library refuses.
const TTL_SEC = 120
const TOLERANCE_SEC = 60

function keyFile (t: Test): string {
  const dir = mkdtempSync(join(tmpdir(), 'bookme-assertion-keys-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  const file = join(dir, 'k1.pem')
  writeFileSync(file, generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey.export({ format: 'pem', type: 'pkcs8' }))
  return file
}

t.test('a token inside the clock tolerance gets an assertion a backend accepts, ending when the token stops being admitted', async (t) => {
  const [issuer, upstream] = await Promise.all([startIssuer(t), startUpstream(t)])
  const gw = await startTestGateway(t, {
    ...authConfig(issuer, upstream.url, { entra: { clockToleranceSec: TOLERANCE_SEC } }),
    assertion: { ttlSec: TTL_SEC, keys: [{ kid: 'k1', privateKeyFile: keyFile(t) }] }
  }, { mappings: DEFAULT_MAPPINGS })
  // jose's jwtVerify against the gateway's published JWKS, as a backend does it.
  const verify = createAssertionVerifier({ jwksUrl: `${gw.proxyUrl}/_gateway/jwks.json`, audience: 'meetings' })
  const forward = async (token: string): Promise<Record<string, string | string[] | undefined>> => {
    const res = await fetch(`${gw.proxyUrl}/api/meetings/x`, { headers: { authorization: `Bearer ${token}` } })
    t.equal(res.status, 200, 'admitted')
    await res.arrayBuffer()
    return upstream.last().headers
  }
  const now = Math.floor(Date.now() / 1000)

  const lateExp = now - 30
  const late = issuer.mint({ tenantId: BANK_TENANT, audience: MGMT_CLIENT, claims: { iat: now - 3630, nbf: now - 3630, exp: lateExp } })
  for (const round of ['signed', 'asked again']) {
    const payload = await verify(await forward(late))
    t.equal(payload.exp, lateExp + TOLERANCE_SEC, `${round}: exp is the token's exp plus the clock tolerance`)
    t.ok(payload.exp! > payload.iat!, `${round}: exp after iat`)
  }

  const fresh = await verify(await forward(issuer.mint({ tenantId: BANK_TENANT, audience: MGMT_CLIENT })))
  t.equal(fresh.exp, fresh.iat! + TTL_SEC, 'a fresh token: exp = iat + ttlSec')

  const closeExp = now + 20
  const close = await verify(await forward(issuer.mint({ tenantId: BANK_TENANT, audience: MGMT_CLIENT, claims: { exp: closeExp } })))
  t.equal(close.exp, closeExp + TOLERANCE_SEC, 'a token expiring within ttlSec: exp = token exp + tolerance, not earlier')
})

t.test('the signer alone: at the last admitted instant, and a kept assertion never outlives the token\'s admission', async (t) => {
  const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' })
  let clock = 0
  const signer = createAssertionSigner({ issuer: 'https://bookme-gateway', ttlSec: TTL_SEC, clockToleranceSec: TOLERANCE_SEC, keys: [{ kid: 'k', privateKey }], now: () => clock })
  const keys = createLocalJWKSet(signer.jwks)
  const tokenExp = 1_800_000_000
  const token = new VerifiedEntraToken('e30.e30.', { oid: 'a1b2c3d4-0000-4000-8000-000000000001' }, { tenantId: BANK_TENANT, version: 2, principalType: 'user', clientId: undefined, expiresAt: tokenExp * 1000 })
  const decision: Decision = { api: 'management', token, bank: { activeBankId: '1001', bankIds: ['1001'] }, mapped: { roles: [], effectiveRoles: [], teams: [], businessUnits: [] }, headers: {} }
  const at = async (sec: number): Promise<{ jws: string, iat: number, exp: number }> => {
    clock = sec * 1000
    const jws = signer.assertionFor(decision, 'meetings')
    const { payload } = await jwtVerify(jws, keys, { issuer: 'https://bookme-gateway', audience: 'meetings', algorithms: ['ES256'], currentDate: new Date(clock) })
    return { jws, iat: payload.iat!, exp: payload.exp! }
  }
  const limit = tokenExp + TOLERANCE_SEC

  const before = await at(tokenExp - 10)
  t.same([before.iat, before.exp], [tokenExp - 10, limit], 'signed before the token\'s exp: capped at its exp + tolerance')
  const kept = await at(tokenExp + 30)
  t.equal(kept.jws, before.jws, 'reused inside the tolerance: its exp is still within the token\'s admission')
  const resigned = await at(limit - 10)
  t.not(resigned.jws, before.jws, 'within the reuse margin of its exp: signed again')
  t.same([resigned.iat, resigned.exp], [limit - 10, limit], 'never past the token\'s admission')

  const other = new VerifiedEntraToken('e30.e30.', {}, { tenantId: BANK_TENANT, version: 2, principalType: 'user', clientId: undefined, expiresAt: tokenExp * 1000 })
  clock = limit * 1000
  const edge = decodeJwt(signer.assertionFor({ ...decision, token: other }, 'meetings')) as { iat: number, exp: number }
  t.same([edge.iat, edge.exp], [limit - 1, limit], 'at the very instant the verifier still admits: exp is that instant, iat a second before')
})
