import t, { type Test } from 'tap'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { stringify } from 'yaml'
import { startUpstream } from '../helpers/upstream.js'
import { startTestGateway } from '../helpers/gateway.js'
import { runCommand } from '../helpers/command-line.js'
import { authConfig, BANK_TENANT, DEFAULT_MAPPINGS, HOME_TENANT, MGMT_CLIENT, startIssuer, SYSTEM_APP, SYSTEM_CLIENT } from '../helpers/issuer.js'
import type { LocalIssuer } from '../../src/demo/local-issuer.js'

/** An API that takes users and apps and insists on `idtyp`. */
const FACTS_CLIENT = '55555555-5555-4555-8555-555555555555'
/** An API whose claims-mapping policy signs its tokens with the app's own key. */
const OWN_CLIENT = '66666666-6666-4666-8666-666666666666'

async function setup (t: Test, apis: Record<string, unknown> = {}, issuer?: LocalIssuer) {
  issuer ??= await startIssuer(t)
  const upstream = await startUpstream(t)
  const raw = authConfig(issuer, upstream.url, { apis })
  const routes = [
    ...(raw.routes as unknown[]),
    ...Object.keys(apis).map((api) => ({ name: api, prefix: `/${api}`, upstream: upstream.url, api }))
  ]
  const gw = await startTestGateway(t, { ...raw, routes }, { mappings: DEFAULT_MAPPINGS })
  const call = async (token: string, path: string) => {
    const before = upstream.requests.length
    const res = await fetch(gw.proxyUrl + path, { headers: { authorization: `Bearer ${token}` } })
    const text = await res.text()
    return {
      status: res.status,
      body: text ? JSON.parse(text) as Record<string, unknown> : {},
      principalType: upstream.requests.length > before ? upstream.last().headers['x-bookme-principal-type'] : undefined
    }
  }
  return { issuer, upstream, gw, call }
}

t.test('a token without an oid GUID names no principal: 403 PRINCIPAL_TYPE_NOT_ALLOWED, user and app, v1 and v2', async (t) => {
  const { issuer, call } = await setup(t)
  const user = (version: 1 | 2, claims: Record<string, unknown>) => issuer.mint({ version, tenantId: BANK_TENANT, audience: version === 2 ? MGMT_CLIENT : `api://${MGMT_CLIENT}`, claims })
  const app = (version: 1 | 2, claims: Record<string, unknown>) => issuer.mint({ version, type: 'app', tenantId: HOME_TENANT, audience: version === 2 ? SYSTEM_CLIENT : `api://${SYSTEM_CLIENT}`, claims: { [version === 2 ? 'azp' : 'appid']: SYSTEM_APP, ...claims } })
  for (const version of [2, 1] as const) {
    t.equal((await call(user(version, {}), '/api/meetings/x')).status, 200, `v${version} user token with an oid`)
    t.equal((await call(app(version, {}), '/system/jobs')).status, 200, `v${version} app token with an oid`)
    for (const [what, claims] of [['no oid', { oid: undefined }], ['an oid that is no GUID', { oid: 'not-a-guid' }], ['a numeric oid', { oid: 42 }]] as const) {
      const refusedUser = await call(user(version, claims), '/api/meetings/x')
      t.equal(refusedUser.status, 403, `v${version} user token with ${what}`)
      t.equal(refusedUser.body.code, 'PRINCIPAL_TYPE_NOT_ALLOWED')
      t.match(refusedUser.body.detail, /names no service principal or user object/)
      t.equal(refusedUser.principalType, undefined, 'the upstream saw nothing')
      // An app token without oid: sub alone, so the oid = sub inference cannot call it an app either.
      const refusedApp = await call(app(version, { ...claims, sub: 'a-subject' }), '/system/jobs')
      t.equal(refusedApp.status, 403, `v${version} app token with ${what}`)
      t.equal(refusedApp.body.code, 'PRINCIPAL_TYPE_NOT_ALLOWED')
      t.equal(refusedApp.principalType, undefined, 'the upstream saw nothing')
    }
  }
})

