import t from 'tap'
import { createServer as createHttpsServer } from 'node:https'
import { createServer } from 'node:http'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import type { AddressInfo } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { stringify } from 'yaml'
import { runCommand } from '../helpers/command-line.js'
import { makeCertificates } from '../helpers/certs.js'
import { freePort, startRedis } from '../helpers/services.js'
import { readiness, startTestGateway } from '../helpers/gateway.js'
import { eventually } from '../helpers/eventually.js'
import { DEFAULT_MAPPINGS, MGMT_CLIENT } from '../helpers/issuer.js'

// Saying what is wrong: every network failure names its URL and its cause, in `check`, in the
// logs and in /readyz; a bad file never gets `ok config` first.
function writeConfig (t: Parameters<typeof startRedis>[0], raw: Record<string, unknown>, mappingsText = stringify(DEFAULT_MAPPINGS)): string {
  const dir = mkdtempSync(join(tmpdir(), 'bookme-check-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  writeFileSync(join(dir, 'mappings.yaml'), mappingsText)
  writeFileSync(join(dir, 'gateway.yaml'), stringify({ mappings: { source: 'file', file: 'mappings.yaml' }, ...raw }))
  return join(dir, 'gateway.yaml')
}

const profile = (authority: string, extra: Record<string, unknown> = {}) => ({
  entra: { authority, ...extra },
  apis: { management: { clientId: MGMT_CLIENT } },
  routes: [{ name: 'm', prefix: '/m', upstream: 'http://127.0.0.1:1', api: 'management' }]
})

async function listen (server: import('node:net').Server, t: Parameters<typeof startRedis>[0]): Promise<number> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  t.teardown(() => new Promise<void>((resolve) => { (server as import('node:http').Server).closeAllConnections?.(); server.close(() => resolve()) }))
  return (server.address() as AddressInfo).port
}

t.test('check names the URL and the cause of a refused, untrusted or silent authority', async (t) => {
  const closed = await freePort()
  const refused = await runCommand(['check', '--config', writeConfig(t, profile(`http://127.0.0.1:${closed}`))])
  t.equal(refused.code, 1)
  t.match(refused.stdout, new RegExp(`^FAIL discovery and JWKS for management: GET http://127\\.0\\.0\\.1:${closed}/common/v2\\.0/\\.well-known/openid-configuration: connect ECONNREFUSED 127\\.0\\.0\\.1:${closed}$`, 'm'))

  const certs = makeCertificates(t)
  const https = createHttpsServer({ cert: certs.selfSigned.cert, key: certs.selfSigned.key }, (_req, res) => res.end('{}'))
  const tlsPort = await listen(https, t)
  const untrusted = await runCommand(['check', '--config', writeConfig(t, profile(`https://127.0.0.1:${tlsPort}`))])
  t.equal(untrusted.code, 1)
  t.match(untrusted.stdout, new RegExp(`^FAIL discovery and JWKS for management: GET https://127\\.0\\.0\\.1:${tlsPort}/common/v2\\.0/\\.well-known/openid-configuration: self-signed certificate`, 'm'))

  const hung = createServer(() => { /* never answers */ })
  const hungPort = await listen(hung, t)
  const silent = await runCommand(['check', '--config', writeConfig(t, profile(`http://127.0.0.1:${hungPort}`, { jwks: { timeoutMs: 300 } }))])
  t.equal(silent.code, 1)
  t.match(silent.stdout, /^FAIL discovery and JWKS for management: GET http:\/\/127\.0\.0\.1:\d+\/common\/v2\.0\/\.well-known\/openid-configuration: timeout after 300 ms$/m)
  for (const res of [refused, untrusted, silent]) t.notMatch(res.stdout, /fetch failed/, 'never the bare "fetch failed"')
})

t.test('check against rediss:// with an untrusted certificate says so', async (t) => {
  const certs = makeCertificates(t)
  const redis = await startRedis(t, { tls: certs.selfSigned })
  const res = await runCommand(['check', '--config', writeConfig(t, { ...profile('http://127.0.0.1:1'), cache: { store: 'redis', redis: { url: redis.url, connectTimeoutMs: 500 } } })])
  t.equal(res.code, 1)
  t.match(res.stdout, new RegExp(`^FAIL cache: TLS: unknown CA: no trusted CA signed the server's certificate \\(Redis rediss://127\\.0\\.0\\.1:${redis.port}: self-signed certificate.*\\); check cache\\.redis\\.tls\\.caFile`, 'm'))
  t.notMatch(res.stdout, /not reachable within/)
})

t.test('a bad mappings file: FAIL config with file, line and column, and no ok config before it', async (t) => {
  const res = await runCommand(['check', '--config', writeConfig(t, profile('http://127.0.0.1:1'), 'banks: []\nbanks: []\n')])
  t.equal(res.code, 1)
  t.notMatch(res.stdout, /^ok config/m)
  t.match(res.stdout, /^FAIL config: mappings\.file: \/.*mappings\.yaml:2:1: Map keys must be unique$/m)
  const dir = mkdtempSync(join(tmpdir(), 'bookme-check-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  writeFileSync(join(dir, 'gateway.yaml'), 'routes:\n  - name: x\n    name: y\n')
  const yaml = await runCommand(['check', '--config', join(dir, 'gateway.yaml')])
  t.match(yaml.stdout, /^FAIL config: \(file\): \/.*gateway\.yaml:3:5: Map keys must be unique$/m, 'a config YAML error names file, line and column')
  const start = await runCommand(['start', '--config', join(dir, 'gateway.yaml')])
  t.equal(start.code, 78)
  t.match(start.stderr, /gateway\.yaml:3:5: Map keys must be unique/)
})

t.test('the log and /readyz name the URL and cause of a failed key fetch', async (t) => {
  const closed = await freePort()
  const gw = await startTestGateway(t, profile(`http://127.0.0.1:${closed}`), { mappings: DEFAULT_MAPPINGS, ready: false })
  const expected = `GET http://127.0.0.1:${closed}/common/v2.0/.well-known/openid-configuration: connect ECONNREFUSED 127.0.0.1:${closed}`
  const ready = await eventually(() => readiness(gw), (r) => r.body.dependencies?.['keys:management']?.state === 'down')
  t.match(ready.body, { dependencies: { 'keys:management': { state: 'down', detail: expected } } })
  const line = gw.logs.find((l) => l.msg === 'signing keys could not be fetched')
  t.match(line, { level: 40, reason: expected })
})

t.test('with Redis unreachable, the blocks and rate-limits lines name the cause, as the cache line does', async (t) => {
  const closed = await freePort()
  const res = await runCommand(['check', '--config', writeConfig(t, {
    ...profile('http://127.0.0.1:1'),
    cache: { store: 'redis', redis: { url: `redis://127.0.0.1:${closed}`, connectTimeoutMs: 200 } },
    rateLimits: { policies: [{ name: 'per-bank', limit: 10 }] }
  })])
  t.equal(res.code, 1)
  const cause = new RegExp(`^FAIL (cache|blocks|rate limits): .*connect ECONNREFUSED 127\\.0\\.0\\.1:${closed}`)
  const lines = res.stdout.split('\n').filter((line) => /^FAIL (cache|blocks|rate limits)/.test(line))
  t.equal(lines.length, 3, res.stdout)
  for (const line of lines) t.match(line, cause, line)
  t.notMatch(res.stdout, /Stream isn't writeable|enableOfflineQueue/, 'no ioredis internals')
})
