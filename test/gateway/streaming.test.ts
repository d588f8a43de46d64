import t from 'tap'
import { createHash, randomBytes } from 'node:crypto'
import { Readable } from 'node:stream'
import { request, type IncomingMessage } from 'node:http'
import { eventually } from '../helpers/eventually.js'
import { startUpstream } from '../helpers/upstream.js'
import { startTestGateway, openRoute } from '../helpers/gateway.js'

const MB = 1024 * 1024

t.test('a 20 MB upload streams through without the gateway buffering it', async (t) => {
  const upstream = await startUpstream(t)
  const gw = await startTestGateway(t, { server: { bodyLimitBytes: 64 * MB }, routes: [openRoute(upstream.url)] })
  const chunk = randomBytes(MB)
  const expected = createHash('sha256')
  for (let i = 0; i < 20; i++) expected.update(chunk)
  // Chunked (no Content-Length), fed one MiB at a time.
  let sent = 0
  const body = new Readable({
    read () {
      if (sent === 20) return this.push(null)
      sent++
      this.push(chunk)
    }
  })
  const res = await fetch(`${gw.proxyUrl}/open/upload`, { method: 'POST', body, duplex: 'half', headers: { 'content-type': 'application/octet-stream' } } as unknown as RequestInit)
  t.equal(res.status, 200)
  t.equal(upstream.last().bodyBytes, 20 * MB)
  t.equal(upstream.last().bodySha256, expected.digest('hex'), 'the bytes arrived intact')
})

t.test('a 20 MB download streams back', async (t) => {
  const chunk = randomBytes(MB)
  const upstream = await startUpstream(t, (_req, res) => {
    res.setHeader('content-type', 'application/octet-stream')
    let i = 0
    const write = (): void => {
      while (i < 20) {
        i++
        if (!res.write(chunk)) { res.once('drain', write); return }
      }
      res.end()
    }
    write()
  })
  const gw = await startTestGateway(t, { routes: [openRoute(upstream.url)] })
  const res = await fetch(`${gw.proxyUrl}/open/download`)
  t.equal(res.status, 200)
  let bytes = 0
  let firstChunkAt = -1
  const reader = res.body!.getReader()
  for (;;) {
    const { done, value } = await reader.read()
    if (done) break
    if (firstChunkAt < 0) firstChunkAt = bytes
    bytes += value.length
  }
  t.equal(bytes, 20 * MB)
})

t.test('bodyLimitBytes: a declared oversize body is refused before the upstream is contacted', async (t) => {
  const upstream = await startUpstream(t)
  const gw = await startTestGateway(t, { server: { bodyLimitBytes: 1000 }, routes: [openRoute(upstream.url)] })
  const res = await fetch(`${gw.proxyUrl}/open/x`, { method: 'POST', body: 'x'.repeat(1001) })
  t.equal(res.status, 413)
  t.equal((await res.json()).code, 'PAYLOAD_TOO_LARGE')
  t.equal(upstream.requests.length, 0)
  const ok = await fetch(`${gw.proxyUrl}/open/x`, { method: 'POST', body: 'x'.repeat(1000) })
  t.equal(ok.status, 200, 'exactly the limit passes')
})

t.test('bodyLimitBytes: a chunked body growing past the limit is cut off with 413', async (t) => {
  const upstream = await startUpstream(t)
  const gw = await startTestGateway(t, { server: { bodyLimitBytes: 64 * 1024 }, routes: [openRoute(upstream.url)] })
  const status = await new Promise<{ status: number, body: string }>((resolve, reject) => {
    const url = new URL(`${gw.proxyUrl}/open/x`)
    const req = request({ host: url.hostname, port: url.port, path: url.pathname, method: 'POST', headers: { 'transfer-encoding': 'chunked' } }, (res) => {
      let body = ''
      res.on('data', (c: Buffer) => { body += c.toString() })
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }))
    })
    req.on('error', reject)
    let written = 0
    const pump = (): void => {
      while (written < 1024 * 1024) {
        written += 16 * 1024
        if (!req.write(Buffer.alloc(16 * 1024))) { req.once('drain', pump); return }
      }
      req.end()
    }
    pump()
  })
  t.equal(status.status, 413)
  t.equal(JSON.parse(status.body).code, 'PAYLOAD_TOO_LARGE')
  t.ok(upstream.requests.every((r) => r.bodyBytes <= 64 * 1024), 'the upstream never saw more than the limit')
})

t.test('a client that stops reading holds the upstream back: the gateway queues a bounded amount', async (t) => {
  const chunk = Buffer.alloc(MB, 'x')
  const total = 200
  let written = 0
  const upstream = await startUpstream(t, (_req, res) => {
    res.setHeader('content-length', String(total * MB))
    const write = (): void => {
      while (written < total) {
        written++
        if (!res.write(chunk)) { res.once('drain', write); return }
      }
      res.end()
    }
    write()
  })
  const gw = await startTestGateway(t, { routes: [openRoute(upstream.url)] })
  const response = await new Promise<IncomingMessage>((resolve, reject) => {
    request(`${gw.proxyUrl}/open/slow-reader`, resolve).on('error', reject).end()
  })
  response.pause()
  // Until the upstream has stopped writing (the same count over 250 ms), not a fixed wait.
  let before = -1
  await eventually(async () => {
    const now = written
    const settled = now === before && now > 0
    before = now
    if (!settled) await new Promise((resolve) => setTimeout(resolve, 250))
    return settled
  }, (settled) => settled, 20_000)
  // Socket buffers on both loopback hops hold some MB; an unbounded queue would hold all 200.
  t.ok(written < 60, `the upstream was held back (${written} MB written of ${total})`)
  let received = 0
  response.on('data', (data: Buffer) => { received += data.length })
  response.resume()
  await new Promise((resolve) => response.on('end', resolve))
  t.equal(received, total * MB, 'every byte arrives once the client reads')
})
