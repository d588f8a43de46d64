import t from 'tap'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Agent, request } from 'node:http'
import { startUpstream } from '../helpers/upstream.js'
import { exited, startCliGateway } from '../helpers/cli.js'
import { eventually } from '../helpers/eventually.js'

function get (url: string, agent: Agent | false = false): Promise<{ status: number, body: string, headers: Record<string, string | string[] | undefined> }> {
  return new Promise((resolve, reject) => {
    request(url, { agent }, (res) => {
      let body = ''
      res.on('data', (c: Buffer) => { body += c.toString() })
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body, headers: res.headers }))
    }).on('error', reject).end()
  })
}

t.test('SIGTERM: readyz 503, new requests SHUTTING_DOWN, the slow in-flight request finishes, exit 0', async (t) => {
  // Each step waits for the state it needs rather than a fixed time, so a loaded machine cannot
  // reorder them: the slow request is at the upstream before SIGTERM, the drain has begun before
  // the new request.
  const upstream = await startUpstream(t, (req, res) => {
    if (req.url?.includes('slow')) setTimeout(() => res.end('finished'), 3000)
    else res.end('fast')
  })
  const dir = mkdtempSync(join(tmpdir(), 'bookme-shutdown-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  writeFileSync(join(dir, 'gateway.yaml'), [
    'server: { host: 127.0.0.1, port: 0, adminPort: 0, shutdownGraceMs: 5000 }',
    'routes:',
    `  - { name: open, prefix: /open, upstream: "${upstream.url}", auth: none }`
  ].join('\n'))
  const { child, proxyUrl, adminUrl } = await startCliGateway(t, ['start', '--config', join(dir, 'gateway.yaml')])
  t.equal((await get(`${adminUrl}/readyz`)).status, 200)

  // A keep-alive client (agent: false would ask for `connection: close` itself).
  const keepAlive = new Agent({ keepAlive: true })
  t.teardown(() => keepAlive.destroy())
  const slow = get(`${proxyUrl}/open/slow`, keepAlive)
  await eventually(() => upstream.requests.length, (n) => n > 0)
  const stoppedAt = Date.now()
  child.kill('SIGTERM')

  const ready = await eventually(() => get(`${adminUrl}/readyz`), (res) => res.status !== 200)
  t.equal(ready.status, 503, 'not ready while draining')
  t.match(JSON.parse(ready.body), { draining: true })
  const refused = await get(`${proxyUrl}/open/fast`)
  t.equal(refused.status, 503)
  t.equal(JSON.parse(refused.body).code, 'SHUTTING_DOWN')
  t.equal(refused.headers.connection, 'close')

  const finished = await slow
  t.equal(finished.status, 200, 'the in-flight request completed')
  t.equal(finished.body, 'finished')
  t.equal(finished.headers.connection, 'close', 'the proxied answer finished during the drain sends its client elsewhere')
  t.equal(await exited(child), 0, 'exit code 0')
  t.ok(Date.now() - stoppedAt < 5000 + 2000, 'within shutdownGraceMs + 2 s')
  // Batched log lines are all written before the process exits, in the order they were logged.
  const requestLines = child.output.stdout.split('\n').filter((line) => line.includes('"msg":"request"')).map((line) => JSON.parse(line) as { path: string, status: number })
  t.same(requestLines.filter((line) => line.path.startsWith('/open')).map((line) => [line.path, line.status]), [['/open/fast', 503], ['/open/slow', 200]])
})

t.test('SIGTERM with a request longer than the grace period still exits 0 in time', async (t) => {
  const upstream = await startUpstream(t, (_req, res) => { setTimeout(() => res.end('too late'), 10_000).unref() })
  const dir = mkdtempSync(join(tmpdir(), 'bookme-shutdown-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  writeFileSync(join(dir, 'gateway.yaml'), [
    'server: { host: 127.0.0.1, port: 0, adminPort: 0, shutdownGraceMs: 500 }',
    'routes:',
    `  - { name: open, prefix: /open, upstream: "${upstream.url}", auth: none, timeoutMs: 60000 }`
  ].join('\n'))
  const { child, proxyUrl } = await startCliGateway(t, ['start', '--config', join(dir, 'gateway.yaml')])
  const stuck = get(`${proxyUrl}/open/stuck`).catch((err: Error) => err)
  await eventually(() => upstream.requests.length, (n) => n > 0)
  const stoppedAt = Date.now()
  child.kill('SIGTERM')
  t.equal(await exited(child), 0)
  t.ok(Date.now() - stoppedAt < 500 + 2000, 'within shutdownGraceMs + 2 s')
  t.type(await stuck, Error, 'the stuck request was cut off')
})
