import t from 'tap'
import { startUpstream } from '../helpers/upstream.js'
import { startTestGateway } from '../helpers/gateway.js'
import { authConfig, BANK_TENANT, DEFAULT_MAPPINGS, MGMT_CLIENT, startIssuer } from '../helpers/issuer.js'

// ADVISORIES.md "Alg confusion / claim checks" and "JWKS / key-source / cache poisoning":
// fast-jwt CVE-2023-48223 / CVE-2026-34950 / CVE-2026-107722 / CVE-2026-107724 / CVE-2026-107723,
// jsonwebtoken CVE-2015-9235 / CVE-2022-23540, express-jwt CVE-2020-15084, Authlib CVE-2026-27962,
// get-jwks CVE-2025-59936, fast-jwt CVE-2025-30144, Storm-0558 (ENTRA.md §2.3).
const BASE64URL_ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_'

/** The segment's last character with its lowest spare bit set: other text, the same decoded bytes. */
function spareBitSet (segment: string): string {
  const last = BASE64URL_ALPHABET.indexOf(segment.at(-1)!)
  return segment.slice(0, -1) + BASE64URL_ALPHABET[last | 1]!
}

t.test('forged tokens are refused and the upstream never sees them', async (t) => {
  const issuer = await startIssuer(t)
  const upstream = await startUpstream(t)
  const gw = await startTestGateway(t, authConfig(issuer, upstream.url), { mappings: DEFAULT_MAPPINGS })
  const key = issuer.keys[0]!
  const good = issuer.mint({ tenantId: BANK_TENANT, audience: MGMT_CLIENT })
  const [h, p] = good.split('.') as [string, string, string]
  const header = JSON.parse(Buffer.from(h, 'base64url').toString()) as Record<string, unknown>
  const payload = JSON.parse(Buffer.from(p, 'base64url').toString()) as Record<string, unknown>
  const pem = key.publicKey.export({ type: 'spki', format: 'pem' }) as string
  const jwk = JSON.stringify(key.publicKey.export({ format: 'jwk' }))
  const foreign = issuer.addKey({ publish: false })
  const attacker = issuer.addKey({ publish: false })
  const evilJwk = attacker.publicKey.export({ format: 'jwk' })

  const unpublished = issuer.signRaw({ ...header, kid: 'kid-nobody-publishes' }, payload, { key })
  const [uh, up, us] = unpublished.split('.') as [string, string, string]

  const cases: Array<[string, string, string]> = [
    ['alg none', issuer.signRaw({ ...header, alg: 'none' }, payload), 'TOKEN_ALGORITHM_NOT_ALLOWED'],
    ['alg None', issuer.signRaw({ ...header, alg: 'None' }, payload), 'TOKEN_ALGORITHM_NOT_ALLOWED'],
    ['HS256 with the PEM public key as secret', issuer.signRaw({ ...header, alg: 'HS256' }, payload, { hmacSecret: pem }), 'TOKEN_ALGORITHM_NOT_ALLOWED'],
    ['HS256 with the JWK JSON as secret', issuer.signRaw({ ...header, alg: 'HS256' }, payload, { hmacSecret: jwk }), 'TOKEN_ALGORITHM_NOT_ALLOWED'],
    ['RS512', issuer.signRaw({ ...header, alg: 'RS512' }, payload, { key }), 'TOKEN_ALGORITHM_NOT_ALLOWED'],
    ['foreign key reusing a known kid', issuer.mint({ tenantId: BANK_TENANT, audience: MGMT_CLIENT, key: foreign, header: { kid: key.kid } }), 'TOKEN_SIGNATURE_INVALID'],
    ['embedded jwk header', issuer.signRaw({ ...header, kid: attacker.kid, jwk: evilJwk }, payload, { key: attacker }), 'SIGNING_KEY_NOT_FOUND'],
    ['embedded jwk header with a known kid', issuer.signRaw({ ...header, jwk: evilJwk }, payload, { key: attacker }), 'TOKEN_SIGNATURE_INVALID'],
    ['jku header', issuer.signRaw({ ...header, kid: attacker.kid, jku: 'http://127.0.0.1:1/keys' }, payload, { key: attacker }), 'SIGNING_KEY_NOT_FOUND'],
    ['x5u header', issuer.signRaw({ ...header, kid: attacker.kid, x5u: 'http://127.0.0.1:1/cert' }, payload, { key: attacker }), 'SIGNING_KEY_NOT_FOUND'],
    ['x5c header', issuer.signRaw({ ...header, kid: attacker.kid, x5c: ['MIIB'] }, payload, { key: attacker }), 'SIGNING_KEY_NOT_FOUND'],
    ['tampered payload', `${h}.${Buffer.from(JSON.stringify({ ...payload, roles: ['Admin'] })).toString('base64url')}.${good.split('.')[2]}`, 'TOKEN_SIGNATURE_INVALID'],
    ['stripped signature', `${h}.${p}.`, 'TOKEN_SIGNATURE_INVALID'],
    ['kid traversal', issuer.signRaw({ ...header, kid: '../../../etc/passwd' }, payload, { key }), 'SIGNING_KEY_NOT_FOUND'],
    ['kid with a URL', issuer.signRaw({ ...header, kid: 'http://127.0.0.1:1/k' }, payload, { key }), 'SIGNING_KEY_NOT_FOUND'],
    ['no kid nor x5t', issuer.signRaw({ typ: 'JWT', alg: 'RS256' }, payload, { key }), 'SIGNING_KEY_NOT_FOUND'],
    ['array payload', issuer.signRaw(header, [payload], { key }), 'TOKEN_MALFORMED'],
    // Outside the base64url alphabet (RFC 7515): Buffer.from would skip padding and read '+' as '-'.
    // Signed under a kid nobody publishes: refused before any key is looked for, or the code would be SIGNING_KEY_NOT_FOUND.
    ['padding after the payload', `${uh}.${up}=.${us}`, 'TOKEN_MALFORMED'],
    ['the standard alphabet in the header', `${uh.replace(/-|$/, '+')}.${up}.${us}`, 'TOKEN_MALFORMED'],
    ['padding after the signature', `${unpublished}=`, 'TOKEN_MALFORMED'],
    ['four segments', `${unpublished}.${up}`, 'TOKEN_MALFORMED'],
    // The same signature bytes spelled with a spare bit set: it would verify (Buffer.from ignores the bit).
    ['a signature whose spare bits are set', `${h}.${p}.${spareBitSet(good.split('.')[2]!)}`, 'TOKEN_MALFORMED'],
    ['duplicate tid in the payload text', `${h}.${Buffer.from(JSON.stringify(payload).replace('"tid":', `"tid":"${'0'.repeat(8)}-0000-0000-0000-000000000000","tid":`)).toString('base64url')}.x`, 'TOKEN_MALFORMED']
  ]
  for (const [name, token, code] of cases) {
    const res = await fetch(`${gw.proxyUrl}/api/meetings`, { headers: { authorization: `Bearer ${token}` } })
    const body = await res.json() as { code: string }
    t.equal(body.code, code, name)
    t.equal(res.status, 401, `${name}: 401`)
  }
  t.equal(upstream.requests.length, 0, 'no forged token reached the upstream')
  t.equal(issuer.hits.get('/http:/127.0.0.1:1/k') ?? 0, 0)
})

