/**
 * CONTRACT.md §14 "Reload": a changed config file applies to new requests without a restart
 * while a request in flight finishes under the old one; an invalid edit changes nothing; the
 * kubelet's `..data` symlink swap is seen; SIGHUP under load drops nothing.
 */
import t, { type Test } from 'tap'
import { mkdirSync, mkdtempSync, renameSync, rmSync, symlinkSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Writable } from 'node:stream'
import { stringify } from 'yaml'
import { loadConfigFile } from '../../src/config/load.js'
import { createLogger } from '../../src/observability/logger.js'
import { startGateway } from '../../src/server.js'
import { startUpstream } from '../helpers/upstream.js'
import { eventually } from '../helpers/eventually.js'
import { startCliGateway } from '../helpers/cli.js'
import { authConfig, BANK_TENANT, DEFAULT_MAPPINGS, MGMT_CLIENT, startIssuer } from '../helpers/issuer.js'

async function setup (t: Test, { kubelet = false } = {}) {
  const issuer = await startIssuer(t)
  const upstream = await startUpstream(t, (req, res) => {
    const wait = req.url?.includes('slow') === true ? 600 : 0
    setTimeout(() => { res.setHeader('content-type', 'application/json'); res.end('{}') }, wait)
  })
  const dir = mkdtempSync(join(tmpdir(), 'bookme-reload-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  writeFileSync(join(dir, 'mappings.yaml'), stringify(DEFAULT_MAPPINGS))
  const configOf = (roles: string[]): string => stringify({
    ...authConfig(issuer, upstream.url, { routes: [{ name: 'meetings', prefix: '/api/meetings', upstream: upstream.url, api: 'management', roles }] }),
    server: { host: '127.0.0.1', port: 0, adminPort: 0 },
    mappings: { source: 'file', file: join(dir, 'mappings.yaml') }
  })
  let generation = 0
  const write = (text: string): void => {
    if (!kubelet) return writeFileSync(join(dir, 'gateway.yaml'), text)
    // As the kubelet updates a ConfigMap volume: a new timestamped folder, `..data_tmp` renamed over `..data`.
    const folder = `..2026_12_06_${++generation}`
    mkdirSync(join(dir, folder))
    writeFileSync(join(dir, folder, 'gateway.yaml'), text)
    symlinkSync(folder, join(dir, '..data_tmp'))
    renameSync(join(dir, '..data_tmp'), join(dir, '..data'))
  }
  write(configOf([]))
  if (kubelet) symlinkSync(join('..data', 'gateway.yaml'), join(dir, 'gateway.yaml'))
  const token = issuer.mint({ tenantId: BANK_TENANT, audience: MGMT_CLIENT })
  const call = async (base: string, path = '/api/meetings/x'): Promise<number> => {
    const res = await fetch(base + path, { headers: { authorization: `Bearer ${token}` } })
    await res.arrayBuffer()
    return res.status
  }
  const metric = async (adminUrl: string, name: string): Promise<string> => (await (await fetch(`${adminUrl}/metrics`)).text()).split('\n').filter((l) => l.startsWith(name)).join('\n')
  const sha = async (adminUrl: string): Promise<string> => ((await (await fetch(`${adminUrl}/readyz`)).json()) as { config: { sha256: string } }).config.sha256
  return { dir, path: join(dir, 'gateway.yaml'), configOf, write, call, metric, sha }
}

async function inProcess (t: Test, path: string) {
  const lines: string[] = []
  const destination = new Writable({ write (chunk: Buffer, _e, done) { lines.push(...chunk.toString().split('\n').filter(Boolean)); done() } })
  const gw = await startGateway(loadConfigFile(path, {}), { configPath: path, env: {}, logger: createLogger({ level: 'info', destination }) })
  t.teardown(() => gw.shutdown())
  await eventually(() => gw.resources.health.wasReady(), Boolean, 5000)
  return { gw, lines }
}

t.test('a route\'s new roles refuse the next request; the one in flight finishes 200; an invalid edit changes nothing', async (t) => {
  const s = await setup(t)
  const { gw, lines } = await inProcess(t, s.path)
  const firstSha = await s.sha(gw.adminUrl)
  t.match(await s.metric(gw.adminUrl, 'bookme_gateway_config_reloads_total'), /result="ok"} 0[\s\S]*result="invalid"} 0|result="invalid"} 0[\s\S]*result="ok"} 0/, 'both series from 0')
  t.equal(await s.call(gw.proxyUrl), 200)

  const slow = s.call(gw.proxyUrl, '/api/meetings/slow')
  await eventually(() => gw.resources.inFlight.count, (n) => n > 0)
  s.write(s.configOf(['Admin']))
  await eventually(() => s.call(gw.proxyUrl), (status) => status === 403)
  t.equal(await slow, 200, 'the request in flight finished under the config it started with')
  t.not(await s.sha(gw.adminUrl), firstSha, '/readyz shows the new hash')
  t.match(await s.metric(gw.adminUrl, 'bookme_gateway_config_reloads_total{result="ok"}'), / [1-9]/)

  writeFileSync(s.path, 'routes: [{ name: broken }]\nserver: { port: 0 }\n')
  await eventually(() => s.metric(gw.adminUrl, 'bookme_gateway_config_reloads_total{result="invalid"}'), (text) => / [1-9]$/.test(text))
  t.equal(await s.call(gw.proxyUrl), 403, 'the last valid config still serves')
  t.ok(lines.some((line) => line.includes('config reload refused') && line.includes('routes[0]')), 'every problem logged as path: message')
})

t.test('the kubelet\'s ..data symlink swap is seen', async (t) => {
  const s = await setup(t, { kubelet: true })
  const { gw } = await inProcess(t, s.path)
  t.equal(await s.call(gw.proxyUrl), 200)
  s.write(s.configOf(['Admin']))
  t.equal(await eventually(() => s.call(gw.proxyUrl), (status) => status === 403), 403)
})

t.test('SIGHUP to the CLI under load: every request answered 200', async (t) => {
  const s = await setup(t)
  const { child, proxyUrl, adminUrl } = await startCliGateway(t, ['start', '--config', s.path])
  await eventually(() => s.call(proxyUrl), (status) => status === 200)
  const before = await s.sha(adminUrl)
  const statuses: number[] = []
  const load = (async () => { for (let i = 0; i < 150; i++) statuses.push(await s.call(proxyUrl)) })()
  writeFileSync(s.path, s.configOf([]) + '# a comment changes the hash, not the behaviour\n')
  child.kill('SIGHUP')
  await load
  t.same([...new Set(statuses)], [200], `${statuses.length} requests, all 200`)
  await eventually(() => s.sha(adminUrl), (sha) => sha !== before)
  t.match(await s.metric(adminUrl, 'bookme_gateway_config_info'), /sha256="[0-9a-f]{64}"} 1/)
})
