import t from 'tap'
import { startUpstream } from '../helpers/upstream.js'
import { startTestGateway } from '../helpers/gateway.js'
import { rawGet, rawRequest } from '../helpers/raw-http.js'

// Path parameters and dot-ended segments (CONTRACT.md §1.2; ADVISORIES.md: Apache Shiro
// CVE-2020-1957 / CVE-2020-11989, "Breaking Parser Logic"): Tomcat, Jetty and Spring strip
// `;…` from a segment before mapping, and some servers drop a trailing `.`, so
// `/api/meetings/admin;/settings` would be matched here to the looser `/api/meetings` route and
// served there by the stricter `/api/meetings/admin` handler. The path the policy sees must be
// the path every upstream framework sees: such paths are refused.
t.test('path parameters and dot-ended segments never reach a looser route\'s upstream', async (t) => {
  const loose = await startUpstream(t)
  const strict = await startUpstream(t)
  const gw = await startTestGateway(t, {
    apis: { management: { clientId: '00000000-0000-0000-0000-000000000001' } },
    routes: [
      { name: 'meetings', prefix: '/api/meetings', upstream: loose.url, auth: 'none' },
      { name: 'meetings-admin', prefix: '/api/meetings/admin', upstream: strict.url, api: 'management' }
    ]
  }, { ready: false })
  const targets = [
    '/api/meetings/admin;/settings',
    '/api/meetings/admin;jsessionid=x',
    '/api/meetings/admin;jsessionid=x/settings',
    '/api/meetings/admin..;/settings',
    '/api/meetings/admin%3b/settings',
    '/api/meetings/admin%3B/settings',
    '/api/meetings/admin./settings',
    '/api/meetings/admin%2e/settings',
    '/api/meetings/admin%2E',
    '/api/meetings/admin.',
    '/api/meetings/admin...',
    '/api/meetings/;/admin',
    '/api/meetings/x/..;/admin/settings'
  ]
  for (const target of targets) {
    const res = await rawRequest(gw.proxyUrl, rawGet(`${target}?q=1`))
    t.equal(res.status, 400, `${target} refused`)
    const body = JSON.parse(res.body) as { code: string, detail: string }
    t.equal(body.code, 'REQUEST_INVALID')
    t.notOk(res.body.includes('settings') || res.body.includes('jsessionid'), 'the answer does not echo the target')
    t.match(res.headers['x-request-id'], /^[0-9a-f-]{36}$/)
  }
  t.equal(loose.requests.length, 0, 'the looser route\'s upstream received nothing')
  t.equal(strict.requests.length, 0, 'nor the stricter one\'s')

  // What stays allowed: a `;` in the query, dots inside a segment, `.` and `..` resolved.
  for (const [target, forwarded] of [['/api/meetings/a.b/c?x=1;y=2', '/api/meetings/a.b/c?x=1;y=2'], ['/api/meetings/v1.2/./x/../y', '/api/meetings/v1.2/y'], ['/api/meetings/.well-known', '/api/meetings/.well-known']] as const) {
    const res = await rawRequest(gw.proxyUrl, rawGet(target))
    t.equal(res.status, 200, `${target} allowed`)
    t.equal(loose.last().url, forwarded)
  }
})