t.test('requireIdtyp: idtyp alone decides user vs app; without it the token is refused with the fix', async (t) => {
  const facts = { clientId: FACTS_CLIENT, tenancy: 'multi', principals: ['user', 'app'], bankResolution: 'tenant', requireIdtyp: true }
  const { issuer, call } = await setup(t, { facts })
  const mint = (type: 'user' | 'app', claims: Record<string, unknown> = {}, version: 1 | 2 = 2) => issuer.mint({ version, type, tenantId: BANK_TENANT, audience: version === 2 ? FACTS_CLIENT : `api://${FACTS_CLIENT}`, claims })

  const app = await call(mint('app'), '/facts/x')
  t.equal(app.status, 200)
  t.equal(app.principalType, 'app', 'idtyp app → app')
  const appWithScp = await call(mint('app', { scp: 'access_as_user' }), '/facts/x')
  t.equal(appWithScp.principalType, 'app', 'idtyp app → app, scp or not')
  // No scp and oid = sub: the inference would call this an app; idtyp says user, and decides.
  const oid = 'b0b0b0b0-0000-4000-8000-000000000001'
  const user = await call(mint('user', { idtyp: 'user', scp: undefined, oid, sub: oid }), '/facts/x')
  t.equal(user.status, 200)
  t.equal(user.principalType, 'user', 'idtyp user → user')
  t.equal((await call(mint('user', { idtyp: 'user' }, 1), '/facts/x')).principalType, 'user', 'v1 too')

  for (const [what, token] of [
    ['a user token without idtyp', mint('user')],
    ['an app token without idtyp (no scp, oid = sub)', mint('app', { idtyp: undefined })],
    ['a v1 app token without idtyp', mint('app', { idtyp: undefined }, 1)]
  ] as const) {
    const refused = await call(token, '/facts/x')
    t.equal(refused.status, 403, what)
    t.equal(refused.body.code, 'PRINCIPAL_TYPE_NOT_ALLOWED', what)
    t.match(refused.body.detail, /add the optional claim idtyp .*app registration.*include_user_token/, 'the detail tells the operator what to add')
    t.equal(refused.principalType, undefined, 'the upstream saw nothing')
  }
  const odd = await call(mint('app', { idtyp: 'device' }), '/facts/x')
  t.equal(odd.status, 403, 'an idtyp that is neither app nor user')
  t.equal(odd.body.code, 'PRINCIPAL_TYPE_NOT_ALLOWED')

  // The default (management: requireIdtyp false) still infers: a user token without idtyp passes.
  const inferred = await call(issuer.mint({ tenantId: BANK_TENANT, audience: MGMT_CLIENT }), '/api/meetings/x')
  t.equal(inferred.status, 200)
  t.equal(inferred.principalType, 'user')
})

t.test('signingKeys: application verifies with the app\'s own keys, discovered with ?appid', async (t) => {
  const issuer = await startIssuer(t)
  const own = { clientId: OWN_CLIENT, tenancy: 'multi', principals: ['user'], bankResolution: 'tenant' }
  const appKeys = await setup(t, { own: { ...own, signingKeys: 'application' } }, issuer)
  const tenantKeys = await setup(t, { own }, issuer)
  const appKey = issuer.appKey(OWN_CLIENT)
  const tenantKey = issuer.keys[0]!
  const signedByApp = issuer.mint({ tenantId: BANK_TENANT, audience: OWN_CLIENT, key: appKey })
  const signedByTenant = issuer.mint({ tenantId: BANK_TENANT, audience: OWN_CLIENT })

  const passed = await appKeys.call(signedByApp, '/own/x')
  t.equal(passed.status, 200, 'the app key verifies under signingKeys: application')
  t.equal(passed.principalType, 'user')
  // Under a claims-mapping policy Entra signs the app's tokens with the app key; the tenant
  // keys are not in the appid key set.
  const tenantSigned = await appKeys.call(signedByTenant, '/own/x')
  t.equal(tenantSigned.status, 401, 'a tenant-signed token under signingKeys: application')
  t.equal(tenantSigned.body.code, 'SIGNING_KEY_NOT_FOUND')

  t.equal((await tenantKeys.call(signedByTenant, '/own/x')).status, 200, 'the default takes the tenant keys')
  const appSigned = await tenantKeys.call(signedByApp, '/own/x')
  t.equal(appSigned.status, 401, 'the app key is unknown under the default')
  t.equal(appSigned.body.code, 'SIGNING_KEY_NOT_FOUND')
  const relabelled = issuer.mint({ tenantId: BANK_TENANT, audience: OWN_CLIENT, key: appKey, header: { kid: tenantKey.kid } })
  t.equal((await tenantKeys.call(relabelled, '/own/x')).body.code, 'TOKEN_SIGNATURE_INVALID', 'the app key passed off as a tenant key')

  const ready = await fetch(`${appKeys.gw.adminUrl}/readyz`)
  t.equal(ready.status, 200)
  t.match(await ready.text(), /keys:own/)
  const metrics = await (await fetch(`${appKeys.gw.adminUrl}/metrics`)).text()
  t.match(metrics, `jwks_key_set_age_seconds{jwks_uri="${issuer.url}/common/discovery/v2.0/keys?appid=${OWN_CLIENT}"}`, 'the appid key set is the one fetched')
})

t.test('check fetches and names the appid discovery document', async (t) => {
  const issuer = await startIssuer(t)
  const dir = mkdtempSync(join(tmpdir(), 'bookme-cli-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  const raw = authConfig(issuer, 'http://127.0.0.1:1', { apis: { own: { clientId: OWN_CLIENT, tenancy: 'multi', principals: ['user'], signingKeys: 'application' } } })
  writeFileSync(join(dir, 'mappings.yaml'), stringify(DEFAULT_MAPPINGS))
  writeFileSync(join(dir, 'gateway.yaml'), stringify({ ...raw, mappings: { source: 'file', file: 'mappings.yaml' } }))
  const ok = await runCommand(['check', '--config', join(dir, 'gateway.yaml')])
  t.equal(ok.code, 0, ok.stdout + ok.stderr)
  t.match(ok.stdout, `ok discovery and JWKS for own (1 signing keys of the app's own, from ${issuer.url}/common/v2.0/.well-known/openid-configuration?appid=${OWN_CLIENT})`)
  t.match(ok.stdout, /^ok discovery and JWKS for management \(1 signing keys\)$/m, 'tenant keys: the line is as before')
})
