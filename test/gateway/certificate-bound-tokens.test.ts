import t, { type Test } from 'tap'
import { createHash, generateKeyPairSync, randomUUID, X509Certificate } from 'node:crypto'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { stringify } from 'yaml'
import { startUpstream, type TestUpstream } from '../helpers/upstream.js'
import { startTestGateway, type TestGateway } from '../helpers/gateway.js'
import { makeCertificates } from '../helpers/certs.js'
import { runCommand } from '../helpers/command-line.js'
import { authConfig, BANK_TENANT, DEFAULT_MAPPINGS, MGMT_CLIENT, startIssuer } from '../helpers/issuer.js'
import type { LocalIssuer } from '../../src/demo/local-issuer.js'

// Certificate-bound tokens (CONTRACT.md §15, RFC 8705): a token with cnf x5t#S256 is accepted
// only with the client certificate of that thumbprint, as the TLS-terminating ingress passes it
// on (ingress-nginx `ssl-client-cert`, Envoy/Istio `x-forwarded-client-cert`), and only from a
// `trustProxy` peer; the certificate headers never reach an upstream.

const CERTIFICATE_HEADER_NAMES = ['ssl-client-cert', 'x-forwarded-client-cert', 'x-ssl-client-cert', 'x-client-cert', 'ssl-client-verify']

const thumbprintOf = (pem: string): string => createHash('sha256').update(new X509Certificate(pem).raw).digest('base64url')
const hexHashOf = (pem: string): string => createHash('sha256').update(new X509Certificate(pem).raw).digest('hex')

interface Setup { issuer: LocalIssuer, upstream: TestUpstream, certs: ReturnType<typeof makeCertificates> }

async function setup (t: Test): Promise<Setup> {
  const [issuer, upstream] = await Promise.all([startIssuer(t), startUpstream(t)])
  return { issuer, upstream, certs: makeCertificates(t) }
}

async function gateway (t: Test, { issuer, upstream }: Setup, server: Record<string, unknown>, extra: Record<string, unknown> = {}): Promise<TestGateway> {
  return await startTestGateway(t, { ...authConfig(issuer, upstream.url, extra), server }, { mappings: DEFAULT_MAPPINGS })
}

function minter (issuer: LocalIssuer) {
  const oid = randomUUID()
  const azp = randomUUID()
  return (thumbprint?: string): string => issuer.mint({
    tenantId: BANK_TENANT,
    audience: MGMT_CLIENT,
    claims: { oid, azp, roles: ['Employee'], preferred_username: 'max@bank.example', ...(thumbprint === undefined ? {} : { cnf: { 'x5t#S256': thumbprint } }) }
  })
}

async function call (gw: TestGateway, token: string, headers: Record<string, string> = {}) {
  const res = await fetch(`${gw.proxyUrl}/api/meetings/1`, { headers: { authorization: `Bearer ${token}`, ...headers } })
  const body = await res.json() as { code?: string, detail?: string }
  return { status: res.status, code: body.code, detail: body.detail, challenge: res.headers.get('www-authenticate') }
}

/** The thumbprint with its last character changed (a SHA-256's last base64url character is one of 16, 'A' among them). */
function oneCharacterOff (thumbprint: string): string {
  return thumbprint.slice(0, -1) + (thumbprint.endsWith('A') ? 'E' : 'A')
}

function refusedForBinding (t: Test, res: Awaited<ReturnType<typeof call>>, what: string): void {
  t.match(res, { status: 401, code: 'TOKEN_BINDING_INVALID' }, what)
  t.match(res.challenge, /^Bearer .*error="invalid_token"/, `${what}: the invalid_token challenge`)
}

/** The header names the upstream received that a backend would fold into a certificate header. */
function certificateHeadersSeen (upstream: TestUpstream): string[] {
  const names = upstream.last().rawHeaders.filter((_, i) => i % 2 === 0)
  return names.filter((name) => CERTIFICATE_HEADER_NAMES.includes(name.toLowerCase().replace(/[_.]/g, '-')))
}

