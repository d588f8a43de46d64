import t, { type Test } from 'tap'
import { execFileSync } from 'node:child_process'
import { createPrivateKey, generateKeyPairSync, randomUUID, type KeyObject } from 'node:crypto'
import { mkdtempSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { SignJWT } from 'jose'
import { stringify } from 'yaml'
import { parseConfig } from '../../src/config/load.js'
import { ConfigError } from '../../src/config/validation.js'
import { startUpstream } from '../helpers/upstream.js'
import { startTestGateway, type TestGateway } from '../helpers/gateway.js'
import { runCli } from '../helpers/cli.js'
import { GRAPH_APP, groupIds, startFakeGraph, type FakeGraph } from '../helpers/graph.js'
import { JWT_BEARER, TOKEN_EXCHANGE_AUDIENCE, type EntraApp } from '../helpers/entra-token-endpoint.js'
import { authConfig, BANK_TENANT, DEFAULT_MAPPINGS, HOME_TENANT, startIssuer } from '../helpers/issuer.js'
import type { LocalIssuer } from '../../src/demo/local-issuer.js'

// Graph without a secret (CONTRACT.md §15, §14 "Secrets from files"): each credential kind of
// entra.graph against a local token endpoint that authenticates clients as Entra does.

const [GROUP] = groupIds('c7', 1) as [string]
const RULES = { roles: { mappings: [{ attribute: 'roles', value: '*' }, { attribute: 'groups', value: GROUP, role: 'Manager' }] } }

function tempDir (t: Test, prefix: string): string {
  const dir = mkdtempSync(join(tmpdir(), prefix))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  return dir
}

interface AppCertificate { certFile: string, keyFile: string, cert: string, key: KeyObject, keyPem: string, thumbprint: string }

/** A self-signed certificate and its key, made by openssl (rsa, or rsa-pss: a key that can only sign PS256). */
function appCertificate (dir: string, name: string, type: 'rsa' | 'rsa-pss' = 'rsa'): AppCertificate {
  const [certFile, keyFile] = [join(dir, `${name}.pem`), join(dir, `${name}.key`)]
  execFileSync('openssl', ['req', '-x509', '-newkey', type, '-pkeyopt', 'rsa_keygen_bits:2048', '-nodes', '-keyout', keyFile, '-out', certFile, '-days', '2', '-subj', `/CN=${name}`], { stdio: ['ignore', 'ignore', 'pipe'] })
  // openssl's own SHA-256 fingerprint of the DER, as base64url: x5t#S256 worked out apart from the gateway.
  const fingerprint = execFileSync('openssl', ['x509', '-in', certFile, '-noout', '-fingerprint', '-sha256'], { encoding: 'utf8' })
  const thumbprint = Buffer.from(fingerprint.split('=')[1]!.trim().replace(/:/g, ''), 'hex').toString('base64url')
  const keyPem = readFileSync(keyFile, 'utf8')
  return { certFile, keyFile, cert: readFileSync(certFile, 'utf8'), key: createPrivateKey(keyPem), keyPem, thumbprint }
}

/** Replaces a file the way the kubelet updates a Secret or projected volume: written beside it, then renamed over it. */
function rotate (path: string, content: string): void {
  writeFileSync(`${path}.new`, content)
  renameSync(`${path}.new`, path)
}

const FEDERATION = { issuer: 'https://oidc.cluster.test/6c2d', subject: 'system:serviceaccount:bookme:bookme-gateway' }
/** The cluster's service-account issuer: it signs the projected tokens the kubelet writes. */
const clusterKeys = generateKeyPairSync('rsa', { modulusLength: 2048 })

async function serviceAccountToken (): Promise<string> {
  return await new SignJWT({ jti: randomUUID() }).setProtectedHeader({ alg: 'RS256', typ: 'JWT' }).setIssuer(FEDERATION.issuer).setSubject(FEDERATION.subject)
    .setAudience(TOKEN_EXCHANGE_AUDIENCE).setIssuedAt().setExpirationTime('1h').sign(clusterKeys.privateKey)
}

let users = 0
/** An overage token of a new user of the bank's tenant, a member of GROUP: each one costs a Graph lookup. */
function newOverageUser (issuer: LocalIssuer, graph: FakeGraph): string {
  const oid = `aaaaaaaa-0000-4000-8000-${String(++users).padStart(12, '0')}`
  graph.members.set(oid, [GROUP])
  return issuer.mint({ tenantId: BANK_TENANT, audience: '00000000-0000-0000-0000-000000000001', claims: { oid, roles: ['Employee'], hasgroups: true } })
}

async function call (gw: TestGateway, token: string) {
  const res = await fetch(`${gw.proxyUrl}/api/meetings/1`, { headers: { authorization: `Bearer ${token}` } })
  const text = await res.text()
  return { status: res.status, text, body: (text === '' ? {} : JSON.parse(text)) as Record<string, unknown> }
}

/**
 * A gateway under `groupsOverage: graph` with `credential` in entra.graph; its Graph tokens
 * live 60 s, so the gateway asks the token endpoint again for every lookup.
 */
async function setup (t: Test, credential: Record<string, unknown>, { app = {}, env = {} }: { app?: Partial<EntraApp>, env?: NodeJS.ProcessEnv } = {}) {
  const issuer = await startIssuer(t)
  const upstream = await startUpstream(t)
  const graph = await startFakeGraph(t, issuer, { app, expiresInSec: 60 })
  graph.consented.add(BANK_TENANT)
  const raw = { ...authConfig(issuer, upstream.url, { entra: { groupsOverage: 'graph', graph: { endpoint: graph.url, clientId: GRAPH_APP, ...credential } } }), ...RULES }
  const gw = await startTestGateway(t, raw, { mappings: DEFAULT_MAPPINGS, env })
  return { issuer, upstream, graph, gw }
}

function problemsOf (raw: Record<string, unknown>, env: NodeJS.ProcessEnv = {}): string[] {
  try {
    parseConfig({ routes: [{ name: 'open', prefix: '/open', upstream: 'http://127.0.0.1:1', auth: 'none' }], ...raw }, { env })
    return []
  } catch (err) {
    if (err instanceof ConfigError) return err.problems
    throw err
  }
}

const dir = tempDir(t, 'bookme-graph-credentials-')
const registered = appCertificate(dir, 'bookme-graph')
const stranger = appCertificate(dir, 'stranger')

t.test('the local token endpoint refuses client assertions as Entra does, in Entra\'s error shape', async (t) => {
  const issuer = await startIssuer(t)
  const graph = await startFakeGraph(t, issuer, { app: { certificates: [registered.cert] } })
  graph.consented.add(BANK_TENANT)
  const tokenUrl = `${issuer.url}/${BANK_TENANT}/oauth2/v2.0/token`
  const now = Math.floor(Date.now() / 1000)
  const assertion = async ({ header = {}, claims = {}, key = registered.key }: { header?: Record<string, unknown>, claims?: Record<string, unknown>, key?: KeyObject } = {}) =>
    await new SignJWT({ aud: tokenUrl, iss: GRAPH_APP, sub: GRAPH_APP, jti: randomUUID(), nbf: now, iat: now, exp: now + 300, ...claims })
      .setProtectedHeader({ alg: 'RS256', typ: 'JWT', 'x5t#S256': registered.thumbprint, ...header }).sign(key)
  const send = async (jwt: string) => {
    const res = await fetch(tokenUrl, {
      method: 'POST',
      body: new URLSearchParams({ grant_type: 'client_credentials', client_id: GRAPH_APP, client_assertion_type: JWT_BEARER, client_assertion: jwt, scope: `${graph.url}/.default` })
    })
    return { status: res.status, body: await res.json() as Record<string, unknown> }
  }

  const good = await assertion()
  t.equal((await send(good)).status, 200, 'a well-made assertion by the registered certificate')
  const cases: Array<[string, string, number]> = [
    ['the same assertion again (its jti used)', good, 50013],
    ['signed by another key under the registered certificate\'s x5t#S256', await assertion({ key: stranger.key }), 700027],
    ['by a certificate the app registration does not hold', await assertion({ key: stranger.key, header: { 'x5t#S256': stranger.thumbprint } }), 700027],
    ['for another tenant\'s token endpoint', await assertion({ claims: { aud: `${issuer.url}/${HOME_TENANT}/oauth2/v2.0/token` } }), 700023],
    ['issued by another app', await assertion({ claims: { iss: '66666666-6666-4666-8666-666666666666', sub: '66666666-6666-4666-8666-666666666666' } }), 700021],
    ['whose subject is not its issuer', await assertion({ claims: { sub: '66666666-6666-4666-8666-666666666666' } }), 50048],
    ['expired', await assertion({ claims: { nbf: now - 900, iat: now - 900, exp: now - 600 } }), 700024],
    ['valid for more than 10 minutes', await assertion({ claims: { exp: now + 601 } }), 700024]
  ]
  for (const [what, jwt, code] of cases) {
    const refused = await send(jwt)
    t.equal(refused.status, 401, what)
    t.match(refused.body, { error: 'invalid_client', error_codes: [code], error_description: new RegExp(`^AADSTS${code}: .* Trace ID: [0-9a-f-]{36} Correlation ID: `), trace_id: String, correlation_id: String, timestamp: String }, what)
  }
  t.equal(graph.tokenRequests.filter((r) => r.client !== undefined).length, 1, 'only the first was accepted')
})

t.test('clientCertificate: a fresh PS256 assertion for each token request; the user\'s groups come from Graph; no key or assertion logged', async (t) => {
  const { issuer, upstream, graph, gw } = await setup(t, { clientCertificate: { certFile: registered.certFile, keyFile: registered.keyFile } }, { app: { secrets: [], certificates: [registered.cert] } })
  for (let i = 0; i < 2; i++) {
    const res = await call(gw, newOverageUser(issuer, graph))
    t.equal(res.status, 200, String(res.body.code ?? 'allowed'))
    t.equal(upstream.last().headers['x-bookme-roles'], 'Manager,Employee', 'Manager from the group Graph confirmed')
  }
  const accepted = graph.tokenRequests.map((r) => r.client)
  t.equal(accepted.length, 2, 'a token request per lookup (the Graph tokens live 60 s)')
  const tokenUrl = `${issuer.url}/${BANK_TENANT}/oauth2/v2.0/token`
  for (const client of accepted) {
    t.match(client, { kind: 'certificate', header: { alg: 'PS256', typ: 'JWT', 'x5t#S256': registered.thumbprint }, claims: { aud: tokenUrl, iss: GRAPH_APP, sub: GRAPH_APP } })
    const { nbf, iat, exp } = client!.claims as { nbf: number, iat: number, exp: number }
    t.ok(nbf === iat && exp > Date.now() / 1000 && exp - iat <= 600, `nbf = iat = now, exp at most 10 min later (${exp - iat} s)`)
  }
  t.not(accepted[0]!.claims!.jti, accepted[1]!.claims!.jti, 'a new jti each time: the endpoint refuses a replay')
  t.same(graph.tokenRequests.map((r) => r.form.get('client_assertion_type')), [JWT_BEARER, JWT_BEARER])
  t.notOk(graph.tokenRequests.some((r) => r.form.has('client_secret')), 'no secret sent')
  const log = gw.rawLog()
  const keyBody = registered.keyPem.split('\n')[1]!
  t.notOk(log.includes(keyBody) || graph.tokenRequests.some((r) => log.includes(r.form.get('client_assertion')!.split('.')[2]!)), 'neither the key nor an assertion is logged')

  const pss = appCertificate(dir, 'bookme-graph-pss', 'rsa-pss')
  graph.app.certificates.push(pss.cert)
  const second = await startTestGateway(t, { ...gw.config, server: { host: '127.0.0.1', port: 0, adminPort: 0 }, entra: { ...gw.config.entra, graph: { ...gw.config.entra.graph, clientCertificate: { certFile: pss.certFile, keyFile: pss.keyFile } } } })
  t.equal((await call(second, newOverageUser(issuer, graph))).status, 200, 'an RSA-PSS key')
  t.match(graph.tokenRequests.at(-1)!.client, { kind: 'certificate', header: { alg: 'PS256', 'x5t#S256': pss.thumbprint } }, 'an RSA-PSS key signs PS256 too')
})

t.test('a certificate the app registration does not hold: 503 GROUPS_UNAVAILABLE naming the refused certificate, nothing leaked', async (t) => {
  const { issuer, graph, gw } = await setup(t, { clientCertificate: { certFile: stranger.certFile, keyFile: stranger.keyFile } }, { app: { certificates: [registered.cert] } })
  const res = await call(gw, newOverageUser(issuer, graph))
  t.same([res.status, res.body.code], [503, 'GROUPS_UNAVAILABLE'])
  t.match(res.body.detail, `refused the gateway's Graph credentials (entra.graph.clientId, clientCertificate x5t#S256 ${stranger.thumbprint}) (AADSTS700027): is this certificate uploaded to the app registration`)
  const sent = graph.tokenRequests[0]!.form.get('client_assertion')!
  const keyBody = stranger.keyPem.split('\n')[1]!
  for (const [where, text] of [['the answer', res.text], ['the log', gw.rawLog()]] as const) {
    t.notOk(text.includes(sent.split('.')[2]!) || text.includes(keyBody), `no assertion and no key in ${where}`)
  }
  t.match(gw.logs.find((l) => l.kind === 'credentials'), { tenantId: BANK_TENANT, reason: /AADSTS700027/ }, 'logged for the operator')
})

t.test('clientSecretFile: read again for every token request, so a rotated secret is used at once', async (t) => {
  const secretFile = join(tempDir(t, 'bookme-graph-secret-'), 'graph-secret')
  writeFileSync(secretFile, 'first-secret-Q1~value\n')
  const { issuer, graph, gw } = await setup(t, { clientSecretFile: secretFile }, { app: { secrets: ['first-secret-Q1~value'] } })
  t.equal((await call(gw, newOverageUser(issuer, graph))).status, 200)
  // Entra holds only the new secret now (the old one deleted), and the Secret volume has it.
  graph.app.secrets = ['second-secret-Q2~value']
  rotate(secretFile, 'second-secret-Q2~value\n')
  t.equal((await call(gw, newOverageUser(issuer, graph))).status, 200, 'the endpoint accepts only the current secret')
  t.same(graph.tokenRequests.map((r) => r.form.get('client_secret')), ['first-secret-Q1~value', 'second-secret-Q2~value'], 'each token request sent the file as it was (without its newline)')
  t.notOk(/first-secret|second-secret/.test(gw.rawLog()), 'no secret logged')

  rmSync(secretFile)
  const gone = await call(gw, newOverageUser(issuer, graph))
  t.same([gone.status, gone.body.code], [503, 'GROUPS_UNAVAILABLE'], 'the file gone later: refused, not a guess')
  t.match(gone.body.detail, 'the gateway\'s Graph credentials could not be read: entra.graph.clientSecretFile cannot be read (ENOENT)')
  t.notOk(String(gone.body.detail).includes(secretFile), 'the answer names the key, not the path')
})

t.test('federatedTokenFile from $AZURE_FEDERATED_TOKEN_FILE: the projected token is read afresh for each token request', async (t) => {
  const tokenFile = join(tempDir(t, 'bookme-graph-federated-'), 'azure-identity-token')
  const [first, second] = [await serviceAccountToken(), await serviceAccountToken()]
  writeFileSync(tokenFile, first)
  const { issuer, graph, gw } = await setup(t, {}, { app: { secrets: [], federated: [{ ...FEDERATION, publicKey: clusterKeys.publicKey }] }, env: { AZURE_FEDERATED_TOKEN_FILE: tokenFile } })
  t.equal(gw.config.entra.graph?.federatedTokenFile, tokenFile, 'no credential configured: the variable names the file')
  t.equal((await call(gw, newOverageUser(issuer, graph))).status, 200)
  rotate(tokenFile, second) // the kubelet renews the token before it expires
  t.equal((await call(gw, newOverageUser(issuer, graph))).status, 200)
  t.same(graph.tokenRequests.map((r) => [r.form.get('client_assertion_type'), r.form.get('client_assertion')]), [[JWT_BEARER, first], [JWT_BEARER, second]], 'what the file held at each request')
  t.same(graph.tokenRequests.map((r) => r.client?.kind), ['federated', 'federated'])
  t.notOk(gw.rawLog().includes(first.split('.')[2]!) || gw.rawLog().includes(second.split('.')[2]!), 'no token logged')

  graph.app.federated = []
  const refused = await call(gw, newOverageUser(issuer, graph))
  t.same([refused.status, refused.body.code], [503, 'GROUPS_UNAVAILABLE'])
  t.match(refused.body.detail, '(entra.graph.clientId, federatedTokenFile) (AADSTS70021): no federated credential of the app registration matches the service account token')
})

t.test('exactly one credential; the environment default stands in only for none', async (t) => {
  const graph = (extra: Record<string, unknown>) => ({ entra: { graph: { clientId: GRAPH_APP, ...extra } } })
  const secretFile = join(dir, 'secret')
  writeFileSync(secretFile, 's')
  t.same(problemsOf(graph({ clientSecret: 's', clientCertificate: { certFile: registered.certFile, keyFile: registered.keyFile } })), [
    'entra.graph: takes exactly one credential of clientSecret, clientSecretFile, clientCertificate, federatedTokenFile (has clientSecret, clientCertificate)'
  ])
  t.same(problemsOf(graph({ clientSecretFile: secretFile, federatedTokenFile: secretFile })), [
    'entra.graph: takes exactly one credential of clientSecret, clientSecretFile, clientCertificate, federatedTokenFile (has clientSecretFile, federatedTokenFile)'
  ])
  t.same(problemsOf(graph({})), ['entra.graph: needs one credential: clientSecret, clientSecretFile, clientCertificate, federatedTokenFile (or AZURE_FEDERATED_TOKEN_FILE in the environment, as Azure Workload Identity sets it)'])
  t.same(problemsOf(graph({ clientCertificate: { certFile: registered.certFile } })), ['entra.graph.clientCertificate.keyFile: is required'])

  const env = { AZURE_FEDERATED_TOKEN_FILE: secretFile }
  const parse = (extra: Record<string, unknown>) => parseConfig({ routes: [{ name: 'open', prefix: '/open', upstream: 'http://127.0.0.1:1', auth: 'none' }], ...graph(extra) }, { env, baseDir: dir })
  t.equal(parse({}).entra.graph?.federatedTokenFile, secretFile, 'none configured: the variable')
  const configured = parse({ clientSecretFile: 'secret' }).entra.graph
  t.equal(configured?.clientSecretFile, secretFile, 'one configured: it wins (a relative path is the config file\'s)…')
  t.equal(configured?.federatedTokenFile, undefined, '…and the variable is left alone')
})

t.test('credential files are read at start: a missing or unusable one is a configuration error naming it, exit 78', async (t) => {
  const work = tempDir(t, 'bookme-graph-start-')
  const missing = join(work, 'no-such-secret')
  writeFileSync(join(work, 'mappings.yaml'), stringify(DEFAULT_MAPPINGS))
  writeFileSync(join(work, 'gateway.yaml'), stringify({
    ...authConfig({ url: 'http://127.0.0.1:1' } as LocalIssuer, 'http://127.0.0.1:1', { entra: { groupsOverage: 'graph', graph: { clientId: GRAPH_APP, clientSecretFile: missing } } }),
    ...RULES,
    mappings: { source: 'file', file: 'mappings.yaml' }
  }))
  const started = await runCli(['start', '--config', join(work, 'gateway.yaml')])
  t.equal(started.code, 78, started.stderr)
  t.equal(started.stderr, `entra.graph.clientSecretFile: cannot read ${missing} (ENOENT)\n`)

  const graph = (extra: Record<string, unknown>) => ({ entra: { graph: { clientId: GRAPH_APP, ...extra } } })
  t.same(problemsOf(graph({ clientCertificate: { certFile: join(work, 'none.pem'), keyFile: join(work, 'none.key') } })), [
    `entra.graph.clientCertificate.certFile: cannot read ${join(work, 'none.pem')} (ENOENT)`,
    `entra.graph.clientCertificate.keyFile: cannot read ${join(work, 'none.key')} (ENOENT)`
  ])
  t.same(problemsOf({}, { AZURE_FEDERATED_TOKEN_FILE: join(work, 'token') }), [], 'no entra.graph: the variable is not read')
  t.same(problemsOf(graph({}), { AZURE_FEDERATED_TOKEN_FILE: join(work, 'token') }), [`entra.graph.federatedTokenFile: cannot read ${join(work, 'token')} (ENOENT), the path AZURE_FEDERATED_TOKEN_FILE names`])
  writeFileSync(join(work, 'empty'), '\n')
  t.same(problemsOf(graph({ clientSecretFile: join(work, 'empty') })), [`entra.graph.clientSecretFile: ${join(work, 'empty')} is empty`])
  t.same(problemsOf(graph({ clientCertificate: { certFile: registered.certFile, keyFile: stranger.keyFile } })), [
    `entra.graph.clientCertificate: ${stranger.keyFile} is not the key of the certificate in ${registered.certFile}`
  ])
  execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', join(work, 'ec.key'), '-out', join(work, 'ec.pem'), '-days', '2', '-subj', '/CN=ec'], { stdio: 'ignore' })
  t.match(problemsOf(graph({ clientCertificate: { certFile: join(work, 'ec.pem'), keyFile: join(work, 'ec.key') } })), [/^entra\.graph\.clientCertificate: .*ec\.key is an ec key; Entra verifies client assertions with RSA certificates/])
  t.same(problemsOf(graph({ clientCertificate: { certFile: registered.keyFile, keyFile: registered.certFile } })), [`entra.graph.clientCertificate: ${registered.keyFile} holds no PEM certificate`])
})

t.test('check names the credential kind it proved, and fails on a refused one', async (t) => {
  const issuer = await startIssuer(t)
  const graph = await startFakeGraph(t, issuer, { app: { secrets: [], certificates: [registered.cert] } })
  graph.consented.add(HOME_TENANT)
  const work = tempDir(t, 'bookme-graph-check-')
  writeFileSync(join(work, 'mappings.yaml'), stringify(DEFAULT_MAPPINGS))
  const configWith = (certificate: AppCertificate): string => {
    const path = join(work, `${certificate === registered ? 'ok' : 'refused'}.yaml`)
    writeFileSync(path, stringify({
      ...authConfig(issuer, 'http://127.0.0.1:1', { entra: { groupsOverage: 'graph', graph: { endpoint: graph.url, clientId: GRAPH_APP, clientCertificate: { certFile: certificate.certFile, keyFile: certificate.keyFile } } } }),
      ...RULES,
      mappings: { source: 'file', file: 'mappings.yaml' }
    }))
    return path
  }
  const [ok, refused] = await Promise.all([runCli(['check', '--config', configWith(registered)]), runCli(['check', '--config', configWith(stranger)])])
  t.equal(ok.code, 0, ok.stdout + ok.stderr)
  t.match(ok.stdout, new RegExp(`^ok groups overage: graph, 1 group id named by rules; client certificate \\(x5t#S256 ${registered.thumbprint}, CN=bookme-graph, valid until \\d{4}-\\d\\d-\\d\\d, PS256\\) accepted: a Graph token obtained in the home tenant ${HOME_TENANT}$`, 'm'))
  t.equal(refused.code, 1)
  t.match(refused.stdout, new RegExp(`^FAIL groups overage: no Graph token in the home tenant ${HOME_TENANT} with the client certificate \\(x5t#S256 ${stranger.thumbprint}, .*\\): the token endpoint refused the gateway's Graph credentials .*AADSTS700027`, 'm'))
  t.notOk([ok, refused].some((r) => r.stdout.includes(stranger.keyPem.split('\n')[1]!) || r.stdout.includes(registered.keyPem.split('\n')[1]!)), 'no key printed')
})
