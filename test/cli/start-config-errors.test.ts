import t from 'tap'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createServer } from 'node:net'
import type { AddressInfo } from 'node:net'
import { runCli } from '../helpers/cli.js'

async function freePort (): Promise<number> {
  const server = createServer()
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as AddressInfo
  await new Promise((resolve) => server.close(resolve))
  return port
}

t.test('an invalid config prints every problem and exits 78 before any port opens', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'bookme-cli-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  const port = await freePort()
  writeFileSync(join(dir, 'gateway.yaml'), [
    `server: { host: 127.0.0.1, port: ${port}, adminPort: 0, bogus: 1 }`,
    'routes:',
    '  - { name: r, prefix: /r, upstream: "http://${UPSTREAM_HOST}", api: missing }'
  ].join('\n'))
  const result = await runCli(['start', '--config', join(dir, 'gateway.yaml')])
  t.equal(result.code, 78)
  t.match(result.stderr, 'server.bogus: unknown key')
  t.match(result.stderr, 'routes[0].upstream: environment variable UPSTREAM_HOST is not set')
  t.equal(result.stdout, '', 'nothing was started')
  // The port is still free: nothing listened on it.
  const probe = createServer()
  await new Promise<void>((resolve, reject) => { probe.once('error', reject); probe.listen(port, '127.0.0.1', resolve) })
  await new Promise((resolve) => probe.close(resolve))
})

t.test('BOOKME_GATEWAY_CONFIG is used when --config is absent; usage errors exit 2', async (t) => {
  const missing = await runCli(['start'], { BOOKME_GATEWAY_CONFIG: '/nonexistent/gw.yaml' })
  t.equal(missing.code, 78)
  t.match(missing.stderr, '/nonexistent/gw.yaml')
  t.equal((await runCli(['start', '--bogus'])).code, 2)
  t.equal((await runCli(['frobnicate'])).code, 2)
})
