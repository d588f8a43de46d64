import t from 'tap'
import { execFileSync } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createServer } from 'node:https'
import type { AddressInfo } from 'node:net'
import { startTestGateway, openRoute } from '../helpers/gateway.js'

// Regression for @fastify/reply-from CVE-2026-107318: its built-in transports defaulted to
// `rejectUnauthorized: false`. An upstream with an untrusted certificate must not be talked to.
t.test('an HTTPS upstream with an untrusted certificate is refused with 502', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'bookme-tls-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '1', '-subj', '/CN=127.0.0.1',
    '-addext', 'subjectAltName=IP:127.0.0.1', '-keyout', join(dir, 'key.pem'), '-out', join(dir, 'cert.pem')], { stdio: 'ignore' })
  let reached = 0
  const server = createServer({ key: readFileSync(join(dir, 'key.pem')), cert: readFileSync(join(dir, 'cert.pem')) }, (_req, res) => {
    reached++
    res.end('secret')
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  t.teardown(() => new Promise((resolve) => { server.closeAllConnections(); server.close(resolve) }))
  const { port } = server.address() as AddressInfo

  const gw = await startTestGateway(t, { routes: [openRoute(`https://127.0.0.1:${port}`)] })
  const res = await fetch(`${gw.proxyUrl}/open/x`)
  t.equal(res.status, 502)
  t.equal((await res.json()).code, 'UPSTREAM_UNAVAILABLE')
  t.equal(reached, 0, 'no request was delivered over the unverified connection')
  t.match(await gw.resources.metrics.registry.metrics(), /upstream_errors_total\{route="open",kind="tls"\} 1/)
})
