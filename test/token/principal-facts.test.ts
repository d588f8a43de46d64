import t from 'tap'
import { discoveryUrl } from '../../src/token/authenticator.js'
import { BANK_TENANT, MGMT_CLIENT, startIssuer, testAuthenticator } from '../helpers/issuer.js'

const APP = '66666666-6666-4666-8666-666666666666'

t.test('discoveryUrl: signingKeys application adds ?appid={clientId}; tenant keeps the plain URL', async (t) => {
  const multi = { tenancy: 'multi', tenantId: undefined, clientId: APP } as const
  t.equal(discoveryUrl('https://login.example', multi), 'https://login.example/common/v2.0/.well-known/openid-configuration')
  t.equal(discoveryUrl('https://login.example', { ...multi, signingKeys: 'tenant' }), 'https://login.example/common/v2.0/.well-known/openid-configuration')
  t.equal(discoveryUrl('https://login.example', { ...multi, signingKeys: 'application' }), `https://login.example/common/v2.0/.well-known/openid-configuration?appid=${APP}`)
  t.equal(discoveryUrl('https://login.example', { tenancy: 'single', tenantId: BANK_TENANT, clientId: APP, signingKeys: 'application' }), `https://login.example/${BANK_TENANT}/v2.0/.well-known/openid-configuration?appid=${APP}`)
})

t.test('the local issuer serves an app\'s own key set under ?appid, without the tenant keys', async (t) => {
  const issuer = await startIssuer(t)
  const discovery = await (await fetch(`${issuer.url}/common/v2.0/.well-known/openid-configuration?appid=${APP}`)).json() as { jwks_uri: string }
  t.equal(discovery.jwks_uri, `${issuer.url}/common/discovery/v2.0/keys?appid=${APP}`)
  const kids = async (url: string) => ((await (await fetch(url)).json()) as { keys: Array<{ kid: string }> }).keys.map((key) => key.kid)
  t.same(await kids(discovery.jwks_uri), [issuer.appKey(APP).kid], 'the app key alone')
  t.same(await kids(`${issuer.url}/common/discovery/v2.0/keys`), [issuer.keys[0]!.kid], 'the tenant keys, as before')
  t.not(issuer.appKey(APP).kid, issuer.appKey(MGMT_CLIENT).kid, 'each app its own key')
})

t.test('requireIdtyp and the oid rule, on the verifier itself', async (t) => {
  const issuer = await startIssuer(t)
  const profile = { clientId: MGMT_CLIENT, appIdUris: [`api://${MGMT_CLIENT}`], tenancy: 'multi', tenantId: undefined, principals: ['user', 'app'] } as const
  const authenticator = testAuthenticator(t, issuer, { profiles: { inferred: profile, strict: { ...profile, requireIdtyp: true } } })
  const oid = 'c0c0c0c0-0000-4000-8000-000000000001'
  const idtypUser = issuer.mint({ tenantId: BANK_TENANT, audience: MGMT_CLIENT, claims: { idtyp: 'user', scp: undefined, oid, sub: oid } })
  t.equal((await authenticator.verify('strict', idtypUser)).principalType, 'user', 'idtyp user decides, though no scp and oid = sub')
  const noIdtypApp = issuer.mint({ tenantId: BANK_TENANT, audience: MGMT_CLIENT, type: 'app', claims: { idtyp: undefined } })
  t.equal((await authenticator.verify('inferred', noIdtypApp)).principalType, 'app', 'inferred without requireIdtyp')
  await t.rejects(Promise.resolve(authenticator.verify('strict', noIdtypApp)), { code: 'PRINCIPAL_TYPE_NOT_ALLOWED', message: /idtyp/ })
  const noOid = issuer.mint({ tenantId: BANK_TENANT, audience: MGMT_CLIENT, claims: { oid: undefined } })
  await t.rejects(Promise.resolve(authenticator.verify('inferred', noOid)), { code: 'PRINCIPAL_TYPE_NOT_ALLOWED', message: /no service principal or user object/ })
})