t.test('pem-urlencoded (ingress-nginx): the right certificate → 200 with the same identity as an unbound token; another, none or a malformed one → 401', async (t) => {
  const s = await setup(t)
  const dir = mkdtempSync(join(tmpdir(), 'bookme-binding-keys-'))
  t.teardown(() => { rmSync(dir, { recursive: true, force: true }) })
  writeFileSync(join(dir, 'k1.pem'), generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey.export({ type: 'pkcs8', format: 'pem' }))
  const gw = await gateway(t, s, { trustProxy: true, clientCertificate: { format: 'pem-urlencoded' } }, {})
  const gwAsserting = await startTestGateway(t, { ...gw.config, server: { ...gw.config.server, port: 0, adminPort: 0 }, assertion: { keys: [{ kid: 'k1', privateKeyFile: join(dir, 'k1.pem') }] } })
  const mint = minter(s.issuer)
  const right = { 'ssl-client-cert': encodeURIComponent(s.certs.client.cert) }
  const bound = mint(thumbprintOf(s.certs.client.cert))
  const unbound = mint()

  for (const target of [gw, gwAsserting]) {
    t.equal((await call(target, unbound)).status, 200, 'an unbound token, no certificate')
    const plain = s.upstream.last().headers
    t.equal((await call(target, bound, right)).status, 200, 'the bound token with its certificate')
    const seen = s.upstream.last().headers
    const identity = (headers: typeof seen) => Object.fromEntries(Object.entries(headers).filter(([name]) => name.startsWith('x-bookme-') && name !== 'x-bookme-assertion'))
    t.same(identity(seen), identity(plain), 'the same identity headers as the unbound token')
    t.same(certificateHeadersSeen(s.upstream), [], 'the certificate header is not forwarded')
    if (target === gwAsserting) {
      const claims = (jws: unknown) => {
        const { iat, exp, ...rest } = JSON.parse(Buffer.from(String(jws).split('.')[1]!, 'base64url').toString()) as Record<string, unknown>
        return rest
      }
      t.same(claims(seen['x-bookme-assertion']), claims(plain['x-bookme-assertion']), 'the same assertion claims as the unbound token')
    }
  }

  refusedForBinding(t, await call(gw, bound, { 'ssl-client-cert': encodeURIComponent(s.certs.server.cert) }), 'another certificate')
  refusedForBinding(t, await call(gw, bound), 'no certificate header')
  refusedForBinding(t, await call(gw, mint(oneCharacterOff(thumbprintOf(s.certs.client.cert))), right), 'a token bound to a thumbprint one character off')
  for (const [what, value] of [['bad URL-encoding', '%E0%A4%A'], ['not PEM', 'hello'], ['PEM of no certificate', encodeURIComponent('-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n')]] as const) {
    const bad = { 'ssl-client-cert': value }
    refusedForBinding(t, await call(gw, bound, bad), `malformed (${what}), bound token`)
    t.equal((await call(gw, unbound, bad)).status, 200, `malformed (${what}), unbound token: no effect`)
  }
  t.ok(gw.logs.every((line) => line.status !== 500), 'never a 500')
})

t.test('the token cache never skips the binding: the right certificate first, then none or another → 401', async (t) => {
  const s = await setup(t)
  const gw = await gateway(t, s, { trustProxy: true, clientCertificate: { format: 'pem-urlencoded' } })
  const bound = minter(s.issuer)(thumbprintOf(s.certs.client.cert))
  t.equal((await call(gw, bound, { 'ssl-client-cert': encodeURIComponent(s.certs.client.cert) })).status, 200, 'first use, with its certificate')
  refusedForBinding(t, await call(gw, bound), 'the cached token without a certificate')
  refusedForBinding(t, await call(gw, bound, { 'ssl-client-cert': encodeURIComponent(s.certs.server.cert) }), 'the cached token with another certificate')
  t.equal((await call(gw, bound, { 'ssl-client-cert': encodeURIComponent(s.certs.client.cert) })).status, 200, 'with its certificate again')
  const lines = gw.logs.filter((line) => line.code === 'TOKEN_BINDING_INVALID')
  t.equal(lines.length, 2)
  t.ok(lines.every((line) => line.tokenCache === 'hit'), 'refused on cache hits')
})

