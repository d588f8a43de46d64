import t from 'tap'
import { startUpstream } from '../helpers/upstream.js'
import { openRoute, startTestGateway } from '../helpers/gateway.js'
import { rawGet, rawRequest } from '../helpers/raw-http.js'

// Proxy-state and identity aliases a client could forge (CONTRACT.md §6): `Forwarded`, the whole
// X-Forwarded-* family (oauth2-proxy and others put identity in -User, -Email, -Groups,
// -Access-Token; mTLS terminators put the client certificate in -Client-Cert), every
// X-Original-*, and the client-address aliases. Judged by the raw headers an upstream receives.
t.test('every spelling of a forwarding or identity alias is stripped; the gateway\'s own are set', async (t) => {
  const upstream = await startUpstream(t)
  const gw = await startTestGateway(t, { routes: [openRoute(upstream.url)] })
  const forged = [
    'Forwarded: for=6.6.6.6;proto=https',
    'X-Forwarded-User: admin',
    'X-Forwarded-Email: admin@bank.example',
    'X-Forwarded-Groups: Admins',
    'X-Forwarded-Preferred-Username: admin',
    'X-Forwarded-Access-Token: eyJforged',
    'X-Forwarded-Client-Cert: Hash=abc;Subject="CN=admin"',
    'X-Forwarded-Server: evil',
    'x_forwarded_user: admin',
    'X.Forwarded.Email: admin@bank.example',
    'X-Forwarded: for=6.6.6.6',
    'X-Remote-User: admin',
    'X_Remote_User: admin',
    'X-Client-IP: 6.6.6.6',
    'True-Client-IP: 6.6.6.6',
    'X-Real-IP: 6.6.6.6',
    'X-Original-Host: admin.internal',
    'X-Original-URL: /admin',
    'X-Original-Forwarded-For: 6.6.6.6',
    'X-Forwarded-For: 6.6.6.6',
    'X-Forwarded-Proto: https',
    'X-Forwarded-Host: admin.internal'
  ]
  const res = await rawRequest(gw.proxyUrl, rawGet('/open', [...forged, 'X-Custom: kept']))
  t.equal(res.status, 200)
  const seen = upstream.last()
  const names = seen.rawHeaders.filter((_, i) => i % 2 === 0).map((name) => name.toLowerCase())
  const leaked = names.filter((name) => /^(forwarded|x[-_.]forwarded|x[-_.]original|x[-_.]remote|x[-_.]client[-_.]ip|true[-_.]client|x[-_.]real)/.test(name))
  t.same(leaked.sort(), ['x-forwarded-for', 'x-forwarded-host', 'x-forwarded-proto'], 'only the gateway\'s own three')
  t.equal(seen.headers['x-forwarded-for'], '127.0.0.1')
  t.equal(seen.headers['x-forwarded-proto'], 'http')
  t.equal(seen.headers['x-forwarded-host'], 'gateway.test')
  t.equal(seen.headers['x-custom'], 'kept', 'other headers pass')
  t.notOk(seen.rawHeaders.some((value) => /6\.6\.6\.6|admin|eyJforged/.test(value)), 'no forged value reached the upstream')
})
