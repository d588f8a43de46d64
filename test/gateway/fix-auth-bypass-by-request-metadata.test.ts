import t from 'tap'
import { startUpstream } from '../helpers/upstream.js'
import { startTestGateway } from '../helpers/gateway.js'
import { rawGet, rawRequest } from '../helpers/raw-http.js'
import { authConfig, DEFAULT_MAPPINGS, startIssuer } from '../helpers/issuer.js'

// Regression for authorization decided on request metadata a client controls (ADVISORIES.md:
// oauth2-proxy CVE-2026-34457 health-check User-Agent bypass, CVE-2025-54576 query string
// matched by skip-auth rules, CVE-2026-40575 spoofed X-Forwarded-Uri, Envoy CVE-2023-27487
// x-envoy-original-path, Istio CVE-2021-39155 Host case): only the normalized path picks the
// route, and nothing else relaxes its policy.
t.test('no user agent, query string, forwarded path or host opens a protected route', async (t) => {
  const issuer = await startIssuer(t)
  const upstream = await startUpstream(t)
  const gw = await startTestGateway(t, authConfig(issuer, upstream.url, {
    routes: [
      { name: 'public', prefix: '/public', upstream: upstream.url, auth: 'none' },
      { name: 'meetings', prefix: '/api/meetings', upstream: upstream.url, api: 'management', roles: ['Employee'] }
    ]
  }), { mappings: DEFAULT_MAPPINGS })
  const attempts: Array<[string, string, string[]]> = [
    ['probe user agent', '/api/meetings/x', ['User-Agent: kube-probe/1.30', 'User-Agent: ELB-HealthChecker/2.0']],
    ['query naming the open prefix', '/api/meetings/x?/public', []],
    ['query with an encoded open path', '/api/meetings/x?next=%2Fpublic%2F', []],
    ['forwarded uri naming the open prefix', '/api/meetings/x', ['X-Forwarded-Uri: /public/x', 'X-Original-URL: /public/x', 'X-Rewrite-URL: /public/x']],
    ['envoy original path', '/api/meetings/x', ['x-envoy-original-path: /public/x']],
    ['odd host', '/api/meetings/x', ['Host: PUBLIC.example']]
  ]
  for (const [name, path, headers] of attempts) {
    const res = await rawRequest(gw.proxyUrl, rawGet(path, headers))
    t.equal(res.status, 401, name)
  }
  t.equal(upstream.requests.length, 0, 'nothing reached the upstream')
  const open = await rawRequest(gw.proxyUrl, rawGet('/public/x?/api/meetings', ['X-Forwarded-Uri: /api/meetings']))
  t.equal(open.status, 200, 'the open route stays open')
  t.equal(upstream.last().headers['x-forwarded-uri'], undefined, 'a client-sent X-Forwarded-Uri is not forwarded')
})