t.test('xfcc (Envoy/Istio): Hash= and Cert= of the last hop; quoted values with , and ;', async (t) => {
  const s = await setup(t)
  const gw = await gateway(t, s, { trustProxy: ['127.0.0.1/32'], clientCertificate: { header: 'x-forwarded-client-cert', format: 'xfcc' } })
  const mint = minter(s.issuer)
  const client = s.certs.client.cert
  const bound = mint(thumbprintOf(client))
  const xfcc = (value: string) => ({ 'x-forwarded-client-cert': value })
  const by = 'By=spiffe://cluster.local/ns/bookme/sa/gateway'
  const hash = `Hash=${hexHashOf(client)}`
  const cert = `Cert="${encodeURIComponent(client)}"`
  const subject = 'Subject="CN=bookme-gateway,O=Bank; Retail"'

  t.equal((await call(gw, bound, xfcc(`${by};${hash};${subject};URI=spiffe://cluster.local/ns/app/sa/client`))).status, 200, 'Hash= alone')
  t.same(certificateHeadersSeen(s.upstream), [], 'x-forwarded-client-cert is not forwarded')
  t.equal((await call(gw, bound, xfcc(`${by};${cert};${subject}`))).status, 200, 'Cert= alone')
  t.equal((await call(gw, bound, xfcc(`${by};${hash.toUpperCase().replace('HASH', 'Hash')};${cert};${subject}`))).status, 200, 'Hash= (upper-case hex) and Cert= that agree')
  t.equal((await call(gw, bound, xfcc(`${by};Hash=${hexHashOf(s.certs.server.cert)};Subject="a,b;c",${by};${hash}`))).status, 200, 'two hops: the last one counts')
  refusedForBinding(t, await call(gw, bound, xfcc(`${by};${hash},${by};Hash=${hexHashOf(s.certs.server.cert)}`)), 'two hops, the last one names another certificate')
  refusedForBinding(t, await call(gw, bound, xfcc(`${by};Hash=${hexHashOf(s.certs.server.cert)}`)), 'another certificate')
  refusedForBinding(t, await call(gw, bound, xfcc(`${by};Hash=${hexHashOf(s.certs.server.cert)};${cert}`)), 'Hash= and Cert= that disagree')
  for (const [what, value] of [['unterminated quote', `${by};${hash};Subject="CN=x`], ['no Hash or Cert', by], ['Hash not hex', 'Hash=zz'], ['element without =', `${hash};junk`], ['Cert not PEM', 'Cert="hello"']] as const) {
    refusedForBinding(t, await call(gw, bound, xfcc(value)), `malformed (${what}), bound token`)
    t.equal((await call(gw, mint(), xfcc(value))).status, 200, `malformed (${what}), unbound token: no effect`)
  }
})

t.test('from a peer trustProxy does not trust, every certificate header is ignored and stripped', async (t) => {
  const s = await setup(t)
  const mint = minter(s.issuer)
  const bound = mint(thumbprintOf(s.certs.client.cert))
  const pem = encodeURIComponent(s.certs.client.cert)
  const spoofed = {
    SSL_Client_Cert: pem,
    'x-forwarded-client-cert': `Hash=${hexHashOf(s.certs.client.cert)}`,
    'X-SSL-Client-Cert': pem,
    'x.client.cert': pem,
    ssl_client_verify: 'SUCCESS',
    'x-custom-cert': pem
  }
  const gateways = await Promise.all([
    gateway(t, s, { trustProxy: false, clientCertificate: { format: 'pem-urlencoded' } }),
    gateway(t, s, { trustProxy: ['10.0.0.0/8'], clientCertificate: { format: 'pem-urlencoded' } }),
    gateway(t, s, { trustProxy: false, clientCertificate: { header: 'x-custom-cert', format: 'pem-urlencoded' } }),
    gateway(t, s, { trustProxy: ['10.0.0.0/8'], clientCertificate: { header: 'x-forwarded-client-cert', format: 'xfcc' } })
  ])
  for (const [i, gw] of gateways.entries()) {
    refusedForBinding(t, await call(gw, bound, { 'ssl-client-cert': pem }), `gateway ${i}: the bound token with its certificate in ssl-client-cert`)
    refusedForBinding(t, await call(gw, bound, spoofed), `gateway ${i}: the bound token with its certificate in every spelling`)
    t.equal((await call(gw, mint(), spoofed)).status, 200, `gateway ${i}: an unbound token passes`)
    t.same(certificateHeadersSeen(s.upstream), [], `gateway ${i}: no certificate header reaches the upstream`)
    if (i === 2) t.notOk('x-custom-cert' in s.upstream.last().headers, 'nor the configured header')
  }
})

