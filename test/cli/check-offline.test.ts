import t, { type Test } from 'tap'
import { spawnSync } from 'node:child_process'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { stringify } from 'yaml'
import { runCommand } from '../helpers/command-line.js'
import { makeCertificates } from '../helpers/certs.js'
import { DEFAULT_MAPPINGS, MGMT_CLIENT } from '../helpers/issuer.js'

function writeConfig (t: Test, config: Record<string, unknown>, mappings?: string): string {
  const dir = mkdtempSync(join(tmpdir(), 'bookme-offline-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  if (mappings !== undefined) writeFileSync(join(dir, 'mappings.yaml'), mappings)
  writeFileSync(join(dir, 'secret.txt'), 'graph-secret\n')
  writeFileSync(join(dir, 'gateway.yaml'), stringify(config))
  return join(dir, 'gateway.yaml')
}

// Every address is one nothing listens on (port 9, discard): an attempt would fail or hang, not pass.
const UNREACHABLE = {
  entra: { authority: 'http://127.0.0.1:9', groupsOverage: 'graph', graph: { endpoint: 'http://127.0.0.1:9', clientId: MGMT_CLIENT, clientSecretFile: 'secret.txt' } },
  apis: { management: { clientId: MGMT_CLIENT } },
  routes: [{ name: 'x', prefix: '/x', upstream: 'http://127.0.0.1:9', api: 'management' }]
}

t.test('check --offline: the config, the mappings file and the files it names; no network, exit 0', async (t) => {
  const certs = makeCertificates(t)
  const config = writeConfig(t, {
    ...UNREACHABLE,
    mappings: { source: 'file', file: 'mappings.yaml' },
    cache: { store: 'redis', redis: { url: 'rediss://127.0.0.1:9', connectTimeoutMs: 60_000, tls: { caFile: certs.caFile } } },
    assertion: { keys: [{ kid: 'k1', privateKeyFile: certs.server.keyFile }] }
  }, stringify(DEFAULT_MAPPINGS))
  const started = Date.now()
  const res = await runCommand(['check', '--offline', '--config', config])
  t.equal(res.code, 0, res.stderr)
  t.ok(Date.now() - started < 2000, 'quick: nothing waited on a connection')
  t.same(res.stdout.split('\n'), [
    'ok config',
    'ok mappings file: 4 banks, 2 tenants, 1 client',
    'ok files: cache.redis.tls; assertion keys (k1); entra.graph credential',
    'not checked (offline): discovery and JWKS for management; Redis; Graph token; run "check" without --offline for them',
    ''
  ])
  t.equal(res.stderr, '')

  const mysql = writeConfig(t, { ...UNREACHABLE, mappings: { source: 'mysql', mysql: { host: '127.0.0.1', port: 9, user: 'gw', passwordFile: 'secret.txt', connectTimeoutMs: 60_000 } } })
  const db = await runCommand(['check', '--offline', '--config', mysql])
  t.equal(db.code, 0, db.stderr)
  t.match(db.stdout, /^ok mappings: source mysql, not read offline$/m)
  t.match(db.stdout, /^not checked \(offline\): discovery and JWKS for management; MySQL 127\.0\.0\.1:9; Graph token;/m)
  t.match(db.stdout, /^ok files: mappings\.mysql\.passwordFile; entra\.graph credential$/m)
  t.notMatch(db.stdout, /graph-secret/, 'a file is named, never its content')
})

t.test('check --offline: a bad mappings file, config or key file exits 78 with every problem as path: message', async (t) => {
  const badMappings = writeConfig(t, { ...UNREACHABLE, mappings: { source: 'file', file: 'mappings.yaml' } },
    stringify({ banks: [{ id: '1001', name: 'Demo' }], tenants: [{ tenantId: 'nope', banks: ['1001'] }, { tenantId: MGMT_CLIENT, banks: ['2002'] }] }))
  const mappings = await runCommand(['check', '--offline', '--config', badMappings])
  t.equal(mappings.code, 78)
  t.equal(mappings.stdout, '', 'no ok line before the problems')
  t.match(mappings.stderr, /^mappings\.file: tenants\[0\]\.tenantId: must match pattern/m)

  const crossed = writeConfig(t, { ...UNREACHABLE, mappings: { source: 'file', file: 'mappings.yaml' } },
    stringify({ banks: [{ id: '1001', name: 'Demo' }], tenants: [{ tenantId: MGMT_CLIENT, banks: ['2002'] }] }))
  const cross = await runCommand(['check', '--offline', '--config', crossed])
  t.same([cross.code, cross.stderr], [78, 'mappings.file: tenants[0].banks[0]: names no bank in banks ("2002")\n'])

  const badConfig = writeConfig(t, { routes: [{ name: 'x', prefix: '/x', upstream: 'http://127.0.0.1:9' }], cache: { ttlSec: 0, negativeTtlSec: -1 } })
  const config = await runCommand(['check', '--offline', '--config', badConfig])
  t.equal(config.code, 78)
  t.match(config.stderr, /^cache\.negativeTtlSec: must be >= 0$/m)
  t.match(config.stderr, /^cache\.ttlSec: /m, 'every problem, not the first')

  const missingKey = writeConfig(t, { ...UNREACHABLE, mappings: { source: 'file', file: 'mappings.yaml' }, assertion: { keys: [{ kid: 'k1', privateKeyFile: '/nonexistent/key.pem' }] } }, stringify(DEFAULT_MAPPINGS))
  const key = await runCommand(['check', '--offline', '--config', missingKey])
  t.same([key.code, key.stderr], [78, 'assertion.keys[0].privateKeyFile: cannot read /nonexistent/key.pem (ENOENT)\n'])
})

const unshare = spawnSync('unshare', ['-rn', 'true']).status === 0
t.test('check --offline passes in a network namespace with no network at all', { skip: unshare ? false : 'unshare -rn is not available here' }, async (t) => {
  const config = writeConfig(t, { ...UNREACHABLE, mappings: { source: 'file', file: 'mappings.yaml' } }, stringify(DEFAULT_MAPPINGS))
  const cli = fileURLToPath(new URL('../../src/cli.ts', import.meta.url))
  const run = (...args: string[]) => spawnSync('unshare', ['-rn', process.execPath, '--import', 'tsx', cli, ...args, '--config', config],
    { cwd: fileURLToPath(new URL('../..', import.meta.url)), encoding: 'utf8', timeout: 20_000 })
  const offline = run('check', '--offline')
  t.equal(offline.status, 0, offline.stderr)
  t.match(offline.stdout, /^ok mappings file: 4 banks, 2 tenants, 1 client$/m)
  const online = run('check')
  t.equal(online.status, 1, 'the online check, by contrast, fails there')
  t.match(online.stdout, /^FAIL discovery and JWKS for management: /m)
})
