import t from 'tap'
import { startUpstream } from '../helpers/upstream.js'
import { startTestGateway } from '../helpers/gateway.js'
import { rawGet, rawRequest } from '../helpers/raw-http.js'
import { startIssuer } from '../helpers/issuer.js'

// Regression for the path-normalization bypass class (ADVISORIES.md: Istio CVE-2021-31920,
// CVE-2021-39156; @fastify/reply-from CVE-2021-21321; @fastify/http-proxy CVE-2021-21322):
// no spelling of a path may reach a route whose policy it did not pass.
t.test('every traversal trick lands on the protected route and meets its policy', async (t) => {
  const open = await startUpstream(t)
  const guarded = await startUpstream(t)
  const gw = await startTestGateway(t, {
    entra: { authority: (await startIssuer(t)).url },
    apis: { management: { clientId: '00000000-0000-0000-0000-000000000001' } },
    routes: [
      { name: 'public', prefix: '/public', upstream: open.url, auth: 'none' },
      { name: 'admin', prefix: '/api/admin', upstream: guarded.url, api: 'management' }
    ]
  })

  const tricks = [
    '/public/../api/admin',
    '/public/%2e%2e/api/admin',
    '/public/%2E%2E/api/admin',
    '/public/.%2e/api/admin',
    '/public/..%2fapi/admin',
    '/public%2f..%2fapi%2fadmin',
    '/public/%2F../api/admin',
    '//api/admin',
    '/api//admin',
    '/public\\..\\api\\admin',
    '/public/%5c../api/admin',
    '/public/./../api/./admin/',
    '/api/admin#/../../public',
    '/API/ADMIN',
    '/public/../../../../api/admin'
  ]
  for (const target of tricks) {
    const res = await rawRequest(gw.proxyUrl, rawGet(target))
    t.equal(res.status, 401, `${target} meets the admin route's policy`)
    t.equal(JSON.parse(res.body).code, 'TOKEN_MISSING', `${target} asks for a token`)
  }
  t.equal(guarded.requests.length, 0, 'the protected upstream was never reached')
  t.equal(open.requests.length, 0, 'the open upstream was never handed an admin path')
})

t.test('what the open route forwards is the normalized path, the same one that was routed', async (t) => {
  const open = await startUpstream(t)
  const gw = await startTestGateway(t, { routes: [{ name: 'public', prefix: '/public', upstream: open.url, auth: 'none' }] })
  const cases: Array<[string, string]> = [
    ['/public/a/./b//c/../d', '/public/a/b/d'],
    ['/public/x#/../../api/admin', '/public/x'],
    ['/public/%7euser/%41', '/public/~user/A'],
    ['/public/%252e%252e/secret', '/public/%252e%252e/secret'],
    ['/public/a%2cb?x=%2e%2e;y', '/public/a%2Cb?x=%2e%2e;y'],
    ['/public/dir/', '/public/dir/']
  ]
  for (const [target, forwarded] of cases) {
    const res = await rawRequest(gw.proxyUrl, rawGet(target))
    t.equal(res.status, 200, target)
    t.equal(open.last().url, forwarded, `${target} forwarded as ${forwarded}`)
  }
})

t.test('targets that cannot be made safe are refused before routing with 400 REQUEST_INVALID', async (t) => {
  const open = await startUpstream(t)
  const gw = await startTestGateway(t, { routes: [{ name: 'public', prefix: '/', upstream: open.url, auth: 'none' }] })
  for (const target of ['/public/..;/api/admin', '/public/.;x/a', '/public/%00/a', '/public/%zz', '/public/%0d%0aX-Injected:%201', 'http://evil.test/public']) {
    const res = await rawRequest(gw.proxyUrl, rawGet(target))
    t.equal(res.status, 400, `${target} refused`)
    t.equal(JSON.parse(res.body).code, 'REQUEST_INVALID')
  }
  t.equal(open.requests.length, 0, 'nothing reached the catch-all upstream')
})
