import { createServer } from 'node:http'

/** The upstream every benchmarked proxy forwards to: a small JSON answer, or `size` bytes. */
const SMALL = JSON.stringify({ ok: true, service: 'origin', items: [1, 2, 3] })
const big = new Map<number, Buffer>()

const server = createServer((req, res) => {
  req.resume()
  req.on('end', () => {
    const size = /[?&]size=(\d+)/.exec(req.url ?? '')?.[1]
    if (size) {
      const n = Number(size)
      if (!big.has(n)) big.set(n, Buffer.alloc(n, 'x'))
      res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': n })
      res.end(big.get(n))
      return
    }
    res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(SMALL) })
    res.end(SMALL)
  })
})
server.keepAliveTimeout = 60_000
server.listen(Number(process.env.PORT ?? 0), '127.0.0.1', () => {
  process.stdout.write(JSON.stringify({ listening: (server.address() as { port: number }).port }) + '\n')
})
