import t, { type Test } from 'tap'
import { generateKeyPairSync } from 'node:crypto'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import type { AddressInfo } from 'node:net'
import { request as httpRequest, createServer as createHttpServer } from 'node:http'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { decodeJwt, decodeProtectedHeader } from 'jose'
import { createAssertionVerifier } from '../../docs/examples/verify-assertion.js'
import { startUpstream, type TestUpstream } from '../helpers/upstream.js'
import { startTestGateway, type TestGateway } from '../helpers/gateway.js'
import { authConfig, BANK_TENANT, HOME_TENANT, MGMT_CLIENT, MULTI_BANK_TENANT, startIssuer, SYSTEM_APP, SYSTEM_CLIENT, DEFAULT_MAPPINGS } from '../helpers/issuer.js'
import type { LocalIssuer } from '../../src/demo/local-issuer.js'
import { runCli } from '../helpers/cli.js'
import { stringify } from 'yaml'

// CONTRACT.md §11, judged the way a backend judges it: every assertion verified with `jose`
// (the README's example, docs/examples/verify-assertion.ts) against the gateway's live JWKS.

function keyFiles (t: Test): { dir: string, write: (name: string, key?: 'P-256' | 'P-384' | 'rsa') => string } {
  const dir = mkdtempSync(join(tmpdir(), 'bookme-assertion-keys-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  return {
    dir,
    write (name, key = 'P-256') {
      const pair = key === 'rsa' ? generateKeyPairSync('rsa', { modulusLength: 2048 }) : generateKeyPairSync('ec', { namedCurve: key })
      const file = join(dir, `${name}.pem`)
      writeFileSync(file, pair.privateKey.export({ format: 'pem', type: 'pkcs8' }))
      return file
    }
  }
}

async function setup (t: Test, keys: Array<{ kid: string, privateKeyFile: string }>, extra: Record<string, unknown> = {}) {
  const issuer = await startIssuer(t)
  const upstream = await startUpstream(t)
  const gw = await gatewayWith(t, issuer, upstream, keys, extra)
  return { issuer, upstream, gw }
}

async function gatewayWith (t: Test, issuer: LocalIssuer, upstream: TestUpstream, keys: Array<{ kid: string, privateKeyFile: string }>, extra: Record<string, unknown> = {}): Promise<TestGateway> {
  const base = authConfig(issuer, upstream.url, {
    routes: [
      { name: 'meetings', prefix: '/api/meetings', upstream: upstream.url, api: 'management', roles: ['Employee'] },
      { name: 'admin', prefix: '/api/admin', upstream: upstream.url, api: 'management', assertion: { audience: 'bookme-admin' } },
      { name: 'plain', prefix: '/api/plain', upstream: upstream.url, api: 'management', assertion: false },
      { name: 'system', prefix: '/system', upstream: upstream.url, api: 'system' }
    ]
  })
  return await startTestGateway(t, { ...base, assertion: { keys }, teams: [{ attribute: 'groups', value: '*' }], ...extra }, { mappings: DEFAULT_MAPPINGS })
}

/** What the x-bookme-* headers say, in the assertion's claim names and shapes (lists as arrays, values decoded). */
function headersAsClaims (h: Record<string, string | string[] | undefined>): Record<string, unknown> {
  const one = (name: string): string | undefined => typeof h[`x-bookme-${name}`] === 'string' ? decodeURIComponent(h[`x-bookme-${name}`] as string) : undefined
  const list = (name: string): string[] => typeof h[`x-bookme-${name}`] === 'string' ? (h[`x-bookme-${name}`] as string).split(',').filter(Boolean).map(decodeURIComponent) : []
  const claims: Record<string, unknown> = {
    tid: one('tenant-id'),
    bank_id: one('bank-id') ?? null,
    bank_ids: list('bank-ids'),
    principal_type: one('principal-type'),
    oid: one('principal-id'),
    client_id: one('client-id'),
    roles: list('roles'),
    scopes: (one('scopes') ?? '').split(' ').filter(Boolean),
    teams: list('teams'),
    business_units: list('business-units'),
    api: one('api'),
    name: one('user-name')
  }
  for (const key of Object.keys(claims)) if (claims[key] === undefined) delete claims[key]
  return claims
}

function pickClaims (payload: Record<string, unknown>): Record<string, unknown> {
  const { iss, aud, sub, iat, exp, ...rest } = payload
  void iss; void aud; void sub; void iat; void exp
  return rest
}

t.test('every principal: the assertion verifies with jose and carries exactly what the headers say', async (t) => {
  const files = keyFiles(t)
  const { issuer, upstream, gw } = await setup(t, [{ kid: 'k1', privateKeyFile: files.write('k1') }])
  const verifier = createAssertionVerifier({ jwksUrl: `${gw.proxyUrl}/_gateway/jwks.json`, audience: 'meetings' })
  const call = async (path: string, token: string, headers: Record<string, string> = {}) => {
    const res = await fetch(gw.proxyUrl + path, { headers: { authorization: `Bearer ${token}`, ...headers } })
    t.equal(res.status, 200, path)
    return upstream.last().headers
  }
  const cases: Array<[string, string, string, Record<string, string>?]> = [
    ['single-bank user', '/api/meetings/x', issuer.mint({ tenantId: BANK_TENANT, audience: MGMT_CLIENT, claims: { groups: ['Team Ä', 'b,c'], name: 'Zoë', preferred_username: 'zoë@bank.example', scp: 'Bookings.Read Bookings.Write' } })],
    ['multi-bank user with a selection', '/api/meetings/x', issuer.mint({ tenantId: MULTI_BANK_TENANT, audience: MGMT_CLIENT }), { 'x-bank-context': '2002' }]
  ]
  for (const [label, path, token, headers] of cases) {
    const seen = await call(path, token, headers)
    const payload = await verifier(seen)
    t.same(pickClaims(payload), headersAsClaims(seen), `${label}: the claims are the headers' facts`)
    t.equal(payload.sub, payload.oid, `${label}: sub is the user's oid`)
    t.same(decodeProtectedHeader(seen['x-bookme-assertion'] as string), { alg: 'ES256', typ: 'JWT', kid: 'k1' })
  }
  const app = issuer.mint({ tenantId: HOME_TENANT, audience: SYSTEM_CLIENT, type: 'app', claims: { azp: SYSTEM_APP } })
  const appSeen = await call('/system/x', app)
  const appPayload = await createAssertionVerifier({ jwksUrl: `${gw.proxyUrl}/_gateway/jwks.json`, audience: 'system' })(appSeen)
  t.same(pickClaims(appPayload), headersAsClaims(appSeen), 'an app: the claims are the headers\' facts')
  t.equal(appPayload.sub, SYSTEM_APP, 'sub is the client id for apps')
  t.equal(appPayload.name, undefined, 'no name for an app')

  const admin = await call('/api/admin/x', issuer.mint({ tenantId: BANK_TENANT, audience: MGMT_CLIENT, claims: { roles: ['Admin'] } }))
  t.equal(decodeJwt(admin['x-bookme-assertion'] as string).aud, 'bookme-admin', 'a route\'s own audience')
  const plain = await call('/api/plain/x', issuer.mint({ tenantId: BANK_TENANT, audience: MGMT_CLIENT }))
  t.equal(plain['x-bookme-assertion'], undefined, 'assertion: false omits it')
  t.equal(plain['x-bookme-bank-id'], '1001', 'the headers are still there')
})

t.test('the assertion is only trusted for what it says: forged headers, another audience, expiry', async (t) => {
  const files = keyFiles(t)
  const { issuer, upstream, gw } = await setup(t, [{ kid: 'k1', privateKeyFile: files.write('k1') }])
  const jwksUrl = `${gw.proxyUrl}/_gateway/jwks.json`
  const meetings = createAssertionVerifier({ jwksUrl, audience: 'meetings' })
  const token = issuer.mint({ tenantId: BANK_TENANT, audience: MGMT_CLIENT, lifetimeSec: 30 })
  await fetch(`${gw.proxyUrl}/api/meetings/x`, { headers: { authorization: `Bearer ${token}`, 'x-bookme-assertion': 'forged.by.client', 'X-BookMe-Bank-Id': '9999' } })
  const seen = upstream.last().headers
  t.not(seen['x-bookme-assertion'], 'forged.by.client', 'an inbound assertion is stripped like every identity header')
  const genuine = seen['x-bookme-assertion'] as string

  // A caller that reaches the backend directly, with a real assertion and headers of its own choosing.
  const forged = { ...seen, 'x-bookme-bank-id': '2002', 'x-bookme-roles': 'Admin' }
  const identity = await meetings(forged)
  t.equal(identity.bank_id, '1001', 'the assertion says the real bank')
  t.notSame(headersAsClaims(forged), pickClaims(identity), 'and the forged headers do not match it: caught')

  const system = createAssertionVerifier({ jwksUrl, audience: 'system' })
  t.rejects(system({ 'x-bookme-assertion': genuine }), { code: 'ERR_JWT_CLAIM_VALIDATION_FAILED', claim: 'aud' }, 'replayed to another route\'s audience: refused')
  const { exp, iat } = decodeJwt(genuine) as { exp: number, iat: number }
  t.ok(exp - iat <= 60, 'exp at most ttlSec after iat')
  t.ok(exp <= Math.floor(Date.now() / 1000) + 30 + 60, 'and never past the instant the gateway stops admitting the access token (its exp, 30 s here, plus the 60 s clock tolerance)')
  t.rejects(meetings({ 'x-bookme-assertion': genuine }, { currentDate: new Date((exp + 1) * 1000) }), { code: 'ERR_JWT_EXPIRED' }, 'expired: refused')
  t.rejects(meetings({ 'x-bookme-assertion': `${genuine.slice(0, -4)}AAAA` }), { code: 'ERR_JWS_SIGNATURE_VERIFICATION_FAILED' }, 'altered: refused')

  // Reused while fresh: the same token and context get the same assertion; another bank context its own.
  await fetch(`${gw.proxyUrl}/api/meetings/x`, { headers: { authorization: `Bearer ${token}` } })
  t.equal(upstream.last().headers['x-bookme-assertion'], genuine, 'a warm request signs nothing')
  const multi = issuer.mint({ tenantId: MULTI_BANK_TENANT, audience: MGMT_CLIENT })
  await fetch(`${gw.proxyUrl}/api/meetings/x`, { headers: { authorization: `Bearer ${multi}`, 'x-bank-context': '2001' } })
  const first = upstream.last().headers['x-bookme-assertion']
  await fetch(`${gw.proxyUrl}/api/meetings/x`, { headers: { authorization: `Bearer ${multi}`, 'x-bank-context': '2002' } })
  t.not(upstream.last().headers['x-bookme-assertion'], first, 'a bank switch gets its own assertion')
  t.equal((await meetings(upstream.last().headers)).bank_id, '2002')
})

t.test('JWKS on both ports: public keys only, every configured key, cacheable', async (t) => {
  const files = keyFiles(t)
  const { gw } = await setup(t, [{ kid: 'new', privateKeyFile: files.write('new') }, { kid: 'old', privateKeyFile: files.write('old') }])
  for (const url of [`${gw.proxyUrl}/_gateway/jwks.json`, `${gw.adminUrl}/jwks.json`]) {
    const res = await fetch(url)
    t.equal(res.status, 200, url)
    t.equal(res.headers.get('cache-control'), 'public, max-age=300')
    const body = await res.json() as { keys: Array<Record<string, unknown>> }
    t.same(body.keys.map((k) => [k.kid, k.kty, k.crv, k.use, k.alg]), [['new', 'EC', 'P-256', 'sig', 'ES256'], ['old', 'EC', 'P-256', 'sig', 'ES256']])
    t.ok(body.keys.every((k) => !('d' in k)), 'no private part')
  }
  t.notMatch(gw.rawLog(), /PRIVATE KEY|"d":/, 'no key material in the log')
})

t.test('100 roles and 100 teams: the assertion stays under 4 KB', async (t) => {
  const files = keyFiles(t)
  const { issuer, upstream, gw } = await setup(t, [{ kid: 'k1', privateKeyFile: files.write('k1') }], {
    roles: { mappings: [{ attribute: 'roles', value: '*' }, ...Array.from({ length: 100 }, (_, i) => ({ attribute: 'wids', value: `w${i}`, role: 'Manager' }))] }
  })
  const groups = Array.from({ length: 100 }, (_, i) => `Team-${String(i).padStart(3, '0')}`)
  const token = issuer.mint({ tenantId: BANK_TENANT, audience: MGMT_CLIENT, claims: { groups, roles: ['Employee', 'Manager', 'Configurator', 'Customer', 'CreditEvaluator'], wids: groups.map((_, i) => `w${i}`) } })
  t.equal((await fetch(`${gw.proxyUrl}/api/meetings/x`, { headers: { authorization: `Bearer ${token}` } })).status, 200)
  const assertion = upstream.last().headers['x-bookme-assertion'] as string
  t.equal((decodeJwt(assertion).teams as string[]).length, 100)
  t.ok(assertion.length < 4096, `${assertion.length} bytes`)
})

t.test('keys are checked at start: not P-256, not a private key, duplicate kid → exit 78', async (t) => {
  const files = keyFiles(t)
  const publicOnly = join(files.dir, 'public.pem')
  writeFileSync(publicOnly, generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey.export({ format: 'pem', type: 'spki' }))
  const cases: Array<[Array<{ kid: string, privateKeyFile: string }>, RegExp]> = [
    [[{ kid: 'a', privateKeyFile: files.write('p384', 'P-384') }], /assertion\.keys\[0\]\.privateKeyFile: .*p384\.pem is an EC secp384r1 key; ES256 needs EC P-256/],
    [[{ kid: 'a', privateKeyFile: files.write('rsa', 'rsa') }], /assertion\.keys\[0\]\.privateKeyFile: .*rsa\.pem is a rsa key; ES256 needs EC P-256/],
    [[{ kid: 'a', privateKeyFile: publicOnly }], /assertion\.keys\[0\]\.privateKeyFile: .*public\.pem holds no unencrypted PEM private key/],
    [[{ kid: 'a', privateKeyFile: files.write('a') }, { kid: 'a', privateKeyFile: files.write('b') }], /assertion\.keys\[1\]\.kid: duplicates assertion\.keys\[0\]\.kid "a"/],
    [[{ kid: 'a', privateKeyFile: join(files.dir, 'missing.pem') }], /assertion\.keys\[0\]\.privateKeyFile: cannot read .*missing\.pem \(ENOENT\)/]
  ]
  for (const [keys, problem] of cases) {
    const file = join(files.dir, 'gateway.yaml')
    writeFileSync(file, stringify({ assertion: { keys }, routes: [{ name: 'o', prefix: '/o', upstream: 'http://127.0.0.1:1', auth: 'none' }] }))
    const res = await runCli(['start', '--config', file])
    t.equal(res.code, 78, String(problem))
    t.match(res.stderr, problem)
    t.notMatch(res.stdout + res.stderr, /BEGIN|PRIVATE KEY/, 'never the key itself')
  }
})

t.test('check names the signing key and the published ones', async (t) => {
  const files = keyFiles(t)
  const file = join(files.dir, 'gateway.yaml')
  writeFileSync(file, stringify({ assertion: { keys: [{ kid: 'new', privateKeyFile: files.write('new') }, { kid: 'old', privateKeyFile: files.write('old') }] }, routes: [{ name: 'o', prefix: '/o', upstream: 'http://127.0.0.1:1', auth: 'none' }] }))
  const res = await runCli(['check', '--config', file])
  t.equal(res.code, 0, res.stdout)
  t.match(res.stdout, /^ok assertion: ES256, kid new signs, old published too$/m)
})

t.test('explain shows what the route\'s assertion would say, and signs nothing', async (t) => {
  const files = keyFiles(t)
  const issuer = await startIssuer(t)
  const file = join(files.dir, 'gateway.yaml')
  const mappingsFile = join(files.dir, 'mappings.yaml')
  writeFileSync(mappingsFile, stringify(DEFAULT_MAPPINGS))
  writeFileSync(file, stringify({
    ...authConfig(issuer, 'http://127.0.0.1:1'),
    mappings: { source: 'file', file: mappingsFile },
    assertion: { keys: [{ kid: 'k1', privateKeyFile: files.write('k1') }] }
  }))
  const token = issuer.mint({ tenantId: BANK_TENANT, audience: MGMT_CLIENT })
  const res = await runCli(['explain', '--token', token, '--path', '/api/meetings/x', '--config', file])
  t.equal(res.code, 0, res.stderr)
  const out = JSON.parse(res.stdout) as { headers: Record<string, string>, assertion: { header: string, claims: Record<string, unknown> } }
  t.equal(out.assertion.header, 'x-bookme-assertion')
  t.match(out.assertion.claims, { iss: 'https://bookme-gateway', aud: 'meetings', bank_id: '1001', bank_ids: ['1001'], api: 'management' })
  t.same(pickClaims(out.assertion.claims), headersAsClaims(out.headers), 'the same facts as the headers it prints')
  t.notMatch(res.stdout, /eyJhbGciOiJFUzI1Ni/, 'no signed assertion is printed')
})

t.test('rotation (add B → B first → remove A) under 2,000 requests: no failed verification', async (t) => {
  const files = keyFiles(t)
  const a = { kid: 'A', privateKeyFile: files.write('A') }
  const b = { kid: 'B', privateKeyFile: files.write('B') }
  const issuer = await startIssuer(t)
  const upstream = await startUpstream(t)
  // The backend fetches the JWKS through one Service address, whichever gateway pod answers.
  let current: TestGateway | undefined
  const service = createHttpServer((req, res) => {
    const forward = httpRequest(`${current!.proxyUrl}${req.url ?? '/'}`, (answer) => { res.writeHead(answer.statusCode ?? 502, answer.headers); answer.pipe(res) })
    forward.on('error', () => { res.writeHead(502).end() })
    forward.end()
  })
  await new Promise<void>((resolve) => service.listen(0, '127.0.0.1', resolve))
  t.teardown(() => new Promise((resolve) => service.close(resolve)))
  const verifier = createAssertionVerifier({ jwksUrl: `http://127.0.0.1:${(service.address() as AddressInfo).port}/_gateway/jwks.json`, audience: 'meetings' })
  const tokens = Array.from({ length: 20 }, () => issuer.mint({ tenantId: BANK_TENANT, audience: MGMT_CLIENT }))
  let verified = 0
  const failures: string[] = []
  for (const keys of [[a], [a, b], [b, a], [b]]) {
    const previous = current
    current = await gatewayWith(t, issuer, upstream, keys)
    await previous?.shutdown()
    for (let i = 0; i < 500; i++) {
      const res = await fetch(`${current.proxyUrl}/api/meetings/x`, { headers: { authorization: `Bearer ${tokens[i % tokens.length]}` } })
      if (res.status !== 200) { failures.push(`status ${res.status}`); continue }
      await res.arrayBuffer()
      await verifier(upstream.last().headers).then(() => { verified++ }, (err: Error) => failures.push(`${keys.map((k) => k.kid).join(',')}: ${err.message}`))
    }
    // The wait of CONTRACT §11 (at least the JWKS max-age, 300 s): by then every backend's cache holds the new set.
    await verifier.keys.reload()
  }
  t.same(failures.slice(0, 5), [], 'no failed verification')
  t.equal(verified, 2000)
})
