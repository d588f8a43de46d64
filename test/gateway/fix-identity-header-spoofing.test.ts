import t from 'tap'
import { startUpstream } from '../helpers/upstream.js'
import { startTestGateway, openRoute } from '../helpers/gateway.js'
import { rawGet, rawRequest } from '../helpers/raw-http.js'
import { buildTestApp } from '../helpers/app.js'

// Regression for identity-header spoofing and alias normalization (ADVISORIES.md: oauth2-proxy
// CVE-2025-64484 `X_Forwarded_Email`, Traefik CVE-2026-88011 dot form, APISIX CVE-2026-44087):
// no spelling of the identity namespace survives, on `auth: none` routes too. The first test
// sends raw bytes (repeated headers, spellings a client library would refuse); the others need
// no socket of the gateway's own.
t.test('every spelling of x-bookme-* and of the bank selection is stripped', async (t) => {
  const upstream = await startUpstream(t)
  const gw = await startTestGateway(t, { routes: [openRoute(upstream.url)] })
  const spoofed = [
    'X-BookMe-Bank-Id: 666',
    'x-bookme-bank-id: 667',
    'x-bookme-bank-id: 668',
    'x_bookme_bank_id: 669',
    'X.BookMe.Roles: Admin',
    'x-bookme_roles: Admin',
    'X_BOOKME_TENANT_ID: evil',
    'x-bookme-: empty-suffix',
    'X-Bank-Context: 1001',
    'x_bank_context: 1002',
    'x.bank.context: 1003'
  ]
  const res = await rawRequest(gw.proxyUrl, rawGet('/open/x', [...spoofed, 'X-Other: kept']))
  t.equal(res.status, 200)
  const seen = upstream.last()
  const leaked = Object.keys(seen.headers).filter((name) => /bookme|bank/i.test(name))
  t.same(leaked, [], 'no identity or selection header reached the upstream')
  t.equal(seen.headers['x-other'], 'kept', 'unrelated headers pass')
})

t.test('a custom prefix and selection header are honoured the same way', async (t) => {
  const upstream = await startUpstream(t)
  const { app } = await buildTestApp(t, {
    headers: { prefix: 'x-acme-', bankSelection: 'x-acme-select' },
    routes: [openRoute(upstream.url)]
  })
  await app.inject({ url: '/open/x', headers: { X_Acme_User: 'root', 'x.acme.select': '1', 'x-bookme-bank-id': '2' } })
  const seen = upstream.last()
  t.equal(seen.headers.x_acme_user, undefined)
  t.equal(seen.headers['x.acme.select'], undefined)
  t.equal(seen.headers['x-bookme-bank-id'], '2', 'the default prefix is not special once another is configured')
})

t.test('forgeable proxy-state headers are dropped; the gateway writes its own', async (t) => {
  const upstream = await startUpstream(t)
  const { app } = await buildTestApp(t, { routes: [openRoute(upstream.url)] })
  await app.inject({
    url: '/open/x',
    headers: {
      host: 'gateway.test',
      'X-Forwarded-For': '6.6.6.6',
      X_Forwarded_For: '7.7.7.7',
      'X-Real-IP': '6.6.6.6',
      Forwarded: 'for=6.6.6.6',
      'X-Forwarded-Uri': '/public',
      'X-Original-URL': '/admin',
      'X-Envoy-Original-Path': '/public',
      'X-Forwarded-Host': 'evil.test',
      'X-Forwarded-Proto': 'https'
    }
  })
  const seen = upstream.last()
  t.equal(seen.headers['x-forwarded-for'], '127.0.0.1')
  t.equal(seen.headers['x-forwarded-host'], 'gateway.test')
  t.equal(seen.headers['x-forwarded-proto'], 'http')
  for (const name of ['x_forwarded_for', 'x-real-ip', 'forwarded', 'x-forwarded-uri', 'x-original-url', 'x-envoy-original-path']) {
    t.equal(seen.headers[name], undefined, `${name} dropped`)
  }
})