t.test('a key whose issuer belongs to another tenant or cloud cannot sign for this one (Storm-0558 class)', async (t) => {
  const issuer = await startIssuer(t)
  const upstream = await startUpstream(t)
  const consumerKey = issuer.addKey({ issuer: `${issuer.url}/9188040d-6c67-4c5b-b112-36a304b66dad/v2.0` })
  const otherTenantKey = issuer.addKey({ issuer: `${issuer.url}/33333333-3333-4333-8333-333333333333/v2.0` })
  const govKey = issuer.addKey({ cloudInstanceName: 'microsoftonline.us' })
  const unscopedKey = issuer.addKey({ issuer: null, cloudInstanceName: null })
  const gw = await startTestGateway(t, authConfig(issuer, upstream.url), { mappings: DEFAULT_MAPPINGS })
  const call = async (token: string) => {
    const res = await fetch(`${gw.proxyUrl}/api/meetings`, { headers: { authorization: `Bearer ${token}` } })
    return { status: res.status, code: (await res.json() as { code?: string }).code }
  }
  for (const [name, key] of [['consumer-accounts key', consumerKey], ['another tenant\'s key', otherTenantKey], ['US Gov cloud key', govKey]] as const) {
    t.same(await call(issuer.mint({ tenantId: BANK_TENANT, audience: MGMT_CLIENT, key })), { status: 401, code: 'TOKEN_SIGNATURE_INVALID' }, name)
    t.same(await call(issuer.mint({ version: 1, tenantId: BANK_TENANT, audience: `api://${MGMT_CLIENT}`, key })), { status: 401, code: 'TOKEN_SIGNATURE_INVALID' }, `${name} (v1 token)`)
  }
  t.same(await call(issuer.mint({ tenantId: BANK_TENANT, audience: MGMT_CLIENT, key: unscopedKey })), { status: 200, code: undefined }, 'a key without issuer metadata (v1 style) is accepted')
})