t.test('requireBoundTokens refuses an unbound token; without server.clientCertificate every bound token is refused', async (t) => {
  const s = await setup(t)
  const mint = minter(s.issuer)
  const right = { 'ssl-client-cert': encodeURIComponent(s.certs.client.cert) }
  const bound = mint(thumbprintOf(s.certs.client.cert))
  const [strict, unconfigured] = await Promise.all([
    gateway(t, s, { trustProxy: true, clientCertificate: { format: 'pem-urlencoded' } }, { apis: { management: { clientId: MGMT_CLIENT, requireBoundTokens: true } } }),
    gateway(t, s, { trustProxy: true })
  ])
  refusedForBinding(t, await call(strict, mint(), right), 'requireBoundTokens: an unbound token, even with a certificate')
  t.equal((await call(strict, bound, right)).status, 200, 'requireBoundTokens: a bound token with its certificate')
  refusedForBinding(t, await call(unconfigured, bound, right), 'no server.clientCertificate: a bound token cannot be checked')
  t.equal((await call(unconfigured, mint(), right)).status, 200, 'no server.clientCertificate: an unbound token passes')
  t.same(certificateHeadersSeen(s.upstream), [], 'and its certificate header is stripped')
})

t.test('explain --client-cert FILE: the decision for a bound token with and without its certificate', async (t) => {
  const s = await setup(t)
  const mint = minter(s.issuer)
  const bound = mint(thumbprintOf(s.certs.client.cert))
  const dir = mkdtempSync(join(tmpdir(), 'bookme-binding-explain-'))
  t.teardown(() => { rmSync(dir, { recursive: true, force: true }) })
  writeFileSync(join(dir, 'mappings.yaml'), stringify(DEFAULT_MAPPINGS))
  const write = (name: string, server: Record<string, unknown>): string => {
    writeFileSync(join(dir, name), stringify({ ...authConfig(s.issuer, s.upstream.url), server, mappings: { source: 'file', file: 'mappings.yaml' } }))
    return join(dir, name)
  }
  const configured = write('configured.yaml', { trustProxy: true, clientCertificate: { format: 'pem-urlencoded' } })
  const unconfigured = write('unconfigured.yaml', { trustProxy: true })
  const explain = async (config: string, ...extra: string[]) => await runCommand(['explain', '--token', bound, '--path', '/api/meetings/1', ...extra, '--config', config])

  const allowed = await explain(configured, '--client-cert', s.certs.client.certFile)
  t.equal(allowed.code, 0, allowed.stdout + allowed.stderr)
  t.match(JSON.parse(allowed.stdout), { decision: 'allow' }, 'with its certificate')
  const other = await explain(configured, '--client-cert', s.certs.server.certFile)
  t.match(JSON.parse(other.stdout), { decision: 'deny', status: 401, code: 'TOKEN_BINDING_INVALID' }, 'with another certificate')
  t.match(JSON.parse((await explain(configured)).stdout), { decision: 'deny', code: 'TOKEN_BINDING_INVALID' }, 'with none')
  t.match(JSON.parse((await explain(unconfigured, '--client-cert', s.certs.client.certFile)).stdout), { decision: 'deny', code: 'TOKEN_BINDING_INVALID' }, 'without server.clientCertificate, as the proxy would')
  const notPem = join(dir, 'not.pem')
  writeFileSync(notPem, 'hello')
  for (const [file, message] of [[join(dir, 'missing.pem'), /--client-cert: cannot read .*missing\.pem: ENOENT/], [notPem, /--client-cert: .*not\.pem is not a PEM certificate/]] as const) {
    const res = await explain(configured, '--client-cert', file)
    t.equal(res.code, 2, 'a usage error')
    t.match(res.stderr, message, 'names the flag')
  }
})