// ENTRA.md "Groups overage claim": the token names a `_claim_sources` endpoint (an Azure AD Graph
// URL in real tokens). Following it would let a token's author choose what the gateway calls
// (SSRF) and what it believes; groups added to such a token break its signature.
t.test('groups-overage shapes: v2 _claim_names and v1 hasgroups are refused under groups rules; the claim source is never called; added groups break the signature', async (t) => {
  const issuer = await startIssuer(t)
  const upstream = await startUpstream(t)
  let sourceHits = 0
  const { createServer } = await import('node:http')
  const source = createServer((_req, res) => { sourceHits++; res.end('{"value":["5f1c0000-0000-4000-8000-000000000001"]}') })
  await new Promise<void>((resolve) => source.listen(0, '127.0.0.1', resolve))
  t.teardown(() => new Promise<void>((resolve) => { source.closeAllConnections(); source.close(() => resolve()) }))
  const sourceUrl = `http://127.0.0.1:${(source.address() as import('node:net').AddressInfo).port}/getMemberObjects`
  const gw = await startTestGateway(t, {
    ...authConfig(issuer, upstream.url),
    roles: { mappings: [{ attribute: 'roles', value: '*' }, { attribute: 'groups', value: '5f1c0000-0000-4000-8000-000000000001', role: 'Admin' }] }
  }, { mappings: DEFAULT_MAPPINGS })
  const v2 = issuer.mint({ tenantId: BANK_TENANT, audience: MGMT_CLIENT, claims: { _claim_names: { groups: 'src1' }, _claim_sources: { src1: { endpoint: sourceUrl } } } })
  const v1 = issuer.mint({ version: 1, tenantId: BANK_TENANT, audience: `api://${MGMT_CLIENT}`, claims: { hasgroups: true } })
  const [h, p, s] = v2.split('.') as [string, string, string]
  const withGroups = `${h}.${Buffer.from(JSON.stringify({ ...JSON.parse(Buffer.from(p, 'base64url').toString()) as object, groups: ['5f1c0000-0000-4000-8000-000000000001'] })).toString('base64url')}.${s}`
  for (const [name, token, status, code] of [['v2 _claim_names', v2, 403, 'GROUPS_OVERAGE'], ['v1 hasgroups', v1, 403, 'GROUPS_OVERAGE'], ['overage token with groups added', withGroups, 401, 'TOKEN_SIGNATURE_INVALID']] as const) {
    const res = await fetch(`${gw.proxyUrl}/api/meetings`, { headers: { authorization: `Bearer ${token}` } })
    t.same([res.status, (await res.json() as { code: string }).code], [status, code], name)
  }
  t.equal(sourceHits, 0, 'the token\'s claim source is never called')
  t.equal(upstream.requests.length, 0)
})
